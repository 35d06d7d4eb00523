/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the files of the lock codec: calendar arithmetic for
 * the protocol's UTC fields, digit writing, the payload decoder and checker
 * used by both the parser and the builders, and the secure dialect's MAC.
 */
#ifndef LOCK_LOCK_INT_H
#define LOCK_LOCK_INT_H

#include "base/sys.h"
#include "base/err.h"
#include "base/str.h"
#include "lock/lock.h"

/* Unix seconds of 2000-01-01 and 2100-01-01 UTC: the protocol's years. */
#define LOCK__UNIX_2000 INT64_C(946684800)
#define LOCK__UNIX_2100 INT64_C(4102444800)

/* A broken-down UTC time; year is the full year (2000..2099). */
struct lock__utc {
    int year, month, day;
    int hour, min, sec;
};

/*
 * Converts t to unix seconds. t->year must be 2000..2099 and the other
 * fields non-negative (the parser makes them from two digits each). False
 * if a field is out of range (month 1..12, the day in its month, hour 0..23,
 * minute and second 0..59); *unix_s is untouched then.
 */
bool lock__utc_to_unix(const struct lock__utc *t, int64_t *unix_s);

/*
 * Breaks unix_s down; unix_s must be in [LOCK__UNIX_2000, LOCK__UNIX_2100).
 */
void lock__utc_from_unix(int64_t unix_s, struct lock__utc *t);

/*
 * lock_coord_format without the checks: deg must be finite and within 90
 * (180 if is_lon).
 */
void lock__coord_text(double deg, bool is_lon, char text[LOCK_COORD_TEXT_MAX],
                      char *hemi);

/* Writes v (0 <= v < 10^width) as exactly width zero-padded digits at p. */
void lock__put_digits(char *p, int64_t v, int width);

/* True if s has min..max bytes and all are ASCII letters or digits. */
bool lock__is_alnum(struct str s, size_t min, size_t max);

/*
 * The length of frame without its trailing CR/LF into *n; ERR_TOO_BIG if
 * that is over LOCK_FRAME_MAX (frame.c).
 */
enum err lock__frame_len(struct str frame, size_t *n, struct err_detail *d);

/*
 * Fills m->u from m->values for m->cmd (already classified, with at least
 * the header, name and values set), then checks it with
 * lock__check_payload. ERR_INVALID with d on a missing or malformed value.
 */
enum err lock__decode_payload(struct lock_msg *m, struct err_detail *d);

/*
 * Checks the typed payload of m against the ranges in lock.h (and, for
 * LOCK_CMD_UNKNOWN and LOCK_CMD_ACK, the name and the raw values).
 * ERR_INVALID with d if one is out of range; ERR_TOO_BIG if n_values is
 * over LOCK_VALUES_MAX.
 */
enum err lock__check_payload(const struct lock_msg *m, struct err_detail *d);

/*
 * The builder behind every lock_build_* function: checks m (header, kind
 * for the direction and dialect, payload) and writes its frame. key is
 * NULL for the Omni builders; a secure header needs it, and the MAC made
 * with it is appended. Errors as documented for the builders in lock.h.
 */
enum err lock__build(const struct lock_msg *m, const unsigned char *key,
                     char *out, size_t cap, size_t *len, struct err_detail *d);

/*
 * Writes the MAC of the secure dialect over p[0..n) (the frame from '*'
 * through the ',' before the MAC) as LOCK_MAC_HEX_LEN lowercase hex digits
 * and a NUL into hex.
 */
void lock__mac_hex(const unsigned char key[LOCK_KEY_BYTES], const char *p,
                   size_t n, char hex[LOCK_MAC_HEX_LEN + 1]);

/* True if s is exactly LOCK_MAC_HEX_LEN lowercase hex digits. */
bool lock__is_mac(struct str s);

/*
 * printf arguments for quoting the slice s in a message as '%.*s': at most
 * 32 bytes, and "" for a NULL slice.
 */
#define LOCK__QUOTE(s) lock__quote_len(s), lock__quote_ptr(s)
int lock__quote_len(struct str s);
const char *lock__quote_ptr(struct str s);

#endif
