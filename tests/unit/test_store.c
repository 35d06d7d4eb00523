/* SPDX-License-Identifier: MIT */
/*
 * Tests for store/: opening and migrating, round trips of every record kind
 * through the group-commit writer, the reads, operator tokens, batching
 * from several threads, durability across kill -9, and commit failures
 * injected by a SQLite VFS shim that this file registers.
 */
#include "base/sys.h"
#include "store/store.h"
#include "tests/unit/harness.h"
#include "tests/unit/rawdb.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

/* Paths and raw SQL (the tests look under the store with plain SQLite) */

static const char *tmp_path(const char *name)
{
    static char path[4][256];
    static unsigned next;
    char *p = path[next++ % ARRAY_LEN(path)];
    snprintf(p, sizeof(path[0]), "%s/%s", test_tmpdir(), name);
    return p;
}

static struct store *open_ok(const char *path)
{
    struct store *st = NULL;
    struct err_detail d = {0};
    enum err e = store_open(path, &st, &d);
    if (e != ERR_OK)
        test_fail(__FILE__, __LINE__, "store_open: %s: %s", err_name(e), d.msg);
    return st;
}

/* Records: every field set to something that would show a mix-up */

static struct core_bike bike_rec(int64_t id)
{
    struct core_bike b = {0};
    b.id = id;
    snprintf(b.qr_code, sizeof(b.qr_code), "QR-%06" PRId64, id);
    b.imei = id == 1 ? 42 : UINT64_C(860000000000000) + (uint64_t)id;
    b.vtype = id % 2 ? CORE_VT_EBIKE : CORE_VT_BICYCLE;
    b.state = (enum core_vstate)(id % CORE_VS_COUNT);
    b.pos.lat_deg = 52.520008 + (double)id / 3e7;
    b.pos.lon_deg = 13.404954 - (double)id / 7e5;
    b.battery_pct = id % 3 == 0 ? -1 : (int)(id % 101);
    b.last_report_ms = INT64_C(1700000000000) + id;
    b.lock_closed = id % 2 == 0;
    b.created_ms = INT64_C(1690000000000) + id;
    b.last_use_ms = id % 4 ? INT64_C(1695000000000) + id : 0;
    b.truck_id = (int32_t)(id % 3);
    b.alarms = (uint8_t)(id % 4);
    b.trip_id = 77; /* the in-memory fields are not persisted */
    b.reservation_id = 88;
    b.lsn = 99;
    return b;
}

static struct core_rider rider_rec(int64_t id)
{
    struct core_rider r = {0};
    r.id = id;
    for (size_t i = 0; i < CORE_TOKEN_HASH_BYTES; i++)
        r.token_hash[i] = (unsigned char)(id * 31 + (int64_t)i * 7);
    r.balance_cents = id % 2 ? -1234 * id : 5000;
    r.created_ms = INT64_C(1690000000000) + id;
    r.reward_day = id % 2 ? 20000 + id : 0;
    r.rewards_today = id % 3;
    r.trip_id = 5;
    r.reservation_id = 6;
    r.lsn = 7;
    return r;
}

static struct core_trip trip_rec(int64_t id, int64_t rider_id, int64_t bike_id,
                                 enum core_trip_state state)
{
    struct core_trip t = {0};
    t.id = id;
    t.rider_id = rider_id;
    t.bike_id = bike_id;
    t.state = state;
    if (id % 2)
        snprintf(t.idem_key, sizeof(t.idem_key), "key-%" PRId64 "-%s", id,
                 "0123456789abcdef0123456789abcdef0123456789");
    t.requested_ms = INT64_C(1700000000000) + id * 1000;
    t.started_ms = state == CORE_TRIP_UNLOCKING ? 0 : t.requested_ms + 900;
    t.ended_ms = core_trip_is_active(&t) ? 0 : t.started_ms + 600000;
    t.start_pos = (struct geo_latlng){48.8566 + (double)id / 1e6, 2.3522};
    t.end_pos = (struct geo_latlng){-33.8688, 151.2093 - (double)id / 3e5};
    t.distance_m = 1234.5678 + (double)id / 3.0;
    t.fare_cents = 100 + id;
    snprintf(t.currency, sizeof(t.currency), "EUR");
    t.pricing_version = 1 + id % 2;
    if (!core_trip_is_active(&t))
        snprintf(t.reason, sizeof(t.reason), "%s",
                 state == CORE_TRIP_ENDED ? "locked" : "unlock_timeout");
    t.charged = state == CORE_TRIP_ENDED;
    t.reward_offer_cents = id % 2 ? 50 : 0;
    if (state == CORE_TRIP_ENDED) {
        t.reward_cents = t.reward_offer_cents;
        snprintf(t.reward_note, sizeof(t.reward_note), "%s",
                 id % 2 ? "granted" : "not_offered");
    }
    t.lsn = 12;
    return t;
}

static struct core_reservation res_rec(int64_t id, int64_t rider_id,
                                       int64_t bike_id,
                                       enum core_res_state state)
{
    struct core_reservation r = {0};
    r.id = id;
    r.rider_id = rider_id;
    r.bike_id = bike_id;
    r.state = state;
    r.created_ms = INT64_C(1700000000000) + id;
    r.expires_ms = r.created_ms + 900000;
    r.ended_ms = state == CORE_RES_ACTIVE ? 0 : r.created_ms + 1000;
    r.lsn = 3;
    return r;
}

static struct store_op op_bike(struct core_bike b)
{
    return (struct store_op){.kind = STORE_OP_BIKE, .u.bike = b};
}

static struct store_op op_rider(struct core_rider r)
{
    return (struct store_op){.kind = STORE_OP_RIDER, .u.rider = r};
}

static struct store_op op_trip(struct core_trip t)
{
    return (struct store_op){.kind = STORE_OP_TRIP, .u.trip = t};
}

static struct store_op op_charge(struct core_trip t)
{
    return (struct store_op){.kind = STORE_OP_CHARGE, .u.trip = t};
}

static struct store_op op_res(struct core_reservation r)
{
    return (struct store_op){.kind = STORE_OP_RESERVATION, .u.res = r};
}

static struct store_op op_pricing(struct core_pricing p)
{
    return (struct store_op){.kind = STORE_OP_PRICING, .u.pricing = p};
}

static void check_bike(const struct core_bike *got,
                       const struct core_bike *want)
{
    CHECK_EQ(got->id, want->id);
    CHECK_STR(got->qr_code, want->qr_code);
    CHECK(got->imei == want->imei);
    CHECK_EQ(got->vtype, want->vtype);
    CHECK_EQ(got->state, want->state);
    CHECK(got->pos.lat_deg == want->pos.lat_deg);
    CHECK(got->pos.lon_deg == want->pos.lon_deg);
    CHECK_EQ(got->battery_pct, want->battery_pct);
    CHECK_EQ(got->last_report_ms, want->last_report_ms);
    CHECK_EQ(got->lock_closed, want->lock_closed);
    CHECK_EQ(got->created_ms, want->created_ms);
    CHECK_EQ(got->last_use_ms, want->last_use_ms);
    CHECK_EQ(got->truck_id, want->truck_id);
    CHECK_EQ(got->alarms, want->alarms);
    CHECK_EQ(got->trip_id, 0);
    CHECK_EQ(got->reservation_id, 0);
    CHECK_EQ(got->lsn, 0);
}

static void check_rider(const struct core_rider *got,
                        const struct core_rider *want)
{
    CHECK_EQ(got->id, want->id);
    CHECK(memcmp(got->token_hash, want->token_hash, CORE_TOKEN_HASH_BYTES) ==
          0);
    CHECK_EQ(got->balance_cents, want->balance_cents);
    CHECK_EQ(got->created_ms, want->created_ms);
    CHECK_EQ(got->reward_day, want->reward_day);
    CHECK_EQ(got->rewards_today, want->rewards_today);
    CHECK_EQ(got->trip_id, 0);
    CHECK_EQ(got->reservation_id, 0);
    CHECK_EQ(got->lsn, 0);
}

static void check_trip(const struct core_trip *got,
                       const struct core_trip *want)
{
    CHECK_EQ(got->id, want->id);
    CHECK_EQ(got->rider_id, want->rider_id);
    CHECK_EQ(got->bike_id, want->bike_id);
    CHECK_EQ(got->state, want->state);
    CHECK_STR(got->idem_key, want->idem_key);
    CHECK_EQ(got->requested_ms, want->requested_ms);
    CHECK_EQ(got->started_ms, want->started_ms);
    CHECK_EQ(got->ended_ms, want->ended_ms);
    CHECK(got->start_pos.lat_deg == want->start_pos.lat_deg);
    CHECK(got->start_pos.lon_deg == want->start_pos.lon_deg);
    CHECK(got->end_pos.lat_deg == want->end_pos.lat_deg);
    CHECK(got->end_pos.lon_deg == want->end_pos.lon_deg);
    CHECK(got->distance_m == want->distance_m);
    CHECK_EQ(got->fare_cents, want->fare_cents);
    CHECK_STR(got->currency, want->currency);
    CHECK_EQ(got->pricing_version, want->pricing_version);
    CHECK_STR(got->reason, want->reason);
    CHECK_EQ(got->charged, want->charged);
    CHECK_EQ(got->reward_offer_cents, want->reward_offer_cents);
    CHECK_EQ(got->reward_cents, want->reward_cents);
    CHECK_STR(got->reward_note, want->reward_note);
    CHECK_EQ(got->lsn, 0);
}

