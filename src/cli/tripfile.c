/* SPDX-License-Identifier: MIT */
/*
 * Decoding the trip files of `spoke import trips`: the CSV header and rows,
 * trip times, and the Singapore trips and nodes files. Framing and quoting
 * are core/bikecsv.h's; reading files and storing trips is import_trips.c.
 */
#include "base/sys.h"
#include "cli/tripfile.h"
#include "base/clock.h"

#include <stdio.h>
#include <stdlib.h>

/* Unix seconds before year 10000. */
#define TRIP_MAX_S INT64_C(253402300800)

static const char *const col_names[CLI_TRIPCSV_COLS] = {
    [CLI_TRIPCSV_STARTED_AT] = "started_at",
    [CLI_TRIPCSV_ENDED_AT] = "ended_at",
    [CLI_TRIPCSV_START_LAT] = "start_lat",
    [CLI_TRIPCSV_START_LON] = "start_lon",
    [CLI_TRIPCSV_END_LAT] = "end_lat",
    [CLI_TRIPCSV_END_LON] = "end_lon",
};

const char *cli_tripcsv_col_name(enum cli_tripcsv_col c)
{
    return (unsigned)c < CLI_TRIPCSV_COLS ? col_names[c] : "?";
}

static struct str chomp(struct str s)
{
    if (s.len && s.ptr[s.len - 1] == '\r')
        s.len--;
    return s;
}

/* Numbers */

static enum err coord(struct str v, const char *name, double limit, double *out,
                      struct err_detail *d)
{
    if (v.len == 0)
        return err_set(d, ERR_INVALID, name, "%s is empty", name);
    return core_csv_coord(v, name, limit, out, d);
}

enum err cli_trip_time(struct str s, int64_t *ms)
{
    size_t i = 0;
    while (i < s.len && s.ptr[i] >= '0' && s.ptr[i] <= '9')
        i++;
    if (i == 0 || (i < s.len && s.ptr[i] != '.'))
        return clock_parse_rfc3339(s, ms);
    int64_t secs = 0;
    if (i > 12 || str_to_i64((struct str){s.ptr, i}, &secs) != ERR_OK ||
        secs >= TRIP_MAX_S)
        return ERR_INVALID;
    int64_t frac = 0;
    size_t nfrac = 0;
    for (size_t k = i + 1; k < s.len; k++) {
        if (s.ptr[k] < '0' || s.ptr[k] > '9')
            return ERR_INVALID;
        if (nfrac < 3) {
            frac = frac * 10 + (s.ptr[k] - '0');
            nfrac++;
        }
    }
    if (i < s.len && i + 1 == s.len)
        return ERR_INVALID; /* "123." */
    while (nfrac < 3) {
        frac *= 10;
        nfrac++;
    }
    *ms = secs * 1000 + frac;
    return ERR_OK;
}

static enum err time_field(struct str v, const char *name, int64_t *ms,
                           struct err_detail *d)
{
    char buf[CORE_CSV_SHOW_MAX + 4];
    if (v.len == 0)
        return err_set(d, ERR_INVALID, name, "%s is empty", name);
    if (cli_trip_time(v, ms) != ERR_OK)
        return err_set(d, ERR_INVALID, name,
                       "bad %s '%s': not Unix seconds or an RFC 3339 time "
                       "(with Z or an offset)",
                       name, core_csv_show(v, buf));
    return ERR_OK;
}

/* CSV */

enum err cli_tripcsv_header(struct cli_tripcsv *p, char *rec, size_t len,
                            struct err_detail *d)
{
    if (len >= 3 && memcmp(rec, "\xef\xbb\xbf", 3) == 0) {
        rec += 3;
        len -= 3;
    }
    size_t n = 0;
    enum err e =
        core_csv_split(rec, len, p->fields, CORE_CSV_FIELDS_MAX, &n, d);
    if (e == ERR_TOO_BIG)
        return err_set(d, ERR_INVALID, "",
                       "the header has more than %d columns",
                       CORE_CSV_FIELDS_MAX);
    if (e != ERR_OK)
        return e;
    if (n == 1 && p->fields[0].len == 0)
        return err_set(d, ERR_INVALID, "",
                       "the first line is empty; it must name the columns "
                       "started_at,ended_at,start_lat,start_lon,end_lat,"
                       "end_lon");
    int field[CLI_TRIPCSV_COLS];
    e = core_csv_columns(p->fields, n, col_names, CLI_TRIPCSV_COLS,
                         CLI_TRIPCSV_COLS,
                         "the columns: started_at, ended_at, start_lat, "
                         "start_lon, end_lat, end_lon",
                         "", field, d);
    if (e != ERR_OK)
        return e;
    memcpy(p->field, field, sizeof(field));
    p->nfields = n;
    return ERR_OK;
}

