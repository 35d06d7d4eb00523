/* SPDX-License-Identifier: MIT */
/*
 * A minimal JSON writer for hot responses (the bike search), appending to a
 * capped buffer. jansson builds everything else; dumping its reals with
 * printf took a third of the search's time (see docs/internals/api.md).
 * Each function returns false once the buffer is full; the caller checks
 * once at the end.
 */
#ifndef API_JSONW_H
#define API_JSONW_H

#include "base/sys.h"
#include "base/buf.h"

/* Appends raw JSON text (punctuation, keys the caller spells out). */
bool api__jw_raw(struct buf *b, const char *text);

/* Appends a decimal integer. */
bool api__jw_i64(struct buf *b, int64_t v);

/*
 * Appends v rounded to `decimals` (1..9) places as a JSON number, trailing
 * zeros dropped but at least one decimal kept ("31.2304", "40.0").
 * v must be finite.
 */
bool api__jw_fixed(struct buf *b, double v, int decimals);

#endif