static void check_res(const struct core_reservation *got,
                      const struct core_reservation *want)
{
    CHECK_EQ(got->id, want->id);
    CHECK_EQ(got->rider_id, want->rider_id);
    CHECK_EQ(got->bike_id, want->bike_id);
    CHECK_EQ(got->state, want->state);
    CHECK_EQ(got->created_ms, want->created_ms);
    CHECK_EQ(got->expires_ms, want->expires_ms);
    CHECK_EQ(got->ended_ms, want->ended_ms);
    CHECK_EQ(got->lsn, 0);
}

/* The commit callback's view: waits for an lsn, records every call */

struct sink {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t durable;
    size_t ncalls;
    bool monotonic; /* each success reported a higher lsn than the last */
    enum err err;
    uint64_t err_lsn; /* the durable lsn reported with the failure */
    char msg[256];
    bool gate;    /* the first callback waits until the gate opens */
    bool in_gate; /* the writer thread is waiting at the gate */
    bool gate_opened;
};

static void sink_init(struct sink *s, uint64_t start)
{
    memset(s, 0, sizeof(*s));
    CHECK_EQ(pthread_mutex_init(&s->mu, NULL), 0);
    CHECK_EQ(pthread_cond_init(&s->cv, NULL), 0);
    s->durable = start;
    s->monotonic = true;
}

static void sink_release(struct sink *s)
{
    CHECK_EQ(pthread_cond_destroy(&s->cv), 0);
    CHECK_EQ(pthread_mutex_destroy(&s->mu), 0);
}

static void sink_fn(void *ctx, uint64_t lsn, enum err e, const char *msg)
{
    struct sink *s = ctx;
    pthread_mutex_lock(&s->mu);
    s->ncalls++;
    if (e != ERR_OK) {
        s->err = e;
        s->err_lsn = lsn;
        snprintf(s->msg, sizeof(s->msg), "%s", msg ? msg : "(no message)");
    } else {
        if (lsn <= s->durable)
            s->monotonic = false;
        s->durable = lsn;
    }
    if (s->gate && s->ncalls == 1) {
        s->in_gate = true;
        pthread_cond_broadcast(&s->cv);
        while (!s->gate_opened)
            pthread_cond_wait(&s->cv, &s->mu);
    }
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* Waits until lsn is durable or the writer failed; returns the error. */
static enum err sink_wait(struct sink *s, uint64_t lsn)
{
    pthread_mutex_lock(&s->mu);
    while (s->durable < lsn && s->err == ERR_OK)
        pthread_cond_wait(&s->cv, &s->mu);
    enum err e = s->err;
    pthread_mutex_unlock(&s->mu);
    return e;
}

static struct store_writer *writer_ok(const char *path, uint64_t start,
                                      struct sink *s)
{
    struct store_writer *w = NULL;
    struct err_detail d = {0};
    enum err e = store_writer_start(path, start, sink_fn, s, &w, &d);
    if (e != ERR_OK)
        test_fail(__FILE__, __LINE__, "store_writer_start: %s: %s", err_name(e),
                  d.msg);
    return w;
}

/* Commits ops through a writer of its own and checks it worked. */
static void write_all(const char *path, const struct store_op *ops, size_t n)
{
    struct sink s;
    sink_init(&s, 0);
    struct store_writer *w = writer_ok(path, 0, &s);
    uint64_t lsn = store_writer_submit(w, ops, n);
    CHECK_EQ(lsn, 1);
    enum err e = sink_wait(&s, lsn);
    if (e != ERR_OK)
        test_fail(__FILE__, __LINE__, "commit: %s", s.msg);
    store_writer_stop(w);
    CHECK_EQ(s.durable, 1);
    sink_release(&s);
}

/* Stores and closes a fresh database at path with bikes and riders 1..n. */
static void seed(const char *path, int64_t n)
{
    store_close(open_ok(path));
    struct store_op *ops = xcalloc((size_t)n * 2, sizeof(*ops));
    for (int64_t i = 0; i < n; i++) {
        ops[2 * i] = op_bike(bike_rec(i + 1));
        ops[2 * i + 1] = op_rider(rider_rec(i + 1));
    }
    write_all(path, ops, (size_t)n * 2);
    xfree(ops);
}

/* Collecting loaded rows */

#define MAXROWS 64

struct rows {
    size_t n;
    size_t stop_at; /* fail with ERR_CONFLICT at this row (0: never) */
    struct core_bike bikes[MAXROWS];
    struct core_rider riders[MAXROWS];
    struct core_trip trips[MAXROWS];
    struct core_reservation res[MAXROWS];
    struct core_pricing pricing[MAXROWS];
};

static enum err rows_next(struct rows *r, size_t *slot)
{
    if (r->n == MAXROWS || (r->stop_at && r->n + 1 == r->stop_at))
        return ERR_CONFLICT;
    *slot = r->n++;
    return ERR_OK;
}

static enum err take_bike(void *ctx, const struct core_bike *b)
{
    struct rows *r = ctx;
    size_t i;
    enum err e = rows_next(r, &i);
    if (e == ERR_OK)
        r->bikes[i] = *b;
    return e;
}

static enum err take_rider(void *ctx, const struct core_rider *x)
{
    struct rows *r = ctx;
    size_t i;
    enum err e = rows_next(r, &i);
    if (e == ERR_OK)
        r->riders[i] = *x;
    return e;
}

static enum err take_trip(void *ctx, const struct core_trip *t)
{
    struct rows *r = ctx;
    size_t i;
    enum err e = rows_next(r, &i);
    if (e == ERR_OK)
        r->trips[i] = *t;
    return e;
}

static enum err take_res(void *ctx, const struct core_reservation *x)
{
    struct rows *r = ctx;
    size_t i;
    enum err e = rows_next(r, &i);
    if (e == ERR_OK)
        r->res[i] = *x;
    return e;
}

static enum err take_pricing(void *ctx, const struct core_pricing *p)
{
    struct rows *r = ctx;
    size_t i;
    enum err e = rows_next(r, &i);
    if (e == ERR_OK)
        r->pricing[i] = *p;
    return e;
}

/* Opening and migrations */

TEST(store_open_creates_schema)
{
    const char *path = tmp_path("s.db");
    struct store *st = open_ok(path);
    CHECK_EQ(store_schema_version(st), 4);
    store_close(st);
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM schema_version"), 4);
    CHECK_EQ(raw_int(path, "PRAGMA application_id"), 0x53504b45);
    char mode[16];
    raw_text(path, "PRAGMA journal_mode", mode, sizeof(mode));
    CHECK_STR(mode, "wal");
    store_close(NULL);
}

TEST(store_open_twice_is_noop)
{
    const char *path = tmp_path("s.db");
    struct store *a = open_ok(path);
    struct store *b = open_ok(path); /* a second handle, concurrently */
    CHECK_EQ(store_schema_version(b), 4);
    store_close(b);
    store_close(a);
    struct store *c = open_ok(path);
    CHECK_EQ(store_schema_version(c), 4);
    store_close(c);
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM schema_version"), 4);
    CHECK_EQ(raw_int(path, "SELECT max(version) FROM schema_version"), 4);
}

TEST(store_open_newer_schema_is_conflict)
{
    const char *path = tmp_path("s.db");
    store_close(open_ok(path));
    raw_exec(path, "INSERT INTO schema_version (version, name)"
                   " VALUES (99, 'from the future')");
    struct store *st = NULL;
    struct err_detail d = {0};
    CHECK_ERR(store_open(path, &st, &d), ERR_CONFLICT);
    CHECK(st == NULL);
    CHECK(strstr(d.msg, "newer") != NULL);
}

TEST(store_open_garbage_is_io)
{
    const char *path = tmp_path("garbage.db");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    char junk[4096];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (char)("not a database! "[i % 16]);
    CHECK_EQ(write(fd, junk, sizeof(junk)), (long long)sizeof(junk));
    CHECK_EQ(close(fd), 0);
    struct store *st = NULL;
    struct err_detail d = {0};
    CHECK_ERR(store_open(path, &st, &d), ERR_IO);
    CHECK(st == NULL);
    CHECK(strstr(d.msg, "garbage.db") != NULL);
    CHECK(strstr(d.msg, "not a database") != NULL);
}

TEST(store_open_foreign_database_is_io)
{
    const char *path = tmp_path("other.db");
    raw_exec(path, "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)");
    struct store *st = NULL;
    struct err_detail d = {0};
    CHECK_ERR(store_open(path, &st, &d), ERR_IO);
    CHECK(strstr(d.msg, "not a spoke database") != NULL);
    /* The foreign database is untouched. */
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM sqlite_master"), 1);
}

TEST(store_open_bad_path_is_io)
{
    struct store *st = NULL;
    struct err_detail d = {0};
    CHECK_ERR(store_open(tmp_path("no/such/dir/s.db"), &st, &d), ERR_IO);
    CHECK(strstr(d.msg, "cannot open store") != NULL);
}

/* Round trips: write through the writer, reopen, load, compare */

TEST(store_roundtrip_bikes)
{
    const char *path = tmp_path("s.db");
    store_close(open_ok(path));
    struct store_op ops[12];
    for (size_t i = 0; i < ARRAY_LEN(ops); i++)
        ops[i] = op_bike(bike_rec((int64_t)i + 1));
    write_all(path, ops, ARRAY_LEN(ops));

    struct store *st = open_ok(path);
    static struct rows r;
    CHECK_OK(store_load_bikes(st, take_bike, &r));
    CHECK_EQ(r.n, ARRAY_LEN(ops));
    for (size_t i = 0; i < r.n; i++)
        check_bike(&r.bikes[i], &ops[i].u.bike);
    store_close(st);
    char imei[32];
    raw_text(path, "SELECT imei FROM bikes WHERE id = 1", imei, sizeof(imei));
    CHECK_STR(imei, "000000000000042");
    char state[32];
    raw_text(path, "SELECT state FROM bikes WHERE id = 4", state,
             sizeof(state));
    CHECK_STR(state, core_vstate_name(CORE_VS_MISSING));
}

TEST(store_roundtrip_update_replaces_whole_record)
{
    const char *path = tmp_path("s.db");
    store_close(open_ok(path));
    struct core_bike b = bike_rec(3);
    struct store_op op = op_bike(b);
    write_all(path, &op, 1);
    b.state = CORE_VS_ON_TRIP;
    b.pos = (struct geo_latlng){-1.5, 2.25};
    b.battery_pct = 0;
    b.lock_closed = !b.lock_closed;
    b.last_report_ms += 5000;
    snprintf(b.qr_code, sizeof(b.qr_code), "RELABELLED");
    op = op_bike(b);
    write_all(path, &op, 1);

    struct store *st = open_ok(path);
    static struct rows r;
    CHECK_OK(store_load_bikes(st, take_bike, &r));
    CHECK_EQ(r.n, 1);
    check_bike(&r.bikes[0], &b);
    store_close(st);
}

TEST(store_roundtrip_riders)
{
    const char *path = tmp_path("s.db");
    seed(path, 5);
    struct store *st = open_ok(path);
    static struct rows r;
    CHECK_OK(store_load_riders(st, take_rider, &r));
    CHECK_EQ(r.n, 5);
    for (size_t i = 0; i < r.n; i++) {
        struct core_rider want = rider_rec((int64_t)i + 1);
        check_rider(&r.riders[i], &want);
    }
    store_close(st);
}

TEST(store_roundtrip_trips)
{
    const char *path = tmp_path("s.db");
    seed(path, 4);
    struct core_trip trips[] = {
        trip_rec(1, 1, 1, CORE_TRIP_ENDED),
        trip_rec(2, 2, 2, CORE_TRIP_FAILED),
        trip_rec(3, 3, 3, CORE_TRIP_RIDING),
        trip_rec(4, 4, 4, CORE_TRIP_UNLOCKING),
        trip_rec(5, 1, 2, CORE_TRIP_ENDED),
    };
    struct store_op ops[ARRAY_LEN(trips)];
    for (size_t i = 0; i < ARRAY_LEN(trips); i++)
        ops[i] = op_trip(trips[i]);
    write_all(path, ops, ARRAY_LEN(ops));

    struct store *st = open_ok(path);
    static struct rows r;
    CHECK_OK(store_load_active_trips(st, take_trip, &r));
    CHECK_EQ(r.n, 2);
    check_trip(&r.trips[0], &trips[2]);
    check_trip(&r.trips[1], &trips[3]);
    for (size_t i = 0; i < ARRAY_LEN(trips); i++) {
        struct core_trip t;
        CHECK_OK(store_trip_get(st, trips[i].id, &t));
        check_trip(&t, &trips[i]);
    }
    store_close(st);
    /* Empty optional text is stored as NULL. */
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM trips WHERE idem_key IS NULL"
                           " AND reason IS NULL"),
             1);
}

