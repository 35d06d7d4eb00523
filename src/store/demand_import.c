/* SPDX-License-Identifier: MIT */
/*
 * Bulk import of trips into the demand history (`spoke import trips`): one
 * connection that takes the database for itself, replaces or creates the
 * named source, inserts every trip with a multi-row INSERT prepared once,
 * and commits the whole source in one transaction. The connection is the
 * bike import's (store/bulk.c); the reads are in demand.c.
 */
#include "base/sys.h"
#include "store/store.h"
#include "store/store_int.h"
#include "base/buf.h"
#include "geo/geo.h"

#include <stdio.h>
#include <stdlib.h>

/* Rows per INSERT statement: 6 parameters each, far below SQLite's cap. */
#define TRIP_BATCH 128
#define TRIP_PARAMS 6

/* The page cache: a ceiling, allocated as used (see import.c). */
#define TRIP_CACHE_KIB (1024 * 1024)

/*
 * Trips are sorted by start in runs of this many before they are inserted:
 * the rows of a run then land in increasing order in the started_ms index
 * and next to each other in the table, which is what the load reads (a
 * file in random order imports five times faster so, and loads faster).
 */
#define TRIP_RUN 262144

/* Times a trip may have: from 1970 to the end of year 9999. */
#define TRIP_MAX_MS INT64_C(253402300800000)

struct store_trip_import {
    struct store__bulk bulk;
    int64_t source_id;
    size_t nadded;
    size_t nreplaced;
    int64_t first_ms, last_ms;
    struct store_demand_trip *run; /* [TRIP_RUN], waiting to be sorted */
    size_t nrun;
    sqlite3_stmt *insert_batch; /* TRIP_BATCH rows */
    sqlite3_stmt *insert_one;
};

/* The INSERT of rows trips of the source (its id a literal). */
static enum err prepare_insert(struct store_trip_import *imp, size_t rows,
                               sqlite3_stmt **out, struct err_detail *d)
{
    struct buf sql;
    buf_init(&sql, 64 * 1024);
    enum err e = buf_puts(&sql, "INSERT INTO demand_trips (source_id,"
                                " started_ms, ended_ms, start_lat, start_lon,"
                                " end_lat, end_lon) VALUES ");
    for (size_t i = 0; i < rows && e == ERR_OK; i++)
        e = buf_printf(&sql, "%s(%" PRId64 ",?,?,?,?,?,?)", i ? "," : "",
                       imp->source_id);
    if (NEVER(e != ERR_OK))
        e = err_set(d, ERR_INTERNAL, "", "the import statement is too long");
    else
        e = store__bulk_prepare(&imp->bulk, sql.data, out, d);
    buf_release(&sql);
    return e;
}

