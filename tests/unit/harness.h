/* SPDX-License-Identifier: MIT */
/*
 * The unit-test harness: TEST() defines a case, CHECK*() assert inside it.
 * Each test file ends with a table of its cases, and list.h names the
 * tables. The runner (runner.c) forks each case with a timeout.
 */
#ifndef TESTS_HARNESS_H
#define TESTS_HARNESS_H

#include "base/sys.h"
#include "base/err.h"

#include <stdio.h>
#include <stdlib.h>

typedef void test_fn(void);

struct test_case {
    const char *name;
    test_fn *fn;
};

#define TEST(name) static void test_##name(void)
#define CASE(name)                                                             \
    {                                                                          \
#name, test_##name                                                     \
    }

void test_fail(const char *file, int line, const char *fmt, ...)
    SYS_PRINTF(3, 4);

#define CHECK(c)                                                               \
    do {                                                                       \
        if (!(c))                                                              \
            test_fail(__FILE__, __LINE__, "CHECK(%s)", #c);                    \
    } while (0)

#define CHECK_EQ(a, b)                                                         \
    do {                                                                       \
        long long va_ = (long long)(a), vb_ = (long long)(b);                  \
        if (va_ != vb_)                                                        \
            test_fail(__FILE__, __LINE__, "%s == %lld, expected %s == %lld",   \
                      #a, va_, #b, vb_);                                       \
    } while (0)

#define CHECK_NEAR(a, b, eps)                                                  \
    do {                                                                       \
        double va_ = (double)(a), vb_ = (double)(b);                           \
        if (!(va_ - vb_ <= (eps) && vb_ - va_ <= (eps)))                       \
            test_fail(__FILE__, __LINE__, "%s == %.9g, expected %.9g +- %g",   \
                      #a, va_, vb_, (double)(eps));                            \
    } while (0)

#define CHECK_STR(a, b)                                                        \
    do {                                                                       \
        const char *va_ = (a), *vb_ = (b);                                     \
        if (strcmp(va_, vb_) != 0)                                             \
            test_fail(__FILE__, __LINE__, "%s == \"%s\", expected \"%s\"", #a, \
                      va_, vb_);                                               \
    } while (0)

#define CHECK_ERR(expr, code)                                                  \
    do {                                                                       \
        enum err e_ = (expr);                                                  \
        if (e_ != (code))                                                      \
            test_fail(__FILE__, __LINE__, "%s returned %s, expected %s",       \
                      #expr, err_name(e_), err_name(code));                    \
    } while (0)

#define CHECK_OK(expr) CHECK_ERR(expr, ERR_OK)

/* A scratch directory unique to this test process; removed by the runner. */
const char *test_tmpdir(void);

#endif
