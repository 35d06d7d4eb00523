/* SPDX-License-Identifier: MIT */
/*
 * Tests for the demand history in store/ (demand.c, demand_import.c and its
 * part of writer.c): ended trips copied once, failed ones never; search
 * aggregates stored and freed; the prune; store_demand_load returning
 * exactly the events of a range; trip imports all or nothing, by source.
 */
#include "base/sys.h"
#include "base/rng.h"
#include "store/store.h"
#include "svc/svc.h"
#include "svc/svc_int.h"
#include "tests/unit/harness.h"
#include "tests/unit/rawdb.h"

#include <math.h>
#include <pthread.h>
#include <sqlite3.h>

#define T0 INT64_C(1700000000000) /* a time for the tests' events */
#define MIN_MS INT64_C(60000)
#define HOUR_MS INT64_C(3600000)

static const char *db_path(const char *name)
{
    static char path[256];
    snprintf(path, sizeof(path), "%s/%s", test_tmpdir(), name);
    return path;
}

/* A fresh, migrated database. */
static const char *fresh(const char *name)
{
    const char *path = db_path(name);
    struct store *st = NULL;
    CHECK_OK(store_open(path, &st, NULL));
    store_close(st);
    return path;
}

/* The writer, and waiting for its commits */

struct sink {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t durable;
    enum err err;
};

static void sink_fn(void *ctx, uint64_t lsn, enum err e, const char *msg)
{
    (void)msg;
    struct sink *s = ctx;
    pthread_mutex_lock(&s->mu);
    if (e != ERR_OK)
        s->err = e;
    else
        s->durable = lsn;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static enum err sink_wait(struct sink *s, uint64_t lsn)
{
    pthread_mutex_lock(&s->mu);
    while (s->durable < lsn && s->err == ERR_OK)
        pthread_cond_wait(&s->cv, &s->mu);
    enum err e = s->err;
    pthread_mutex_unlock(&s->mu);
    return e;
}

/* Commits ops through a writer of its own; the error of the commit. */
static enum err write_ops(const char *path, const struct store_op *ops,
                          size_t n)
{
    struct sink s = {.err = ERR_OK};
    CHECK_EQ(pthread_mutex_init(&s.mu, NULL), 0);
    CHECK_EQ(pthread_cond_init(&s.cv, NULL), 0);
    struct store_writer *w = NULL;
    CHECK_OK(store_writer_start(path, 0, sink_fn, &s, &w, NULL));
    enum err e = sink_wait(&s, store_writer_submit(w, ops, n));
    store_writer_stop(w);
    CHECK_EQ(pthread_cond_destroy(&s.cv), 0);
    CHECK_EQ(pthread_mutex_destroy(&s.mu), 0);
    return e;
}

/* A bike and a rider for trips to refer to. */
static void seed(const char *path)
{
    struct core_bike b = {.id = 1, .imei = 860000000000001, .pos = {1, 2}};
    snprintf(b.qr_code, sizeof(b.qr_code), "QR1");
    struct core_rider r = {.id = 1};
    memset(r.token_hash, 7, sizeof(r.token_hash));
    struct store_op ops[] = {{.kind = STORE_OP_BIKE, .u.bike = b},
                             {.kind = STORE_OP_RIDER, .u.rider = r}};
    CHECK_OK(write_ops(path, ops, ARRAY_LEN(ops)));
}

static struct core_trip trip(int64_t id, enum core_trip_state state,
                             int64_t started_ms, int64_t ended_ms)
{
    struct core_trip t = {.id = id, .rider_id = 1, .bike_id = 1};
    t.state = state;
    t.requested_ms = started_ms - 1000;
    t.started_ms = started_ms;
    t.ended_ms = ended_ms;
    t.start_pos = (struct geo_latlng){31.2304 + (double)id / 1e4, 121.4737};
    t.end_pos = (struct geo_latlng){31.2404, 121.4837 - (double)id / 1e4};
    snprintf(t.currency, sizeof(t.currency), "EUR");
    t.pricing_version = 1;
    return t;
}

static struct store_op op_trip(struct core_trip t)
{
    return (struct store_op){.kind = STORE_OP_TRIP, .u.trip = t};
}

static struct store_op op_charge(struct core_trip t)
{
    return (struct store_op){.kind = STORE_OP_CHARGE, .u.trip = t};
}

/* Collecting loaded events */

#define MAXEV 64

struct events {
    size_t n;
    size_t fail_at; /* return ERR_CONFLICT at this event (1-based; 0 never) */
    struct store_demand_event v[MAXEV];
};

static enum err take(void *ctx, const struct store_demand_event *ev)
{
    struct events *e = ctx;
    if (e->n == MAXEV || (e->fail_at && e->n + 1 == e->fail_at))
        return ERR_CONFLICT;
    e->v[e->n++] = *ev;
    return ERR_OK;
}

/* How many loaded events have this kind and time (and n). */
static size_t count(const struct events *e, enum store_demand_kind kind,
                    int64_t t_ms, uint32_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < e->n; i++)
        c += e->v[i].kind == kind && e->v[i].t_ms == t_ms && e->v[i].n == n;
    return c;
}

static void load(const char *path, int64_t from_ms, int64_t to_ms,
                 struct events *out)
{
    memset(out, 0, sizeof(*out));
    struct store *st = NULL;
    CHECK_OK(store_open(path, &st, NULL));
    CHECK_OK(store_demand_load(st, from_ms, to_ms, take, out));
    store_close(st);
}

