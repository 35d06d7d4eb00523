/* SPDX-License-Identifier: MIT */
/*
 * Length-carrying string slices. Bytes from the network stay slices; a NUL is
 * added only at libc or SQLite boundaries. A slice borrows its bytes.
 */
#ifndef BASE_STR_H
#define BASE_STR_H

#include "base/sys.h"
#include "base/err.h"

struct str {
    const char *ptr;
    size_t len;
};

#define STR_LIT(s) ((struct str){(s), sizeof(s) - 1})

/* Returns a slice over the NUL-terminated s (which may be NULL: empty). */
struct str str_from_cstr(const char *s);

bool str_eq(struct str a, struct str b);
bool str_eq_cstr(struct str a, const char *b);
/* ASCII case-insensitive comparison, for HTTP header names. */
bool str_eq_nocase(struct str a, const char *b);
bool str_has_prefix(struct str s, const char *prefix);

/*
 * Splits s at the first sep: *head gets the part before it, and the return
 * value is the part after it. Without sep, *head is s and the rest is empty
 * with ptr NULL, so a loop `while (rest.ptr)` visits every field.
 */
struct str str_cut(struct str s, char sep, struct str *head);

/*
 * Parses all of s as a decimal integer (optional leading '-') into *out.
 * ERR_INVALID if s is empty, has other characters or overflows int64.
 */
enum err str_to_i64(struct str s, int64_t *out);

/*
 * Parses all of s as a finite decimal number ("12", "-3.25", "1e3") into
 * *out. ERR_INVALID if s is empty, longer than 64 bytes, malformed, or not
 * finite. Plain decimals of at most 15 digits ("-48.856613") skip strtod
 * and still give its double, bit for bit.
 */
enum err str_to_f64(struct str s, double *out);

/* True if s is non-empty and every byte is an ASCII digit. */
bool str_is_digits(struct str s);

#endif