TEST(store_roundtrip_trip_updates)
{
    const char *path = tmp_path("s.db");
    seed(path, 2);
    struct core_trip t = trip_rec(7, 1, 2, CORE_TRIP_UNLOCKING);
    struct store_op op = op_trip(t);
    write_all(path, &op, 1);
    struct store *st = open_ok(path);
    /* Riding, moving, then ended: each write replaces the whole record. */
    struct store_op ops[3];
    t.state = CORE_TRIP_RIDING;
    t.started_ms = t.requested_ms + 1500;
    ops[0] = op_trip(t);
    t.distance_m = 17.25;
    t.end_pos = (struct geo_latlng){1.0 / 3.0, -2.0 / 3.0};
    ops[1] = op_trip(t);
    write_all(path, ops, 2);
    struct core_trip got;
    CHECK_OK(store_trip_get(st, 7, &got));
    check_trip(&got, &t);
    t.state = CORE_TRIP_ENDED;
    t.ended_ms = t.started_ms + 60000;
    t.fare_cents = 250;
    t.charged = true;
    snprintf(t.reason, sizeof(t.reason), "operator");
    snprintf(t.idem_key, sizeof(t.idem_key), "late-key");
    ops[0] = op_trip(t);
    write_all(path, ops, 1);
    CHECK_OK(store_trip_get(st, 7, &got));
    check_trip(&got, &t);
    CHECK_OK(store_trip_by_idem(st, 1, STR_LIT("late-key"), &got));
    CHECK_EQ(got.id, 7);
    static struct rows r;
    CHECK_OK(store_load_active_trips(st, take_trip, &r));
    CHECK_EQ(r.n, 0);
    store_close(st);
}

TEST(store_roundtrip_reservations)
{
    const char *path = tmp_path("s.db");
    seed(path, 3);
    struct core_reservation res[] = {
        res_rec(1, 1, 1, CORE_RES_USED),
        res_rec(2, 2, 2, CORE_RES_ACTIVE),
        res_rec(3, 3, 3, CORE_RES_EXPIRED),
        res_rec(4, 1, 3, CORE_RES_CANCELLED),
        res_rec(5, 3, 1, CORE_RES_ACTIVE),
    };
    struct store_op ops[ARRAY_LEN(res)];
    for (size_t i = 0; i < ARRAY_LEN(res); i++)
        ops[i] = op_res(res[i]);
    write_all(path, ops, ARRAY_LEN(ops));

    struct store *st = open_ok(path);
    static struct rows r;
    CHECK_OK(store_load_active_reservations(st, take_res, &r));
    CHECK_EQ(r.n, 2);
    check_res(&r.res[0], &res[1]);
    check_res(&r.res[1], &res[4]);
    for (size_t i = 0; i < ARRAY_LEN(res); i++) {
        struct core_reservation got;
        CHECK_OK(store_reservation_get(st, res[i].id, &got));
        check_res(&got, &res[i]);
    }
    store_close(st);
}

TEST(store_roundtrip_pricing)
{
    const char *path = tmp_path("s.db");
    store_close(open_ok(path));
    struct core_pricing p[3];
    core_pricing_default(&p[0]);
    p[0].version = 1;
    p[0].created_ms = 1000;
    memset(&p[1], 0, sizeof(p[1]));
    p[1].version = 2;
    snprintf(p[1].plan_id, sizeof(p[1].plan_id), "night-owl_2");
    snprintf(p[1].name, sizeof(p[1].name), "Night owl; \"late\", cheap");
    snprintf(p[1].currency, sizeof(p[1].currency), "CHF");
    p[1].unlock_cents = 0;
    p[1].nsegments = CORE_PRICING_SEGMENTS_MAX;
    for (size_t i = 0; i < CORE_PRICING_SEGMENTS_MAX; i++)
        p[1].segments[i] = (struct core_price_segment){
            .start_min = (int64_t)i * 30,
            .end_min =
                i + 1 < CORE_PRICING_SEGMENTS_MAX ? (int64_t)i * 30 + 30 : 0,
            .rate_cents = 1000000 - (int64_t)i,
            .interval_min = 1440 - (int64_t)i};
    p[1].created_ms = 2000;
    memset(&p[2], 0, sizeof(p[2]));
    p[2].version = 3;
    snprintf(p[2].plan_id, sizeof(p[2].plan_id), "free");
    snprintf(p[2].currency, sizeof(p[2].currency), "EUR");
    p[2].created_ms = 3000; /* no segments, empty name */
    /* Out of order on purpose: loading is oldest first. */
    struct store_op ops[] = {op_pricing(p[2]), op_pricing(p[0]),
                             op_pricing(p[1])};
    write_all(path, ops, ARRAY_LEN(ops));

    struct store *st = open_ok(path);
    static struct rows r;
    CHECK_OK(store_load_pricing(st, take_pricing, &r));
    CHECK_EQ(r.n, 3);
    for (size_t i = 0; i < 3; i++) {
        const struct core_pricing *got = &r.pricing[i];
        CHECK_EQ(got->version, p[i].version);
        CHECK_STR(got->plan_id, p[i].plan_id);
        CHECK_STR(got->name, p[i].name);
        CHECK_STR(got->currency, p[i].currency);
        CHECK_EQ(got->unlock_cents, p[i].unlock_cents);
        CHECK_EQ(got->nsegments, p[i].nsegments);
        for (size_t k = 0; k < got->nsegments; k++) {
            CHECK_EQ(got->segments[k].start_min, p[i].segments[k].start_min);
            CHECK_EQ(got->segments[k].end_min, p[i].segments[k].end_min);
            CHECK_EQ(got->segments[k].rate_cents, p[i].segments[k].rate_cents);
            CHECK_EQ(got->segments[k].interval_min,
                     p[i].segments[k].interval_min);
        }
        CHECK_EQ(got->created_ms, p[i].created_ms);
    }
    store_close(st);
    char segs[64];
    raw_text(path, "SELECT segments FROM pricing_plans WHERE version = 1", segs,
             sizeof(segs));
    CHECK_STR(segs, "0,0,15,1");
}

