/* SPDX-License-Identifier: MIT */
/*
 * The fleet import file: RFC 4180 framing and splitting, the header's
 * column layout, and the validation of each row into a struct core_bike.
 * The hot path (a record without quotes) is two memchr scans and no copy.
 */
#include "base/sys.h"
#include "core/bikecsv.h"

#include <stdio.h>

static const char *const col_names[CORE_BIKECSV_COL_COUNT] = {
    [CORE_BIKECSV_QR_CODE] = "qr_code",
    [CORE_BIKECSV_LOCK_IMEI] = "lock_imei",
    [CORE_BIKECSV_LAT] = "lat",
    [CORE_BIKECSV_LON] = "lon",
    [CORE_BIKECSV_STATE] = "state",
    [CORE_BIKECSV_BATTERY] = "battery",
    [CORE_BIKECSV_VEHICLE_TYPE] = "vehicle_type",
};

/* The first columns of enum core_bikecsv_col are the required ones. */
#define REQUIRED_COLS (CORE_BIKECSV_LON + 1)

const char *core_bikecsv_col_name(enum core_bikecsv_col c)
{
    return (unsigned)c < CORE_BIKECSV_COL_COUNT ? col_names[c] : "unknown";
}

bool core_bikecsv_state_is_importable(enum core_vstate s)
{
    return s == CORE_VS_AVAILABLE || s == CORE_VS_NON_OPERATIONAL ||
           s == CORE_VS_MISSING || s == CORE_VS_REMOVED;
}

/* Framing */

enum err core_csv_record(const char *buf, size_t len, bool eof, size_t *rec_len,
                         size_t *used, size_t *lines)
{
    if (len == 0)
        return ERR_NOT_FOUND;
    const char *nl = memchr(buf, '\n', len);
    size_t end = nl ? (size_t)(nl - buf) : len;
    size_t nlines = nl ? 1 : 0;
    if (memchr(buf, '"', end)) {
        /*
         * A quote opens a quoted section only at the start of a field (or
         * right after a closing quote: "" inside quotes is an escaped
         * quote); a stray quote elsewhere is left for core_csv_split to
         * refuse, so it cannot swallow the lines after it. Only an LF
         * outside quotes ends the record.
         */
        bool quoted = false, field_start = true, closed = false;
        nlines = 0;
        end = len;
        for (size_t i = 0; i < len; i++) {
            char c = buf[i];
            if (c == '\n')
                nlines++;
            if (quoted) {
                if (c == '"') {
                    quoted = false;
                    closed = true;
                }
                continue;
            }
            if (c == '"' && (field_start || closed)) {
                quoted = true;
            } else if (c == '\n') {
                end = i;
                break;
            }
            field_start = c == ',';
            closed = false;
        }
        if (end == len)
            nlines = 0; /* only the LFs of a complete record are counted */
    }
    if (end == len && !eof)
        return ERR_NOT_FOUND;
    if (end == len) {
        /* The last record, without a line end; LFs inside it count. */
        for (size_t i = 0; i < len; i++)
            nlines += buf[i] == '\n';
    }
    size_t n = end;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    *rec_len = n;
    *used = end < len ? end + 1 : len;
    *lines = nlines;
    return ERR_OK;
}

/* Splits a record without quotes: the common case, no copying. */
static enum err split_plain(char *rec, size_t len, struct str *fields,
                            size_t cap, size_t *n)
{
    size_t count = 0;
    struct str rest = {rec, len};
    for (;;) {
        if (count == cap)
            return ERR_TOO_BIG;
        const char *comma = rest.len ? memchr(rest.ptr, ',', rest.len) : NULL;
        if (!comma) {
            fields[count++] = rest;
            break;
        }
        size_t k = (size_t)(comma - rest.ptr);
        fields[count++] = (struct str){rest.ptr, k};
        rest = (struct str){comma + 1, rest.len - k - 1};
    }
    *n = count;
    return ERR_OK;
}