/* Deletes source id and its trips (*gone of them). */
static int drop_source(struct store_trip_import *imp, int64_t id, size_t *gone)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(imp->bulk.db,
                                "DELETE FROM demand_trips WHERE source_id = ?1",
                                -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(s, 1, id);
    if (rc == SQLITE_OK)
        rc = store__bulk_run(s);
    sqlite3_finalize(s);
    s = NULL;
    if (rc == SQLITE_OK)
        *gone = (size_t)sqlite3_changes64(imp->bulk.db);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(imp->bulk.db,
                                "DELETE FROM demand_sources WHERE id = ?1", -1,
                                &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(s, 1, id);
    if (rc == SQLITE_OK)
        rc = store__bulk_run(s);
    sqlite3_finalize(s);
    return rc;
}

/*
 * Makes the source row in the transaction store__bulk_open began: refuses
 * an existing name, or deletes it first if replace.
 */
static enum err begin_source(struct store_trip_import *imp, const char *name,
                             bool replace, int64_t now_ms, struct err_detail *d)
{
    enum err e;
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(
        imp->bulk.db, "SELECT id, trips FROM demand_sources WHERE name = ?1",
        -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    int64_t old_id = 0, old_trips = 0;
    if (rc == SQLITE_ROW) {
        old_id = sqlite3_column_int64(s, 0);
        old_trips = sqlite3_column_int64(s, 1);
        rc = SQLITE_DONE;
    }
    sqlite3_finalize(s);
    s = NULL;
    if (rc != SQLITE_DONE)
        return store__bulk_fail(&imp->bulk, store__err(rc), "source lookup", d);
    if (old_id && !replace) {
        imp->bulk.failed = true;
        return err_set(d, ERR_CONFLICT, "source",
                       "store '%s' has a source '%s' already (%" PRId64
                       " trips)",
                       imp->bulk.path, name, old_trips);
    }
    rc = old_id ? drop_source(imp, old_id, &imp->nreplaced) : SQLITE_OK;
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(imp->bulk.db,
                                "INSERT INTO demand_sources (name, trips,"
                                " imported_ms) VALUES (?1, 0, ?2)",
                                -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(s, 2, now_ms);
    if (rc == SQLITE_OK)
        rc = store__bulk_run(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_OK)
        return store__bulk_fail(&imp->bulk, store__err(rc), "source", d);
    imp->source_id = sqlite3_last_insert_rowid(imp->bulk.db);
    e = prepare_insert(imp, TRIP_BATCH, &imp->insert_batch, d);
    if (e == ERR_OK)
        e = prepare_insert(imp, 1, &imp->insert_one, d);
    return e;
}

static enum err check_name(const char *name, struct err_detail *d)
{
    size_t len = strlen(name);
    if (len == 0 || len > STORE_DEMAND_SOURCE_MAX)
        return err_set(d, ERR_INVALID, "source",
                       "a source name has 1 to %d bytes",
                       STORE_DEMAND_SOURCE_MAX);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f)
            return err_set(d, ERR_INVALID, "source",
                           "a source name has no control characters");
    }
    return ERR_OK;
}

enum err store_trip_import_begin(const char *path, const char *source,
                                 bool replace, int64_t now_ms,
                                 struct store_trip_import **out,
                                 struct err_detail *d)
{
    enum err e = check_name(source, d);
    if (e != ERR_OK)
        return e;
    struct store_trip_import *imp = xcalloc(1, sizeof(*imp));
    e = store__bulk_open(&imp->bulk, path, TRIP_CACHE_KIB, false, d);
    if (e == ERR_OK)
        e = begin_source(imp, source, replace, now_ms, d);
    if (e != ERR_OK)
        goto out;
    *out = imp;
    imp = NULL;
out:
    store_trip_import_free(imp);
    return e;
}

/* Inserting */

static int bind_trip(sqlite3_stmt *s, int base,
                     const struct store_demand_trip *t)
{
    int rc = sqlite3_bind_int64(s, base + 1, t->started_ms);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(s, base + 2, t->ended_ms);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_double(s, base + 3, t->start_pos.lat_deg);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_double(s, base + 4, t->start_pos.lon_deg);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_double(s, base + 5, t->end_pos.lat_deg);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_double(s, base + 6, t->end_pos.lon_deg);
    return rc;
}

static int trip_cmp(const void *a, const void *b)
{
    int64_t x = ((const struct store_demand_trip *)a)->started_ms;
    int64_t y = ((const struct store_demand_trip *)b)->started_ms;
    return (x > y) - (x < y);
}

/* Sorts the waiting trips and inserts them, TRIP_BATCH rows a statement. */
static enum err flush(struct store_trip_import *imp, struct err_detail *d)
{
    size_t n = imp->nrun;
    const struct store_demand_trip *v = imp->run;
    if (n == 0)
        return ERR_OK;
    qsort(imp->run, n, sizeof(*imp->run), trip_cmp);
    int rc = SQLITE_OK;
    size_t i = 0;
    for (; i + TRIP_BATCH <= n && rc == SQLITE_OK; i += TRIP_BATCH) {
        sqlite3_stmt *s = imp->insert_batch;
        for (size_t k = 0; k < TRIP_BATCH && rc == SQLITE_OK; k++)
            rc = bind_trip(s, (int)(k * TRIP_PARAMS), &v[i + k]);
        if (rc == SQLITE_OK)
            rc = store__bulk_run(s);
    }
    for (; i < n && rc == SQLITE_OK; i++) {
        rc = bind_trip(imp->insert_one, 0, &v[i]);
        if (rc == SQLITE_OK)
            rc = store__bulk_run(imp->insert_one);
    }
    imp->nrun = 0;
    if (rc != SQLITE_OK)
        return store__bulk_fail(&imp->bulk, store__err(rc), "insert", d);
    return ERR_OK;
}

/* Checks what the history promises about a trip. */
static enum err check_trip(const struct store_demand_trip *t,
                           struct err_detail *d)
{
    if (t->started_ms < 0 || t->started_ms >= TRIP_MAX_MS)
        return err_set(d, ERR_INVALID, "started_at",
                       "the start is before 1970 or after 9999");
    if (t->ended_ms < t->started_ms)
        return err_set(d, ERR_INVALID, "ended_at",
                       "the trip ends before it starts");
    if (t->ended_ms - t->started_ms > STORE_DEMAND_TRIP_MAX_MS)
        return err_set(d, ERR_INVALID, "ended_at",
                       "the trip lasts longer than %lld h",
                       (long long)(STORE_DEMAND_TRIP_MAX_MS / 3600000));
    if (!geo_latlng_is_valid(t->start_pos))
        return err_set(d, ERR_INVALID, "start_lat",
                       "the start is not a valid position");
    if (!geo_latlng_is_valid(t->end_pos))
        return err_set(d, ERR_INVALID, "end_lat",
                       "the end is not a valid position");
    return ERR_OK;
}

enum err store_trip_import_add(struct store_trip_import *imp,
                               const struct store_demand_trip *t,
                               struct err_detail *d)
{
    if (imp->bulk.failed || !imp->bulk.in_txn)
        return err_set(d, ERR_IO, "", "the import into '%s' has failed",
                       imp->bulk.path);
    enum err e = check_trip(t, d);
    if (e != ERR_OK)
        return e;
    if (imp->nadded == 0 || t->started_ms < imp->first_ms)
        imp->first_ms = t->started_ms;
    if (imp->nadded == 0 || t->ended_ms > imp->last_ms)
        imp->last_ms = t->ended_ms;
    imp->nadded++;
    if (!imp->run)
        imp->run = xmalloc(TRIP_RUN * sizeof(*imp->run));
    imp->run[imp->nrun++] = *t;
    if (imp->nrun == TRIP_RUN)
        return flush(imp, d);
    return ERR_OK;
}

/* Ending */

/* Records the source's trip count. */
static enum err set_count(struct store_trip_import *imp, struct err_detail *d)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(
        imp->bulk.db, "UPDATE demand_sources SET trips = ?1 WHERE id = ?2", -1,
        &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(s, 1, (int64_t)imp->nadded);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(s, 2, imp->source_id);
    if (rc == SQLITE_OK)
        rc = store__bulk_run(s);
    sqlite3_finalize(s);
    return rc == SQLITE_OK
               ? ERR_OK
               : store__bulk_fail(&imp->bulk, store__err(rc), "source", d);
}

enum err store_trip_import_finish(struct store_trip_import *imp, bool commit,
                                  struct store_trip_import_result *res,
                                  struct err_detail *d)
{
    enum err e = ERR_OK;
    if (imp->bulk.failed || !imp->bulk.in_txn)
        e = err_set(d, ERR_IO, "", "the import into '%s' has failed",
                    imp->bulk.path);
    if (e == ERR_OK)
        e = flush(imp, d);
    if (e == ERR_OK && commit)
        e = set_count(imp, d);
    bool committed = false;
    if (e == ERR_OK && commit) {
        e = store__bulk_commit(&imp->bulk, d);
        committed = e == ERR_OK;
    }
    store__bulk_end(&imp->bulk);
    *res = (struct store_trip_import_result){
        .source_id = committed ? imp->source_id : 0,
        .added = imp->nadded,
        .replaced = imp->nreplaced,
        .first_ms = imp->first_ms,
        .last_ms = imp->last_ms,
        .committed = committed,
    };
    return e;
}

void store_trip_import_free(struct store_trip_import *imp)
{
    if (!imp)
        return;
    store__bulk_close(&imp->bulk);
    xfree(imp->run);
    xfree(imp);
}