TEST(store_roundtrip_events)
{
    const char *path = tmp_path("s.db");
    seed(path, 2);
    struct core_trip t = trip_rec(1, 1, 2, CORE_TRIP_RIDING);
    struct core_vehicle_event ev[] = {
        {.bike_id = 2,
         .event = CORE_VE_TRIP_START,
         .state = CORE_VS_ON_TRIP,
         .ts_ms = 5000,
         .pos = {52.5, 13.25},
         .trip_id = 1},
        {.bike_id = 1,
         .event = CORE_VE_MAINTENANCE_START,
         .state = CORE_VS_NON_OPERATIONAL,
         .ts_ms = 6000,
         .pos = {-0.125, 179.5},
         .trip_id = 0},
    };
    struct store_op ops[] = {
        op_trip(t),
        {.kind = STORE_OP_EVENT, .u.event = ev[0]},
        {.kind = STORE_OP_EVENT, .u.event = ev[1]},
        {.kind = STORE_OP_EVENT, .u.event = ev[1]}, /* a log: appended twice */
    };
    write_all(path, ops, ARRAY_LEN(ops));
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM vehicle_events"), 3);
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM vehicle_events WHERE id = 1"
                           " AND bike_id = 2 AND event_type = 'trip_start'"
                           " AND state = 'on_trip' AND ts_ms = 5000"
                           " AND lat = 52.5 AND lon = 13.25 AND trip_id = 1"),
             1);
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM vehicle_events WHERE id = 2"
                           " AND bike_id = 1"
                           " AND event_type = 'maintenance_start'"
                           " AND state = 'non_operational' AND ts_ms = 6000"
                           " AND lat = -0.125 AND lon = 179.5"
                           " AND trip_id IS NULL"),
             1);
}

/* Loading: callback errors and bad rows */

TEST(store_load_stops_at_callback_error)
{
    const char *path = tmp_path("s.db");
    seed(path, 5);
    struct store *st = open_ok(path);
    static struct rows r;
    r.stop_at = 3;
    CHECK_ERR(store_load_bikes(st, take_bike, &r), ERR_CONFLICT);
    CHECK_EQ(r.n, 2);
    r.n = 0;
    CHECK_ERR(store_load_riders(st, take_rider, &r), ERR_CONFLICT);
    CHECK_EQ(r.n, 2);
    store_close(st);
}

TEST(store_load_bad_row_is_io)
{
    const char *path = tmp_path("s.db");
    seed(path, 2);
    raw_exec(path, "PRAGMA ignore_check_constraints = 1;"
                   "UPDATE bikes SET state = 'flying' WHERE id = 2;"
                   "INSERT INTO pricing_plans VALUES"
                   " (1, 'x', 'x', 'EUR', 0, '0,0,15', 0);"
                   "INSERT INTO trips (id, rider_id, bike_id, state,"
                   " requested_ms, started_ms, ended_ms, start_lat, start_lon,"
                   " end_lat, end_lon, distance_m, fare_cents, currency,"
                   " pricing_version, charged) VALUES (1, 1, 1, 'riding',"
                   " 0, 0, 0, 0, 0, 0, 0, 0, 0, 'EURO', 1, 0);"
                   "INSERT INTO reservations VALUES (1, 1, 1, 'held', 0, 0, 0);"
                   "INSERT INTO reservations VALUES"
                   " (2, 1, 1, 'active', 0, 'soon', 0);"
                   "UPDATE riders SET token_hash = x'00' WHERE id = 1");
    struct store *st = open_ok(path);
    static struct rows r;
    CHECK_ERR(store_load_bikes(st, take_bike, &r), ERR_IO);
    CHECK_EQ(r.n, 1);
    CHECK_ERR(store_load_pricing(st, take_pricing, &r), ERR_IO);
    CHECK_ERR(store_load_active_trips(st, take_trip, &r), ERR_IO);
    CHECK_ERR(store_load_active_reservations(st, take_res, &r), ERR_IO);
    CHECK_ERR(store_load_riders(st, take_rider, &r), ERR_IO);
    struct core_trip t;
    CHECK_ERR(store_trip_get(st, 1, &t), ERR_IO);
    struct core_reservation res;
    CHECK_ERR(store_reservation_get(st, 1, &res), ERR_IO);
    CHECK_ERR(store_reservation_get(st, 2, &res), ERR_IO);
    store_close(st);
}

TEST(store_load_empty)
{
    struct store *st = open_ok(tmp_path("s.db"));
    static struct rows r;
    CHECK_OK(store_load_bikes(st, take_bike, &r));
    CHECK_OK(store_load_riders(st, take_rider, &r));
    CHECK_OK(store_load_active_trips(st, take_trip, &r));
    CHECK_OK(store_load_active_reservations(st, take_res, &r));
    CHECK_OK(store_load_pricing(st, take_pricing, &r));
    CHECK_EQ(r.n, 0);
    store_close(st);
}

/* Reads */

TEST(store_max_ids)
{
    const char *path = tmp_path("s.db");
    seed(path, 2);
    struct store *st = open_ok(path);
    int64_t trip = -1, res = -1;
    CHECK_OK(store_max_ids(st, &trip, &res));
    CHECK_EQ(trip, 0);
    CHECK_EQ(res, 0);
    struct store_op ops[] = {
        op_trip(trip_rec(41, 1, 1, CORE_TRIP_ENDED)),
        op_trip(trip_rec(7, 2, 2, CORE_TRIP_RIDING)),
        op_res(res_rec(9, 1, 1, CORE_RES_USED)),
    };
    write_all(path, ops, ARRAY_LEN(ops));
    CHECK_OK(store_max_ids(st, &trip, &res));
    CHECK_EQ(trip, 41);
    CHECK_EQ(res, 9);
    store_close(st);
}

TEST(store_get_not_found)
{
    const char *path = tmp_path("s.db");
    seed(path, 1);
    struct store *st = open_ok(path);
    struct core_trip t = {.id = 12345};
    CHECK_ERR(store_trip_get(st, 1, &t), ERR_NOT_FOUND);
    CHECK_EQ(t.id, 12345);
    struct core_reservation r = {.id = 678};
    CHECK_ERR(store_reservation_get(st, 1, &r), ERR_NOT_FOUND);
    CHECK_EQ(r.id, 678);
    store_close(st);
}

TEST(store_trip_by_idem)
{
    const char *path = tmp_path("s.db");
    seed(path, 2);
    struct core_trip a = trip_rec(1, 1, 1, CORE_TRIP_RIDING);
    struct core_trip b = trip_rec(2, 2, 2, CORE_TRIP_RIDING); /* no key */
    struct core_trip c = trip_rec(3, 2, 1, CORE_TRIP_ENDED);
    snprintf(c.idem_key, sizeof(c.idem_key), "%s", a.idem_key);
    struct store_op ops[] = {op_trip(a), op_trip(b), op_trip(c)};
    write_all(path, ops, ARRAY_LEN(ops));

    struct store *st = open_ok(path);
    struct core_trip t;
    CHECK_OK(store_trip_by_idem(st, 1, str_from_cstr(a.idem_key), &t));
    check_trip(&t, &a);
    /* The same key belongs to each rider separately. */
    CHECK_OK(store_trip_by_idem(st, 2, str_from_cstr(a.idem_key), &t));
    check_trip(&t, &c);
    CHECK_ERR(store_trip_by_idem(st, 1, STR_LIT("other"), &t), ERR_NOT_FOUND);
    CHECK_ERR(store_trip_by_idem(st, 3, str_from_cstr(a.idem_key), &t),
              ERR_NOT_FOUND);
    /* An empty key names no trip, not the trips without one. */
    CHECK_ERR(store_trip_by_idem(st, 2, STR_LIT(""), &t), ERR_NOT_FOUND);
    /* The key is a slice: the bytes after it do not count. */
    struct str prefix = {a.idem_key, 5};
    CHECK_ERR(store_trip_by_idem(st, 1, prefix, &t), ERR_NOT_FOUND);
    store_close(st);
}