enum err core_csv_split(char *rec, size_t len, struct str *fields, size_t cap,
                        size_t *n, struct err_detail *d)
{
    if (!memchr(rec, '"', len))
        return split_plain(rec, len, fields, cap, n);
    size_t count = 0;
    size_t i = 0;
    for (;;) {
        if (count == cap)
            return ERR_TOO_BIG;
        size_t start = i;
        if (i < len && rec[i] == '"') {
            /* Unquote in place: w trails i as "" collapses to ". */
            size_t w = i;
            i++;
            for (;;) {
                if (i == len)
                    return err_set(d, ERR_INVALID, "",
                                   "a quoted field is not closed (field %zu)",
                                   count + 1);
                if (rec[i] == '"') {
                    if (i + 1 < len && rec[i + 1] == '"') {
                        rec[w++] = '"';
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                rec[w++] = rec[i++];
            }
            if (i < len && rec[i] != ',')
                return err_set(d, ERR_INVALID, "",
                               "text after the closing quote of field %zu",
                               count + 1);
            fields[count++] = (struct str){rec + start, w - start};
        } else {
            while (i < len && rec[i] != ',') {
                if (rec[i] == '"')
                    return err_set(d, ERR_INVALID, "",
                                   "a quote inside unquoted field %zu (quote "
                                   "the field and double the quote)",
                                   count + 1);
                i++;
            }
            fields[count++] = (struct str){rec + start, i - start};
        }
        if (i == len)
            break;
        i++; /* the comma; a comma at the end leaves one empty field */
    }
    *n = count;
    return ERR_OK;
}

/* Messages */

enum err core_csv_columns(const struct str *f, size_t n,
                          const char *const *names, size_t ncols,
                          size_t nrequired, const char *known,
                          const char *missing, int *field, struct err_detail *d)
{
    char shown[CORE_CSV_SHOW_MAX + 4];
    for (size_t c = 0; c < ncols; c++)
        field[c] = -1;
    for (size_t i = 0; i < n; i++) {
        size_t c = 0;
        while (c < ncols && !str_eq_cstr(f[i], names[c]))
            c++;
        if (c == ncols)
            return err_set(d, ERR_INVALID, "",
                           "unknown column '%s' in the header (%s)",
                           core_csv_show(f[i], shown), known);
        if (field[c] >= 0)
            return err_set(d, ERR_INVALID, names[c],
                           "column '%s' appears twice in the header", names[c]);
        field[c] = (int)i;
    }
    for (size_t c = 0; c < nrequired; c++) {
        if (field[c] < 0)
            return err_set(d, ERR_INVALID, names[c],
                           "the header has no column '%s'%s", names[c],
                           missing);
    }
    return ERR_OK;
}

const char *core_csv_show(struct str v, char out[CORE_CSV_SHOW_MAX + 4])
{
    size_t n = MIN(v.len, (size_t)CORE_CSV_SHOW_MAX);
    for (size_t i = 0; i < n; i++) {
        char c = v.ptr[i];
        out[i] = (c >= 0x20 && c < 0x7f) ? c : '?';
    }
    if (v.len > n) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
    return out;
}

/* Header */

void core_bikecsv_init(struct core_bikecsv *p)
{
    memset(p, 0, sizeof(*p));
    for (size_t c = 0; c < CORE_BIKECSV_COL_COUNT; c++)
        p->field[c] = -1;
    p->line = 1;
}

/*
 * Finds the next record within the window the decoder looks at: at most
 * one maximum record, its CRLF and one byte more.
 */
static enum err next_record(const char *buf, size_t len, bool eof,
                            size_t *rec_len, size_t *used, size_t *lines)
{
    size_t window = MIN(len, (size_t)CORE_BIKECSV_WINDOW_MIN);
    enum err e = core_csv_record(buf, window, eof && window == len, rec_len,
                                 used, lines);
    if (e == ERR_NOT_FOUND && window == CORE_BIKECSV_WINDOW_MIN)
        return ERR_TOO_BIG;
    if (e == ERR_OK && *rec_len > CORE_CSV_RECORD_MAX)
        return ERR_TOO_BIG;
    return e;
}

static enum err too_long(struct err_detail *d, int64_t line)
{
    return err_set(d, ERR_TOO_BIG, "",
                   "line %" PRId64 " starts a record longer than %d bytes "
                   "(a quote left open?)",
                   line, CORE_CSV_RECORD_MAX);
}

static enum err header_fields(struct core_bikecsv *p, const struct str *f,
                              size_t n, struct err_detail *d)
{
    if (n == 1 && f[0].len == 0)
        return err_set(d, ERR_INVALID, "",
                       "the first line is empty; it must name the columns "
                       "(qr_code,lock_imei,lat,lon and optionally state, "
                       "battery, vehicle_type)");
    int field[CORE_BIKECSV_COL_COUNT];
    enum err e = core_csv_columns(
        f, n, col_names, CORE_BIKECSV_COL_COUNT, REQUIRED_COLS,
        "known: qr_code, lock_imei, lat, lon, state, battery, vehicle_type",
        " (required: qr_code, lock_imei, lat, lon)", field, d);
    if (e != ERR_OK)
        return e;
    memcpy(p->field, field, sizeof(field));
    p->nfields = n;
    p->has_header = true;
    return ERR_OK;
}

enum err core_bikecsv_header(struct core_bikecsv *p, char *buf, size_t len,
                             bool eof, size_t *used, struct err_detail *d)
{
    static const char bom[] = "\xef\xbb\xbf";
    *used = 0;
    if (len < 3 && !eof)
        return ERR_NOT_FOUND; /* too short to tell a byte order mark */
    size_t skip = len >= 3 && memcmp(buf, bom, 3) == 0 ? 3 : 0;
    size_t rec_len = 0, rec_used = 0, lines = 0;
    enum err e =
        next_record(buf + skip, len - skip, eof, &rec_len, &rec_used, &lines);
    if (e == ERR_NOT_FOUND)
        return ERR_NOT_FOUND;
    if (e == ERR_TOO_BIG)
        return too_long(d, p->line);
    size_t n = 0;
    e = core_csv_split(buf + skip, rec_len, p->fields, CORE_CSV_FIELDS_MAX, &n,
                       d);
    if (e == ERR_TOO_BIG)
        return err_set(d, ERR_INVALID, "",
                       "the header has more than %d columns",
                       CORE_CSV_FIELDS_MAX);
    if (e != ERR_OK)
        return e;
    e = header_fields(p, p->fields, n, d);
    if (e != ERR_OK)
        return e;
    *used = skip + rec_used;
    p->line += (int64_t)lines;
    return ERR_OK;
}

/* Rows */

enum err core_csv_coord(struct str v, const char *name, double limit,
                        double *out, struct err_detail *d)
{
    char shown[CORE_CSV_SHOW_MAX + 4];
    double x = 0;
    if (str_to_f64(v, &x) != ERR_OK)
        return err_set(d, ERR_INVALID, name, "bad %s '%s': not a number", name,
                       core_csv_show(v, shown));
    if (x < -limit || x > limit)
        return err_set(d, ERR_INVALID, name,
                       "bad %s '%s': must be from %g to %g", name,
                       core_csv_show(v, shown), -limit, limit);
    *out = x;
    return ERR_OK;
}

static enum err parse_state(struct str v, enum core_vstate *out,
                            struct err_detail *d)
{
    char shown[CORE_CSV_SHOW_MAX + 4];
    enum core_vstate s;
    if (v.len == 0) {
        *out = CORE_VS_AVAILABLE;
        return ERR_OK;
    }
    if (core_vstate_parse(v, &s) != ERR_OK)
        return err_set(d, ERR_INVALID, "state",
                       "unknown state '%s' (available, non_operational, "
                       "missing or removed)",
                       core_csv_show(v, shown));
    if (s == CORE_VS_RESERVED)
        return err_set(d, ERR_INVALID, "state",
                       "state 'reserved' cannot be imported: there is no "
                       "reservation to hold the bike");
    if (s == CORE_VS_ON_TRIP)
        return err_set(d, ERR_INVALID, "state",
                       "state 'on_trip' cannot be imported: there is no trip "
                       "to ride the bike");
    if (NEVER(!core_bikecsv_state_is_importable(s)))
        return err_set(d, ERR_INVALID, "state", "state cannot be imported");
    *out = s;
    return ERR_OK;
}

static enum err parse_battery(struct str v, int *out, struct err_detail *d)
{
    char shown[CORE_CSV_SHOW_MAX + 4];
    int64_t pct = 0;
    if (v.len == 0) {
        *out = -1;
        return ERR_OK;
    }
    if (str_to_i64(v, &pct) != ERR_OK || pct < 0 || pct > 100)
        return err_set(d, ERR_INVALID, "battery",
                       "bad battery '%s': must be an integer from 0 to 100 "
                       "(or empty: unknown)",
                       core_csv_show(v, shown));
    *out = (int)pct;
    return ERR_OK;
}

static enum err parse_vtype(struct str v, enum core_vtype *out,
                            struct err_detail *d)
{
    char shown[CORE_CSV_SHOW_MAX + 4];
    if (v.len == 0) {
        *out = CORE_VT_BICYCLE;
        return ERR_OK;
    }
    if (core_vtype_parse(v, out) != ERR_OK)
        return err_set(d, ERR_INVALID, "vehicle_type",
                       "unknown vehicle_type '%s' (bicycle or ebike)",
                       core_csv_show(v, shown));
    return ERR_OK;
}

/* The field of column c, or an empty slice if the file has no such column. */
static struct str col(const struct core_bikecsv *p, const struct str *f,
                      enum core_bikecsv_col c)
{
    int i = p->field[c];
    return i >= 0 ? f[i] : (struct str){"", 0};
}

static enum err row_fields(const struct core_bikecsv *p, const struct str *f,
                           struct core_bike *out, struct err_detail *d)
{
    char shown[CORE_CSV_SHOW_MAX + 4];
    struct core_bike b;
    memset(&b, 0, sizeof(b));
    struct str qr = col(p, f, CORE_BIKECSV_QR_CODE);
    if (core_qr_validate(qr, NULL) != ERR_OK)
        return err_set(d, ERR_INVALID, "qr_code",
                       "bad qr_code '%s': must be 1 to %d letters, digits, "
                       "_ or -",
                       core_csv_show(qr, shown), CORE_QR_MAX);
    memcpy(b.qr_code, qr.ptr, qr.len);
    struct str imei = col(p, f, CORE_BIKECSV_LOCK_IMEI);
    if (core_imei_parse(imei, &b.imei, NULL) != ERR_OK)
        return err_set(d, ERR_INVALID, "lock_imei",
                       "bad lock_imei '%s': must be exactly %d digits",
                       core_csv_show(imei, shown), CORE_IMEI_DIGITS);
    enum err e = core_csv_coord(col(p, f, CORE_BIKECSV_LAT), "lat", 90.0,
                                &b.pos.lat_deg, d);
    if (e == ERR_OK)
        e = core_csv_coord(col(p, f, CORE_BIKECSV_LON), "lon", 180.0,
                           &b.pos.lon_deg, d);
    if (e == ERR_OK)
        e = parse_state(col(p, f, CORE_BIKECSV_STATE), &b.state, d);
    if (e == ERR_OK)
        e = parse_battery(col(p, f, CORE_BIKECSV_BATTERY), &b.battery_pct, d);
    if (e == ERR_OK)
        e = parse_vtype(col(p, f, CORE_BIKECSV_VEHICLE_TYPE), &b.vtype, d);
    if (e != ERR_OK)
        return e;
    *out = b;
    return ERR_OK;
}

/* Reports the pending run of empty lines as one bad row. */
static enum err empty_run(struct core_bikecsv *p, int64_t *line,
                          struct err_detail *d)
{
    *line = p->empty_first;
    enum err e =
        p->empty_first == p->empty_last
            ? err_set(d, ERR_INVALID, "", "empty line")
            : err_set(d, ERR_INVALID, "",
                      "empty lines (through line %" PRId64 ")", p->empty_last);
    p->empty_first = 0;
    p->empty_last = 0;
    return e;
}

enum err core_bikecsv_row(struct core_bikecsv *p, char *buf, size_t len,
                          bool eof, size_t *used, struct core_bike *out,
                          int64_t *line, struct err_detail *d)
{
    ASSERT(p->has_header);
    size_t done = 0;
    *used = 0;
    for (;;) {
        size_t rec_len = 0, rec_used = 0, lines = 0;
        enum err e = next_record(buf + done, len - done, eof, &rec_len,
                                 &rec_used, &lines);
        if (e == ERR_NOT_FOUND) {
            /* At eof, a pending run of empty lines ends the file: fine. */
            *used = done;
            return ERR_NOT_FOUND;
        }
        if (e == ERR_TOO_BIG) {
            *used = done;
            *line = p->line;
            return too_long(d, p->line);
        }
        if (rec_len == 0) {
            /* An empty line: an error only if a row comes after it. */
            if (!p->empty_first)
                p->empty_first = p->line;
            p->empty_last = p->line;
            p->line += (int64_t)lines;
            done += rec_used;
            continue;
        }
        if (p->empty_first) {
            *used = done;
            return empty_run(p, line, d);
        }
        *used = done + rec_used;
        *line = p->line;
        p->line += (int64_t)lines;
        size_t n = 0;
        e = core_csv_split(buf + done, rec_len, p->fields, CORE_CSV_FIELDS_MAX,
                           &n, d);
        if (e == ERR_TOO_BIG)
            return err_set(d, ERR_INVALID, "",
                           "wrong number of fields: more than %d, expected "
                           "%zu",
                           CORE_CSV_FIELDS_MAX, p->nfields);
        if (e != ERR_OK)
            return e;
        if (n != p->nfields)
            return err_set(d, ERR_INVALID, "",
                           "wrong number of fields: %zu, expected %zu", n,
                           p->nfields);
        return row_fields(p, p->fields, out, d);
    }
}
