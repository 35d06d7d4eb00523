/* SPDX-License-Identifier: MIT */
/*
 * Conversions between the lock protocol's text fields and our units: NMEA
 * coordinates to decimal degrees and back, and the UTC calendar arithmetic
 * behind D0 times and header stamps (years 2000..2099 only).
 */
#include "base/sys.h"
#include "lock/lock.h"
#include "lock/lock_int.h"

#include <math.h>

/* Units of 0.0001 minutes in one degree. */
#define TICKS_PER_DEG INT64_C(600000)
/* The most fraction digits accepted in a coordinate's minutes. */
#define COORD_FRAC_MAX 20

/* Exact for 2000..2099: 2000 is a leap year and 2100 is out of range. */
static bool is_leap(int year)
{
    return year % 4 == 0;
}

static int days_in_month(int year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30,
                                 31, 31, 30, 31, 30, 31};
    return month == 2 && is_leap(year) ? 29 : days[month - 1];
}

bool lock__utc_to_unix(const struct lock__utc *t, int64_t *unix_s)
{
    if (t->month < 1 || t->month > 12 || t->day < 1 ||
        t->day > days_in_month(t->year, t->month))
        return false;
    if (t->hour > 23 || t->min > 59 || t->sec > 59)
        return false;
    /* At most 99 + 11 steps: clearer than a closed form for one century. */
    int64_t days = 0;
    for (int y = 2000; y < t->year; y++)
        days += is_leap(y) ? 366 : 365;
    for (int m = 1; m < t->month; m++)
        days += days_in_month(t->year, m);
    days += t->day - 1;
    *unix_s =
        LOCK__UNIX_2000 + days * 86400 + t->hour * 3600 + t->min * 60 + t->sec;
    return true;
}

void lock__utc_from_unix(int64_t unix_s, struct lock__utc *t)
{
    int64_t secs = unix_s - LOCK__UNIX_2000;
    int64_t days = secs / 86400;
    int64_t rem = secs % 86400;
    struct lock__utc r = {.year = 2000, .month = 1};
    while (days >= (is_leap(r.year) ? 366 : 365)) {
        days -= is_leap(r.year) ? 366 : 365;
        r.year++;
    }
    while (days >= days_in_month(r.year, r.month)) {
        days -= days_in_month(r.year, r.month);
        r.month++;
    }
    r.day = (int)days + 1;
    r.hour = (int)(rem / 3600);
    r.min = (int)(rem / 60 % 60);
    r.sec = (int)(rem % 60);
    *t = r;
}

void lock__put_digits(char *p, int64_t v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

int lock__quote_len(struct str s)
{
    return (int)MIN(s.len, (size_t)32);
}

const char *lock__quote_ptr(struct str s)
{
    return s.ptr ? s.ptr : "";
}

bool lock__is_alnum(struct str s, size_t min, size_t max)
{
    if (s.len < min || s.len > max)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        bool ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
                  (c >= 'a' && c <= 'z');
        if (!ok)
            return false;
    }
    return true;
}

enum err lock_coord_parse(struct str value, struct str hemi, bool is_lon,
                          double *deg, struct err_detail *d)
{
    const char *what = is_lon ? "longitude" : "latitude";
    struct str whole;
    struct str frac = str_cut(value, '.', &whole);
    bool ok = whole.len <= 5 && str_is_digits(whole);
    if (frac.ptr)
        ok = ok && frac.len <= COORD_FRAC_MAX && str_is_digits(frac);
    if (!ok)
        return err_set(d, ERR_INVALID, what, "%s '%.*s' is not ddmm.mmmm", what,
                       LOCK__QUOTE(value));

    /* Degrees and whole minutes are exact integers; only the fraction of
     * a minute goes through strtod. */
    int64_t w = 0;
    for (size_t i = 0; i < whole.len; i++)
        w = w * 10 + (whole.ptr[i] - '0');
    double minutes = (double)(w % 100);
    if (frac.ptr) {
        char tmp[COORD_FRAC_MAX + 3] = "0.";
        memcpy(tmp + 2, frac.ptr, frac.len);
        double f = 0;
        enum err e = str_to_f64((struct str){tmp, frac.len + 2}, &f);
        if (NEVER(e != ERR_OK))
            return err_set(d, ERR_INVALID, what, "%s '%.*s' is not ddmm.mmmm",
                           what, LOCK__QUOTE(value));
        minutes += f;
    }
    double v = (double)(w / 100) + minutes / 60.0;
    if (minutes >= 60.0 || v > (is_lon ? 180.0 : 90.0))
        return err_set(d, ERR_INVALID, what, "%s '%.*s' is out of range", what,
                       LOCK__QUOTE(value));

    const char *letters = is_lon ? "EW" : "NS";
    char h = hemi.len == 1 ? hemi.ptr[0] : '\0';
    if (h == '\0' || (h != letters[0] && h != letters[1]))
        return err_set(d, ERR_INVALID, what,
                       "%s hemisphere '%.*s' is not %c or %c", what,
                       LOCK__QUOTE(hemi), letters[0], letters[1]);
    *deg = h == letters[1] ? -v : v;
    return ERR_OK;
}

enum err lock_coord_format(double deg, bool is_lon,
                           char text[LOCK_COORD_TEXT_MAX], char *hemi)
{
    double limit = is_lon ? 180.0 : 90.0;
    if (!isfinite(deg) || deg > limit || deg < -limit)
        return ERR_INVALID;
    lock__coord_text(deg, is_lon, text, hemi);
    return ERR_OK;
}

void lock__coord_text(double deg, bool is_lon, char text[LOCK_COORD_TEXT_MAX],
                      char *hemi)
{
    int64_t ticks = llround(fabs(deg) * (double)TICKS_PER_DEG);
    int64_t whole_deg = ticks / TICKS_PER_DEG;
    int64_t rem = ticks % TICKS_PER_DEG;
    int width = is_lon ? 3 : 2;
    lock__put_digits(text, whole_deg, width);
    lock__put_digits(text + width, rem / 10000, 2);
    text[width + 2] = '.';
    lock__put_digits(text + width + 3, rem % 10000, 4);
    text[width + 7] = '\0';
    /* What rounds to zero is north/east, so a rebuild gives the same text. */
    bool is_neg = deg < 0 && ticks > 0;
    *hemi = is_lon ? (is_neg ? 'W' : 'E') : (is_neg ? 'S' : 'N');
}

enum err lock_stamp_format(int64_t unix_s, char stamp[LOCK_STAMP_LEN + 1])
{
    if (unix_s < LOCK__UNIX_2000 || unix_s >= LOCK__UNIX_2100)
        return ERR_INVALID;
    struct lock__utc t;
    lock__utc_from_unix(unix_s, &t);
    lock__put_digits(stamp, t.year - 2000, 2);
    lock__put_digits(stamp + 2, t.month, 2);
    lock__put_digits(stamp + 4, t.day, 2);
    lock__put_digits(stamp + 6, t.hour, 2);
    lock__put_digits(stamp + 8, t.min, 2);
    lock__put_digits(stamp + 10, t.sec, 2);
    stamp[LOCK_STAMP_LEN] = '\0';
    return ERR_OK;
}
