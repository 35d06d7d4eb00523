/* SPDX-License-Identifier: MIT */
/* Wall and monotonic clocks and RFC 3339 formatting. */
#include "base/sys.h"
#include "base/clock.h"

#include <stdio.h>
#include <time.h>

static int64_t read_ns(clockid_t id)
{
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0)
        BUG("clock_gettime failed");
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t clock_wall_ms(void)
{
    return read_ns(CLOCK_REALTIME) / 1000000;
}

int64_t clock_mono_ms(void)
{
    return read_ns(CLOCK_MONOTONIC) / 1000000;
}

int64_t clock_mono_ns(void)
{
    return read_ns(CLOCK_MONOTONIC);
}

void clock_format_rfc3339(int64_t wall_ms, char out[25])
{
    time_t secs = (time_t)(wall_ms / 1000);
    int ms = (int)(wall_ms % 1000);
    if (ms < 0) {
        ms += 1000;
        secs -= 1;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    /* The modulos bound each field so the output always fits. */
    snprintf(out, 25, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ",
             (unsigned)(tm.tm_year + 1900) % 10000u,
             (unsigned)(tm.tm_mon + 1) % 100u, (unsigned)tm.tm_mday % 100u,
             (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u,
             (unsigned)tm.tm_sec % 100u, (unsigned)ms % 1000u);
}

/* Reads n digits at s[*i] as a number; false if they are not all digits. */
static bool num(struct str s, size_t *i, size_t n, int *out)
{
    if (*i + n > s.len)
        return false;
    int v = 0;
    for (size_t k = 0; k < n; k++) {
        char c = s.ptr[*i + k];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *i += n;
    *out = v;
    return true;
}

static bool expect(struct str s, size_t *i, const char *any)
{
    if (*i >= s.len || !strchr(any, s.ptr[*i]))
        return false;
    (*i)++;
    return true;
}

enum err clock_parse_rfc3339(struct str s, int64_t *wall_ms)
{
    static const int mdays[12] = {31, 29, 31, 30, 31, 30,
                                  31, 31, 30, 31, 30, 31};
    size_t i = 0;
    int y, mo, d, h, mi, sec, ms = 0;
    if (!num(s, &i, 4, &y) || !expect(s, &i, "-") || !num(s, &i, 2, &mo) ||
        !expect(s, &i, "-") || !num(s, &i, 2, &d) || !expect(s, &i, "Tt ") ||
        !num(s, &i, 2, &h) || !expect(s, &i, ":") || !num(s, &i, 2, &mi) ||
        !expect(s, &i, ":") || !num(s, &i, 2, &sec))
        return ERR_INVALID;
    if (i < s.len && s.ptr[i] == '.') {
        i++;
        size_t start = i;
        int scale = 100;
        while (i < s.len && s.ptr[i] >= '0' && s.ptr[i] <= '9') {
            ms += (s.ptr[i] - '0') * scale;
            scale /= 10;
            i++;
        }
        if (i == start)
            return ERR_INVALID;
    }
    int offset_min = 0;
    if (i < s.len && (s.ptr[i] == 'Z' || s.ptr[i] == 'z')) {
        i++;
    } else if (i < s.len && (s.ptr[i] == '+' || s.ptr[i] == '-')) {
        int sign = s.ptr[i++] == '-' ? -1 : 1;
        int oh, om;
        if (!num(s, &i, 2, &oh) || !expect(s, &i, ":") || !num(s, &i, 2, &om) ||
            oh > 23 || om > 59)
            return ERR_INVALID;
        offset_min = sign * (oh * 60 + om);
    } else {
        return ERR_INVALID;
    }
    if (i != s.len || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
        h > 23 || mi > 59 || sec > 60)
        return ERR_INVALID;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo == 2 && d == 29 && !leap)
        return ERR_INVALID;
    /* Days from the civil date (proleptic Gregorian), no libc time zone. */
    int yy = mo <= 2 ? y - 1 : y;
    int era = (yy >= 0 ? yy : yy - 399) / 400;
    int yoe = yy - era * 400;
    int doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = (int64_t)era * 146097 + doe - 719468;
    int64_t secs =
        days * 86400 + h * 3600 + mi * 60 + sec - (int64_t)offset_min * 60;
    *wall_ms = secs * 1000 + ms;
    return ERR_OK;
}
