/* SPDX-License-Identifier: MIT */
/*
 * Structured logging: one JSON object per line on stderr, written with a
 * single write(2) so lines from several threads never interleave. Only the
 * edges log (net/, gateway/, svc/, api/, cli/).
 *
 *   log_emit(LOG_INFO, "listening", LOG_FIELDS(LOG_STR("http", addr)));
 *   log_emit(LOG_WARN, "store_slow", 0, NULL);
 */
#ifndef BASE_LOG_H
#define BASE_LOG_H

#include "base/sys.h"

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

enum log_type { LOG_T_STR, LOG_T_I64, LOG_T_F64, LOG_T_BOOL };

struct log_field {
    const char *key;
    enum log_type type;
    const char *s;
    size_t len; /* bytes of s; SIZE_MAX means NUL-terminated */
    int64_t i;
    double f;
};

#define LOG_STR(k, v)                                                          \
    ((struct log_field){                                                       \
        .key = (k), .type = LOG_T_STR, .s = (v), .len = SIZE_MAX})
#define LOG_SLICE(k, v)                                                        \
    ((struct log_field){                                                       \
        .key = (k), .type = LOG_T_STR, .s = (v).ptr, .len = (v).len})
#define LOG_I64(k, v)                                                          \
    ((struct log_field){.key = (k), .type = LOG_T_I64, .i = (int64_t)(v)})
#define LOG_F64(k, v)                                                          \
    ((struct log_field){.key = (k), .type = LOG_T_F64, .f = (double)(v)})
#define LOG_BOOL(k, v)                                                         \
    ((struct log_field){.key = (k), .type = LOG_T_BOOL, .i = !!(v)})

/* Expands to the count and array arguments of log_emit. */
#define LOG_FIELDS(...)                                                        \
    (sizeof((struct log_field[]){__VA_ARGS__}) / sizeof(struct log_field)),    \
        ((const struct log_field[]){__VA_ARGS__})

/* Messages below level are dropped. Default LOG_INFO. Not thread-safe. */
void log_set_level(enum log_level level);

/* Parses "debug", "info", "warn" or "error"; false if unknown. */
bool log_level_parse(const char *name, enum log_level *out);

/*
 * Writes {"ts":..., "level":..., "msg":event, key: value...} and a newline.
 * Strings are JSON-escaped; a line longer than 4 KiB is truncated at a field
 * boundary. Thread-safe.
 */
void log_emit(enum log_level level, const char *event, size_t n,
              const struct log_field *fields);

#endif
