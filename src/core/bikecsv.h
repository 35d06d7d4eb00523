/* SPDX-License-Identifier: MIT */
/*
 * The fleet import file (`spoke import bikes`): CSV framing per RFC 4180
 * (records, quoted fields, CRLF or LF line ends) and a pull decoder that
 * turns the header and each row into a validated struct core_bike with its
 * file line. Pure: the caller reads the bytes and stores the bikes. A
 * decoder belongs to one thread at a time; nothing else is kept.
 */
#ifndef CORE_BIKECSV_H
#define CORE_BIKECSV_H

#include "base/sys.h"
#include "base/err.h"
#include "base/str.h"
#include "core/entity.h"

/* A record (without its line end) is at most this many bytes. */
#define CORE_CSV_RECORD_MAX 4096

/* A record has at most this many fields. */
#define CORE_CSV_FIELDS_MAX 16

/*
 * The smallest input window the decoder needs: one record of the maximum
 * length, its CRLF, and one more byte to tell that it is too long.
 */
#define CORE_BIKECSV_WINDOW_MIN (CORE_CSV_RECORD_MAX + 3)

/*
 * Finds the first record in buf[0..len): the bytes before the first LF
 * that is outside double quotes (a CR just before it belongs to the line
 * end). On ERR_OK *rec_len is the record's length without its line end,
 * *used counts the line end too, and *lines is the number of LF bytes in
 * those *used bytes (line breaks inside quoted fields included). Without
 * such an LF: ERR_NOT_FOUND if !eof (read more and call again), else the
 * rest of buf is the last record (with a trailing CR dropped), and
 * ERR_NOT_FOUND only if len is 0. Outputs are untouched on ERR_NOT_FOUND.
 */
enum err core_csv_record(const char *buf, size_t len, bool eof, size_t *rec_len,
                         size_t *used, size_t *lines);

/*
 * Splits the record rec[0..len) at commas into at most cap fields. A field
 * that starts with a double quote is quoted: it ends at the next lone
 * quote, which must be followed by a comma or the end of the record, and
 * "" inside it stands for one quote. Quoted fields are unquoted in place,
 * so every field points into rec. ERR_INVALID (message in d) for a quote
 * inside an unquoted field, text after a closing quote or a quote left
 * open; ERR_TOO_BIG for more than cap fields. *n is untouched on failure,
 * rec may be partly rewritten.
 */
enum err core_csv_split(char *rec, size_t len, struct str *fields, size_t cap,
                        size_t *n, struct err_detail *d);

/* Input bytes a message shows at most. */
#define CORE_CSV_SHOW_MAX 40

/*
 * Copies a value into out for a message: printable ASCII as is, other
 * bytes as '?', cut with "..." after CORE_CSV_SHOW_MAX bytes, so that no
 * input byte can reach a terminal raw. Returns out.
 */
const char *core_csv_show(struct str v, char out[CORE_CSV_SHOW_MAX + 4]);

/*
 * Parses a coordinate field named name (for the message) within
 * [-limit, limit]: ERR_INVALID ("bad lat '...': not a number", "... must be
 * from -90 to 90") otherwise; *out is untouched on failure.
 */
enum err core_csv_coord(struct str v, const char *name, double limit,
                        double *out, struct err_detail *d);

/*
 * Maps a header's n fields onto the ncols column names: field[c] is the
 * field index of column c, -1 if the header has none. ERR_INVALID for a
 * field naming no column ("unknown column '...' in the header (<known>)"),
 * a column named twice, or one of the first nrequired columns missing
 * ("the header has no column '...'<missing>"). field has ncols entries;
 * on failure they mean nothing.
 */
enum err core_csv_columns(const struct str *f, size_t n,
                          const char *const *names, size_t ncols,
                          size_t nrequired, const char *known,
                          const char *missing, int *field,
                          struct err_detail *d);