/* Live trips into the history */

TEST(demand_ended_trip_copied_once)
{
    const char *path = fresh("d.db");
    seed(path);
    struct core_trip t = trip(1, CORE_TRIP_RIDING, T0, 0);
    struct store_op a[] = {op_trip(t)};
    CHECK_OK(write_ops(path, a, 1));
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM demand_trips"), 0);
    /* Ended, written with its charge, then again (the fast path). */
    t.state = CORE_TRIP_ENDED;
    t.ended_ms = T0 + 10 * MIN_MS;
    t.charged = true;
    struct store_op b[] = {op_trip(t), op_charge(t), op_trip(t)};
    CHECK_OK(write_ops(path, b, ARRAY_LEN(b)));
    t.distance_m = 5;
    CHECK_OK(write_ops(path, b, 1));
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM demand_trips"), 1);
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM demand_trips WHERE"
                           " trip_id = 1 AND source_id IS NULL"
                           " AND started_ms = 1700000000000"
                           " AND ended_ms = 1700000600000"
                           " AND abs(start_lat - 31.2305) < 1e-9"
                           " AND start_lon = 121.4737 AND end_lat = 31.2404"
                           " AND abs(end_lon - 121.4836) < 1e-9"),
             1);
    /* Anonymous: no rider, no bike in the table. */
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM pragma_table_info("
                           "'demand_trips') WHERE name LIKE '%rider%'"
                           " OR name LIKE '%bike%'"),
             0);
}

TEST(demand_failed_and_active_trips_not_copied)
{
    const char *path = fresh("d.db");
    seed(path);
    struct core_trip failed = trip(1, CORE_TRIP_FAILED, 0, T0);
    snprintf(failed.reason, sizeof(failed.reason), "lock_offline");
    struct core_trip unlocking = trip(2, CORE_TRIP_UNLOCKING, 0, 0);
    struct core_trip riding = trip(3, CORE_TRIP_RIDING, T0, 0);
    /* Longer than a day: a lock left open, not demand. */
    struct core_trip long_trip =
        trip(4, CORE_TRIP_ENDED, T0, T0 + STORE_DEMAND_TRIP_MAX_MS + 1);
    struct core_trip day_trip =
        trip(5, CORE_TRIP_ENDED, T0, T0 + STORE_DEMAND_TRIP_MAX_MS);
    struct store_op ops[] = {op_trip(failed),      op_trip(unlocking),
                             op_trip(riding),      op_trip(long_trip),
                             op_charge(long_trip), op_trip(day_trip)};
    CHECK_OK(write_ops(path, ops, ARRAY_LEN(ops)));
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM demand_trips"), 1);
    CHECK_EQ(raw_int(path, "SELECT trip_id FROM demand_trips"), 5);
}

/* A charge carries the ended trip too: it alone copies it. */
TEST(demand_charge_copies_ended_trip)
{
    const char *path = fresh("d.db");
    seed(path);
    struct core_trip t = trip(1, CORE_TRIP_RIDING, T0, 0);
    struct store_op a = op_trip(t);
    CHECK_OK(write_ops(path, &a, 1));
    t.state = CORE_TRIP_ENDED;
    t.ended_ms = T0 + MIN_MS;
    struct store_op b = op_charge(t);
    CHECK_OK(write_ops(path, &b, 1));
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM demand_trips"), 1);
    CHECK_EQ(raw_int(path, "SELECT ended_ms FROM demand_trips"), T0 + MIN_MS);
}

/* Searches */

static struct store_op op_searches(const struct store_search *v, size_t n)
{
    struct store_search *copy = xmalloc(n * sizeof(*copy));
    memcpy(copy, v, n * sizeof(*copy));
    return (struct store_op){.kind = STORE_OP_SEARCHES,
                             .u.searches = {copy, n}};
}

TEST(demand_searches_stored)
{
    const char *path = fresh("d.db");
    const struct store_search v[] = {
        {T0, 31.2305, 121.4735, false, 3},
        {T0, 31.2305, 121.4735, true, 1},
        {T0 + MIN_MS, -33.8685, 151.2095, false, 4000000000u},
    };
    struct store_op op = op_searches(v, ARRAY_LEN(v));
    CHECK_OK(write_ops(path, &op, 1));
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM searches"), 3);
    CHECK_EQ(raw_int(path, "SELECT n FROM searches WHERE found = 0"
                           " AND ts_ms = 1700000000000 AND lat = 31.2305"
                           " AND lon = 121.4735"),
             3);
    CHECK_EQ(raw_int(path, "SELECT n FROM searches WHERE found = 1"), 1);
    CHECK_EQ(raw_int(path, "SELECT n FROM searches WHERE lat < 0"), 4000000000);
    /* Empty batches are fine. */
    struct store_op none = {.kind = STORE_OP_SEARCHES};
    CHECK_OK(write_ops(path, &none, 1));
}

/* A search op owns its array: freed when the writer refuses the submit
 * (the leak check of the sanitizer build would see it otherwise). */