TEST(store_trips_by_rider_pages_newest_first)
{
    const char *path = tmp_path("s.db");
    seed(path, 2);
    struct store_op ops[50];
    for (size_t i = 0; i < ARRAY_LEN(ops); i++) {
        int64_t id = (int64_t)i + 1;
        struct core_trip t = trip_rec(
            id, id % 2 ? 1 : 2, 1,
            i + 1 < ARRAY_LEN(ops) ? CORE_TRIP_ENDED : CORE_TRIP_RIDING);
        t.idem_key[0] = '\0';
        ops[i] = op_trip(t);
    }
    write_all(path, ops, ARRAY_LEN(ops));

    struct store *st = open_ok(path);
    struct core_trip page[10];
    size_t n = 99;
    /* Rider 1 has the odd ids 1..49. */
    CHECK_OK(store_trips_by_rider(st, 1, 0, page, ARRAY_LEN(page), &n));
    CHECK_EQ(n, 10);
    for (size_t i = 0; i < n; i++) {
        CHECK_EQ(page[i].id, 49 - 2 * (int64_t)i);
        check_trip(&page[i], &ops[page[i].id - 1].u.trip);
    }
    int64_t before = page[n - 1].id;
    size_t total = n;
    for (;;) {
        CHECK_OK(
            store_trips_by_rider(st, 1, before, page, ARRAY_LEN(page), &n));
        if (n == 0)
            break;
        CHECK(page[0].id < before);
        for (size_t i = 0; i + 1 < n; i++)
            CHECK(page[i].id > page[i + 1].id);
        total += n;
        before = page[n - 1].id;
    }
    CHECK_EQ(total, 25);
    CHECK_EQ(before, 1);
    /* Rider 2 has the even ids, the newest (50) still riding. */
    CHECK_OK(store_trips_by_rider(st, 2, 0, page, 3, &n));
    CHECK_EQ(n, 3);
    CHECK_EQ(page[0].id, 50);
    CHECK_EQ(page[0].state, CORE_TRIP_RIDING);
    CHECK_EQ(page[2].id, 46);
    CHECK_OK(store_trips_by_rider(st, 2, 0, page, 0, &n));
    CHECK_EQ(n, 0);
    CHECK_OK(store_trips_by_rider(st, 3, 0, page, ARRAY_LEN(page), &n));
    CHECK_EQ(n, 0);
    store_close(st);
}

/* Operator tokens */

static void token_hash(unsigned char h[CORE_TOKEN_HASH_BYTES], int seed_byte)
{
    for (size_t i = 0; i < CORE_TOKEN_HASH_BYTES; i++)
        h[i] = (unsigned char)(seed_byte + (int)i);
}

TEST(store_token_create_and_lookup)
{
    const char *path = tmp_path("s.db");
    struct store *st = open_ok(path);
    unsigned char h1[CORE_TOKEN_HASH_BYTES], h2[CORE_TOKEN_HASH_BYTES];
    token_hash(h1, 1);
    token_hash(h2, 2);
    int64_t id1 = 0, id2 = 0;
    struct err_detail d = {0};
    CHECK_OK(store_token_create(st, h1, STORE_ROLE_OPERATOR, "ops laptop", 1000,
                                &id1, &d));
    CHECK_OK(
        store_token_create(st, h2, STORE_ROLE_OPERATOR, "", 2000, &id2, &d));
    CHECK(id1 > 0);
    CHECK(id2 > id1);
    enum store_role role = 0;
    int64_t id = 0;
    CHECK_OK(store_token_lookup(st, h2, &role, &id));
    CHECK_EQ(role, STORE_ROLE_OPERATOR);
    CHECK_EQ(id, id2);

    /* Committed at once: another connection sees it. */
    struct store *other = open_ok(path);
    CHECK_OK(store_token_lookup(other, h1, &role, &id));
    CHECK_EQ(id, id1);
    store_close(other);
    store_close(st);
    char label[32];
    raw_text(path, "SELECT label || '/' || role FROM tokens WHERE id = 1",
             label, sizeof(label));
    CHECK_STR(label, "ops laptop/operator");
}

TEST(store_token_errors)
{
    struct store *st = open_ok(tmp_path("s.db"));
    unsigned char h[CORE_TOKEN_HASH_BYTES];
    token_hash(h, 9);
    int64_t id = -1;
    struct err_detail d = {0};
    CHECK_OK(store_token_create(st, h, STORE_ROLE_OPERATOR, "a", 1, &id, &d));
    int64_t id2 = -1;
    CHECK_ERR(store_token_create(st, h, STORE_ROLE_OPERATOR, "b", 2, &id2, &d),
              ERR_CONFLICT);
    CHECK_EQ(id2, -1);
    char label[STORE_TOKEN_LABEL_MAX + 2];
    memset(label, 'x', sizeof(label) - 1);
    label[sizeof(label) - 1] = '\0';
    token_hash(h, 10);
    CHECK_ERR(
        store_token_create(st, h, STORE_ROLE_OPERATOR, label, 3, &id2, &d),
        ERR_INVALID);
    CHECK_STR(d.field, "label");
    label[STORE_TOKEN_LABEL_MAX] = '\0'; /* exactly the maximum is fine */
    CHECK_OK(
        store_token_create(st, h, STORE_ROLE_OPERATOR, label, 3, &id2, &d));
    token_hash(h, 11);
    CHECK_ERR(store_token_create(st, h, (enum store_role)7, "c", 4, &id2, &d),
              ERR_INVALID);
    enum store_role role = 0;
    CHECK_ERR(store_token_lookup(st, h, &role, &id2), ERR_NOT_FOUND);
    CHECK_EQ(role, 0);
    store_close(st);
}

/* Charges */

TEST(store_charge_exactly_once)
{
    const char *path = tmp_path("s.db");
    seed(path, 1);
    struct core_trip t = trip_rec(1, 1, 1, CORE_TRIP_ENDED);
    t.fare_cents = 345;
    struct store_op ops[] = {op_trip(t), op_charge(t), op_charge(t)};
    write_all(path, ops, ARRAY_LEN(ops));
    /* A later charge of the same trip, even with another fare, is a no-op. */
    t.fare_cents = 999;
    struct store_op again = op_charge(t);
    write_all(path, &again, 1);
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM charges"), 1);
    CHECK_EQ(raw_int(path, "SELECT amount_cents FROM charges WHERE trip_id = 1"
                           " AND rider_id = 1 AND currency = 'EUR'"),
             345);
    CHECK_EQ(raw_int(path, "SELECT created_ms FROM charges"), t.ended_ms);
}

/* The writer */

TEST(store_writer_lsns_increase)
{
    const char *path = tmp_path("s.db");
    seed(path, 3);
    struct sink s;
    sink_init(&s, 100);
    struct store_writer *w = writer_ok(path, 100, &s);
    uint64_t last = 100;
    for (int64_t i = 1; i <= 30; i++) {
        struct store_op op = op_bike(bike_rec(1 + i % 3));
        op.u.bike.battery_pct = (int)i;
        uint64_t lsn = store_writer_submit(w, &op, 1);
        CHECK_EQ(lsn, last + 1);
        last = lsn;
        if (i % 10 == 0)
            CHECK_OK(sink_wait(&s, lsn));
    }
    /* n == 0 is a barrier: its lsn is durable once all before it are. */
    uint64_t barrier = store_writer_submit(w, NULL, 0);
    CHECK_EQ(barrier, 131);
    CHECK_OK(sink_wait(&s, barrier));
    store_writer_stop(w);
    CHECK(s.monotonic);
    CHECK_EQ(s.durable, 131);
    CHECK_EQ(raw_int(path, "SELECT battery_pct FROM bikes WHERE id = 1"), 30);
    sink_release(&s);
    store_writer_stop(NULL);
}

TEST(store_writer_batches_while_committing)
{
    const char *path = tmp_path("s.db");
    seed(path, 1);
    struct sink s;
    sink_init(&s, 0);
    s.gate = true;
    struct store_writer *w = writer_ok(path, 0, &s);
    struct store_op op = op_bike(bike_rec(1));
    CHECK_EQ(store_writer_submit(w, &op, 1), 1);
    /* The writer is held in the first callback; these queue meanwhile. */
    pthread_mutex_lock(&s.mu);
    while (!s.in_gate)
        pthread_cond_wait(&s.cv, &s.mu);
    pthread_mutex_unlock(&s.mu);
    for (int i = 0; i < 10; i++) {
        op.u.bike.battery_pct = i;
        CHECK_EQ(store_writer_submit(w, &op, 1), (uint64_t)i + 2);
    }
    pthread_mutex_lock(&s.mu);
    s.gate_opened = true;
    pthread_cond_broadcast(&s.cv);
    pthread_mutex_unlock(&s.mu);
    CHECK_OK(sink_wait(&s, 11));
    store_writer_stop(w);
    CHECK_EQ(s.ncalls, 2); /* lsn 1, then 2..11 in one transaction */
    CHECK_EQ(s.durable, 11);
    CHECK_EQ(raw_int(path, "SELECT battery_pct FROM bikes"), 9);
    sink_release(&s);
}

#define THREADS 4
#define PER_THREAD 5000

struct submitter {
    struct store_writer *w;
    int64_t first_id;
    uint64_t max_lsn;
    bool ok;
};

static void *submit_main(void *arg)
{
    struct submitter *sub = arg;
    sub->ok = true;
    for (int64_t i = 0; i < PER_THREAD; i++) {
        struct store_op op = op_bike(bike_rec(sub->first_id + i));
        uint64_t lsn = store_writer_submit(sub->w, &op, 1);
        if (lsn == 0 || lsn <= sub->max_lsn)
            sub->ok = false;
        sub->max_lsn = lsn;
    }
    return NULL;
}

TEST(store_writer_threads)
{
    const char *path = tmp_path("s.db");
    store_close(open_ok(path));
    struct sink s;
    sink_init(&s, 0);
    struct store_writer *w = writer_ok(path, 0, &s);
    pthread_t th[THREADS];
    struct submitter sub[THREADS];
    for (int i = 0; i < THREADS; i++) {
        sub[i] =
            (struct submitter){.w = w, .first_id = 1 + (int64_t)i * PER_THREAD};
        CHECK_EQ(pthread_create(&th[i], NULL, submit_main, &sub[i]), 0);
    }
    uint64_t max_lsn = 0;
    for (int i = 0; i < THREADS; i++) {
        CHECK_EQ(pthread_join(th[i], NULL), 0);
        CHECK(sub[i].ok);
        max_lsn = MAX(max_lsn, sub[i].max_lsn);
    }
    CHECK_EQ(max_lsn, THREADS * PER_THREAD);
    CHECK_OK(sink_wait(&s, max_lsn));
    store_writer_stop(w);
    CHECK(s.monotonic);
    CHECK_EQ(s.durable, max_lsn);
    CHECK(s.ncalls < THREADS * PER_THREAD); /* it batched */
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM bikes"), THREADS * PER_THREAD);
    sink_release(&s);
}

