/* SPDX-License-Identifier: MIT */
/*
 * The group-commit writer: a thread with its own SQLite connection that
 * takes every op queued since its last commit, applies them in one
 * transaction with statements prepared once, commits (WAL, synchronous=FULL)
 * and reports the highest lsn of the batch as durable. The schema and the
 * loading connection are in sqlite.c.
 */
#include "base/sys.h"
#include "store/store.h"
#include "store/store_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

/* A busy database is retried this many times, with doubling sleeps. */
#define WRITER_ATTEMPTS 5
#define WRITER_BACKOFF_MS 10

/* The writer caches more pages than the default 2 MiB: it touches them all. */
#define WRITER_CACHE_KIB 16384

/* After a checkpoint resets the WAL, its file is cut back to this size. */
#define WRITER_WAL_KEEP_BYTES (64 * 1024 * 1024)

enum writer_stmt {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_BIKE,
    ST_BIKE_FAST,
    ST_RIDER,
    ST_TRIP,
    ST_TRIP_FAST,
    ST_RES,
    ST_CHARGE,
    ST_PRICING,
    ST_EVENT,
    ST_POSITIONS,
    ST_PRUNE,
    ST_SECRET,
    ST_POLICY,
    ST_DEMAND_TRIP,
    ST_SEARCH,
    ST_PRUNE_SEARCHES,
    ST_PRUNE_DEMAND,
    ST_COUNT
};

/*
 * A record is written whole: insert, or on the same id update every column.
 * An upsert, not INSERT OR REPLACE, so that a clash on another unique column
 * (a QR code, an idempotency key) fails instead of deleting the other row.
 *
 * Bikes and trips change many times a second (positions, distance), so each
 * has a fast path first: an UPDATE of the columns no index covers, guarded
 * by the indexed columns being unchanged. Setting an indexed column rewrites
 * its index entry even when the value is the same, which halves the rate.
 * If the guard matches no row (a new record, or an indexed column changed),
 * the full upsert runs. Both statements number their parameters alike.
 */
