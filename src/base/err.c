/* SPDX-License-Identifier: MIT */
/* Names of error codes and the detail record helpers. */
#include "base/sys.h"
#include "base/err.h"

#include <stdarg.h>
#include <stdio.h>

const char *err_name(enum err code)
{
    switch (code) {
    case ERR_OK:
        return "ok";
    case ERR_INVALID:
        return "invalid";
    case ERR_NOT_FOUND:
        return "not_found";
    case ERR_CONFLICT:
        return "conflict";
    case ERR_TOO_BIG:
        return "too_big";
    case ERR_BUSY:
        return "busy";
    case ERR_IO:
        return "io";
    case ERR_INTERNAL:
        return "internal";
    }
    return "unknown";
}

SYS_PRINTF(4, 0)
static void fill(struct err_detail *d, const char *reason, const char *field,
                 const char *fmt, va_list ap)
{
    snprintf(d->code, sizeof(d->code), "%s", reason ? reason : "");
    snprintf(d->field, sizeof(d->field), "%s", field ? field : "");
    vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
}

enum err err_set(struct err_detail *d, enum err code, const char *field,
                 const char *fmt, ...)
{
    if (d) {
        va_list ap;
        va_start(ap, fmt);
        fill(d, NULL, field, fmt, ap);
        va_end(ap);
    }
    return code;
}

enum err err_setc(struct err_detail *d, enum err code, const char *reason,
                  const char *field, const char *fmt, ...)
{
    if (d) {
        va_list ap;
        va_start(ap, fmt);
        fill(d, reason, field, fmt, ap);
        va_end(ap);
    }
    return code;
}

void err_clear(struct err_detail *d)
{
    if (d) {
        d->msg[0] = '\0';
        d->field[0] = '\0';
        d->code[0] = '\0';
    }
}
