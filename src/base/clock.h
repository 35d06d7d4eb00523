/* SPDX-License-Identifier: MIT */
/*
 * Time sources. Only edges (net/, gateway/, svc/, api/, cli/) read clocks;
 * pure modules take time as arguments.
 */
#ifndef BASE_CLOCK_H
#define BASE_CLOCK_H

#include "base/sys.h"
#include "base/err.h"
#include "base/str.h"

/* Milliseconds since the Unix epoch (wall clock). */
int64_t clock_wall_ms(void);

/* Milliseconds from an arbitrary fixed point; never goes back. */
int64_t clock_mono_ms(void);

/* Nanoseconds from an arbitrary fixed point; never goes back. */
int64_t clock_mono_ns(void);

/*
 * Formats epoch milliseconds as RFC 3339 UTC with milliseconds
 * ("2026-11-29T10:43:17.123Z") into out, which holds at least 25 bytes.
 */
void clock_format_rfc3339(int64_t wall_ms, char out[25]);

/*
 * Parses RFC 3339 ("2026-11-29T10:43:17Z", "...17.123Z", "...17+08:00";
 * 't', 'z' and a space for 'T' accepted) into epoch milliseconds (fraction
 * beyond milliseconds truncated). ERR_INVALID if malformed or a field is
 * out of range.
 */
enum err clock_parse_rfc3339(struct str s, int64_t *wall_ms);

#endif