TEST(store_writer_stop_commits_queued)
{
    const char *path = tmp_path("s.db");
    store_close(open_ok(path));
    struct sink s;
    sink_init(&s, 0);
    struct store_writer *w = writer_ok(path, 0, &s);
    uint64_t lsn = 0;
    for (int64_t i = 1; i <= 500; i++) {
        struct store_op op = op_bike(bike_rec(i));
        lsn = store_writer_submit(w, &op, 1);
    }
    store_writer_stop(w); /* no wait before: stop commits what is queued */
    CHECK_EQ(s.err, ERR_OK);
    CHECK_EQ(s.durable, lsn);
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM bikes"), 500);
    sink_release(&s);
}

TEST(store_writer_start_errors)
{
    struct sink s;
    sink_init(&s, 0);
    struct store_writer *w = NULL;
    struct err_detail d = {0};
    /* The writer does not create a database. */
    CHECK_ERR(
        store_writer_start(tmp_path("missing.db"), 0, sink_fn, &s, &w, &d),
        ERR_IO);
    CHECK(w == NULL);
    CHECK(access(tmp_path("missing.db"), F_OK) != 0);
    /* Nor does it migrate one. */
    const char *empty = tmp_path("empty.db");
    raw_exec(empty, "PRAGMA user_version = 0; VACUUM");
    CHECK_ERR(store_writer_start(empty, 0, sink_fn, &s, &w, &d), ERR_IO);
    CHECK(strstr(d.msg, "schema version 0") != NULL);
    CHECK_EQ(s.ncalls, 0);
    sink_release(&s);
}

TEST(store_writer_constraint_failure)
{
    const char *path = tmp_path("s.db");
    seed(path, 2);
    struct store *st = open_ok(path);
    struct sink s;
    sink_init(&s, 0);
    struct store_writer *w = writer_ok(path, 0, &s);
    struct store_op good = op_trip(trip_rec(1, 1, 1, CORE_TRIP_RIDING));
    uint64_t ok_lsn = store_writer_submit(w, &good, 1);
    CHECK_OK(sink_wait(&s, ok_lsn));
    /* Bike 3 takes bike 1's QR code: the whole batch must fail. */
    struct core_bike clash = bike_rec(3);
    snprintf(clash.qr_code, sizeof(clash.qr_code), "QR-000001");
    struct store_op bad[] = {op_trip(trip_rec(2, 2, 2, CORE_TRIP_RIDING)),
                             op_bike(clash)};
    uint64_t bad_lsn = store_writer_submit(w, bad, ARRAY_LEN(bad));
    CHECK_ERR(sink_wait(&s, bad_lsn), ERR_CONFLICT);
    CHECK_EQ(s.err_lsn, ok_lsn);
    CHECK(strstr(s.msg, "UNIQUE") != NULL);
    CHECK(strstr(s.msg, "op 2 of 2, bike") != NULL);
    CHECK_EQ(store_writer_submit(w, &good, 1), 0);
    store_writer_stop(w);
    CHECK_EQ(s.durable, ok_lsn);
    struct core_trip t;
    CHECK_OK(store_trip_get(st, 1, &t));
    CHECK_ERR(store_trip_get(st, 2, &t), ERR_NOT_FOUND);
    store_close(st);
    sink_release(&s);
}

TEST(store_writer_bad_op_fails)
{
    const char *path = tmp_path("s.db");
    seed(path, 1);
    struct sink s;
    sink_init(&s, 0);
    struct store_writer *w = writer_ok(path, 0, &s);
    /* An enum out of range would not load again: refused, not stored. */
    struct core_bike b = bike_rec(1);
    b.state = CORE_VS_COUNT;
    struct store_op op = op_bike(b);
    CHECK_ERR(sink_wait(&s, store_writer_submit(w, &op, 1)), ERR_CONFLICT);
    CHECK(strstr(s.msg, "NOT NULL") != NULL);
    store_writer_stop(w);
    sink_release(&s);

    sink_init(&s, 0);
    w = writer_ok(path, 0, &s);
    op = op_bike(bike_rec(1));
    op.kind = (enum store_op_kind)99;
    CHECK_ERR(sink_wait(&s, store_writer_submit(w, &op, 1)), ERR_IO);
    CHECK(strstr(s.msg, "unknown op kind") != NULL);
    store_writer_stop(w);
    sink_release(&s);
    char state[32];
    raw_text(path, "SELECT state FROM bikes WHERE id = 1", state,
             sizeof(state));
    CHECK_STR(state, core_vstate_name(bike_rec(1).state));
}

TEST(store_writer_foreign_key_failure)
{
    const char *path = tmp_path("s.db");
    seed(path, 1);
    struct sink s;
    sink_init(&s, 0);
    struct store_writer *w = writer_ok(path, 0, &s);
    /* Checked at commit, so the order inside a batch does not matter... */
    struct store_op ops[] = {op_trip(trip_rec(1, 2, 1, CORE_TRIP_RIDING)),
                             op_rider(rider_rec(2))};
    CHECK_OK(sink_wait(&s, store_writer_submit(w, ops, ARRAY_LEN(ops))));
    /* ...but a trip of a rider who never existed fails the batch. */
    struct store_op orphan = op_trip(trip_rec(2, 99, 1, CORE_TRIP_RIDING));
    CHECK_ERR(sink_wait(&s, store_writer_submit(w, &orphan, 1)), ERR_CONFLICT);
    CHECK(strstr(s.msg, "FOREIGN KEY") != NULL);
    store_writer_stop(w);
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM trips"), 1);
    sink_release(&s);
}

/* Durability across kill -9 */

TEST(store_survives_kill9)
{
    const char *path = tmp_path("s.db");
    seed(path, 1);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        struct sink s;
        sink_init(&s, 0);
        struct store_writer *w = writer_ok(path, 0, &s);
        uint64_t lsn = 0;
        for (int64_t i = 2; i <= 1001; i++) {
            struct store_op op = op_bike(bike_rec(i));
            lsn = store_writer_submit(w, &op, 1);
        }
        struct store_op t = op_trip(trip_rec(1, 1, 1, CORE_TRIP_RIDING));
        lsn = store_writer_submit(w, &t, 1);
        if (sink_wait(&s, lsn) != ERR_OK)
            _exit(3);
        /* Acknowledged: now die without closing anything. */
        for (int64_t i = 2000; i < 3000; i++) {
            struct store_op op = op_bike(bike_rec(i));
            (void)store_writer_submit(w, &op, 1);
        }
        kill(getpid(), SIGKILL);
        _exit(4);
    }
    int status = 0;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    struct store *st = open_ok(path);
    struct core_trip t;
    CHECK_OK(store_trip_get(st, 1, &t));
    struct core_trip want = trip_rec(1, 1, 1, CORE_TRIP_RIDING);
    check_trip(&t, &want);
    store_close(st);
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM bikes WHERE id <= 1001"),
             1001);
}

/* Another process creates a token while this one's writer commits. */
TEST(store_concurrent_process_token)
{
    const char *path = tmp_path("s.db");
    seed(path, 1);
    int go[2];
    CHECK_EQ(pipe(go), 0);
    fflush(NULL);
    pid_t pid = fork(); /* before any thread exists */
    CHECK(pid >= 0);
    if (pid == 0) {
        char c;
        if (read(go[0], &c, 1) != 1)
            _exit(2);
        struct store *st = NULL;
        if (store_open(path, &st, NULL) != ERR_OK)
            _exit(3);
        unsigned char h[CORE_TOKEN_HASH_BYTES];
        int rc = 0;
        for (int i = 0; i < 20 && rc == 0; i++) {
            int64_t id = 0;
            token_hash(h, 100 + i);
            if (store_token_create(st, h, STORE_ROLE_OPERATOR, "cli", i, &id,
                                   NULL) != ERR_OK)
                rc = 4;
        }
        store_close(st);
        _exit(rc);
    }
    CHECK_EQ(close(go[0]), 0);
    struct sink s;
    sink_init(&s, 0);
    struct store_writer *w = writer_ok(path, 0, &s);
    CHECK_EQ(write(go[1], "g", 1), 1);
    uint64_t lsn = 0;
    for (int i = 0; i < 2000; i++) {
        struct store_op op = op_bike(bike_rec(1));
        op.u.bike.battery_pct = i % 100;
        lsn = store_writer_submit(w, &op, 1);
        if (i % 100 == 0)
            CHECK_OK(sink_wait(&s, lsn));
    }
    int status = 0;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_OK(sink_wait(&s, lsn));
    store_writer_stop(w);
    CHECK_EQ(close(go[1]), 0);
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM tokens"), 20);
    sink_release(&s);
}

/*
 * Fault injection: a VFS that wraps the default one and, when armed, fails
 * writes to the WAL or refuses the WAL write lock. Its xSleep returns at
 * once, so SQLite's busy timeout and the writer's backoff take no time.
 */

