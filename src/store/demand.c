/* SPDX-License-Identifier: MIT */
/*
 * Reading the demand history (demand_trips, searches): the events the
 * forecast counts, and the list of imported sources. The writer copies
 * ended trips and stores search aggregates (writer.c); imports of trips
 * are in demand_import.c.
 */
#include "base/sys.h"
#include "store/store.h"
#include "store/store_int.h"

/*
 * Trips are read by their start through the started_ms index; a return in
 * [from, to) belongs to a trip that started at most STORE_DEMAND_TRIP_MAX_MS
 * earlier, so the range read starts that much before from. The rows added
 * after a cursor are read by id, whatever their times.
 */
#define TRIPS_COLS                                                             \
    "SELECT id, started_ms, ended_ms, start_lat, start_lon, end_lat, end_lon"  \
    " FROM demand_trips"
#define TRIPS_SQL TRIPS_COLS " WHERE started_ms >= ?1 AND started_ms < ?2"
#define TRIPS_SINCE_SQL TRIPS_COLS " WHERE id > ?1 ORDER BY id"
#define LOST_COLS "SELECT id, ts_ms, lat, lon, n FROM searches"
#define LOST_SQL LOST_COLS " WHERE ts_ms >= ?1 AND ts_ms < ?2 AND found = 0"
#define LOST_SINCE_SQL LOST_COLS " WHERE id > ?1 AND found = 0 ORDER BY id"

static bool is_real(sqlite3_stmt *s, int i)
{
    int t = sqlite3_column_type(s, i);
    return t == SQLITE_FLOAT || t == SQLITE_INTEGER;
}

static struct geo_latlng col_pos(sqlite3_stmt *s, int i)
{
    return (struct geo_latlng){sqlite3_column_double(s, i),
                               sqlite3_column_double(s, i + 1)};
}

/*
 * What a load reads: events in [from_ms, to_ms) of the rows in that range
 * (after == 0) or of the rows with an id above after.
 */
struct load {
    int64_t from_ms, to_ms, after;
    store_demand_fn *fn;
    void *ctx;
};

/* Prepares sql (a range or a since query) bound for l. */
static sqlite3_stmt *load_prepare(sqlite3 *db, const char *sql,
                                  const struct load *l, int64_t range_lo)
{
    sqlite3_stmt *s = NULL;
    bool ok = sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK;
    if (ok && l->after)
        ok = sqlite3_bind_int64(s, 1, l->after) == SQLITE_OK;
    else if (ok)
        ok = sqlite3_bind_int64(s, 1, range_lo) == SQLITE_OK &&
             sqlite3_bind_int64(s, 2, l->to_ms) == SQLITE_OK;
    if (!ok) {
        sqlite3_finalize(s);
        return NULL;
    }
    return s;
}

static bool in_range(const struct load *l, int64_t t_ms)
{
    return t_ms >= l->from_ms && t_ms < l->to_ms;
}

/* The rental and return of each trip read. */
static enum err load_trips(sqlite3 *db, const struct load *l)
{
    int64_t lo = l->from_ms < INT64_MIN + STORE_DEMAND_TRIP_MAX_MS
                     ? INT64_MIN
                     : l->from_ms - STORE_DEMAND_TRIP_MAX_MS;
    sqlite3_stmt *s =
        load_prepare(db, l->after ? TRIPS_SINCE_SQL : TRIPS_SQL, l, lo);
    enum err e = ERR_IO;
    if (!s)
        goto out;
    for (;;) {
        int rc = sqlite3_step(s);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW || sqlite3_column_type(s, 1) != SQLITE_INTEGER ||
            sqlite3_column_type(s, 2) != SQLITE_INTEGER || !is_real(s, 3) ||
            !is_real(s, 4) || !is_real(s, 5) || !is_real(s, 6)) {
            e = ERR_IO;
            goto out;
        }
        int64_t t0 = sqlite3_column_int64(s, 1);
        int64_t t1 = sqlite3_column_int64(s, 2);
        struct store_demand_event ev = {.n = 1};
        e = ERR_OK;
        if (in_range(l, t0)) {
            ev.kind = STORE_DEMAND_RENTAL;
            ev.t_ms = t0;
            ev.pos = col_pos(s, 3);
            e = l->fn(l->ctx, &ev);
        }
        if (e == ERR_OK && in_range(l, t1)) {
            ev.kind = STORE_DEMAND_RETURN;
            ev.t_ms = t1;
            ev.pos = col_pos(s, 5);
            e = l->fn(l->ctx, &ev);
        }
        if (e != ERR_OK)
            goto out;
    }
    e = ERR_OK;
out:
    sqlite3_finalize(s);
    return e;
}