static const char *const writer_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_BIKE] = "INSERT INTO bikes (id, qr_code, imei, vehicle_type, state,"
                " lat, lon, battery_pct, last_report_ms, lock_closed,"
                " created_ms, last_use_ms, truck_id, alarms)"
                " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,"
                " ?13, ?14)"
                " ON CONFLICT (id) DO UPDATE SET qr_code = excluded.qr_code,"
                " imei = excluded.imei, vehicle_type = excluded.vehicle_type,"
                " state = excluded.state, lat = excluded.lat,"
                " lon = excluded.lon, battery_pct = excluded.battery_pct,"
                " last_report_ms = excluded.last_report_ms,"
                " lock_closed = excluded.lock_closed,"
                " created_ms = excluded.created_ms,"
                " last_use_ms = excluded.last_use_ms,"
                " truck_id = excluded.truck_id, alarms = excluded.alarms",
    [ST_BIKE_FAST] = "UPDATE bikes SET vehicle_type = ?4, state = ?5,"
                     " lat = ?6, lon = ?7, battery_pct = ?8,"
                     " last_report_ms = ?9, lock_closed = ?10,"
                     " created_ms = ?11, last_use_ms = ?12, truck_id = ?13,"
                     " alarms = ?14"
                     " WHERE id = ?1 AND qr_code = ?2 AND imei = ?3",
    [ST_RIDER] = "INSERT INTO riders (id, token_hash, balance_cents,"
                 " created_ms, reward_day, rewards_today)"
                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
                 " ON CONFLICT (id) DO UPDATE SET"
                 " token_hash = excluded.token_hash,"
                 " balance_cents = excluded.balance_cents,"
                 " created_ms = excluded.created_ms,"
                 " reward_day = excluded.reward_day,"
                 " rewards_today = excluded.rewards_today",
    [ST_TRIP] = "INSERT INTO trips (id, rider_id, bike_id, state, idem_key,"
                " requested_ms, started_ms, ended_ms, start_lat, start_lon,"
                " end_lat, end_lon, distance_m, fare_cents, currency,"
                " pricing_version, reason, charged, reward_offer_cents,"
                " reward_cents, reward_note)"
                " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,"
                " ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)"
                " ON CONFLICT (id) DO UPDATE SET rider_id = excluded.rider_id,"
                " bike_id = excluded.bike_id, state = excluded.state,"
                " idem_key = excluded.idem_key,"
                " requested_ms = excluded.requested_ms,"
                " started_ms = excluded.started_ms,"
                " ended_ms = excluded.ended_ms,"
                " start_lat = excluded.start_lat,"
                " start_lon = excluded.start_lon,"
                " end_lat = excluded.end_lat, end_lon = excluded.end_lon,"
                " distance_m = excluded.distance_m,"
                " fare_cents = excluded.fare_cents,"
                " currency = excluded.currency,"
                " pricing_version = excluded.pricing_version,"
                " reason = excluded.reason, charged = excluded.charged,"
                " reward_offer_cents = excluded.reward_offer_cents,"
                " reward_cents = excluded.reward_cents,"
                " reward_note = excluded.reward_note",
    [ST_TRIP_FAST] = "UPDATE trips SET bike_id = ?3, requested_ms = ?6,"
                     " started_ms = ?7, ended_ms = ?8, start_lat = ?9,"
                     " start_lon = ?10, end_lat = ?11, end_lon = ?12,"
                     " distance_m = ?13, fare_cents = ?14, currency = ?15,"
                     " pricing_version = ?16, reason = ?17, charged = ?18,"
                     " reward_offer_cents = ?19, reward_cents = ?20,"
                     " reward_note = ?21"
                     " WHERE id = ?1 AND rider_id = ?2 AND state = ?4"
                     " AND idem_key IS ?5",
    [ST_RES] = "INSERT INTO reservations (id, rider_id, bike_id, state,"
               " created_ms, expires_ms, ended_ms)"
               " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
               " ON CONFLICT (id) DO UPDATE SET rider_id = excluded.rider_id,"
               " bike_id = excluded.bike_id, state = excluded.state,"
               " created_ms = excluded.created_ms,"
               " expires_ms = excluded.expires_ms,"
               " ended_ms = excluded.ended_ms",
    [ST_CHARGE] = "INSERT INTO charges (trip_id, rider_id, amount_cents,"
                  " currency, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)"
                  " ON CONFLICT (trip_id) DO NOTHING",
    [ST_PRICING] = "INSERT INTO pricing_plans (version, plan_id, name,"
                   " currency, unlock_cents, segments, created_ms)"
                   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                   " ON CONFLICT (version) DO UPDATE SET"
                   " plan_id = excluded.plan_id, name = excluded.name,"
                   " currency = excluded.currency,"
                   " unlock_cents = excluded.unlock_cents,"
                   " segments = excluded.segments,"
                   " created_ms = excluded.created_ms",
    [ST_EVENT] = "INSERT INTO vehicle_events (bike_id, event_type, state,"
                 " ts_ms, lat, lon, trip_id)"
                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_POSITIONS] =
        "INSERT INTO position_blocks (shard, t0_ms, t1_ms, n, data)"
        " VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_PRUNE] = "DELETE FROM position_blocks WHERE t1_ms < ?1",
    [ST_SECRET] = "INSERT INTO lock_secrets (bike_id, key, rx_counter)"
                  " VALUES (?1, ?2, ?3) ON CONFLICT (bike_id) DO UPDATE"
                  " SET key = excluded.key, rx_counter = excluded.rx_counter",
    [ST_POLICY] = "INSERT INTO lock_policy (vehicle_type, require_secure)"
                  " VALUES (?1, ?2) ON CONFLICT (vehicle_type) DO UPDATE"
                  " SET require_secure = excluded.require_secure",
    /* A trip is written many times; its demand row once. */
    [ST_DEMAND_TRIP] = "INSERT INTO demand_trips (trip_id, started_ms,"
                       " ended_ms, start_lat, start_lon, end_lat, end_lon)"
                       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                       " ON CONFLICT (trip_id) DO NOTHING",
    [ST_SEARCH] = "INSERT INTO searches (ts_ms, lat, lon, found, n)"
                  " VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_PRUNE_SEARCHES] = "DELETE FROM searches WHERE ts_ms < ?1",
    /*
     * Live rows only, and only those started since the last prune: the
     * index range then never revisits imported rows past the cutoff,
     * which stay until their source is replaced.
     */
    [ST_PRUNE_DEMAND] = "DELETE FROM demand_trips WHERE started_ms >= ?1"
                        " AND started_ms < ?2 AND source_id IS NULL",
};

struct store_writer {
    /* Set by store_writer_start, read-only afterwards. */
    char *path;
    store_commit_fn *fn;
    void *ctx;
    pthread_t thread;
    bool sync_ready; /* mu and wake are initialised */

    /* Owned by the writer thread while it runs. */
    sqlite3 *db;
    sqlite3_stmt *stmt[ST_COUNT];
    struct store_op *batch; /* the ops being committed */
    size_t nbatch;
    size_t capbatch;
    unsigned char *blob; /* an encoded position block */
    size_t capblob;
    uint64_t durable_lsn; /* the highest lsn committed */
    /*
     * Live demand rows that started before demand_pruned_ms are gone (as
     * of the last commit; new ones start within a day of now, long after
     * the retention cutoff); a batch's prune moves demand_prune_ms, which
     * becomes demand_pruned_ms once the batch commits.
     */
    int64_t demand_pruned_ms;
    int64_t demand_prune_ms;