TEST(demand_searches_freed_when_submit_fails)
{
    const char *path = fresh("d.db");
    struct sink s = {.err = ERR_OK};
    CHECK_EQ(pthread_mutex_init(&s.mu, NULL), 0);
    CHECK_EQ(pthread_cond_init(&s.cv, NULL), 0);
    struct store_writer *w = NULL;
    CHECK_OK(store_writer_start(path, 0, sink_fn, &s, &w, NULL));
    struct store_op bad = {.kind = (enum store_op_kind)99};
    CHECK_ERR(sink_wait(&s, store_writer_submit(w, &bad, 1)), ERR_IO);
    const struct store_search v[] = {{T0, 1, 2, false, 1}};
    struct store_op op = op_searches(v, 1);
    CHECK_EQ(store_writer_submit(w, &op, 1), 0);
    store_writer_stop(w);
    CHECK_EQ(pthread_cond_destroy(&s.cv), 0);
    CHECK_EQ(pthread_mutex_destroy(&s.mu), 0);
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM searches"), 0);
}

/* Imports */

static struct store_trip_import *begin_ok(const char *path, const char *name,
                                          bool replace)
{
    struct store_trip_import *imp = NULL;
    struct err_detail d;
    err_clear(&d);
    enum err e = store_trip_import_begin(path, name, replace, T0, &imp, &d);
    if (e != ERR_OK)
        test_fail(__FILE__, __LINE__, "begin: %s: %s", err_name(e), d.msg);
    return imp;
}

static struct store_demand_trip dtrip(int64_t started_ms, int64_t ended_ms)
{
    return (struct store_demand_trip){
        started_ms, ended_ms, {1.30, 103.80}, {1.31, 103.81}};
}

static void import_ok(const char *path, const char *name,
                      const struct store_demand_trip *v, size_t n)
{
    struct store_trip_import *imp = begin_ok(path, name, false);
    for (size_t i = 0; i < n; i++)
        CHECK_OK(store_trip_import_add(imp, &v[i], NULL));
    struct store_trip_import_result res;
    CHECK_OK(store_trip_import_finish(imp, true, &res, NULL));
    CHECK(res.committed);
    CHECK_EQ(res.added, n);
    store_trip_import_free(imp);
}

/* The prune */

TEST(demand_prune_keeps_imports)
{
    const char *path = fresh("d.db");
    seed(path);
    const struct store_demand_trip old = dtrip(T0, T0 + MIN_MS);
    import_ok(path, "history", &old, 1);
    struct core_trip a = trip(1, CORE_TRIP_ENDED, T0, T0 + MIN_MS);
    struct core_trip b =
        trip(2, CORE_TRIP_ENDED, T0 + 4 * HOUR_MS, T0 + 4 * HOUR_MS + MIN_MS);
    const struct store_search v[] = {{T0, 1, 2, false, 1},
                                     {T0 + 4 * HOUR_MS, 1, 2, true, 1}};
    struct store_op ops[] = {op_trip(a), op_trip(b), op_searches(v, 2)};
    CHECK_OK(write_ops(path, ops, ARRAY_LEN(ops)));
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM demand_trips"), 3);
    /* Before T0 + 2 h, in one writer; then everything, in two batches of
     * another writer (its first prune reads from the very beginning). */
    struct store_op p1 = {.kind = STORE_OP_DEMAND_PRUNE,
                          .u.before_ms = T0 + 2 * HOUR_MS};
    CHECK_OK(write_ops(path, &p1, 1));
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM searches"), 1);
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM demand_trips"
                           " WHERE source_id IS NULL"),
             1);
    CHECK_EQ(raw_int(path, "SELECT trip_id FROM demand_trips"
                           " WHERE source_id IS NULL"),
             2);
    struct store_op p2[] = {
        p1, {.kind = STORE_OP_DEMAND_PRUNE, .u.before_ms = T0 + 8 * HOUR_MS}};
    CHECK_OK(write_ops(path, p2, ARRAY_LEN(p2)));
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM searches"), 0);
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM demand_trips"), 1);
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM demand_trips"
                           " WHERE source_id IS NOT NULL"),
             1);
}

/* Loading */

