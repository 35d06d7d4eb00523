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
 * earlier, so the range read starts that much before from.
 */
#define TRIPS_SQL                                                              \
    "SELECT started_ms, ended_ms, start_lat, start_lon, end_lat, end_lon"      \
    " FROM demand_trips WHERE started_ms >= ?1 AND started_ms < ?2"
#define LOST_SQL                                                               \
    "SELECT ts_ms, lat, lon, n FROM searches"                                  \
    " WHERE ts_ms >= ?1 AND ts_ms < ?2 AND found = 0"

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

/* The rental and return of each trip in range. */
static enum err load_trips(sqlite3 *db, int64_t from_ms, int64_t to_ms,
                           store_demand_fn *fn, void *ctx)
{
    sqlite3_stmt *s = NULL;
    enum err e = ERR_IO;
    int64_t lo = from_ms < INT64_MIN + STORE_DEMAND_TRIP_MAX_MS
                     ? INT64_MIN
                     : from_ms - STORE_DEMAND_TRIP_MAX_MS;
    if (sqlite3_prepare_v2(db, TRIPS_SQL, -1, &s, NULL) != SQLITE_OK ||
        sqlite3_bind_int64(s, 1, lo) != SQLITE_OK ||
        sqlite3_bind_int64(s, 2, to_ms) != SQLITE_OK)
        goto out;
    for (;;) {
        int rc = sqlite3_step(s);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW || sqlite3_column_type(s, 0) != SQLITE_INTEGER ||
            sqlite3_column_type(s, 1) != SQLITE_INTEGER || !is_real(s, 2) ||
            !is_real(s, 3) || !is_real(s, 4) || !is_real(s, 5)) {
            e = ERR_IO;
            goto out;
        }
        int64_t t0 = sqlite3_column_int64(s, 0);
        int64_t t1 = sqlite3_column_int64(s, 1);
        struct store_demand_event ev = {.n = 1};
        e = ERR_OK;
        if (t0 >= from_ms) {
            ev.kind = STORE_DEMAND_RENTAL;
            ev.t_ms = t0;
            ev.pos = col_pos(s, 2);
            e = fn(ctx, &ev);
        }
        if (e == ERR_OK && t1 >= from_ms && t1 < to_ms) {
            ev.kind = STORE_DEMAND_RETURN;
            ev.t_ms = t1;
            ev.pos = col_pos(s, 4);
            e = fn(ctx, &ev);
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
static enum err load_lost(sqlite3 *db, int64_t from_ms, int64_t to_ms,
                          store_demand_fn *fn, void *ctx)
{
    sqlite3_stmt *s = NULL;
    enum err e = ERR_IO;
    if (sqlite3_prepare_v2(db, LOST_SQL, -1, &s, NULL) != SQLITE_OK ||
        sqlite3_bind_int64(s, 1, from_ms) != SQLITE_OK ||
        sqlite3_bind_int64(s, 2, to_ms) != SQLITE_OK)
        goto out;
    for (;;) {
        int rc = sqlite3_step(s);
        if (rc == SQLITE_DONE)
            break;
        int64_t n = sqlite3_column_int64(s, 3);
        if (rc != SQLITE_ROW || sqlite3_column_type(s, 0) != SQLITE_INTEGER ||
            !is_real(s, 1) || !is_real(s, 2) ||
            sqlite3_column_type(s, 3) != SQLITE_INTEGER || n < 1 ||
            n > UINT32_MAX) {
            e = ERR_IO;
            goto out;
        }
        struct store_demand_event ev = {
            .kind = STORE_DEMAND_LOST,
            .t_ms = sqlite3_column_int64(s, 0),
            .pos = col_pos(s, 1),
            .n = (uint32_t)n,
        };
        e = fn(ctx, &ev);
        if (e != ERR_OK)
            goto out;
    }
    e = ERR_OK;
out:
    sqlite3_finalize(s);
    return e;
}

enum err store_demand_load(struct store *st, int64_t from_ms, int64_t to_ms,
                           store_demand_fn *fn, void *ctx)
{
    if (from_ms >= to_ms)
        return ERR_OK;
    sqlite3 *db = store__db(st);
    /* One snapshot for both tables, unless the caller has a transaction. */
    bool own_txn = sqlite3_get_autocommit(db) != 0;
    if (own_txn && store__exec(db, "BEGIN") != ERR_OK)
        return ERR_IO;
    enum err e = load_trips(db, from_ms, to_ms, fn, ctx);
    if (e == ERR_OK)
        e = load_lost(db, from_ms, to_ms, fn, ctx);
    if (own_txn && !sqlite3_get_autocommit(db)) {
        /* A read transaction: ending it cannot lose anything. */
        (void)store__exec(db, "ROLLBACK");
    }
    return e;
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
