/* SPDX-License-Identifier: MIT */
/* Tests for src/base: arena, buf, str, imap, smap, rng, err, clock. */
#include "base/sys.h"
#include "tests/unit/harness.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/imap.h"
#include "base/rng.h"
#include "base/smap.h"
#include "base/str.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cleanups;

static void count_cleanup(void *ctx)
{
    cleanups += *(int *)ctx;
}

TEST(arena_alloc_aligned_and_reset)
{
    struct arena a;
    arena_init(&a);
    char *p = arena_alloc(&a, 3);
    char *q = arena_alloc(&a, 5);
    CHECK(((uintptr_t)p & 15) == 0);
    CHECK(((uintptr_t)q & 15) == 0);
    CHECK(q >= p + 3);
    /* Larger than a chunk gets its own chunk. */
    char *big = arena_zalloc(&a, 100000);
    CHECK(big[99999] == 0);
    int one = 1, ten = 10;
    arena_on_drop(&a, count_cleanup, &one);
    arena_on_drop(&a, count_cleanup, &ten);
    cleanups = 0;
    arena_reset(&a);
    CHECK_EQ(cleanups, 11);
    CHECK_STR(arena_strndup(&a, "hello", 4), "hell");
    CHECK_STR(arena_printf(&a, "%d-%s", 42, "x"), "42-x");
    arena_release(&a);
    CHECK(a.head == NULL);
}

TEST(buf_caps_and_consumes)
{
    struct buf b;
    buf_init(&b, 10);
    CHECK(b.data == NULL);
    CHECK_OK(buf_append(&b, "hello", 5));
    CHECK_OK(buf_printf(&b, "%d", 12345));
    CHECK_EQ(b.len, 10);
    CHECK(memcmp(b.data, "hello12345", 10) == 0);
    CHECK_ERR(buf_append(&b, "x", 1), ERR_TOO_BIG);
    CHECK_ERR(buf_printf(&b, "y"), ERR_TOO_BIG);
    CHECK_EQ(b.len, 10);
    buf_consume(&b, 5);
    CHECK(memcmp(b.data, "12345", 5) == 0);
    CHECK_OK(buf_puts(&b, "ab"));
    buf_shrink(&b);
    CHECK(b.cap >= b.len + 1);
    buf_consume(&b, b.len);
    buf_shrink(&b);
    CHECK(b.data == NULL);
    buf_release(&b);
}

TEST(str_parse_numbers)
{
    int64_t v;
    double f;
    CHECK_OK(str_to_i64(STR_LIT("-42"), &v));
    CHECK_EQ(v, -42);
    CHECK_OK(str_to_i64(STR_LIT("9223372036854775807"), &v));
    CHECK(v == INT64_MAX);
    CHECK_OK(str_to_i64(STR_LIT("-9223372036854775808"), &v));
    CHECK(v == INT64_MIN);
    CHECK_ERR(str_to_i64(STR_LIT("9223372036854775808"), &v), ERR_INVALID);
    CHECK_ERR(str_to_i64(STR_LIT(""), &v), ERR_INVALID);
    CHECK_ERR(str_to_i64(STR_LIT("-"), &v), ERR_INVALID);
    CHECK_ERR(str_to_i64(STR_LIT("12a"), &v), ERR_INVALID);
    CHECK_OK(str_to_f64(STR_LIT("-3.25e1"), &f));
    CHECK_NEAR(f, -32.5, 1e-12);
    CHECK_ERR(str_to_f64(STR_LIT("nan"), &f), ERR_INVALID);
    CHECK_ERR(str_to_f64(STR_LIT("1e999"), &f), ERR_INVALID);
    CHECK_ERR(str_to_f64(STR_LIT("1.5x"), &f), ERR_INVALID);
    CHECK_ERR(str_to_f64(STR_LIT(""), &f), ERR_INVALID);
    CHECK_ERR(str_to_f64(STR_LIT("-"), &f), ERR_INVALID);
    CHECK_ERR(str_to_f64(STR_LIT("1.2.3"), &f), ERR_INVALID);
    CHECK_OK(str_to_f64(STR_LIT("-0.0"), &f));
    CHECK(f == 0 && signbit(f));
}

/* Plain decimals take a fast path that must give strtod's double exactly. */
TEST(str_to_f64_matches_strtod)
{
    struct rng r;
    rng_seed(&r, 11);
    for (int i = 0; i < 200000; i++) {
        char s[40];
        int frac = (int)rng_below(&r, 12);
        int len = snprintf(
            s, sizeof(s), "%s%" PRIu64 ".%0*" PRIu64,
            rng_below(&r, 2) ? "-" : "+", rng_below(&r, 1000), frac,
            rng_below(&r, UINT64_C(1000000000000)) % (uint64_t)pow(10, frac));
        double got = 0;
        CHECK_OK(str_to_f64((struct str){s, (size_t)len}, &got));
        double want = strtod(s, NULL);
        CHECK(memcmp(&got, &want, sizeof(got)) == 0);
    }
}

TEST(str_cut_and_compare)
{
    struct str head;
    struct str rest = str_cut(STR_LIT("a,b,,c"), ',', &head);
    CHECK(str_eq_cstr(head, "a"));
    rest = str_cut(rest, ',', &head);
    CHECK(str_eq_cstr(head, "b"));
    rest = str_cut(rest, ',', &head);
    CHECK(str_eq_cstr(head, ""));
    rest = str_cut(rest, ',', &head);
    CHECK(str_eq_cstr(head, "c"));
    CHECK(rest.ptr == NULL);
    CHECK(str_eq_nocase(STR_LIT("Content-Type"), "content-type"));
    CHECK(!str_eq_nocase(STR_LIT("Content-Typ"), "content-type"));
    CHECK(str_has_prefix(STR_LIT("/v1/trips"), "/v1/"));
    CHECK(!str_is_digits(STR_LIT("")));
}