TEST(demand_load_returns_exactly_the_range)
{
    const char *path = fresh("d.db");
    seed(path);
    int64_t from = T0, to = T0 + 2 * HOUR_MS;
    struct core_trip t[] = {
        /* started the day before, returned in range: a return only */
        trip(1, CORE_TRIP_ENDED, from - 20 * HOUR_MS, from + MIN_MS),
        /* both in range */
        trip(2, CORE_TRIP_ENDED, from, from + 2 * MIN_MS),
        /* rented in range, returned after it: a rental only */
        trip(3, CORE_TRIP_ENDED, to - MIN_MS, to),
        /* at to: nothing */
        trip(4, CORE_TRIP_ENDED, to, to + MIN_MS),
        /* ended just before from: nothing */
        trip(5, CORE_TRIP_ENDED, from - HOUR_MS, from - 1),
    };
    struct store_op ops[ARRAY_LEN(t) + 1];
    for (size_t i = 0; i < ARRAY_LEN(t); i++)
        ops[i] = op_trip(t[i]);
    const struct store_search v[] = {
        {from, 31.2305, 121.4735, false, 3}, /* lost, in range */
        {from, 31.2305, 121.4735, true, 9},  /* found: not demand lost */
        {to - MIN_MS, 1.5, 2.5, false, 1},   /* lost, in range */
        {to, 1.5, 2.5, false, 5},            /* at to: out */
        {from - MIN_MS, 1.5, 2.5, false, 7}, /* before: out */
    };
    ops[ARRAY_LEN(t)] = op_searches(v, ARRAY_LEN(v));
    CHECK_OK(write_ops(path, ops, ARRAY_LEN(ops)));
    /* An imported trip counts like a live one. */
    const struct store_demand_trip imp = dtrip(from + HOUR_MS, to + HOUR_MS);
    import_ok(path, "import", &imp, 1);

    struct events ev;
    load(path, from, to, &ev);
    CHECK_EQ(ev.n, 7);
    CHECK_EQ(count(&ev, STORE_DEMAND_RETURN, from + MIN_MS, 1), 1);
    CHECK_EQ(count(&ev, STORE_DEMAND_RENTAL, from, 1), 1);
    CHECK_EQ(count(&ev, STORE_DEMAND_RETURN, from + 2 * MIN_MS, 1), 1);
    CHECK_EQ(count(&ev, STORE_DEMAND_RENTAL, to - MIN_MS, 1), 1);
    CHECK_EQ(count(&ev, STORE_DEMAND_RENTAL, from + HOUR_MS, 1), 1);
    CHECK_EQ(count(&ev, STORE_DEMAND_LOST, from, 3), 1);
    CHECK_EQ(count(&ev, STORE_DEMAND_LOST, to - MIN_MS, 1), 1);
    /* Positions: a rental at the start, a return at the end, a search at
     * its square's centre. */
    for (size_t i = 0; i < ev.n; i++) {
        const struct store_demand_event *e = &ev.v[i];
        if (e->kind == STORE_DEMAND_RENTAL && e->t_ms == from)
            CHECK_NEAR(e->pos.lat_deg, t[1].start_pos.lat_deg, 0);
        if (e->kind == STORE_DEMAND_RETURN && e->t_ms == from + MIN_MS)
            CHECK_NEAR(e->pos.lon_deg, t[0].end_pos.lon_deg, 0);
        if (e->kind == STORE_DEMAND_LOST && e->t_ms == from)
            CHECK_NEAR(e->pos.lon_deg, 121.4735, 0);
    }
    /* An empty or inverted range has nothing. */
    load(path, to, to, &ev);
    CHECK_EQ(ev.n, 0);
    load(path, to, from, &ev);
    CHECK_EQ(ev.n, 0);
    /* The whole of it. */
    load(path, INT64_MIN, INT64_MAX, &ev);
    CHECK_EQ(ev.n, 2 * ARRAY_LEN(t) + 2 + 4);
}

static void load_since(const char *path, int64_t from_ms,
                       struct store_demand_cursor *cur, struct events *out,
                       enum err want)
{
    memset(out, 0, sizeof(*out));
    struct store *st = NULL;
    CHECK_OK(store_open(path, &st, NULL));
    CHECK_ERR(store_demand_load_since(st, from_ms, cur, take, out), want);
    store_close(st);
}

TEST(demand_load_since_a_cursor)
{
    const char *path = fresh("d.db");
    seed(path);
    int64_t from = T0;
    struct store_op ops[] = {
        op_trip(trip(1, CORE_TRIP_ENDED, from + MIN_MS, from + 2 * MIN_MS)),
        op_trip(trip(2, CORE_TRIP_ENDED, from - HOUR_MS, from - MIN_MS)),
    };
    CHECK_OK(write_ops(path, ops, ARRAY_LEN(ops)));
    const struct store_search v[] = {{from + MIN_MS, 1.5, 2.5, false, 2}};
    struct store_op sop = op_searches(v, 1);
    CHECK_OK(write_ops(path, &sop, 1));
    /* From nothing: every row; events before from skipped, none after. */
    struct store_demand_cursor cur = {0, 0};
    struct events ev;
    load_since(path, from, &cur, &ev, ERR_OK);
    CHECK_EQ(ev.n, 3);
    CHECK_EQ(cur.trip_id, 2);
    CHECK_EQ(cur.search_id, 1);
    /* Nothing new: nothing read, the cursor stays. */
    load_since(path, from, &cur, &ev, ERR_OK);
    CHECK_EQ(ev.n, 0);
    CHECK_EQ(cur.trip_id, 2);
    /* New rows only, whatever their times: a trip begun long before (its
     * return counts), one in the future (both count). */
    struct store_op more[] = {
        op_trip(trip(3, CORE_TRIP_ENDED, from - 20 * HOUR_MS, from + HOUR_MS)),
        op_trip(
            trip(4, CORE_TRIP_ENDED, from + 30 * HOUR_MS, from + 31 * HOUR_MS)),
    };
    CHECK_OK(write_ops(path, more, ARRAY_LEN(more)));
    load_since(path, from, &cur, &ev, ERR_OK);
    CHECK_EQ(ev.n, 3);
    CHECK_EQ(count(&ev, STORE_DEMAND_RETURN, from + HOUR_MS, 1), 1);
    CHECK_EQ(count(&ev, STORE_DEMAND_RENTAL, from + 30 * HOUR_MS, 1), 1);
    CHECK_EQ(cur.trip_id, 4);
    CHECK_EQ(cur.search_id, 1);
    /* The newest rows gone (ids may come again): start over. */
    raw_exec(path, "DELETE FROM demand_trips WHERE id > 2");
    struct store_demand_cursor before = cur;
    load_since(path, from, &cur, &ev, ERR_CONFLICT);
    CHECK_EQ(ev.n, 0);
    CHECK_EQ(cur.trip_id, before.trip_id);
}

