/* SPDX-License-Identifier: MIT */
/*
 * The one error enum every fallible function returns, its stable names, and
 * the detail record that explains a failure (message plus field path).
 */
#ifndef BASE_ERR_H
#define BASE_ERR_H

#include "base/sys.h"

enum err {
    ERR_OK = 0,
    ERR_INVALID,   /* the input is malformed or out of range */
    ERR_NOT_FOUND, /* the subject does not exist */
    ERR_CONFLICT,  /* the subject's current state forbids the operation */
    ERR_TOO_BIG,   /* a client-driven size is over its cap */
    ERR_BUSY,      /* try again later: a resource is temporarily taken */
    ERR_IO,        /* the operating system or the database failed */
    ERR_INTERNAL,  /* a bug or an unexpected library failure */
};

/* Returns the stable lowercase name of code ("ok", "invalid", ...). */
const char *err_name(enum err code);

/*
 * Explains a failure to the edge that reports it. `msg` is lowercase with no
 * final period; `field` is the JSON path or parameter name the failure is
 * about, or empty. `code` is an optional stable machine-readable reason that
 * refines the enum (for instance "bike_unavailable"), or empty.
 */
struct err_detail {
    char msg[160];
    char field[48];
    char code[40];
};

/*
 * Fills d (if not NULL) with field and a printf-formatted message and returns
 * code, so that a failing path reads `return err_set(d, ERR_INVALID, ...)`.
 */
enum err err_set(struct err_detail *d, enum err code, const char *field,
                 const char *fmt, ...) SYS_PRINTF(4, 5);

/* Like err_set, and also records the stable reason `reason` in d->code. */
enum err err_setc(struct err_detail *d, enum err code, const char *reason,
                  const char *field, const char *fmt, ...) SYS_PRINTF(5, 6);

/* Empties d (if not NULL). */
void err_clear(struct err_detail *d);

#endif