/* The columns an import file may name in its header. */
enum core_bikecsv_col {
    CORE_BIKECSV_QR_CODE,      /* required */
    CORE_BIKECSV_LOCK_IMEI,    /* required */
    CORE_BIKECSV_LAT,          /* required */
    CORE_BIKECSV_LON,          /* required */
    CORE_BIKECSV_STATE,        /* optional: available when absent or empty */
    CORE_BIKECSV_BATTERY,      /* optional: -1 (unknown) when absent/empty */
    CORE_BIKECSV_VEHICLE_TYPE, /* optional: bicycle when absent or empty */
    CORE_BIKECSV_COL_COUNT
};

/* The header's column name ("qr_code", "lock_imei", ...). */
const char *core_bikecsv_col_name(enum core_bikecsv_col c);

/* True for the states an import may give a bike (not reserved, on_trip). */
bool core_bikecsv_state_is_importable(enum core_vstate s);

/*
 * The decoder's state: the header's layout and the line count. Plain data
 * with no allocation; set it up with core_bikecsv_init.
 */
struct core_bikecsv {
    bool has_header;
    size_t nfields;                    /* every row has exactly this many */
    int field[CORE_BIKECSV_COL_COUNT]; /* column -> field index, -1: none */
    int64_t line;                      /* the line the next record starts */
    int64_t empty_first;               /* a run of empty lines not yet */
    int64_t empty_last;                /* reported (0: none) */
    struct str fields[CORE_CSV_FIELDS_MAX]; /* scratch for the split */
};

/* Sets up a decoder before the header, at line 1; allocates nothing. */
void core_bikecsv_init(struct core_bikecsv *p);

/*
 * Decodes the header, the first record of the input; buf[0..len) is the
 * input not consumed yet and eof says that nothing follows it. Call until
 * it returns something other than ERR_NOT_FOUND, dropping the first *used
 * bytes of the input after each call (*used is always set). A UTF-8 byte
 * order mark before the header is skipped. Every field must name a column
 * (core_bikecsv_col_name) once, and the four required ones must be there.
 *
 *   ERR_OK         the header is read; decode rows with core_bikecsv_row;
 *   ERR_NOT_FOUND  read more input (if eof, the input is empty: an error);
 *   ERR_INVALID    a bad header (d says why; d->field is the column name);
 *   ERR_TOO_BIG    the first line is longer than CORE_CSV_RECORD_MAX.
 *
 * The decoder looks at most CORE_BIKECSV_WINDOW_MIN bytes ahead, so the
 * caller's buffer must be able to hold that many.
 */
enum err core_bikecsv_header(struct core_bikecsv *p, char *buf, size_t len,
                             bool eof, size_t *used, struct err_detail *d);

/*
 * Decodes the next row after the header, like core_bikecsv_header:
 * buf[0..len) is the unconsumed input, the caller drops *used bytes after
 * every call, and quoted fields are unquoted inside buf. *line gets the
 * file line (1-based, the header is line 1) the row starts on.
 *
 *   ERR_OK         *out holds the row's qr_code, imei, pos, state,
 *                  battery_pct and vtype, with defaults for the optional
 *                  columns; every other field is zero;
 *   ERR_INVALID    the row on *line is bad: wrong number of fields, bad
 *                  quoting, a bad or missing value (d says which; d->field
 *                  names the column), or a run of empty lines before more
 *                  rows. The next call goes on after it;
 *   ERR_NOT_FOUND  no complete row is left: read more input, or at eof the
 *                  input is done (empty lines at its end are ignored);
 *   ERR_TOO_BIG    the record on *line is longer than CORE_CSV_RECORD_MAX
 *                  (a quote left open, often); nothing after it can be
 *                  decoded.
 */
enum err core_bikecsv_row(struct core_bikecsv *p, char *buf, size_t len,
                          bool eof, size_t *used, struct core_bike *out,
                          int64_t *line, struct err_detail *d);

#endif