struct shim_file {
    sqlite3_file base;
    sqlite3_file *real; /* the wrapped file, allocated right after this */
    bool is_wal;
};

static struct {
    sqlite3_vfs vfs;
    sqlite3_vfs *real;
    atomic_int wal_writes_left; /* < 0: writes pass */
    atomic_int fail_rc;
    atomic_int busy_left; /* write-lock attempts still to refuse */
    atomic_int busy_seen;
} shim;

#define REAL(f) (((struct shim_file *)(f))->real)

static int shim_close(sqlite3_file *f)
{
    return REAL(f)->pMethods->xClose(REAL(f));
}

static int shim_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
    return REAL(f)->pMethods->xRead(REAL(f), p, n, off);
}

static int shim_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
    if (((struct shim_file *)f)->is_wal) {
        int left = atomic_load(&shim.wal_writes_left);
        if (left == 0)
            return atomic_load(&shim.fail_rc);
        if (left > 0)
            atomic_fetch_sub(&shim.wal_writes_left, 1);
    }
    return REAL(f)->pMethods->xWrite(REAL(f), p, n, off);
}

static int shim_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    return REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int shim_sync(sqlite3_file *f, int flags)
{
    return REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int shim_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int shim_lock(sqlite3_file *f, int level)
{
    return REAL(f)->pMethods->xLock(REAL(f), level);
}

static int shim_unlock(sqlite3_file *f, int level)
{
    return REAL(f)->pMethods->xUnlock(REAL(f), level);
}

static int shim_check_reserved(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int shim_file_control(sqlite3_file *f, int op, void *arg)
{
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int shim_sector_size(sqlite3_file *f)
{
    return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int shim_device_chars(sqlite3_file *f)
{
    return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int shim_shm_map(sqlite3_file *f, int pg, int pgsz, int extend,
                        void volatile **p)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), pg, pgsz, extend, p);
}

/* Refuses the exclusive WAL write lock (slot 0) while busy_left > 0. */
static int shim_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    if (offset == 0 && n == 1 &&
        flags == (SQLITE_SHM_LOCK | SQLITE_SHM_EXCLUSIVE) &&
        atomic_load(&shim.busy_left) > 0) {
        atomic_fetch_sub(&shim.busy_left, 1);
        atomic_fetch_add(&shim.busy_seen, 1);
        return SQLITE_BUSY;
    }
    return REAL(f)->pMethods->xShmLock(REAL(f), offset, n, flags);
}

static void shim_shm_barrier(sqlite3_file *f)
{
    REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static int shim_shm_unmap(sqlite3_file *f, int delete_flag)
{
    return REAL(f)->pMethods->xShmUnmap(REAL(f), delete_flag);
}

static int shim_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
    return REAL(f)->pMethods->xFetch(REAL(f), off, n, pp);
}

static int shim_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

static const sqlite3_io_methods shim_io = {
    .iVersion = 3,
    .xClose = shim_close,
    .xRead = shim_read,
    .xWrite = shim_write,
    .xTruncate = shim_truncate,
    .xSync = shim_sync,
    .xFileSize = shim_file_size,
    .xLock = shim_lock,
    .xUnlock = shim_unlock,
    .xCheckReservedLock = shim_check_reserved,
    .xFileControl = shim_file_control,
    .xSectorSize = shim_sector_size,
    .xDeviceCharacteristics = shim_device_chars,
    .xShmMap = shim_shm_map,
    .xShmLock = shim_shm_lock,
    .xShmBarrier = shim_shm_barrier,
    .xShmUnmap = shim_shm_unmap,
    .xFetch = shim_fetch,
    .xUnfetch = shim_unfetch,
};

static int shim_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f,
                     int flags, int *out_flags)
{
    (void)vfs;
    struct shim_file *sf = (struct shim_file *)f;
    sf->real = (sqlite3_file *)(sf + 1);
    sf->is_wal = (flags & SQLITE_OPEN_WAL) != 0;
    int rc = shim.real->xOpen(shim.real, name, sf->real, flags, out_flags);
    sf->base.pMethods = sf->real->pMethods ? &shim_io : NULL;
    return rc;
}

static int shim_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    (void)vfs;
    return shim.real->xDelete(shim.real, name, sync_dir);
}

static int shim_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    (void)vfs;
    return shim.real->xAccess(shim.real, name, flags, out);
}

static int shim_full_pathname(sqlite3_vfs *vfs, const char *name, int n,
                              char *out)
{
    (void)vfs;
    return shim.real->xFullPathname(shim.real, name, n, out);
}

static int shim_randomness(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return shim.real->xRandomness(shim.real, n, out);
}

static int shim_sleep(sqlite3_vfs *vfs, int us)
{
    (void)vfs;
    return us; /* pretend to have slept */
}

static int shim_current_time(sqlite3_vfs *vfs, double *out)
{
    (void)vfs;
    return shim.real->xCurrentTime(shim.real, out);
}

static int shim_last_error(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return shim.real->xGetLastError(shim.real, n, out);
}

static int shim_current_time64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
    (void)vfs;
    return shim.real->xCurrentTimeInt64(shim.real, out);
}

/* Registers the shim as the default VFS (in this test's process only). */
static void shim_install(void)
{
    shim.real = sqlite3_vfs_find(NULL);
    CHECK(shim.real != NULL);
    CHECK(shim.real->iVersion >= 2);
    atomic_store(&shim.wal_writes_left, -1);
    atomic_store(&shim.fail_rc, SQLITE_IOERR_WRITE);
    atomic_store(&shim.busy_left, 0);
    atomic_store(&shim.busy_seen, 0);
    shim.vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)sizeof(struct shim_file) + shim.real->szOsFile,
        .mxPathname = shim.real->mxPathname,
        .zName = "spoke-test-shim",
        .xOpen = shim_open,
        .xDelete = shim_delete,
        .xAccess = shim_access,
        .xFullPathname = shim_full_pathname,
        .xRandomness = shim_randomness,
        .xSleep = shim_sleep,
        .xCurrentTime = shim_current_time,
        .xGetLastError = shim_last_error,
        .xCurrentTimeInt64 = shim_current_time64,
    };
    CHECK_EQ(sqlite3_vfs_register(&shim.vfs, 1), SQLITE_OK);
}

static void shim_uninstall(void)
{
    CHECK_EQ(sqlite3_vfs_unregister(&shim.vfs), SQLITE_OK);
}

/*
 * Commits batch A, then arms a WAL write failure (after `after` more
 * writes) and submits batch B: the callback gets the error, B is not in the
 * database, and the writer takes no more work.
 */
static void check_write_failure(int fail_rc, int after)
{
    const char *path = tmp_path("s.db");
    seed(path, 1);
    shim_install();
    struct sink s;
    sink_init(&s, 0);
    struct store_writer *w = writer_ok(path, 0, &s);
    struct store_op a = op_trip(trip_rec(1, 1, 1, CORE_TRIP_ENDED));
    uint64_t a_lsn = store_writer_submit(w, &a, 1);
    CHECK_OK(sink_wait(&s, a_lsn));

    atomic_store(&shim.fail_rc, fail_rc);
    atomic_store(&shim.wal_writes_left, after);
    struct store_op b[200];
    for (size_t i = 0; i < ARRAY_LEN(b); i++)
        b[i] = op_bike(bike_rec((int64_t)i + 2));
    uint64_t b_lsn = store_writer_submit(w, b, ARRAY_LEN(b));
    CHECK(b_lsn > a_lsn);
    CHECK_ERR(sink_wait(&s, b_lsn), ERR_IO);
    CHECK_EQ(s.err_lsn, a_lsn);
    CHECK(strstr(s.msg, "cannot commit") != NULL);
    CHECK_EQ(store_writer_submit(w, &a, 1), 0);
    CHECK_EQ(store_writer_submit(w, NULL, 0), 0);
    store_writer_stop(w);
    CHECK_EQ(s.durable, a_lsn);
    atomic_store(&shim.wal_writes_left, -1);

    struct store *st = open_ok(path);
    static struct rows r;
    CHECK_OK(store_load_bikes(st, take_bike, &r));
    CHECK_EQ(r.n, 1);
    struct core_trip t;
    CHECK_OK(store_trip_get(st, 1, &t));
    check_trip(&t, &a.u.trip);
    store_close(st);
    shim_uninstall();
    sink_release(&s);
}

TEST(store_fault_ioerr)
{
    check_write_failure(SQLITE_IOERR_WRITE, 0);
}

TEST(store_fault_disk_full_midway)
{
    /* Two frames reach the WAL, then the disk is full: a torn commit. */
    check_write_failure(SQLITE_FULL, 2);
}

TEST(store_fault_busy_retried)
{
    const char *path = tmp_path("s.db");
    seed(path, 1);
    shim_install();
    struct sink s;
    sink_init(&s, 0);
    struct store_writer *w = writer_ok(path, 0, &s);
    /* More refusals than one busy timeout absorbs: the writer retries. */
    atomic_store(&shim.busy_left, 100);
    struct store_op op = op_trip(trip_rec(1, 1, 1, CORE_TRIP_RIDING));
    uint64_t lsn = store_writer_submit(w, &op, 1);
    CHECK_OK(sink_wait(&s, lsn));
    CHECK_EQ(atomic_load(&shim.busy_seen), 100);
    CHECK_EQ(s.ncalls, 1);
    store_writer_stop(w);
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM trips"), 1);
    shim_uninstall();
    sink_release(&s);
}