    /*
     * mu guards the fields below; wake is signalled when ops are queued and
     * when stopping starts. The writer swaps pending and batch under mu, so
     * a submit never waits for a commit, only for another submit's copy.
     */
    pthread_mutex_t mu;
    pthread_cond_t wake;
    struct store_op *pending; /* queued since the last swap */
    size_t npending;
    size_t cappending;
    uint64_t last_lsn;  /* the highest lsn handed out */
    uint64_t taken_lsn; /* the highest lsn swapped into a batch */
    bool stopping;
    bool failed; /* a commit failed; no more work is accepted */
};

static void lock(pthread_mutex_t *mu)
{
    int rc = pthread_mutex_lock(mu);
    if (rc != 0)
        BUG("pthread_mutex_lock: %s", strerror(rc));
}

static void unlock(pthread_mutex_t *mu)
{
    int rc = pthread_mutex_unlock(mu);
    if (rc != 0)
        BUG("pthread_mutex_unlock: %s", strerror(rc));
}

/* Binding: each helper does nothing once *rc holds an error. */

static void bind_i64(sqlite3_stmt *s, int i, int64_t v, int *rc)
{
    if (*rc == SQLITE_OK)
        *rc = sqlite3_bind_int64(s, i, v);
}

static void bind_real(sqlite3_stmt *s, int i, double v, int *rc)
{
    if (*rc == SQLITE_OK)
        *rc = sqlite3_bind_double(s, i, v);
}

/*
 * Binds the NUL-terminated text in field[cap] (a NULL name binds NULL, which
 * the NOT NULL columns then refuse). The bytes must stay put until the step.
 */
static void bind_text(sqlite3_stmt *s, int i, const char *field, size_t cap,
                      int *rc)
{
    if (*rc != SQLITE_OK)
        return;
    if (!field) {
        *rc = sqlite3_bind_null(s, i);
        return;
    }
    *rc =
        sqlite3_bind_text(s, i, field, (int)strnlen(field, cap), SQLITE_STATIC);
}

/* Like bind_text, but empty text is stored as NULL ("none"). */
static void bind_opt_text(sqlite3_stmt *s, int i, const char *field, size_t cap,
                          int *rc)
{
    bind_text(s, i, field[0] ? field : NULL, cap, rc);
}

/* An enum's stable name, or NULL (refused by NOT NULL) if out of range. */
static const char *vstate_name(enum core_vstate v)
{
    return (unsigned)v < CORE_VS_COUNT ? core_vstate_name(v) : NULL;
}

static const char *vtype_name(enum core_vtype v)
{
    return (unsigned)v < CORE_VT_COUNT ? core_vtype_name(v) : NULL;
}

static const char *vevent_name(enum core_vevent v)
{
    return (unsigned)v < CORE_VE_COUNT ? core_vevent_name(v) : NULL;
}

static const char *trip_state_name(enum core_trip_state v)
{
    return (unsigned)v < CORE_TRIP_COUNT ? core_trip_state_name(v) : NULL;
}

static const char *res_state_name(enum core_res_state v)
{
    return (unsigned)v < CORE_RES_COUNT ? core_res_state_name(v) : NULL;
}

#define IMEI_LIMIT UINT64_C(1000000000000000) /* 10^15 */

static void bind_bike(sqlite3_stmt *s, const struct core_bike *b, char imei[16],
                      int *rc)
{
    core_imei_format(b->imei, imei);
    bind_i64(s, 1, b->id, rc);
    bind_text(s, 2, b->qr_code, sizeof(b->qr_code), rc);
    bind_text(s, 3, b->imei < IMEI_LIMIT ? imei : NULL, 16, rc);
    bind_text(s, 4, vtype_name(b->vtype), 16, rc);
    bind_text(s, 5, vstate_name(b->state), 32, rc);
    bind_real(s, 6, b->pos.lat_deg, rc);
    bind_real(s, 7, b->pos.lon_deg, rc);
    bind_i64(s, 8, b->battery_pct, rc);
    bind_i64(s, 9, b->last_report_ms, rc);
    bind_i64(s, 10, b->lock_closed, rc);
    bind_i64(s, 11, b->created_ms, rc);
    bind_i64(s, 12, b->last_use_ms, rc);
    bind_i64(s, 13, b->truck_id, rc);
    bind_i64(s, 14, b->alarms, rc);
}

static sqlite3_stmt *bind_rider(struct store_writer *w,
                                const struct core_rider *r, int *rc)
{
    sqlite3_stmt *s = w->stmt[ST_RIDER];
    bind_i64(s, 1, r->id, rc);
    if (*rc == SQLITE_OK)
        *rc = sqlite3_bind_blob(s, 2, r->token_hash, CORE_TOKEN_HASH_BYTES,
                                SQLITE_STATIC);
    bind_i64(s, 3, r->balance_cents, rc);
    bind_i64(s, 4, r->created_ms, rc);
    bind_i64(s, 5, r->reward_day, rc);
    bind_i64(s, 6, r->rewards_today, rc);
    return s;
}

