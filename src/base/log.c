/* SPDX-License-Identifier: MIT */
/* JSON-lines logger writing whole lines to stderr. */
#include "base/sys.h"
#include "base/log.h"
#include "base/clock.h"

#include <math.h>
#include <stdio.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096

static enum log_level min_level = LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level level)
{
    min_level = level;
}

bool log_level_parse(const char *name, enum log_level *out)
{
    for (size_t i = 0; i < ARRAY_LEN(level_names); i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return true;
        }
    }
    return false;
}

struct line {
    char buf[LOG_LINE_MAX];
    size_t len;
    bool full;
};

static void put(struct line *l, const char *s, size_t n)
{
    /* Two bytes stay free for the closing brace and the newline. */
    if (l->full || n > sizeof(l->buf) - 2 - l->len) {
        l->full = true;
        return;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void put_json_str(struct line *l, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    put(l, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            put(l, esc, 2);
        } else if (c < 0x20 || c == 0x7f) {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            put(l, esc, 6);
        } else if (c >= 0x80) {
            /* Bytes from the network may not be UTF-8; keep lines valid. */
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            put(l, esc, 6);
        } else {
            put(l, (const char *)&c, 1);
        }
    }
    put(l, "\"", 1);
}

static void put_field(struct line *l, const struct log_field *f)
{
    char num[40];
    int n = 0;
    size_t mark = l->len;
    put(l, ",", 1);
    put_json_str(l, f->key, strlen(f->key));
    put(l, ":", 1);
    switch (f->type) {
    case LOG_T_STR:
        if (!f->s)
            put(l, "null", 4);
        else
            put_json_str(l, f->s, f->len == SIZE_MAX ? strlen(f->s) : f->len);
        break;
    case LOG_T_I64:
        n = snprintf(num, sizeof(num), "%" PRId64, f->i);
        put(l, num, (size_t)n);
        break;
    case LOG_T_F64:
        if (isfinite(f->f))
            n = snprintf(num, sizeof(num), "%.6g", f->f);
        else
            n = snprintf(num, sizeof(num), "null");
        put(l, num, (size_t)n);
        break;
    case LOG_T_BOOL:
        put(l, f->i ? "true" : "false", f->i ? 4 : 5);
        break;
    }
    if (l->full)
        l->len = mark; /* drop the partial field, keep the line valid */
}

void log_emit(enum log_level level, const char *event, size_t n,
              const struct log_field *fields)
{
    if (level < min_level)
        return;
    struct line l = {.len = 0, .full = false};
    char ts[25];
    clock_format_rfc3339(clock_wall_ms(), ts);
    put(&l, "{\"ts\":\"", 7);
    put(&l, ts, strlen(ts));
    put(&l, "\",\"level\":\"", 11);
    put(&l, level_names[level], strlen(level_names[level]));
    put(&l, "\",\"msg\":", 8);
    put_json_str(&l, event, strlen(event));
    for (size_t i = 0; i < n && !l.full; i++)
        put_field(&l, &fields[i]);
    l.buf[l.len++] = '}';
    l.buf[l.len++] = '\n';
    size_t off = 0;
    while (off < l.len) {
        ssize_t w = write(STDERR_FILENO, l.buf + off, l.len - off);
        if (w <= 0)
            return; /* nowhere left to report a logging failure */
        off += (size_t)w;
    }
}