enum err cli_tripcsv_row(struct cli_tripcsv *p, char *rec, size_t len,
                         struct store_demand_trip *out, struct err_detail *d)
{
    size_t n = 0;
    enum err e =
        core_csv_split(rec, len, p->fields, CORE_CSV_FIELDS_MAX, &n, d);
    if (e == ERR_TOO_BIG || (e == ERR_OK && n != p->nfields))
        return err_set(d, ERR_INVALID, "", "%s fields, expected %zu",
                       e == ERR_TOO_BIG ? "too many" : "wrong number of",
                       p->nfields);
    if (e != ERR_OK)
        return e;
    const struct str *f = p->fields;
    const int *col = p->field;
    e = time_field(f[col[CLI_TRIPCSV_STARTED_AT]], "started_at",
                   &out->started_ms, d);
    if (e == ERR_OK)
        e = time_field(f[col[CLI_TRIPCSV_ENDED_AT]], "ended_at", &out->ended_ms,
                       d);
    if (e == ERR_OK)
        e = coord(f[col[CLI_TRIPCSV_START_LAT]], "start_lat", 90,
                  &out->start_pos.lat_deg, d);
    if (e == ERR_OK)
        e = coord(f[col[CLI_TRIPCSV_START_LON]], "start_lon", 180,
                  &out->start_pos.lon_deg, d);
    if (e == ERR_OK)
        e = coord(f[col[CLI_TRIPCSV_END_LAT]], "end_lat", 90,
                  &out->end_pos.lat_deg, d);
    if (e == ERR_OK)
        e = coord(f[col[CLI_TRIPCSV_END_LON]], "end_lon", 180,
                  &out->end_pos.lon_deg, d);
    return e;
}

/* Singapore */

/* Splits line at tabs into exactly n fields; false if it has another count. */
static bool tabs(struct str line, struct str *f, size_t n)
{
    struct str rest = line;
    for (size_t i = 0; i < n; i++) {
        if (!rest.ptr)
            return false;
        rest = str_cut(rest, '\t', &f[i]);
    }
    return rest.ptr == NULL;
}

enum err cli_sg_node_parse(struct str line, struct cli_sg_node *out,
                           struct err_detail *d)
{
    struct str f[3];
    double lon = 0, lat = 0;
    if (!tabs(chomp(line), f, 3) || str_to_i64(f[0], &out->id) != ERR_OK ||
        str_to_f64(f[1], &lon) != ERR_OK || str_to_f64(f[2], &lat) != ERR_OK ||
        lat < -90 || lat > 90 || lon < -180 || lon > 180)
        return err_set(d, ERR_INVALID, "",
                       "expected 'osm_id<TAB>lon<TAB>lat' (degrees)");
    out->pos = (struct geo_latlng){lat, lon};
    return ERR_OK;
}

static int node_cmp(const void *a, const void *b)
{
    int64_t x = ((const struct cli_sg_node *)a)->id;
    int64_t y = ((const struct cli_sg_node *)b)->id;
    return (x > y) - (x < y);
}

enum err cli_sg_nodes_sort(struct cli_sg_node *v, size_t n,
                           struct err_detail *d)
{
    qsort(v, n, sizeof(*v), node_cmp);
    for (size_t i = 1; i < n; i++) {
        if (v[i].id == v[i - 1].id)
            return err_set(d, ERR_CONFLICT, "",
                           "node %" PRId64 " is there twice", v[i].id);
    }
    return ERR_OK;
}

const struct cli_sg_node *cli_sg_node_find(const struct cli_sg_node *v,
                                           size_t n, int64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && v[lo].id == id ? &v[lo] : NULL;
}

/* Field f of a Singapore trip line as an integer. */
static enum err sg_int(struct str f, const char *name, int64_t *out,
                       struct err_detail *d)
{
    char buf[CORE_CSV_SHOW_MAX + 4];
    if (str_to_i64(f, out) != ERR_OK)
        return err_set(d, ERR_INVALID, name, "bad %s '%s': not an integer",
                       name, core_csv_show(f, buf));
    return ERR_OK;
}