static void bind_trip(sqlite3_stmt *s, const struct core_trip *t, int *rc)
{
    bind_i64(s, 1, t->id, rc);
    bind_i64(s, 2, t->rider_id, rc);
    bind_i64(s, 3, t->bike_id, rc);
    bind_text(s, 4, trip_state_name(t->state), 32, rc);
    bind_opt_text(s, 5, t->idem_key, sizeof(t->idem_key), rc);
    bind_i64(s, 6, t->requested_ms, rc);
    bind_i64(s, 7, t->started_ms, rc);
    bind_i64(s, 8, t->ended_ms, rc);
    bind_real(s, 9, t->start_pos.lat_deg, rc);
    bind_real(s, 10, t->start_pos.lon_deg, rc);
    bind_real(s, 11, t->end_pos.lat_deg, rc);
    bind_real(s, 12, t->end_pos.lon_deg, rc);
    bind_real(s, 13, t->distance_m, rc);
    bind_i64(s, 14, t->fare_cents, rc);
    bind_text(s, 15, t->currency, sizeof(t->currency), rc);
    bind_i64(s, 16, t->pricing_version, rc);
    bind_opt_text(s, 17, t->reason, sizeof(t->reason), rc);
    bind_i64(s, 18, t->charged, rc);
    bind_i64(s, 19, t->reward_offer_cents, rc);
    bind_i64(s, 20, t->reward_cents, rc);
    bind_opt_text(s, 21, t->reward_note, sizeof(t->reward_note), rc);
}

static sqlite3_stmt *bind_res(struct store_writer *w,
                              const struct core_reservation *r, int *rc)
{
    sqlite3_stmt *s = w->stmt[ST_RES];
    bind_i64(s, 1, r->id, rc);
    bind_i64(s, 2, r->rider_id, rc);
    bind_i64(s, 3, r->bike_id, rc);
    bind_text(s, 4, res_state_name(r->state), 32, rc);
    bind_i64(s, 5, r->created_ms, rc);
    bind_i64(s, 6, r->expires_ms, rc);
    bind_i64(s, 7, r->ended_ms, rc);
    return s;
}

/* The ledger row: the trip's fare, stamped with the trip's end. */
static sqlite3_stmt *bind_charge(struct store_writer *w,
                                 const struct core_trip *t, int *rc)
{
    sqlite3_stmt *s = w->stmt[ST_CHARGE];
    bind_i64(s, 1, t->id, rc);
    bind_i64(s, 2, t->rider_id, rc);
    bind_i64(s, 3, t->fare_cents, rc);
    bind_text(s, 4, t->currency, sizeof(t->currency), rc);
    bind_i64(s, 5, t->ended_ms, rc);
    return s;
}

static sqlite3_stmt *bind_pricing(struct store_writer *w,
                                  const struct core_pricing *p,
                                  char segs[STORE__SEGMENTS_TEXT_MAX], int *rc)
{
    sqlite3_stmt *s = w->stmt[ST_PRICING];
    bool segs_ok =
        store__segments_format(p, segs, STORE__SEGMENTS_TEXT_MAX) == ERR_OK;
    bind_i64(s, 1, p->version, rc);
    bind_text(s, 2, p->plan_id, sizeof(p->plan_id), rc);
    bind_text(s, 3, p->name, sizeof(p->name), rc);
    bind_text(s, 4, p->currency, sizeof(p->currency), rc);
    bind_i64(s, 5, p->unlock_cents, rc);
    bind_text(s, 6, segs_ok ? segs : NULL, STORE__SEGMENTS_TEXT_MAX, rc);
    bind_i64(s, 7, p->created_ms, rc);
    return s;
}

static sqlite3_stmt *bind_event(struct store_writer *w,
                                const struct core_vehicle_event *ev, int *rc)
{
    sqlite3_stmt *s = w->stmt[ST_EVENT];
    bind_i64(s, 1, ev->bike_id, rc);
    bind_text(s, 2, vevent_name(ev->event), 32, rc);
    bind_text(s, 3, vstate_name(ev->state), 32, rc);
    bind_i64(s, 4, ev->ts_ms, rc);
    bind_real(s, 5, ev->pos.lat_deg, rc);
    bind_real(s, 6, ev->pos.lon_deg, rc);
    if (*rc == SQLITE_OK)
        *rc = ev->trip_id ? sqlite3_bind_int64(s, 7, ev->trip_id)
                          : sqlite3_bind_null(s, 7);
    return s;
}