/* The aggregates of searches that found nothing. */
static enum err load_lost(sqlite3 *db, const struct load *l)
{
    sqlite3_stmt *s =
        load_prepare(db, l->after ? LOST_SINCE_SQL : LOST_SQL, l, l->from_ms);
    enum err e = ERR_IO;
    if (!s)
        goto out;
    for (;;) {
        int rc = sqlite3_step(s);
        if (rc == SQLITE_DONE)
            break;
        int64_t n = sqlite3_column_int64(s, 4);
        if (rc != SQLITE_ROW || sqlite3_column_type(s, 1) != SQLITE_INTEGER ||
            !is_real(s, 2) || !is_real(s, 3) ||
            sqlite3_column_type(s, 4) != SQLITE_INTEGER || n < 1 ||
            n > UINT32_MAX) {
            e = ERR_IO;
            goto out;
        }
        struct store_demand_event ev = {
            .kind = STORE_DEMAND_LOST,
            .t_ms = sqlite3_column_int64(s, 1),
            .pos = col_pos(s, 2),
            .n = (uint32_t)n,
        };
        e = in_range(l, ev.t_ms) ? l->fn(l->ctx, &ev) : ERR_OK;
        if (e != ERR_OK)
            goto out;
    }
    e = ERR_OK;
out:
    sqlite3_finalize(s);
    return e;
}

/* Runs both loads (and ends) in one snapshot, unless the caller has one. */
static enum err load_both(sqlite3 *db, struct load *trips, struct load *lost,
                          struct store_demand_cursor *cursor)
{
    bool own_txn = sqlite3_get_autocommit(db) != 0;
    if (own_txn && store__exec(db, "BEGIN") != ERR_OK)
        return ERR_IO;
    struct store_demand_cursor top = {0, 0};
    enum err e = ERR_OK;
    if (cursor) {
        e = store__query_int(
            db, "SELECT coalesce(max(id), 0) FROM demand_trips", &top.trip_id);
        if (e == ERR_OK)
            e = store__query_int(db,
                                 "SELECT coalesce(max(id), 0) FROM searches",
                                 &top.search_id);
        if (e == ERR_OK && (top.trip_id < cursor->trip_id ||
                            top.search_id < cursor->search_id))
            e = ERR_CONFLICT; /* rows deleted and their ids given again */
    }
    if (e == ERR_OK)
        e = load_trips(db, trips);
    if (e == ERR_OK)
        e = load_lost(db, lost);
    if (own_txn && !sqlite3_get_autocommit(db)) {
        /* A read transaction: ending it cannot lose anything. */
        (void)store__exec(db, "ROLLBACK");
    }
    if (e == ERR_OK && cursor)
        *cursor = top;
    return e;
}

enum err store_demand_load(struct store *st, int64_t from_ms, int64_t to_ms,
                           store_demand_fn *fn, void *ctx)
{
    if (from_ms >= to_ms)
        return ERR_OK;
    struct load l = {from_ms, to_ms, 0, fn, ctx};
    return load_both(store__db(st), &l, &l, NULL);
}

enum err store_demand_load_since(struct store *st, int64_t from_ms,
                                 struct store_demand_cursor *cursor,
                                 store_demand_fn *fn, void *ctx)
{
    struct load trips = {from_ms, INT64_MAX, cursor->trip_id, fn, ctx};
    struct load lost = {from_ms, INT64_MAX, cursor->search_id, fn, ctx};
    return load_both(store__db(st), &trips, &lost, cursor);
}

enum err store_demand_sources(struct store *st, store_demand_source_fn *fn,
                              void *ctx)
{
    sqlite3_stmt *s = NULL;
    enum err e = ERR_IO;
    if (sqlite3_prepare_v2(store__db(st),
                           "SELECT id, name, trips, imported_ms"
                           " FROM demand_sources ORDER BY name",
                           -1, &s, NULL) != SQLITE_OK)
        goto out;
    for (;;) {
        int rc = sqlite3_step(s);
        if (rc == SQLITE_DONE)
            break;
        const char *name = (const char *)sqlite3_column_text(s, 1);
        int len = sqlite3_column_bytes(s, 1);
        if (rc != SQLITE_ROW || sqlite3_column_type(s, 0) != SQLITE_INTEGER ||
            sqlite3_column_type(s, 1) != SQLITE_TEXT || !name ||
            len > STORE_DEMAND_SOURCE_MAX || memchr(name, '\0', (size_t)len) ||
            sqlite3_column_type(s, 2) != SQLITE_INTEGER ||
            sqlite3_column_type(s, 3) != SQLITE_INTEGER) {
            e = ERR_IO;
            goto out;
        }
        struct store_demand_source src = {
            .id = sqlite3_column_int64(s, 0),
            .trips = sqlite3_column_int64(s, 2),
            .imported_ms = sqlite3_column_int64(s, 3),
        };
        memcpy(src.name, name, (size_t)len);
        src.name[len] = '\0';
        e = fn(ctx, &src);
        if (e != ERR_OK)
            goto out;
    }
    e = ERR_OK;
out:
    sqlite3_finalize(s);
    return e;
}
