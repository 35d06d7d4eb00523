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

enum err str_to_f64(struct str s, double *out)
{
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
