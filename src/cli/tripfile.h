/* SPDX-License-Identifier: MIT */
/*
 * The trip files of `spoke import trips`, decoded one record at a time: the
 * CSV format (a header naming started_at, ended_at, start_lat, start_lon,
 * end_lat, end_lon in any order) and the Singapore dockless trips
 * (tab-separated, OpenStreetMap node ids joined with a nodes file). Pure:
 * cli/import_trips.c reads the files and stores the trips; the store checks
 * what the history itself requires (times in order, valid positions).
 */
#ifndef CLI_TRIPFILE_H
#define CLI_TRIPFILE_H

#include "base/sys.h"
#include "base/err.h"
#include "base/str.h"
#include "core/bikecsv.h"
#include "store/store.h"

/* The columns of a CSV trip file; every one is required. */
enum cli_tripcsv_col {
    CLI_TRIPCSV_STARTED_AT,
    CLI_TRIPCSV_ENDED_AT,
    CLI_TRIPCSV_START_LAT,
    CLI_TRIPCSV_START_LON,
    CLI_TRIPCSV_END_LAT,
    CLI_TRIPCSV_END_LON,
    CLI_TRIPCSV_COLS
};

/* The header's name of column c ("started_at", ...). */
const char *cli_tripcsv_col_name(enum cli_tripcsv_col c);

/* The header's layout; plain data, set by cli_tripcsv_header. */
struct cli_tripcsv {
    size_t nfields;              /* every row has exactly this many */
    int field[CLI_TRIPCSV_COLS]; /* column -> field index */
    struct str fields[CORE_CSV_FIELDS_MAX]; /* scratch for the split */
};

/*
 * Reads the header record rec[0..len) (one record as core_csv_record
 * frames it; a UTF-8 byte order mark before it is skipped): each field
 * must name a column once, and every column must be there. ERR_INVALID
 * (d says why, d->field the column) for a bad header; rec may be
 * rewritten (unquoting).
 */
enum err cli_tripcsv_header(struct cli_tripcsv *p, char *rec, size_t len,
                            struct err_detail *d);

/*
 * Decodes a data record into *out (times in ms, positions in degrees).
 * ERR_INVALID (d says why, d->field the column) for a wrong number of
 * fields, bad quoting, an empty or malformed value; *out is then partly
 * written. rec may be rewritten.
 */
enum err cli_tripcsv_row(struct cli_tripcsv *p, char *rec, size_t len,
                         struct store_demand_trip *out, struct err_detail *d);

/*
 * A time of a trip file: Unix seconds ("1505084846", a fraction of up to
 * millisecond precision allowed, more digits truncated) or RFC 3339
 * (clock_parse_rfc3339). ERR_INVALID otherwise, or for seconds past year
 * 9999.
 */
enum err cli_trip_time(struct str s, int64_t *ms);

/* A node of the Singapore nodes file: "osm_id<TAB>lon<TAB>lat". */
struct cli_sg_node {
    int64_t id;
    struct geo_latlng pos;
};

/* Decodes a nodes file line (a trailing CR dropped). ERR_INVALID. */
enum err cli_sg_node_parse(struct str line, struct cli_sg_node *out,
                           struct err_detail *d);

/* Sorts nodes by id; ERR_CONFLICT (d names it) if an id is there twice. */
enum err cli_sg_nodes_sort(struct cli_sg_node *v, size_t n,
                           struct err_detail *d);

/* The node with id in sorted v[0..n), or NULL. */
const struct cli_sg_node *cli_sg_node_find(const struct cli_sg_node *v,
                                           size_t n, int64_t id);

/*
 * Decodes a Singapore trip line: nine tab-separated fields, trip_id,
 * bike_id, start_ts, end_ts (Unix seconds), start_node, start_dist_m,
 * end_node, end_dist_m, trip_dist_m (a trailing CR dropped); the trip and
 * bike ids are not kept. The nodes come from sorted v[0..n). ERR_INVALID
 * (d says why, d->field the column) for a malformed line or an unknown
 * node.
 */
enum err cli_sg_trip_parse(struct str line, const struct cli_sg_node *v,
                           size_t n, struct store_demand_trip *out,
                           struct err_detail *d);

/* ---- whole files: a pull decoder over the caller's buffer ------------ */

enum cli_tripfile_format {
    CLI_TRIPFILE_CSV,       /* a header line, then one trip a record */
    CLI_TRIPFILE_SINGAPORE, /* no header, one trip a line */
};

/*
 * The smallest input window the decoder needs: one record of the maximum
 * length (CORE_CSV_RECORD_MAX), its CRLF, and one byte more to tell that it
 * is too long.
 */
#define CLI_TRIPFILE_WINDOW_MIN (CORE_CSV_RECORD_MAX + 3)

/* The decoder's state; plain data, set up by cli_tripfile_init. */
struct cli_tripfile {
    enum cli_tripfile_format format;
    const struct cli_sg_node *nodes; /* singapore: sorted, borrowed */
    size_t nnodes;
    bool has_header; /* csv: the header was read */
    bool stopped;    /* nothing more can be decoded (see below) */
    int64_t line;    /* the line the next record starts on */
    struct cli_tripcsv csv;
};

/* Sets up a decoder at line 1; nodes (singapore) are borrowed. */
void cli_tripfile_init(struct cli_tripfile *p, enum cli_tripfile_format f,
                       const struct cli_sg_node *nodes, size_t nnodes);

/*
 * Decodes the next trip of a file. buf[0..len) is the input not consumed
 * yet, eof says nothing follows it; drop the first *used bytes after every
 * call (*used is always set). Empty lines are skipped. The decoder looks
 * at most CLI_TRIPFILE_WINDOW_MIN bytes ahead. A CSV file's first record
 * is its header (cli_tripcsv_header).
 *
 *   ERR_OK         *out is the trip on *line;
 *   ERR_INVALID    the record on *line is bad (d says why); go on with the
 *                  next call, unless it was a bad CSV header: then
 *                  p->stopped is set and no row can be decoded;
 *   ERR_NOT_FOUND  no complete record is left: read more, or at eof the
 *                  file is done (a CSV file without even a header line
 *                  leaves p->has_header false);
 *   ERR_TOO_BIG    the record on *line is longer than CORE_CSV_RECORD_MAX
 *                  (a quote left open, often); p->stopped is set.
 */
enum err cli_tripfile_next(struct cli_tripfile *p, char *buf, size_t len,
                           bool eof, size_t *used,
                           struct store_demand_trip *out, int64_t *line,
                           struct err_detail *d);

/* The import command itself (import_trips.c): `spoke import trips ...`. */
int cli_import_trips(int argc, char **argv);

#endif