TEST(demand_load_errors)
{
    const char *path = fresh("d.db");
    const struct store_demand_trip v[] = {dtrip(T0, T0 + 1),
                                          dtrip(T0 + 2, T0 + 3)};
    import_ok(path, "x", v, ARRAY_LEN(v));
    struct store *st = NULL;
    CHECK_OK(store_open(path, &st, NULL));
    struct events ev = {.fail_at = 3};
    CHECK_ERR(store_demand_load(st, T0, T0 + 10, take, &ev), ERR_CONFLICT);
    CHECK_EQ(ev.n, 2);
    store_close(st);
    /* A malformed row is ERR_IO, never a guess. */
    raw_exec(path, "UPDATE demand_trips SET ended_ms = 'soon'"
                   " WHERE started_ms = 1700000000002");
    CHECK_OK(store_open(path, &st, NULL));
    memset(&ev, 0, sizeof(ev));
    CHECK_ERR(store_demand_load(st, T0, T0 + 10, take, &ev), ERR_IO);
    store_close(st);
    raw_exec(path, "DELETE FROM demand_trips; INSERT INTO searches"
                   " (ts_ms, lat, lon, found, n) VALUES (1700000000000, 1, 2,"
                   " 0, 0)");
    CHECK_OK(store_open(path, &st, NULL));
    memset(&ev, 0, sizeof(ev));
    CHECK_ERR(store_demand_load(st, T0, T0 + 10, take, &ev), ERR_IO);
    store_close(st);
}

/* Imports */

struct sources {
    size_t n;
    struct store_demand_source v[4];
};

static enum err take_source(void *ctx, const struct store_demand_source *s)
{
    struct sources *x = ctx;
    if (x->n == ARRAY_LEN(x->v))
        return ERR_CONFLICT;
    x->v[x->n++] = *s;
    return ERR_OK;
}

static struct sources list_sources(const char *path)
{
    struct sources x = {0};
    struct store *st = NULL;
    CHECK_OK(store_open(path, &st, NULL));
    CHECK_OK(store_demand_sources(st, take_source, &x));
    store_close(st);
    return x;
}

TEST(demand_import_commits_a_source)
{
    const char *path = fresh("d.db");
    struct store_trip_import *imp = begin_ok(path, "sg-2017", false);
    for (int64_t i = 0; i < 1000; i++) {
        struct store_demand_trip t =
            dtrip(T0 + (i * 7919) % 1000 * MIN_MS, T0 + 1000 * MIN_MS + i);
        CHECK_OK(store_trip_import_add(imp, &t, NULL));
    }
    struct store_trip_import_result res;
    CHECK_OK(store_trip_import_finish(imp, true, &res, NULL));
    store_trip_import_free(imp);
    CHECK(res.committed);
    CHECK_EQ(res.added, 1000);
    CHECK_EQ(res.replaced, 0);
    CHECK_EQ(res.first_ms, T0);
    CHECK_EQ(res.last_ms, T0 + 1000 * MIN_MS + 999);
    CHECK(res.source_id > 0);
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM demand_trips WHERE"
                           " trip_id IS NULL AND source_id = 1"),
             1000);
    /* Stored in start order (the load reads them so). */
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM demand_trips a JOIN"
                           " demand_trips b ON b.id = a.id + 1"
                           " WHERE b.started_ms < a.started_ms"),
             0);
    struct sources x = list_sources(path);
    CHECK_EQ(x.n, 1);
    CHECK_STR(x.v[0].name, "sg-2017");
    CHECK_EQ(x.v[0].trips, 1000);
    CHECK_EQ(x.v[0].imported_ms, T0);
    CHECK_EQ(x.v[0].id, res.source_id);
    /* The journal mode is back to WAL afterwards. */
    char mode[16];
    raw_text(path, "PRAGMA journal_mode", mode, sizeof(mode));
    CHECK_STR(mode, "wal");
}

/* Over one sorted run of rows: the runs and the last partial one. */
TEST(demand_import_large_in_random_order)
{
    const char *path = fresh("d.db");
    struct store_trip_import *imp = begin_ok(path, "big", false);
    size_t n = 300000;
    uint64_t x = 88172645463325252u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int64_t s = T0 + (int64_t)(x % (28 * 24 * (uint64_t)HOUR_MS));
        struct store_demand_trip t = dtrip(s, s + 600000);
        CHECK_OK(store_trip_import_add(imp, &t, NULL));
    }
    struct store_trip_import_result res;
    CHECK_OK(store_trip_import_finish(imp, true, &res, NULL));
    store_trip_import_free(imp);
    CHECK_EQ(res.added, n);
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM demand_trips"), (int64_t)n);
    CHECK_EQ(raw_int(path, "SELECT trips FROM demand_sources"), (int64_t)n);
}

TEST(demand_import_all_or_nothing)
{
    const char *path = fresh("d.db");
    struct store_trip_import *imp = begin_ok(path, "bad", false);
    for (int64_t i = 0; i < 300; i++) {
        struct store_demand_trip t = dtrip(T0 + i, T0 + i + 1);
        CHECK_OK(store_trip_import_add(imp, &t, NULL));
    }
    /* A bad trip is refused and not added; the caller then rolls back. */
    struct store_demand_trip t = dtrip(T0, T0 - 1);
    struct err_detail d;
    err_clear(&d);
    CHECK_ERR(store_trip_import_add(imp, &t, &d), ERR_INVALID);
    CHECK_STR(d.field, "ended_at");
    struct store_trip_import_result res;
    CHECK_OK(store_trip_import_finish(imp, false, &res, NULL));
    store_trip_import_free(imp);
    CHECK(!res.committed);
    CHECK_EQ(res.added, 300);
    CHECK_EQ(res.source_id, 0);
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM demand_trips"), 0);
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM demand_sources"), 0);
    /* Free without finish rolls back too. */
    imp = begin_ok(path, "bad", false);
    t = dtrip(T0, T0 + 1);
    CHECK_OK(store_trip_import_add(imp, &t, NULL));
    store_trip_import_free(imp);
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM demand_trips"), 0);
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM demand_sources"), 0);
    store_trip_import_free(NULL);
}

