/* SPDX-License-Identifier: MIT */
/* The minimal JSON writer: integers and fixed-point reals. */
#include "base/sys.h"
#include "api/jsonw.h"

#include <math.h>

bool api__jw_raw(struct buf *b, const char *text)
{
    return buf_puts(b, text) == ERR_OK;
}

/* Writes the decimal digits of u (not zero-padded) ending at end. */
static char *digits(char *end, uint64_t u)
{
    do {
        *--end = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    return end;
}

bool api__jw_i64(struct buf *b, int64_t v)
{
    char tmp[24];
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    char *p = digits(tmp + sizeof(tmp), u);
    if (v < 0)
        *--p = '-';
    return buf_append(b, p, (size_t)(tmp + sizeof(tmp) - p)) == ERR_OK;
}

bool api__jw_fixed(struct buf *b, double v, int decimals)
{
    static const double scale[] = {1,   1e1, 1e2, 1e3, 1e4,
                                   1e5, 1e6, 1e7, 1e8, 1e9};
    ASSERT(decimals >= 1 && decimals <= 9 && isfinite(v));
    double r = round(fabs(v) * scale[decimals]);
    if (r >= 9e18)
        return false; /* out of the range we print; never a position */
    uint64_t u = (uint64_t)r;
    uint64_t div = (uint64_t)scale[decimals];
    uint64_t ip = u / div, frac = u % div;
    char tmp[48];
    char *end = tmp + sizeof(tmp);
    /* Fraction digits, zero-padded, then trailing zeros dropped. */
    char *p = end;
    for (int i = 0; i < decimals; i++) {
        *--p = (char)('0' + frac % 10);
        frac /= 10;
    }
    char *frac_end = end;
    while (frac_end - p > 1 && frac_end[-1] == '0')
        frac_end--;
    *--p = '.';
    p = digits(p, ip);
    if (v < 0 && u != 0)
        *--p = '-';
    return buf_append(b, p, (size_t)(frac_end - p)) == ERR_OK;
}
