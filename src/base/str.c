/* SPDX-License-Identifier: MIT */
/* String slice helpers: comparison, splitting and strict number parsing. */
#include "base/sys.h"
#include "base/str.h"

#include <math.h>
#include <stdlib.h>

struct str str_from_cstr(const char *s)
{
    return (struct str){s, s ? strlen(s) : 0};
}

bool str_eq(struct str a, struct str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

bool str_eq_cstr(struct str a, const char *b)
{
    return str_eq(a, str_from_cstr(b));
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

bool str_eq_nocase(struct str a, const char *b)
{
    size_t n = strlen(b);
    if (a.len != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (lower(a.ptr[i]) != lower(b[i]))
            return false;
    }
    return true;
}

bool str_has_prefix(struct str s, const char *prefix)
{
    size_t n = strlen(prefix);
    return s.len >= n && memcmp(s.ptr, prefix, n) == 0;
}

struct str str_cut(struct str s, char sep, struct str *head)
{
    const char *p = s.len ? memchr(s.ptr, sep, s.len) : NULL;
    if (!p) {
        *head = s;
        return (struct str){NULL, 0};
    }
    *head = (struct str){s.ptr, (size_t)(p - s.ptr)};
    return (struct str){p + 1, s.len - (size_t)(p - s.ptr) - 1};
}

bool str_is_digits(struct str s)
{
    if (s.len == 0)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        if (s.ptr[i] < '0' || s.ptr[i] > '9')
            return false;
    }
    return true;
}

enum err str_to_i64(struct str s, int64_t *out)
{
    bool neg = s.len > 0 && s.ptr[0] == '-';
    struct str digits = neg ? (struct str){s.ptr + 1, s.len - 1} : s;
    if (!str_is_digits(digits))
        return ERR_INVALID;
    uint64_t v = 0;
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (size_t i = 0; i < digits.len; i++) {
        uint64_t d = (uint64_t)(digits.ptr[i] - '0');
        if (v > (limit - d) / 10)
            return ERR_INVALID;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return ERR_OK;
}

/* The powers of ten that a double holds exactly. */
static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3, 1e4,  1e5,
                                     1e6,  1e7,  1e8,  1e9, 1e10, 1e11,
                                     1e12, 1e13, 1e14, 1e15};

/*
 * The fast path of str_to_f64 for a plain decimal of at most 15 digits
 * ("-48.856613", the usual coordinate): the digits form an integer below
 * 2^53 and the one division by an exact power of ten is correctly rounded,
 * so the result is the double strtod gives. false for anything else.
 */
static bool plain_decimal(struct str s, double *out)
{
    size_t i = s.len && (s.ptr[0] == '-' || s.ptr[0] == '+');
    uint64_t m = 0;
    size_t digits = 0, frac = 0;
    bool dot = false;
    for (; i < s.len; i++) {
        unsigned d = (unsigned char)s.ptr[i] - '0';
        if (d < 10) {
            m = m * 10 + d;
            digits++;
            frac += dot;
        } else if (s.ptr[i] == '.' && !dot) {
            dot = true;
        } else {
            return false;
        }
    }
    if (digits == 0 || digits >= ARRAY_LEN(pow10_exact))
        return false;
    double x = (double)m / pow10_exact[frac];
    *out = s.ptr[0] == '-' ? -x : x;
    return true;
}

enum err str_to_f64(struct str s, double *out)
{
    if (plain_decimal(s, out))
        return ERR_OK;
    char tmp[65];
    if (s.len == 0 || s.len >= sizeof(tmp))
        return ERR_INVALID;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        bool ok = (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' ||
                  c == 'e' || c == 'E';
        if (!ok)
            return ERR_INVALID;
    }
    memcpy(tmp, s.ptr, s.len);
    tmp[s.len] = '\0';
    char *end = NULL;
    double v = strtod(tmp, &end);
    if (end != tmp + s.len || !isfinite(v))
        return ERR_INVALID;
    *out = v;
    return ERR_OK;
}