TEST(demand_import_invalid_trips)
{
    const char *path = fresh("d.db");
    struct store_trip_import *imp = begin_ok(path, "x", false);
    struct {
        struct store_demand_trip t;
        const char *field;
    } bad[] = {
        {dtrip(-1, 5), "started_at"},
        {dtrip(INT64_C(253402300800000), INT64_C(253402300800001)),
         "started_at"},
        {dtrip(T0, T0 - 1), "ended_at"},
        {dtrip(T0, T0 + STORE_DEMAND_TRIP_MAX_MS + 1), "ended_at"},
        {{T0, T0, {91, 0}, {0, 0}}, "start_lat"},
        {{T0, T0, {0, 0}, {0, 181}}, "end_lat"},
        {{T0, T0, {NAN, 0}, {0, 0}}, "start_lat"},
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        struct err_detail d;
        err_clear(&d);
        CHECK_ERR(store_trip_import_add(imp, &bad[i].t, &d), ERR_INVALID);
        CHECK_STR(d.field, bad[i].field);
    }
    struct store_demand_trip ok = dtrip(T0, T0 + STORE_DEMAND_TRIP_MAX_MS);
    CHECK_OK(store_trip_import_add(imp, &ok, NULL));
    struct store_trip_import_result res;
    CHECK_OK(store_trip_import_finish(imp, true, &res, NULL));
    CHECK_EQ(res.added, 1);
    store_trip_import_free(imp);
    /* Bad names are refused before anything is opened. */
    const char *names[] = {"", "tab\there",
                           "a-name-of-sixty-five-bytes-is-one-byte-too-long-"
                           "for-a-source-name"};
    for (size_t i = 0; i < ARRAY_LEN(names); i++) {
        struct err_detail d;
        err_clear(&d);
        imp = NULL;
        CHECK_ERR(store_trip_import_begin(path, names[i], false, T0, &imp, &d),
                  ERR_INVALID);
        CHECK(imp == NULL);
        CHECK_STR(d.field, "source");
    }
}

TEST(demand_import_source_exists_and_replace)
{
    const char *path = fresh("d.db");
    seed(path);
    const struct store_demand_trip a[] = {dtrip(T0, T0 + 1),
                                          dtrip(T0 + 2, T0 + 3)};
    import_ok(path, "one", a, 2);
    import_ok(path, "two", a, 1);
    struct core_trip live = trip(1, CORE_TRIP_ENDED, T0, T0 + MIN_MS);
    struct store_op op = op_trip(live);
    CHECK_OK(write_ops(path, &op, 1));
    /* The same name again is refused... */
    struct store_trip_import *imp = NULL;
    struct err_detail d;
    err_clear(&d);
    CHECK_ERR(store_trip_import_begin(path, "one", false, T0, &imp, &d),
              ERR_CONFLICT);
    CHECK(imp == NULL);
    CHECK(strstr(d.msg, "'one'") != NULL);
    CHECK(strstr(d.msg, "2 trips") != NULL);
    /* ...unless replaced: the old rows go in the same transaction. */
    imp = begin_ok(path, "one", true);
    const struct store_demand_trip b = dtrip(T0 + 10, T0 + 20);
    CHECK_OK(store_trip_import_add(imp, &b, NULL));
    struct store_trip_import_result res;
    CHECK_OK(store_trip_import_finish(imp, true, &res, NULL));
    store_trip_import_free(imp);
    CHECK_EQ(res.replaced, 2);
    CHECK_EQ(res.added, 1);
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM demand_trips"), 3);
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM demand_trips t JOIN"
                           " demand_sources s ON s.id = t.source_id"
                           " WHERE s.name = 'one' AND t.started_ms ="
                           " 1700000000010"),
             1);
    struct sources x = list_sources(path);
    CHECK_EQ(x.n, 2);
    CHECK_STR(x.v[0].name, "one");
    CHECK_EQ(x.v[0].trips, 1);
    CHECK_STR(x.v[1].name, "two");
    CHECK_EQ(x.v[1].trips, 1);
    /* A replace that is rolled back leaves the old source as it was. */
    imp = begin_ok(path, "two", true);
    CHECK_OK(store_trip_import_finish(imp, false, &res, NULL));
    store_trip_import_free(imp);
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM demand_trips"), 3);
    CHECK_EQ(raw_int(path, "SELECT trips FROM demand_sources"
                           " WHERE name = 'two'"),
             1);
}

/* Another connection (a running server keeps two) makes the import
 * refuse after the busy timeout. */
TEST(demand_import_busy)
{
    const char *path = fresh("d.db");
    sqlite3 *other = NULL;
    CHECK_EQ(sqlite3_open_v2(path, &other, SQLITE_OPEN_READWRITE, NULL),
             SQLITE_OK);
    CHECK_EQ(sqlite3_exec(other, "SELECT count(*) FROM demand_trips", NULL,
                          NULL, NULL),
             SQLITE_OK);
    struct store_trip_import *imp = NULL;
    struct err_detail d;
    err_clear(&d);
    CHECK_ERR(store_trip_import_begin(path, "x", false, T0, &imp, &d),
              ERR_BUSY);
    CHECK(imp == NULL);
    CHECK(strstr(d.msg, "in use by another process") != NULL);
    CHECK_EQ(sqlite3_close(other), SQLITE_OK);
    imp = begin_ok(path, "x", false);
    store_trip_import_free(imp);
}