enum err cli_sg_trip_parse(struct str line, const struct cli_sg_node *v,
                           size_t n, struct store_demand_trip *out,
                           struct err_detail *d)
{
    struct str f[9];
    if (!tabs(chomp(line), f, 9))
        return err_set(d, ERR_INVALID, "",
                       "expected 9 tab-separated fields (trip_id, bike_id, "
                       "start_ts, end_ts, start_node, start_dist_m, end_node, "
                       "end_dist_m, trip_dist_m)");
    int64_t t0 = 0, t1 = 0, n0 = 0, n1 = 0;
    enum err e = sg_int(f[2], "start_ts", &t0, d);
    if (e == ERR_OK)
        e = sg_int(f[3], "end_ts", &t1, d);
    if (e == ERR_OK)
        e = sg_int(f[4], "start_node", &n0, d);
    if (e == ERR_OK)
        e = sg_int(f[6], "end_node", &n1, d);
    if (e != ERR_OK)
        return e;
    if (t0 < 0 || t0 >= TRIP_MAX_S || t1 < 0 || t1 >= TRIP_MAX_S)
        return err_set(d, ERR_INVALID,
                       t0 < 0 || t0 >= TRIP_MAX_S ? "start_ts" : "end_ts",
                       "time out of range (Unix seconds, 1970 to 9999)");
    const struct cli_sg_node *a = cli_sg_node_find(v, n, n0);
    const struct cli_sg_node *b = cli_sg_node_find(v, n, n1);
    if (!a || !b)
        return err_set(d, ERR_INVALID, a ? "end_node" : "start_node",
                       "node %" PRId64 " is not in the nodes file",
                       a ? n1 : n0);
    *out = (struct store_demand_trip){
        .started_ms = t0 * 1000,
        .ended_ms = t1 * 1000,
        .start_pos = a->pos,
        .end_pos = b->pos,
    };
    return ERR_OK;
}

/* Whole files */

void cli_tripfile_init(struct cli_tripfile *p, enum cli_tripfile_format f,
                       const struct cli_sg_node *nodes, size_t nnodes)
{
    memset(p, 0, sizeof(*p));
    p->format = f;
    p->nodes = nodes;
    p->nnodes = nnodes;
    p->line = 1;
}

/*
 * Frames the first record of buf[0..len) within the window: a CSV record
 * (quoted line breaks inside) or a line. ERR_NOT_FOUND: read more (or at
 * eof, nothing is left); ERR_TOO_BIG: longer than a record may be.
 */
static enum err frame(const struct cli_tripfile *p, const char *buf, size_t len,
                      bool eof, size_t *rec_len, size_t *used, size_t *lines)
{
    size_t window = MIN(len, (size_t)CLI_TRIPFILE_WINDOW_MIN);
    bool last = eof && window == len;
    enum err e = ERR_NOT_FOUND;
    if (p->format == CLI_TRIPFILE_CSV) {
        e = core_csv_record(buf, window, last, rec_len, used, lines);
    } else {
        const char *nl = memchr(buf, '\n', window);
        if (nl || (last && window)) {
            *rec_len = nl ? (size_t)(nl - buf) : window;
            *used = nl ? *rec_len + 1 : window;
            *lines = nl != NULL;
            e = ERR_OK;
        }
    }
    if (e == ERR_NOT_FOUND && window == CLI_TRIPFILE_WINDOW_MIN)
        return ERR_TOO_BIG;
    if (e == ERR_OK && *rec_len > CORE_CSV_RECORD_MAX)
        return ERR_TOO_BIG;
    return e;
}

enum err cli_tripfile_next(struct cli_tripfile *p, char *buf, size_t len,
                           bool eof, size_t *used,
                           struct store_demand_trip *out, int64_t *line,
                           struct err_detail *d)
{
    *used = 0;
    for (;;) {
        if (p->stopped) {
            *used = len;
            return ERR_NOT_FOUND;
        }
        size_t rec_len = 0, rec_used = 0, lines = 0;
        char *rec = buf + *used;
        enum err e =
            frame(p, rec, len - *used, eof, &rec_len, &rec_used, &lines);
        *line = p->line;
        if (e == ERR_TOO_BIG) {
            p->stopped = true;
            return err_set(d, ERR_TOO_BIG, "",
                           "a record longer than %d bytes (a quote left "
                           "open?); nothing after it can be read",
                           CORE_CSV_RECORD_MAX);
        }
        if (e != ERR_OK)
            return e;
        *used += rec_used;
        p->line += (int64_t)lines;
        struct str r = chomp((struct str){rec, rec_len});
        if (p->format == CLI_TRIPFILE_CSV && !p->has_header) {
            e = cli_tripcsv_header(&p->csv, rec, r.len, d);
            p->has_header = e == ERR_OK;
            p->stopped = e != ERR_OK;
            if (e != ERR_OK)
                return ERR_INVALID;
            continue;
        }
        if (r.len == 0)
            continue; /* an empty line */
        if (p->format == CLI_TRIPFILE_CSV)
            return cli_tripcsv_row(&p->csv, rec, r.len, out, d);
        return cli_sg_trip_parse(r, p->nodes, p->nnodes, out, d);
    }
}