/* Runs s to completion and resets it; returns SQLITE_OK or the error. */
static int run(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    /* reset repeats the step's error, which rc holds already */
    (void)sqlite3_reset(s);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Position history */

static int point_cmp(const void *a, const void *b)
{
    const struct store_point *p = a, *q = b;
    uint32_t sp = p->bike_id % STORE_POSITION_SHARDS;
    uint32_t sq = q->bike_id % STORE_POSITION_SHARDS;
    if (sp != sq)
        return sp < sq ? -1 : 1;
    if (p->bike_id != q->bike_id)
        return p->bike_id < q->bike_id ? -1 : 1;
    return (p->ts_ms > q->ts_ms) - (p->ts_ms < q->ts_ms);
}

static void put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

/* Writes one block of points[0..n), all of one shard, as encoded. */
static int write_block(struct store_writer *w, const struct store_point *pts,
                       size_t n)
{
    int64_t t0 = pts[0].ts_ms, t1 = pts[0].ts_ms;
    for (size_t i = 1; i < n; i++) {
        t0 = MIN(t0, pts[i].ts_ms);
        t1 = MAX(t1, pts[i].ts_ms);
    }
    if (t1 - t0 > UINT32_MAX || n > INT32_MAX / STORE__POINT_BYTES)
        return SQLITE_TOOBIG; /* a flush spans hours: a bug upstream */
    size_t bytes = n * STORE__POINT_BYTES;
    if (w->capblob < bytes) {
        w->blob = xrealloc(w->blob, bytes);
        w->capblob = bytes;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char *p = w->blob + i * STORE__POINT_BYTES;
        put_u32(p, pts[i].bike_id);
        put_u32(p + 4, (uint32_t)(pts[i].ts_ms - t0));
        put_u32(p + 8, (uint32_t)pts[i].lat_e7);
        put_u32(p + 12, (uint32_t)pts[i].lon_e7);
    }
    sqlite3_stmt *s = w->stmt[ST_POSITIONS];
    int rc = SQLITE_OK;
    bind_i64(s, 1, pts[0].bike_id % STORE_POSITION_SHARDS, &rc);
    bind_i64(s, 2, t0, &rc);
    bind_i64(s, 3, t1, &rc);
    bind_i64(s, 4, (int64_t)n, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_blob(s, 5, w->blob, (int)bytes, SQLITE_STATIC);
    return rc == SQLITE_OK ? run(s) : rc;
}

/* Appends a batch of points: one block per shard present. */
static int write_positions(struct store_writer *w,
                           const struct store_positions *ps)
{
    qsort(ps->pts, ps->n, sizeof(*ps->pts), point_cmp);
    size_t start = 0;
    while (start < ps->n) {
        uint32_t shard = ps->pts[start].bike_id % STORE_POSITION_SHARDS;
        size_t end = start + 1;
        while (end < ps->n &&
               ps->pts[end].bike_id % STORE_POSITION_SHARDS == shard)
            end++;
        int rc = write_block(w, ps->pts + start, end - start);
        if (rc != SQLITE_OK)
            return rc;
        start = end;
    }
    return SQLITE_OK;
}

/* Frees the arrays that position and search ops own; the ops are then
 * spent. */
static void free_points(const struct store_op *ops, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (ops[i].kind == STORE_OP_POSITIONS)
            xfree(ops[i].u.positions.pts);
        else if (ops[i].kind == STORE_OP_SEARCHES)
            xfree(ops[i].u.searches.v);
    }
}

/* Demand history */

/* Copies an ended trip into the demand history, once (not if too long). */
static int write_demand_trip(struct store_writer *w, const struct core_trip *t)
{
    if (t->state != CORE_TRIP_ENDED || t->ended_ms < t->started_ms ||
        t->ended_ms - t->started_ms > STORE_DEMAND_TRIP_MAX_MS)
        return SQLITE_OK;
    sqlite3_stmt *s = w->stmt[ST_DEMAND_TRIP];
    int rc = SQLITE_OK;
    bind_i64(s, 1, t->id, &rc);
    bind_i64(s, 2, t->started_ms, &rc);
    bind_i64(s, 3, t->ended_ms, &rc);
    bind_real(s, 4, t->start_pos.lat_deg, &rc);
    bind_real(s, 5, t->start_pos.lon_deg, &rc);
    bind_real(s, 6, t->end_pos.lat_deg, &rc);
    bind_real(s, 7, t->end_pos.lon_deg, &rc);
    return rc == SQLITE_OK ? run(s) : rc;
}

static int write_searches(struct store_writer *w,
                          const struct store_searches *ss)
{
    sqlite3_stmt *s = w->stmt[ST_SEARCH];
    for (size_t i = 0; i < ss->n; i++) {
        const struct store_search *a = &ss->v[i];
        int rc = SQLITE_OK;
        bind_i64(s, 1, a->ts_ms, &rc);
        bind_real(s, 2, a->lat, &rc);
        bind_real(s, 3, a->lon, &rc);
        bind_i64(s, 4, a->found, &rc);
        bind_i64(s, 5, a->n, &rc);
        if (rc == SQLITE_OK)
            rc = run(s);
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

static int prune_demand(struct store_writer *w, int64_t before_ms)
{
    sqlite3_stmt *s = w->stmt[ST_PRUNE_SEARCHES];
    int rc = SQLITE_OK;
    bind_i64(s, 1, before_ms, &rc);
    if (rc == SQLITE_OK)
        rc = run(s);
    if (rc != SQLITE_OK || before_ms <= w->demand_pruned_ms)
        return rc;
    s = w->stmt[ST_PRUNE_DEMAND];
    bind_i64(s, 1, w->demand_pruned_ms, &rc);
    bind_i64(s, 2, before_ms, &rc);
    if (rc == SQLITE_OK)
        rc = run(s);
    if (rc == SQLITE_OK)
        w->demand_prune_ms = MAX(w->demand_prune_ms, before_ms);
    return rc;
}

/*
 * Runs the fast update of a bike or trip; *done is true if it matched the
 * row, so that the upsert is not needed.
 */
static int run_fast(struct store_writer *w, sqlite3_stmt *s, int rc, bool *done)
{
    *done = false;
    if (rc != SQLITE_OK)
        return rc;
    rc = run(s);
    *done = rc == SQLITE_OK && sqlite3_changes(w->db) > 0;
    return rc;
}

/* Applies one op inside the open transaction. */
static int apply_op(struct store_writer *w, const struct store_op *op)
{
    int rc = SQLITE_OK;
    sqlite3_stmt *s = NULL;
    bool done = false;
    char text[STORE__SEGMENTS_TEXT_MAX]; /* bound until the step */
    switch (op->kind) {
    case STORE_OP_BIKE:
        bind_bike(w->stmt[ST_BIKE_FAST], &op->u.bike, text, &rc);
        rc = run_fast(w, w->stmt[ST_BIKE_FAST], rc, &done);
        if (rc != SQLITE_OK || done)
            return rc;
        s = w->stmt[ST_BIKE];
        bind_bike(s, &op->u.bike, text, &rc);
        break;
    case STORE_OP_RIDER:
        s = bind_rider(w, &op->u.rider, &rc);
        break;
    case STORE_OP_TRIP:
        bind_trip(w->stmt[ST_TRIP_FAST], &op->u.trip, &rc);
        rc = run_fast(w, w->stmt[ST_TRIP_FAST], rc, &done);
        if (rc == SQLITE_OK && done)
            return write_demand_trip(w, &op->u.trip);
        if (rc != SQLITE_OK)
            return rc;
        s = w->stmt[ST_TRIP];
        bind_trip(s, &op->u.trip, &rc);
        rc = rc == SQLITE_OK ? run(s) : rc;
        return rc == SQLITE_OK ? write_demand_trip(w, &op->u.trip) : rc;
    case STORE_OP_RESERVATION:
        s = bind_res(w, &op->u.res, &rc);
        break;
    case STORE_OP_CHARGE:
        s = bind_charge(w, &op->u.trip, &rc);
        rc = rc == SQLITE_OK ? run(s) : rc;
        return rc == SQLITE_OK ? write_demand_trip(w, &op->u.trip) : rc;
    case STORE_OP_PRICING:
        s = bind_pricing(w, &op->u.pricing, text, &rc);
        break;
    case STORE_OP_EVENT:
        s = bind_event(w, &op->u.event, &rc);
        break;
    case STORE_OP_POSITIONS:
        return write_positions(w, &op->u.positions);
    case STORE_OP_PRUNE:
        s = w->stmt[ST_PRUNE];
        bind_i64(s, 1, op->u.before_ms, &rc);
        break;
    case STORE_OP_SECRET:
        s = w->stmt[ST_SECRET];
        bind_i64(s, 1, op->u.secret.bike_id, &rc);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_blob(s, 2, op->u.secret.key, STORE_LOCK_KEY_BYTES,
                                   SQLITE_STATIC);
        bind_i64(s, 3, (int64_t)op->u.secret.rx_counter, &rc);
        break;
    case STORE_OP_POLICY:
        s = w->stmt[ST_POLICY];
        bind_text(s, 1, core_vtype_name(op->u.policy.vtype), 32, &rc);
        bind_i64(s, 2, op->u.policy.require_secure, &rc);
        break;
    case STORE_OP_SEARCHES:
        return write_searches(w, &op->u.searches);
    case STORE_OP_DEMAND_PRUNE:
        return prune_demand(w, op->u.before_ms);
    }
    if (!s)
        return SQLITE_MISUSE; /* an unknown kind */
    return rc == SQLITE_OK ? run(s) : rc;
}

static const char *kind_name(enum store_op_kind k)
{
    switch (k) {
    case STORE_OP_BIKE:
        return "bike";
    case STORE_OP_RIDER:
        return "rider";
    case STORE_OP_TRIP:
        return "trip";
    case STORE_OP_RESERVATION:
        return "reservation";
    case STORE_OP_CHARGE:
        return "charge";
    case STORE_OP_PRICING:
        return "pricing";
    case STORE_OP_EVENT:
        return "event";
    case STORE_OP_POSITIONS:
        return "positions";
    case STORE_OP_PRUNE:
        return "prune";
    case STORE_OP_SECRET:
        return "lock secret";
    case STORE_OP_POLICY:
        return "lock policy";
    case STORE_OP_SEARCHES:
        return "searches";
    case STORE_OP_DEMAND_PRUNE:
        return "demand prune";
    }
    return "unknown";
}

/* One attempt: BEGIN IMMEDIATE, every op, COMMIT. *bad gets the failing op
 * (SIZE_MAX if it was BEGIN or COMMIT). */
static int run_txn(struct store_writer *w, size_t *bad)
{
    *bad = SIZE_MAX;
    w->demand_prune_ms = w->demand_pruned_ms;
    int rc = run(w->stmt[ST_BEGIN]);
    if (rc != SQLITE_OK)
        return rc;
    for (size_t i = 0; i < w->nbatch; i++) {
        rc = apply_op(w, &w->batch[i]);
        if (rc != SQLITE_OK) {
            *bad = i;
            return rc;
        }
    }
    return run(w->stmt[ST_COMMIT]);
}

/*
 * Commits the batch, lsns first..last, in one transaction: retried with
 * backoff while the database is busy; any other failure is final. On
 * failure nothing of the batch is committed and msg explains.
 */
static enum err commit_batch(struct store_writer *w, uint64_t first,
                             uint64_t last, char *msg, size_t cap)
{
    for (int attempt = 1;; attempt++) {
        size_t bad = SIZE_MAX;
        int rc = run_txn(w, &bad);
        if (rc == SQLITE_OK)
            return ERR_OK;
        char where[64] = "";
        if (bad != SIZE_MAX)
            snprintf(where, sizeof(where), " (op %zu of %zu, %s)", bad + 1,
                     w->nbatch, kind_name(w->batch[bad].kind));
        snprintf(
            msg, cap,
            "cannot commit lsn %" PRIu64 "..%" PRIu64 " to store '%s'%s: %s",
            first, last, w->path, where,
            rc == SQLITE_MISUSE ? "unknown op kind" : sqlite3_errmsg(w->db));
        if (!sqlite3_get_autocommit(w->db)) {
            /* If the rollback fails too, SQLite rolls back on next use. */
            (void)run(w->stmt[ST_ROLLBACK]);
        }
        enum err e = store__err(rc);
        if (e != ERR_BUSY || attempt == WRITER_ATTEMPTS)
            return e;
        (void)sqlite3_sleep(WRITER_BACKOFF_MS << (attempt - 1));
    }
}

static void *writer_main(void *arg)
{
    struct store_writer *w = arg;
    char msg[256];
    lock(&w->mu);
    for (;;) {
        while (w->taken_lsn == w->last_lsn && !w->stopping) {
            int rc = pthread_cond_wait(&w->wake, &w->mu);
            if (rc != 0)
                BUG("pthread_cond_wait: %s", strerror(rc));
        }
        if (w->taken_lsn == w->last_lsn)
            break; /* stopping, and everything is committed */
        struct store_op *ops = w->batch;
        size_t cap = w->capbatch;
        w->batch = w->pending;
        w->nbatch = w->npending;
        w->capbatch = w->cappending;
        w->pending = ops;
        w->npending = 0;
        w->cappending = cap;
        uint64_t first = w->taken_lsn + 1;
        uint64_t last = w->last_lsn;
        w->taken_lsn = last;
        unlock(&w->mu);

        enum err e = commit_batch(w, first, last, msg, sizeof(msg));
        free_points(w->batch, w->nbatch);
        w->nbatch = 0;
        if (e != ERR_OK) {
            lock(&w->mu);
            w->failed = true;
            unlock(&w->mu);
            w->fn(w->ctx, w->durable_lsn, e, msg);
            return NULL;
        }
        w->durable_lsn = last;
        w->demand_pruned_ms = w->demand_prune_ms;
        w->fn(w->ctx, last, ERR_OK, NULL);
        lock(&w->mu);
    }
    unlock(&w->mu);
    return NULL;
}

static void writer_free(struct store_writer *w)
{
    if (!w)
        return;
    store__close_db(w->db); /* finalizes the statements */
    if (w->sync_ready) {
        int rc = pthread_cond_destroy(&w->wake);
        if (rc == 0)
            rc = pthread_mutex_destroy(&w->mu);
        if (rc != 0)
            BUG("cannot destroy the writer's lock: %s", strerror(rc));
    }
    free_points(w->pending, w->npending);
    xfree(w->batch);
    xfree(w->pending);
    xfree(w->blob);
    xfree(w->path);
    xfree(w);
}

enum err store_writer_start(const char *path, uint64_t start_lsn,
                            store_commit_fn *fn, void *ctx,
                            struct store_writer **out, struct err_detail *d)
{
    struct store_writer *w = xcalloc(1, sizeof(*w));
    w->path = xstrndup(path, strlen(path));
    w->fn = fn;
    w->ctx = ctx;
    w->durable_lsn = start_lsn;
    w->demand_pruned_ms = INT64_MIN;
    w->demand_prune_ms = INT64_MIN;
    w->last_lsn = start_lsn;
    w->taken_lsn = start_lsn;
    enum err e = store__open_db(path, false, &w->db, d);
    if (e != ERR_OK)
        goto out;
    int version = 0;
    e = store__read_version(w->db, path, &version, d);
    if (e != ERR_OK) {
        e = ERR_IO;
        goto out;
    }
    if (version != STORE__SCHEMA_VERSION) {
        e = err_set(d, ERR_IO, "",
                    "store '%s' has schema version %d, the writer needs %d",
                    path, version, STORE__SCHEMA_VERSION);
        goto out;
    }
    char cache[64];
    char wal[64];
    snprintf(cache, sizeof(cache), "PRAGMA cache_size=-%d", WRITER_CACHE_KIB);
    snprintf(wal, sizeof(wal), "PRAGMA journal_size_limit=%d",
             WRITER_WAL_KEEP_BYTES);
    if (store__exec(w->db, cache) != ERR_OK ||
        store__exec(w->db, wal) != ERR_OK) {
        e = err_set(d, ERR_IO, "", "cannot set up store '%s': %s", path,
                    sqlite3_errmsg(w->db));
        goto out;
    }
    for (size_t i = 0; i < ST_COUNT; i++) {
        int rc =
            sqlite3_prepare_v3(w->db, writer_sql[i], -1,
                               SQLITE_PREPARE_PERSISTENT, &w->stmt[i], NULL);
        if (rc != SQLITE_OK) {
            e = err_set(d, ERR_IO, "", "cannot prepare the writer for '%s': %s",
                        path, sqlite3_errmsg(w->db));
            goto out;
        }
    }
    int rc = pthread_mutex_init(&w->mu, NULL);
    if (rc == 0) {
        rc = pthread_cond_init(&w->wake, NULL);
        if (rc != 0)
            (void)pthread_mutex_destroy(&w->mu);
    }
    if (rc != 0) {
        e = err_set(d, ERR_IO, "", "cannot create the writer's lock: %s",
                    strerror(rc));
        goto out;
    }
    w->sync_ready = true;
    rc = pthread_create(&w->thread, NULL, writer_main, w);
    if (rc != 0) {
        e = err_set(d, ERR_IO, "", "cannot start the writer thread: %s",
                    strerror(rc));
        goto out;
    }
    *out = w;
    w = NULL;
    e = ERR_OK;
out:
    writer_free(w);
    return e;
}

uint64_t store_writer_submit(struct store_writer *w, const struct store_op *ops,
                             size_t n)
{
    uint64_t lsn = 0;
    lock(&w->mu);
    if (w->failed || w->stopping) {
        /* Nobody will write them: position ops own their points. */
        free_points(ops, n);
        goto out;
    }
    if (n > w->cappending - w->npending) {
        size_t cap = MAX(w->cappending * 2, w->npending + n);
        w->pending =
            xreallocarray(w->pending, MAX(cap, (size_t)64), sizeof(*ops));
        w->cappending = MAX(cap, (size_t)64);
    }
    if (n)
        memcpy(&w->pending[w->npending], ops, n * sizeof(*ops));
    w->npending += n;
    lsn = ++w->last_lsn;
    int rc = pthread_cond_signal(&w->wake);
    if (rc != 0)
        BUG("pthread_cond_signal: %s", strerror(rc));
out:
    unlock(&w->mu);
    return lsn;
}

void store_writer_stop(struct store_writer *w)
{
    if (!w)
        return;
    lock(&w->mu);
    w->stopping = true;
    int rc = pthread_cond_signal(&w->wake);
    unlock(&w->mu);
    if (rc != 0)
        BUG("pthread_cond_signal: %s", strerror(rc));
    rc = pthread_join(w->thread, NULL);
    if (rc != 0)
        BUG("pthread_join: %s", strerror(rc));
    writer_free(w);
}