TEST(demand_import_unmigrated_is_io)
{
    const char *path = db_path("plain.db");
    sqlite3 *db = NULL;
    CHECK_EQ(sqlite3_open(path, &db), SQLITE_OK);
    CHECK_EQ(sqlite3_exec(db, "CREATE TABLE t (x)", NULL, NULL, NULL),
             SQLITE_OK);
    CHECK_EQ(sqlite3_close(db), SQLITE_OK);
    struct store_trip_import *imp = NULL;
    CHECK_ERR(store_trip_import_begin(path, "x", false, T0, &imp, NULL),
              ERR_IO);
    CHECK_ERR(store_trip_import_begin(db_path("none/x.db"), "x", false, T0,
                                      &imp, NULL),
              ERR_IO);
    CHECK(imp == NULL);
}

/* The search log of the service (svc/searchlog.c) */

TEST(demand_search_log_aggregates)
{
    struct svc_config cfg;
    svc_config_default(&cfg);
    cfg.db_path = db_path("svc.db");
    struct net_loop *loop = NULL;
    CHECK_OK(net_loop_new(&loop, NULL));
    struct svc *s = NULL;
    CHECK_OK(svc_new(loop, &cfg, &s, NULL));
    const struct {
        struct geo_latlng p;
        bool found;
    } searches[] = {
        {{31.23045, 121.47371}, false},
        {{31.23099, 121.47301}, false},
        {{31.23001, 121.47399}, false},
        {{31.23045, 121.47371}, true},
        {{-33.8688, 151.2093}, false},
        {{-90, 180}, false},
        {{90, -180}, true},
    };
    for (size_t i = 0; i < ARRAY_LEN(searches); i++)
        svc_search_log(s, searches[i].p, searches[i].found);
    struct svc_stats st;
    svc_stats(s, &st);
    CHECK_EQ(st.searches, ARRAY_LEN(searches));
    svc_free(s); /* writes the open aggregates */
    net_loop_free(loop);
    const char *path = cfg.db_path;
    /* Every row: a whole minute, a square's centre. */
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM searches WHERE"
                           " ts_ms % 60000 != 0"),
             0);
    CHECK_EQ(raw_int(path, "SELECT sum(n) FROM searches"),
             (int64_t)ARRAY_LEN(searches));
    /* Three searches in one square of 0.001 degree, by its centre. */
    CHECK_EQ(raw_int(path, "SELECT sum(n) FROM searches WHERE found = 0 AND"
                           " abs(lat - 31.2305) < 1e-9 AND"
                           " abs(lon - 121.4735) < 1e-9"),
             3);
    CHECK_EQ(raw_int(path, "SELECT sum(n) FROM searches WHERE found = 1 AND"
                           " abs(lat - 31.2305) < 1e-9"),
             1);
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM searches WHERE"
                           " abs(lat + 33.8685) < 1e-9 AND"
                           " abs(lon - 151.2095) < 1e-9"),
             1);
    /* The poles and the antimeridian stay on the map. */
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM searches WHERE"
                           " abs(lat + 89.9995) < 1e-9 AND"
                           " abs(lon - 179.9995) < 1e-9 AND found = 0"),
             1);
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM searches WHERE"
                           " abs(lat - 89.9995) < 1e-9 AND"
                           " abs(lon + 179.9995) < 1e-9 AND found = 1"),
             1);
}

/* The planner's history, kept from plan to plan */

#define DAY_MS (24 * HOUR_MS)

/* Ended trips ids first..last, started in [from_ms, to_ms), 10 min long. */
static void write_trips(const char *path, int64_t first, int64_t last,
                        int64_t from_ms, int64_t to_ms, struct rng *r)
{
    size_t n = (size_t)(last - first + 1);
    struct store_op *ops = xcalloc(n, sizeof(*ops));
    for (size_t i = 0; i < n; i++) {
        int64_t t0 =
            from_ms + (int64_t)rng_below(r, (uint64_t)(to_ms - from_ms));
        struct core_trip t =
            trip(first + (int64_t)i, CORE_TRIP_ENDED, t0, t0 + 10 * MIN_MS);
        t.start_pos.lat_deg = 31.21 + 0.04 * rng_unit(r);
        t.end_pos.lon_deg = 121.45 + 0.04 * rng_unit(r);
        ops[i] = op_trip(t);
    }
    CHECK_OK(write_ops(path, ops, n));
    xfree(ops);
}

/*
 * A plan at now_ms from history h (NULL: from scratch); the history it
 * leaves goes to *left.
 */
static struct svc_plan *plan_at(const char *path, int64_t now_ms, double cell_m,
                                struct svc_plan_history *h,
                                struct svc_plan_history **left)
{
    static atomic_bool cancel;
    struct svc_plan_job job = {0};
    job.id = 1;
    job.now_ms = now_ms;
    job.db_path = (char *)path;
    job.cancel = &cancel;
    svc_dispatch_config_default(&job.cfg);
    job.cfg.history_days = 3;
    job.cfg.utc_offset_s = 8 * 3600;
    job.cfg.trucks = 0;
    if (cell_m > 0)
        job.cfg.cell_m = cell_m;
    struct geo_bbox area = {31.20, 121.44, 31.26, 121.50};
    CHECK_OK(demand_grid_init(&job.grid, area, job.cfg.cell_m, NULL));
    job.has_grid = true;
    job.history = h;
    svc__planner_run(&job);
    *left = job.history;
    return job.plan;
}