TEST(imap_matches_model)
{
    /* Random inserts and deletes against a plain array model. */
    enum { N = 2000 };
    static int vals[N];
    static bool present[N];
    struct imap m;
    imap_init(&m);
    struct rng r;
    rng_seed(&r, 7);
    for (int step = 0; step < 50000; step++) {
        uint64_t k = rng_below(&r, N);
        if (rng_below(&r, 3)) {
            imap_put(&m, k * 7919, &vals[k]);
            present[k] = true;
        } else {
            void *old = imap_del(&m, k * 7919);
            CHECK((old != NULL) == present[k]);
            present[k] = false;
        }
    }
    size_t count = 0;
    for (uint64_t k = 0; k < N; k++) {
        void *v = imap_get(&m, k * 7919);
        CHECK((v == &vals[k]) == present[k]);
        count += present[k];
    }
    CHECK_EQ(m.count, count);
    size_t pos = 0, seen = 0;
    uint64_t key;
    void *val;
    while (imap_next(&m, &pos, &key, &val))
        seen++;
    CHECK_EQ(seen, count);
    imap_release(&m);
}

TEST(smap_borrowed_keys)
{
    static char keys[500][16];
    struct smap m;
    smap_init(&m);
    for (int i = 0; i < 500; i++) {
        snprintf(keys[i], sizeof(keys[i]), "key-%d", i);
        smap_put(&m, str_from_cstr(keys[i]), keys[i]);
    }
    CHECK(smap_get(&m, STR_LIT("key-77")) == keys[77]);
    CHECK(smap_get(&m, STR_LIT("key-500")) == NULL);
    for (int i = 0; i < 500; i += 2)
        CHECK(smap_del(&m, str_from_cstr(keys[i])) == keys[i]);
    CHECK(smap_del(&m, STR_LIT("key-0")) == NULL);
    for (int i = 0; i < 500; i++)
        CHECK((smap_get(&m, str_from_cstr(keys[i])) != NULL) == (i % 2 == 1));
    CHECK_EQ(m.count, 250);
    smap_release(&m);
}

TEST(rng_deterministic_and_bounded)
{
    struct rng a, b;
    rng_seed(&a, 99);
    rng_seed(&b, 99);
    for (int i = 0; i < 100; i++)
        CHECK(rng_u64(&a) == rng_u64(&b));
    for (int i = 0; i < 10000; i++) {
        CHECK(rng_below(&a, 7) < 7);
        double u = rng_unit(&a);
        CHECK(u >= 0 && u < 1);
    }
}

TEST(err_names_and_detail)
{
    CHECK_STR(err_name(ERR_OK), "ok");
    CHECK_STR(err_name(ERR_CONFLICT), "conflict");
    struct err_detail d;
    CHECK_ERR(
        err_setc(&d, ERR_CONFLICT, "bike_unavailable", "bike_id", "bike %d", 3),
        ERR_CONFLICT);
    CHECK_STR(d.code, "bike_unavailable");
    CHECK_STR(d.field, "bike_id");
    CHECK_STR(d.msg, "bike 3");
    CHECK_ERR(err_set(NULL, ERR_IO, "x", "y"), ERR_IO);
}

TEST(clock_rfc3339)
{
    char out[25];
    clock_format_rfc3339(0, out);
    CHECK_STR(out, "1970-01-01T00:00:00.000Z");
    clock_format_rfc3339(1795949000123, out);
    CHECK_STR(out, "2026-11-29T10:43:20.123Z");
    clock_format_rfc3339(-1, out);
    CHECK_STR(out, "1969-12-31T23:59:59.999Z");
    CHECK(clock_mono_ms() <= clock_mono_ms());
}

TEST(clock_parse)
{
    int64_t ms;
    CHECK_OK(clock_parse_rfc3339(STR_LIT("2026-11-29T10:43:20.123Z"), &ms));
    CHECK_EQ(ms, 1795949000123);
    CHECK_OK(clock_parse_rfc3339(STR_LIT("2026-11-29 18:43:20+08:00"), &ms));
    CHECK_EQ(ms, 1795949000000);
    CHECK_OK(clock_parse_rfc3339(STR_LIT("1970-01-01T00:00:00.5z"), &ms));
    CHECK_EQ(ms, 500);
    CHECK_OK(clock_parse_rfc3339(STR_LIT("2024-02-29T00:00:00Z"), &ms));
    CHECK_OK(clock_parse_rfc3339(STR_LIT("1969-12-31T23:59:59.999Z"), &ms));
    CHECK_EQ(ms, -1);
    static const char *const bad[] = {"",
                                      "2026-11-29",
                                      "2026-11-29T10:43:20",
                                      "2026-13-01T00:00:00Z",
                                      "2023-02-29T00:00:00Z",
                                      "2026-11-29T24:00:00Z",
                                      "2026-11-29T10:43Z",
                                      "2026-11-29T10:43:20.Z",
                                      "2026-11-29T10:43:20+0800",
                                      "2026-11-29T10:43:20Zx"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        CHECK_ERR(clock_parse_rfc3339(str_from_cstr(bad[i]), &ms), ERR_INVALID);
}

const struct test_case test_suite_base[] = {
    CASE(arena_alloc_aligned_and_reset),
    CASE(buf_caps_and_consumes),
    CASE(str_parse_numbers),
    CASE(str_to_f64_matches_strtod),
    CASE(str_cut_and_compare),
    CASE(imap_matches_model),
    CASE(smap_borrowed_keys),
    CASE(rng_deterministic_and_bounded),
    CASE(err_names_and_detail),
    CASE(clock_rfc3339),
    CASE(clock_parse),
    {0},
};