TEST(store_fault_busy_gives_up)
{
    const char *path = tmp_path("s.db");
    seed(path, 1);
    shim_install();
    struct sink s;
    sink_init(&s, 0);
    struct store_writer *w = writer_ok(path, 0, &s);
    atomic_store(&shim.busy_left, 1 << 30);
    struct store_op op = op_trip(trip_rec(1, 1, 1, CORE_TRIP_RIDING));
    uint64_t lsn = store_writer_submit(w, &op, 1);
    CHECK_ERR(sink_wait(&s, lsn), ERR_BUSY);
    /* Every attempt outlasted a whole busy timeout. */
    CHECK(atomic_load(&shim.busy_seen) > 2 * 5);
    CHECK_EQ(s.err_lsn, 0);
    CHECK(strstr(s.msg, "locked") != NULL);
    CHECK_EQ(store_writer_submit(w, &op, 1), 0);
    store_writer_stop(w);
    atomic_store(&shim.busy_left, 0);
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM trips"), 0);

    /* A token from the CLI meets the same lock: ERR_BUSY, not stored. */
    struct store *st = open_ok(path);
    atomic_store(&shim.busy_left, 1 << 30);
    unsigned char h[CORE_TOKEN_HASH_BYTES];
    token_hash(h, 3);
    int64_t id = 0;
    struct err_detail d = {0};
    CHECK_ERR(store_token_create(st, h, STORE_ROLE_OPERATOR, "x", 1, &id, &d),
              ERR_BUSY);
    atomic_store(&shim.busy_left, 0);
    enum store_role role;
    CHECK_ERR(store_token_lookup(st, h, &role, &id), ERR_NOT_FOUND);
    store_close(st);
    shim_uninstall();
    sink_release(&s);
}

/* Points of bikes 1..nbikes at times t0 + k * step, k < per_bike. */
static struct store_op op_points(int64_t nbikes, int64_t per_bike, int64_t t0,
                                 int64_t step)
{
    size_t n = (size_t)(nbikes * per_bike);
    struct store_point *pts = xmalloc(n * sizeof(*pts));
    size_t i = 0;
    /* Interleaved by time, as the server buffers them. */
    for (int64_t k = 0; k < per_bike; k++) {
        for (int64_t b = 1; b <= nbikes; b++)
            pts[i++] = (struct store_point){t0 + k * step, (uint32_t)b,
                                            (int32_t)(312300000 + b),
                                            (int32_t)(-1214700000 - k)};
    }
    return (struct store_op){.kind = STORE_OP_POSITIONS,
                             .u.positions = {pts, n}};
}

TEST(store_positions_roundtrip_and_prune)
{
    const char *path = tmp_path("positions.db");
    store_close(open_ok(path));
    /* Two flushes; 600 bikes spread over every shard (and then some). */
    struct store_op ops[3] = {op_points(600, 10, 1000000, 100),
                              op_points(600, 5, 1002000, 100),
                              {.kind = STORE_OP_PRUNE, .u.before_ms = 0}};
    write_all(path, ops, 3);
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM position_blocks"), 512);
    CHECK_EQ(raw_int(path, "SELECT sum(n) FROM position_blocks"), 9000);
    struct store *st = open_ok(path);
    struct store_point out[32];
    size_t n;
    CHECK_OK(store_positions_get(st, 257, 0, INT64_MAX, out, 32, &n));
    CHECK_EQ(n, 15);
    for (size_t i = 0; i < n; i++) {
        CHECK_EQ(out[i].bike_id, 257);
        CHECK_EQ(out[i].lat_e7, 312300257);
        CHECK(i == 0 || out[i].ts_ms > out[i - 1].ts_ms);
    }
    CHECK_EQ(out[0].ts_ms, 1000000);
    CHECK_EQ(out[14].ts_ms, 1002400);
    CHECK_EQ(out[9].lon_e7, -1214700009);
    /* A window, the cap, a bike with no points, a bad id. */
    CHECK_OK(store_positions_get(st, 257, 1000200, 1000400, out, 32, &n));
    CHECK_EQ(n, 3);
    CHECK_OK(store_positions_get(st, 257, 0, INT64_MAX, out, 4, &n));
    CHECK_EQ(n, 4);
    CHECK_EQ(out[3].ts_ms, 1000300);
    CHECK_OK(store_positions_get(st, 601, 0, INT64_MAX, out, 32, &n));
    CHECK_EQ(n, 0);
    CHECK_OK(store_positions_get(st, -1, 0, INT64_MAX, out, 32, &n));
    CHECK_EQ(n, 0);
    store_close(st);
    /* Pruning drops whole blocks that ended before the cut. */
    struct store_op prune = {.kind = STORE_OP_PRUNE, .u.before_ms = 1001500};
    write_all(path, &prune, 1);
    CHECK_EQ(raw_int(path, "SELECT sum(n) FROM position_blocks"), 3000);
    st = open_ok(path);
    CHECK_OK(store_positions_get(st, 257, 0, INT64_MAX, out, 32, &n));
    CHECK_EQ(n, 5);
    store_close(st);
}

static enum err take_secret(void *ctx, const struct store_lock_secret *x)
{
    struct store_lock_secret *out = ctx;
    out[x->bike_id - 1] = *x;
    return ERR_OK;
}

static enum err take_policy(void *ctx, const struct store_lock_policy *x)
{
    bool *out = ctx;
    out[x->vtype] = x->require_secure;
    return ERR_OK;
}

TEST(store_lock_secrets_and_policy)
{
    const char *path = tmp_path("secrets.db");
    seed(path, 2);
    struct store_op ops[4] = {
        {.kind = STORE_OP_SECRET, .u.secret = {.bike_id = 2, .rx_counter = 7}},
        {.kind = STORE_OP_POLICY,
         .u.policy = {.vtype = CORE_VT_EBIKE, .require_secure = true}},
        {.kind = STORE_OP_SECRET,
         .u.secret = {.bike_id = 2, .rx_counter = 9}}, /* a later count */
        {.kind = STORE_OP_POLICY,
         .u.policy = {.vtype = CORE_VT_BICYCLE, .require_secure = false}},
    };
    for (int i = 0; i < STORE_LOCK_KEY_BYTES; i++) {
        ops[0].u.secret.key[i] = (unsigned char)i;
        ops[2].u.secret.key[i] = (unsigned char)i;
    }
    write_all(path, ops, 4);
    struct store *st = open_ok(path);
    struct store_lock_secret got[2];
    memset(got, 0, sizeof(got));
    CHECK_OK(store_load_lock_secrets(st, take_secret, got));
    CHECK_EQ(got[0].bike_id, 0); /* bike 1 has none */
    CHECK_EQ(got[1].bike_id, 2);
    CHECK_EQ(got[1].rx_counter, 9);
    CHECK(memcmp(got[1].key, ops[0].u.secret.key, STORE_LOCK_KEY_BYTES) == 0);
    bool policy[CORE_VT_COUNT] = {true, false};
    CHECK_OK(store_load_lock_policies(st, take_policy, policy));
    CHECK(!policy[CORE_VT_BICYCLE]);
    CHECK(policy[CORE_VT_EBIKE]);
    store_close(st);
    /* A key of the wrong length (past the CHECK, as corruption would be)
     * is a bad row. */
    raw_exec(path, "PRAGMA ignore_check_constraints = ON;"
                   " UPDATE lock_secrets SET key = x'00'");
    st = open_ok(path);
    CHECK_ERR(store_load_lock_secrets(st, take_secret, got), ERR_IO);
    store_close(st);
}

const struct test_case test_suite_store[] = {
    CASE(store_lock_secrets_and_policy),
    CASE(store_positions_roundtrip_and_prune),
    CASE(store_open_creates_schema),
    CASE(store_open_twice_is_noop),
    CASE(store_open_newer_schema_is_conflict),
    CASE(store_open_garbage_is_io),
    CASE(store_open_foreign_database_is_io),
    CASE(store_open_bad_path_is_io),
    CASE(store_roundtrip_bikes),
    CASE(store_roundtrip_update_replaces_whole_record),
    CASE(store_roundtrip_riders),
    CASE(store_roundtrip_trips),
    CASE(store_roundtrip_trip_updates),
    CASE(store_roundtrip_reservations),
    CASE(store_roundtrip_pricing),
    CASE(store_roundtrip_events),
    CASE(store_load_stops_at_callback_error),
    CASE(store_load_bad_row_is_io),
    CASE(store_load_empty),
    CASE(store_max_ids),
    CASE(store_get_not_found),
    CASE(store_trip_by_idem),
    CASE(store_trips_by_rider_pages_newest_first),
    CASE(store_token_create_and_lookup),
    CASE(store_token_errors),
    CASE(store_charge_exactly_once),
    CASE(store_writer_lsns_increase),
    CASE(store_writer_batches_while_committing),
    CASE(store_writer_threads),
    CASE(store_writer_stop_commits_queued),
    CASE(store_writer_start_errors),
    CASE(store_writer_constraint_failure),
    CASE(store_writer_bad_op_fails),
    CASE(store_writer_foreign_key_failure),
    CASE(store_survives_kill9),
    CASE(store_concurrent_process_token),
    CASE(store_fault_ioerr),
    CASE(store_fault_disk_full_midway),
    CASE(store_fault_busy_retried),
    CASE(store_fault_busy_gives_up),
    {0},
};