/* The same cells, forecasts and targets: the history was the same. */
static void check_same_plan(const struct svc_plan *a, const struct svc_plan *b)
{
    CHECK_STR(a->note, "");
    CHECK_STR(b->note, "");
    CHECK(a->history_events > 0);
    CHECK(a->ncells > 0);
    CHECK_EQ(a->history_events, b->history_events);
    CHECK_EQ(a->ncells, b->ncells);
    for (size_t i = 0; i < a->ncells && i < b->ncells; i++) {
        CHECK_EQ(a->cells[i].cell, b->cells[i].cell);
        CHECK_EQ(a->cells[i].target, b->cells[i].target);
        CHECK(a->cells[i].rentals == b->cells[i].rentals);
        CHECK(a->cells[i].returns == b->cells[i].returns);
    }
}

/* Plans at now_ms from h and from scratch agree; returns h moved on. */
static struct svc_plan_history *check_reads_on(const char *path, int64_t now_ms,
                                               struct svc_plan_history *h,
                                               bool incremental)
{
    struct svc_plan_history *kept = NULL, *fresh_h = NULL;
    struct svc_plan *on = plan_at(path, now_ms, 0, h, &kept);
    struct svc_plan *scratch = plan_at(path, now_ms, 0, NULL, &fresh_h);
    CHECK(on->history_incremental == incremental);
    CHECK(!scratch->history_incremental);
    check_same_plan(on, scratch);
    svc__plan_free(on);
    svc__plan_free(scratch);
    svc__plan_history_free(fresh_h);
    CHECK(kept != NULL);
    return kept;
}

TEST(demand_planner_history_reads_on)
{
    const char *path = fresh("d.db");
    seed(path);
    struct rng r;
    rng_seed(&r, 3);
    int64_t now = T0;
    write_trips(path, 1, 400, now - 4 * DAY_MS, now, &r);
    struct svc_plan_history *h = NULL;
    svc__plan_free(plan_at(path, now, 0, NULL, &h));
    /* 20 minutes and some trips and lost searches later. */
    write_trips(path, 401, 460, now, now + 20 * MIN_MS, &r);
    const struct store_search v[] = {{now + MIN_MS, 31.23, 121.47, false, 4}};
    struct store_op sop = op_searches(v, 1);
    CHECK_OK(write_ops(path, &sop, 1));
    h = check_reads_on(path, now + 20 * MIN_MS, h, true);
    /* A day on: the oldest day leaves the window. */
    write_trips(path, 461, 600, now + 20 * MIN_MS, now + DAY_MS + HOUR_MS, &r);
    h = check_reads_on(path, now + DAY_MS + HOUR_MS, h, true);
    /* The newest rows deleted and their ids given again: from scratch. */
    raw_exec(path, "DELETE FROM demand_trips WHERE id > 500");
    write_trips(path, 601, 620, now + DAY_MS + HOUR_MS,
                now + DAY_MS + 2 * HOUR_MS, &r);
    CHECK_EQ(raw_int(path, "SELECT max(id) FROM demand_trips"), 520);
    h = check_reads_on(path, now + DAY_MS + 2 * HOUR_MS, h, false);
    /* The same grid reads on; another one starts from scratch. */
    struct svc_plan_history *kept = NULL;
    struct svc_plan *p = plan_at(path, now + DAY_MS + 3 * HOUR_MS, 0, h, &kept);
    CHECK(p->history_incremental);
    svc__plan_free(p);
    p = plan_at(path, now + DAY_MS + 3 * HOUR_MS, 250, kept, &h);
    CHECK(!p->history_incremental);
    CHECK(p->history_events > 0);
    svc__plan_free(p);
    svc__plan_history_free(h);
    /* A first plan with no history at all still leaves one to read on
     * from (its cursor is {0, 0}, as before any load). */
    const char *empty = fresh("e.db");
    seed(empty);
    struct svc_plan *p0 = plan_at(empty, now, 0, NULL, &h);
    CHECK_STR(p0->note, "no demand history yet");
    svc__plan_free(p0);
    write_trips(empty, 1, 200, now - 2 * DAY_MS, now, &r);
    h = check_reads_on(empty, now + HOUR_MS, h, true);
    svc__plan_history_free(h);
}

const struct test_case test_suite_demand[] = {
    CASE(demand_ended_trip_copied_once),
    CASE(demand_failed_and_active_trips_not_copied),
    CASE(demand_charge_copies_ended_trip),
    CASE(demand_searches_stored),
    CASE(demand_searches_freed_when_submit_fails),
    CASE(demand_prune_keeps_imports),
    CASE(demand_load_returns_exactly_the_range),
    CASE(demand_load_since_a_cursor),
    CASE(demand_planner_history_reads_on),
    CASE(demand_load_errors),
    CASE(demand_import_commits_a_source),
    CASE(demand_import_large_in_random_order),
    CASE(demand_import_all_or_nothing),
    CASE(demand_import_invalid_trips),
    CASE(demand_import_source_exists_and_replace),
    CASE(demand_import_busy),
    CASE(demand_import_unmigrated_is_io),
    CASE(demand_search_log_aggregates),
    {0},
};
