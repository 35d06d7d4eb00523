/* SPDX-License-Identifier: MIT */
/*
 * The SQLite backend's own connection: opening and migrating the database,
 * the loaders that rebuild the world at start, the reads served from disk,
 * and operator tokens. The group-commit writer is in writer.c; the helpers
 * both use are declared in store_int.h and defined here.
 */
#include "base/sys.h"
#include "store/store.h"
#include "store/store_int.h"

#include <stdio.h>

struct store {
    sqlite3 *db;
    char *path; /* for messages */
    int version;
    /* Prepared once at open, reset after each use. */
    sqlite3_stmt *trip_get;
    sqlite3_stmt *trip_by_idem;
    sqlite3_stmt *trips_by_rider;
    sqlite3_stmt *res_get;
    sqlite3_stmt *max_ids;
    sqlite3_stmt *token_insert;
    sqlite3_stmt *token_lookup;
    sqlite3_stmt *positions_get;
};

/*
 * Migrations, in order: migrations[i] takes the schema from version i to
 * i + 1. Never edit one that has shipped; append a new one instead. The
 * state names in the partial indexes are the stable names of entity.h.
 */
struct migration {
    const char *name;
    const char *sql;
};

static const struct migration migrations[] = {
    {"initial schema",
     "CREATE TABLE schema_version ("
     " version INTEGER PRIMARY KEY,"
     " name TEXT NOT NULL,"
     " applied_at TEXT NOT NULL"
     "  DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')));"

     "CREATE TABLE bikes ("
     " id INTEGER PRIMARY KEY,"
     " qr_code TEXT NOT NULL UNIQUE,"
     " imei TEXT NOT NULL UNIQUE CHECK (length(imei) = 15),"
     " vehicle_type TEXT NOT NULL,"
     " state TEXT NOT NULL,"
     " lat REAL NOT NULL,"
     " lon REAL NOT NULL,"
     " battery_pct INTEGER NOT NULL,"
     " last_report_ms INTEGER NOT NULL,"
     " lock_closed INTEGER NOT NULL,"
     " created_ms INTEGER NOT NULL);"

     "CREATE TABLE riders ("
     " id INTEGER PRIMARY KEY,"
     " token_hash BLOB NOT NULL UNIQUE CHECK (length(token_hash) = 32),"
     " balance_cents INTEGER NOT NULL,"
     " created_ms INTEGER NOT NULL);"

     "CREATE TABLE tokens ("
     " id INTEGER PRIMARY KEY,"
     " token_hash BLOB NOT NULL UNIQUE CHECK (length(token_hash) = 32),"
     " role TEXT NOT NULL,"
     " label TEXT NOT NULL,"
     " created_ms INTEGER NOT NULL);"

     "CREATE TABLE trips ("
     " id INTEGER PRIMARY KEY,"
     " rider_id INTEGER NOT NULL"
     "  REFERENCES riders (id) DEFERRABLE INITIALLY DEFERRED,"
     " bike_id INTEGER NOT NULL"
     "  REFERENCES bikes (id) DEFERRABLE INITIALLY DEFERRED,"
     " state TEXT NOT NULL,"
     " idem_key TEXT,"
     " requested_ms INTEGER NOT NULL,"
     " started_ms INTEGER NOT NULL,"
     " ended_ms INTEGER NOT NULL,"
     " start_lat REAL NOT NULL,"
     " start_lon REAL NOT NULL,"
     " end_lat REAL NOT NULL,"
     " end_lon REAL NOT NULL,"
     " distance_m REAL NOT NULL,"
     " fare_cents INTEGER NOT NULL,"
     " currency TEXT NOT NULL,"
     " pricing_version INTEGER NOT NULL,"
     " reason TEXT,"
     " charged INTEGER NOT NULL,"
     " UNIQUE (rider_id, idem_key));"
     "CREATE INDEX trips_rider ON trips (rider_id, id);"
     "CREATE INDEX trips_active ON trips (id)"
     " WHERE state IN ('unlocking', 'riding');"

     "CREATE TABLE charges ("
     " id INTEGER PRIMARY KEY,"
     " trip_id INTEGER NOT NULL UNIQUE"
     "  REFERENCES trips (id) DEFERRABLE INITIALLY DEFERRED,"
     " rider_id INTEGER NOT NULL"
     "  REFERENCES riders (id) DEFERRABLE INITIALLY DEFERRED,"
     " amount_cents INTEGER NOT NULL,"
     " currency TEXT NOT NULL,"
     " created_ms INTEGER NOT NULL);"

     "CREATE TABLE reservations ("
     " id INTEGER PRIMARY KEY,"
     " rider_id INTEGER NOT NULL"
     "  REFERENCES riders (id) DEFERRABLE INITIALLY DEFERRED,"
     " bike_id INTEGER NOT NULL"
     "  REFERENCES bikes (id) DEFERRABLE INITIALLY DEFERRED,"
     " state TEXT NOT NULL,"
     " created_ms INTEGER NOT NULL,"
     " expires_ms INTEGER NOT NULL,"
     " ended_ms INTEGER NOT NULL);"
     "CREATE INDEX reservations_active ON reservations (id)"
     " WHERE state = 'active';"

     "CREATE TABLE pricing_plans ("
     " version INTEGER PRIMARY KEY,"
     " plan_id TEXT NOT NULL,"
     " name TEXT NOT NULL,"
     " currency TEXT NOT NULL,"
     " unlock_cents INTEGER NOT NULL,"
     " segments TEXT NOT NULL,"
     " created_ms INTEGER NOT NULL);"

     "CREATE TABLE vehicle_events ("
     " id INTEGER PRIMARY KEY AUTOINCREMENT,"
     " bike_id INTEGER NOT NULL"
     "  REFERENCES bikes (id) DEFERRABLE INITIALLY DEFERRED,"
     " event_type TEXT NOT NULL,"
     " state TEXT NOT NULL,"
     " ts_ms INTEGER NOT NULL,"
     " lat REAL NOT NULL,"
     " lon REAL NOT NULL,"
     " trip_id INTEGER"
     "  REFERENCES trips (id) DEFERRABLE INITIALLY DEFERRED);"
     "CREATE INDEX vehicle_events_ts ON vehicle_events (ts_ms);"},
    {"position history",
     "CREATE TABLE position_blocks ("
     " id INTEGER PRIMARY KEY,"
     " shard INTEGER NOT NULL,"
     " t0_ms INTEGER NOT NULL,"
     " t1_ms INTEGER NOT NULL,"
     " n INTEGER NOT NULL,"
     " data BLOB NOT NULL);"
     "CREATE INDEX position_blocks_shard ON position_blocks (shard, t1_ms);"
     "CREATE INDEX position_blocks_t1 ON position_blocks (t1_ms);"},
    {"secure lock dialect",
     "CREATE TABLE lock_secrets ("
     " bike_id INTEGER PRIMARY KEY"
     "  REFERENCES bikes (id) DEFERRABLE INITIALLY DEFERRED,"
     " key BLOB NOT NULL CHECK (length(key) = 32),"
     " rx_counter INTEGER NOT NULL);"
     "CREATE TABLE lock_policy ("
     " vehicle_type TEXT PRIMARY KEY,"
     " require_secure INTEGER NOT NULL);"},
    {"dispatch",
     "ALTER TABLE bikes ADD COLUMN last_use_ms INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE bikes ADD COLUMN truck_id INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE bikes ADD COLUMN alarms INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE riders ADD COLUMN reward_day INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE riders ADD COLUMN rewards_today INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE trips ADD COLUMN reward_offer_cents INTEGER NOT NULL"
     " DEFAULT 0;"
     "ALTER TABLE trips ADD COLUMN reward_cents INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE trips ADD COLUMN reward_note TEXT;"
     /* Anonymous demand history: no rider, no bike (docs/dispatch.md). */
     "CREATE TABLE demand_sources ("
     " id INTEGER PRIMARY KEY,"
     " name TEXT NOT NULL UNIQUE,"
     " trips INTEGER NOT NULL,"
     " imported_ms INTEGER NOT NULL);"
     "CREATE TABLE demand_trips ("
     " id INTEGER PRIMARY KEY,"
     " source_id INTEGER"
     "  REFERENCES demand_sources (id) DEFERRABLE INITIALLY DEFERRED,"
     " trip_id INTEGER UNIQUE,"
     " started_ms INTEGER NOT NULL,"
     " ended_ms INTEGER NOT NULL,"
     " start_lat REAL NOT NULL,"
     " start_lon REAL NOT NULL,"
     " end_lat REAL NOT NULL,"
     " end_lon REAL NOT NULL);"
     "CREATE INDEX demand_trips_started ON demand_trips (started_ms);"
     "CREATE TABLE searches ("
     " id INTEGER PRIMARY KEY,"
     " ts_ms INTEGER NOT NULL,"
     " lat REAL NOT NULL,"
     " lon REAL NOT NULL,"
     " found INTEGER NOT NULL,"
     " n INTEGER NOT NULL);"
     "CREATE INDEX searches_ts ON searches (ts_ms);"},
};

_Static_assert(ARRAY_LEN(migrations) == STORE__SCHEMA_VERSION,
               "one migration per schema version");

#define TRIP_COLS                                                              \
    "id, rider_id, bike_id, state, idem_key, requested_ms, started_ms,"        \
    " ended_ms, start_lat, start_lon, end_lat, end_lon, distance_m,"           \
    " fare_cents, currency, pricing_version, reason, charged,"                 \
    " reward_offer_cents, reward_cents, reward_note"
#define RES_COLS                                                               \
    "id, rider_id, bike_id, state, created_ms, expires_ms, ended_ms"

static const char role_operator[] = "operator";

/* Connection helpers shared with writer.c */

enum err store__err(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return ERR_BUSY;
    case SQLITE_CONSTRAINT:
        return ERR_CONFLICT;
    default:
        return ERR_IO;
    }
}

enum err store__exec(sqlite3 *db, const char *sql)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        return ERR_OK;
    return store__err(rc) == ERR_BUSY ? ERR_BUSY : ERR_IO;
}

void store__close_db(sqlite3 *db)
{
    if (!db)
        return;
    sqlite3_stmt *s = sqlite3_next_stmt(db, NULL);
    while (s) {
        /* The result repeats the statement's last error, if any. */
        (void)sqlite3_finalize(s);
        s = sqlite3_next_stmt(db, NULL);
    }
    int rc = sqlite3_close(db);
    if (rc != SQLITE_OK)
        BUG("sqlite3_close: %s", sqlite3_errstr(rc));
}

enum err store__open_db(const char *path, bool create, sqlite3 **out,
                        struct err_detail *d)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    enum err e = ERR_IO;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
                (create ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(path, &db, flags, NULL);
    if (rc != SQLITE_OK) {
        e = err_set(d, ERR_IO, "", "cannot open store '%s': %s", path,
                    db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        goto out;
    }
    if (sqlite3_extended_result_codes(db, 1) != SQLITE_OK ||
        sqlite3_busy_timeout(db, STORE__BUSY_TIMEOUT_MS) != SQLITE_OK)
        goto fail;
    /* The first statement that reads the file; it spots a non-database. */
    rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &s, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW)
        goto fail;
    const char *mode = (const char *)sqlite3_column_text(s, 0);
    if (!mode || strcmp(mode, "wal") != 0) {
        e = err_set(d, ERR_IO, "", "cannot open store '%s': journal mode %s",
                    path, mode ? mode : "unknown");
        goto out;
    }
    if (store__exec(db, "PRAGMA synchronous=FULL") != ERR_OK ||
        store__exec(db, "PRAGMA foreign_keys=ON") != ERR_OK)
        goto fail;
    *out = db;
    db = NULL;
    e = ERR_OK;
    goto out;
fail:
    e = err_set(d, ERR_IO, "", "cannot open store '%s': %s", path,
                sqlite3_errmsg(db));
out:
    sqlite3_finalize(s);
    store__close_db(db);
    return e;
}

enum err store__query_int(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int64(s, 0);
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(s);
    return rc == SQLITE_OK ? ERR_OK : store__err(rc);
}

enum err store__read_version(sqlite3 *db, const char *path, int *version,
                             struct err_detail *d)
{
    enum err e = ERR_OK;
    bool own_txn = sqlite3_get_autocommit(db) != 0;
    if (own_txn) {
        e = store__exec(db, "BEGIN");
        if (e != ERR_OK)
            goto fail;
    }
    int64_t app_id = 0;
    int64_t nobjects = 0;
    int64_t v = 0;
    e = store__query_int(db, "PRAGMA application_id", &app_id);
    if (e == ERR_OK)
        e = store__query_int(db, "SELECT count(*) FROM sqlite_master",
                             &nobjects);
    if (e != ERR_OK)
        goto fail;
    if (app_id == STORE__APP_ID) {
        e = store__query_int(db, "SELECT max(version) FROM schema_version", &v);
        if (e != ERR_OK)
            goto fail;
    } else if (app_id != 0 || nobjects != 0) {
        e = err_set(d, ERR_IO, "", "'%s' is not a spoke database", path);
        goto out;
    }
    if (v < 0 || v > INT32_MAX) {
        e = err_set(d, ERR_IO, "", "store '%s' has a bad schema version", path);
        goto out;
    }
    *version = (int)v;
    goto out;
fail:
    e = err_set(d, e == ERR_BUSY ? ERR_BUSY : ERR_IO, "",
                "cannot read the schema version of store '%s': %s", path,
                sqlite3_errmsg(db));
out:
    if (own_txn && !sqlite3_get_autocommit(db)) {
        /* A read transaction: ending it cannot lose anything. */
        (void)store__exec(db, "ROLLBACK");
    }
    return e;
}

/* Pricing segments as text: "start,end,rate,interval;..." (minutes, cents) */

enum err store__segments_format(const struct core_pricing *p, char *out,
                                size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    if (p->nsegments > CORE_PRICING_SEGMENTS_MAX)
        return ERR_INVALID;
    for (size_t i = 0; i < p->nsegments; i++) {
        const struct core_price_segment *g = &p->segments[i];
        int n = snprintf(out + len, cap - len,
                         "%s%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64,
                         i ? ";" : "", g->start_min, g->end_min, g->rate_cents,
                         g->interval_min);
        if (n < 0 || (size_t)n >= cap - len)
            return ERR_TOO_BIG;
        len += (size_t)n;
    }
    return ERR_OK;
}

static enum err segments_parse(struct str s, struct core_pricing *p)
{
    p->nsegments = 0;
    struct str rest = s.len ? s : (struct str){NULL, 0};
    while (rest.ptr) {
        struct str seg;
        rest = str_cut(rest, ';', &seg);
        if (p->nsegments == CORE_PRICING_SEGMENTS_MAX)
            return ERR_IO;
        int64_t v[4];
        for (size_t k = 0; k < 4; k++) {
            struct str field;
            seg = str_cut(seg, ',', &field);
            if ((k < 3) != (seg.ptr != NULL))
                return ERR_IO;
            if (str_to_i64(field, &v[k]) != ERR_OK)
                return ERR_IO;
        }
        p->segments[p->nsegments++] =
            (struct core_price_segment){.start_min = v[0],
                                        .end_min = v[1],
                                        .rate_cents = v[2],
                                        .interval_min = v[3]};
    }
    return ERR_OK;
}

/*
 * Row decoding. Columns are read through a cursor that remembers whether
 * any was malformed: a wrong storage class, text too long for its field, a
 * name that parses to nothing. Such a row is ERR_IO, never a guess.
 */

struct row {
    sqlite3_stmt *s;
    bool bad;
};

static int64_t col_i64(struct row *r, int i)
{
    if (sqlite3_column_type(r->s, i) != SQLITE_INTEGER)
        r->bad = true;
    return sqlite3_column_int64(r->s, i);
}

static double col_real(struct row *r, int i)
{
    int type = sqlite3_column_type(r->s, i);
    if (type != SQLITE_FLOAT && type != SQLITE_INTEGER)
        r->bad = true;
    return sqlite3_column_double(r->s, i);
}

/* Text column i as a slice valid until the next step; NULL reads as "". */
static struct str col_str(struct row *r, int i)
{
    int type = sqlite3_column_type(r->s, i);
    if (type == SQLITE_NULL)
        return (struct str){"", 0};
    if (type != SQLITE_TEXT) {
        r->bad = true;
        return (struct str){"", 0};
    }
    const char *p = (const char *)sqlite3_column_text(r->s, i);
    if (!p) {
        r->bad = true; /* out of memory converting */
        return (struct str){"", 0};
    }
    return (struct str){p, (size_t)sqlite3_column_bytes(r->s, i)};
}

/* Copies text column i into out[cap] with a NUL. */
static void col_text(struct row *r, int i, char *out, size_t cap)
{
    struct str v = col_str(r, i);
    if (v.len >= cap || memchr(v.ptr, '\0', v.len)) {
        r->bad = true;
        v.len = 0;
    }
    memcpy(out, v.ptr, v.len);
    out[v.len] = '\0';
}

static void check(struct row *r, enum err e)
{
    if (e != ERR_OK)
        r->bad = true;
}

static enum err row_bike(sqlite3_stmt *s, struct core_bike *b)
{
    struct row r = {s, false};
    memset(b, 0, sizeof(*b));
    b->id = col_i64(&r, 0);
    col_text(&r, 1, b->qr_code, sizeof(b->qr_code));
    check(&r, core_imei_parse(col_str(&r, 2), &b->imei, NULL));
    check(&r, core_vtype_parse(col_str(&r, 3), &b->vtype));
    check(&r, core_vstate_parse(col_str(&r, 4), &b->state));
    b->pos.lat_deg = col_real(&r, 5);
    b->pos.lon_deg = col_real(&r, 6);
    int64_t battery = col_i64(&r, 7);
    if (battery < -1 || battery > 100)
        r.bad = true;
    b->battery_pct = (int)battery;
    b->last_report_ms = col_i64(&r, 8);
    b->lock_closed = col_i64(&r, 9) != 0;
    b->created_ms = col_i64(&r, 10);
    b->last_use_ms = col_i64(&r, 11);
    int64_t truck = col_i64(&r, 12);
    int64_t alarms = col_i64(&r, 13);
    if (truck < 0 || truck > INT32_MAX || alarms < 0 ||
        alarms > (CORE_ALARM_FAULT | CORE_ALARM_FALL))
        r.bad = true;
    b->truck_id = (int32_t)truck;
    b->alarms = (uint8_t)alarms;
    return r.bad ? ERR_IO : ERR_OK;
}

static enum err row_rider(sqlite3_stmt *s, struct core_rider *x)
{
    struct row r = {s, false};
    memset(x, 0, sizeof(*x));
    x->id = col_i64(&r, 0);
    if (sqlite3_column_type(s, 1) != SQLITE_BLOB ||
        sqlite3_column_bytes(s, 1) != CORE_TOKEN_HASH_BYTES)
        return ERR_IO;
    const void *hash = sqlite3_column_blob(s, 1);
    if (!hash)
        return ERR_IO;
    memcpy(x->token_hash, hash, CORE_TOKEN_HASH_BYTES);
    x->balance_cents = col_i64(&r, 2);
    x->created_ms = col_i64(&r, 3);
    x->reward_day = col_i64(&r, 4);
    x->rewards_today = col_i64(&r, 5);
    return r.bad ? ERR_IO : ERR_OK;
}

static enum err row_trip(sqlite3_stmt *s, struct core_trip *t)
{
    struct row r = {s, false};
    memset(t, 0, sizeof(*t));
    t->id = col_i64(&r, 0);
    t->rider_id = col_i64(&r, 1);
    t->bike_id = col_i64(&r, 2);
    check(&r, core_trip_state_parse(col_str(&r, 3), &t->state));
    col_text(&r, 4, t->idem_key, sizeof(t->idem_key));
    t->requested_ms = col_i64(&r, 5);
    t->started_ms = col_i64(&r, 6);
    t->ended_ms = col_i64(&r, 7);
    t->start_pos.lat_deg = col_real(&r, 8);
    t->start_pos.lon_deg = col_real(&r, 9);
    t->end_pos.lat_deg = col_real(&r, 10);
    t->end_pos.lon_deg = col_real(&r, 11);
    t->distance_m = col_real(&r, 12);
    t->fare_cents = col_i64(&r, 13);
    col_text(&r, 14, t->currency, sizeof(t->currency));
    t->pricing_version = col_i64(&r, 15);
    col_text(&r, 16, t->reason, sizeof(t->reason));
    t->charged = col_i64(&r, 17) != 0;
    t->reward_offer_cents = col_i64(&r, 18);
    t->reward_cents = col_i64(&r, 19);
    col_text(&r, 20, t->reward_note, sizeof(t->reward_note));
    return r.bad ? ERR_IO : ERR_OK;
}

static enum err row_res(sqlite3_stmt *s, struct core_reservation *x)
{
    struct row r = {s, false};
    memset(x, 0, sizeof(*x));
    x->id = col_i64(&r, 0);
    x->rider_id = col_i64(&r, 1);
    x->bike_id = col_i64(&r, 2);
    check(&r, core_res_state_parse(col_str(&r, 3), &x->state));
    x->created_ms = col_i64(&r, 4);
    x->expires_ms = col_i64(&r, 5);
    x->ended_ms = col_i64(&r, 6);
    return r.bad ? ERR_IO : ERR_OK;
}

static enum err row_pricing(sqlite3_stmt *s, struct core_pricing *p)
{
    struct row r = {s, false};
    memset(p, 0, sizeof(*p));
    p->version = col_i64(&r, 0);
    col_text(&r, 1, p->plan_id, sizeof(p->plan_id));
    col_text(&r, 2, p->name, sizeof(p->name));
    col_text(&r, 3, p->currency, sizeof(p->currency));
    p->unlock_cents = col_i64(&r, 4);
    check(&r, segments_parse(col_str(&r, 5), p));
    p->created_ms = col_i64(&r, 6);
    return r.bad ? ERR_IO : ERR_OK;
}

/* Opening and migrating */

/* Applies migrations[from] in its own write transaction, unless another
 * process got there first. */
static enum err migrate_one(struct store *st, int from, struct err_detail *d)
{
    const struct migration *m = &migrations[from];
    sqlite3_stmt *s = NULL;
    enum err e = store__exec(st->db, "BEGIN IMMEDIATE");
    if (e != ERR_OK)
        goto fail;
    int now = 0;
    e = store__read_version(st->db, st->path, &now, d);
    if (e != ERR_OK)
        goto out;
    if (now > from) {
        e = ERR_OK;
        goto out;
    }
    if (NEVER(now != from)) {
        e = err_set(d, ERR_INTERNAL, "", "store '%s' skipped a migration",
                    st->path);
        goto out;
    }
    char sql[96];
    snprintf(sql, sizeof(sql), "PRAGMA application_id=%d", STORE__APP_ID);
    e = store__exec(st->db, m->sql);
    if (e == ERR_OK)
        e = store__exec(st->db, sql);
    if (e != ERR_OK)
        goto fail;
    int rc = sqlite3_prepare_v2(
        st->db, "INSERT INTO schema_version (version, name) VALUES (?1, ?2)",
        -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int(s, 1, from + 1);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 2, m->name, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    if (rc != SQLITE_DONE) {
        e = ERR_IO;
        goto fail;
    }
    e = store__exec(st->db, "COMMIT");
    if (e != ERR_OK)
        goto fail;
    goto out;
fail:
    e = err_set(d, e == ERR_BUSY ? ERR_BUSY : ERR_IO, "",
                "cannot migrate store '%s' to version %d: %s", st->path,
                from + 1, sqlite3_errmsg(st->db));
out:
    sqlite3_finalize(s);
    if (!sqlite3_get_autocommit(st->db)) {
        /* Undoing a failed migration; if that fails too, nothing stuck. */
        (void)store__exec(st->db, "ROLLBACK");
    }
    return e;
}

static enum err migrate(struct store *st, struct err_detail *d)
{
    int v = 0;
    for (;;) {
        enum err e = store__read_version(st->db, st->path, &v, d);
        if (e != ERR_OK)
            return e == ERR_BUSY ? ERR_IO : e;
        if (v > STORE__SCHEMA_VERSION)
            return err_set(d, ERR_CONFLICT, "",
                           "store '%s' has schema version %d, newer than "
                           "this binary's %d",
                           st->path, v, STORE__SCHEMA_VERSION);
        if (v == STORE__SCHEMA_VERSION)
            break;
        e = migrate_one(st, v, d);
        if (e != ERR_OK)
            return e == ERR_BUSY ? ERR_IO : e;
    }
    st->version = v;
    return ERR_OK;
}

static enum err prepare(struct store *st, const char *sql, sqlite3_stmt **out,
                        struct err_detail *d)
{
    int rc = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out,
                                NULL);
    if (rc != SQLITE_OK)
        return err_set(d, ERR_IO, "",
                       "cannot prepare a query on store '%s': %s", st->path,
                       sqlite3_errmsg(st->db));
    return ERR_OK;
}

enum err store_open(const char *path, struct store **out, struct err_detail *d)
{
    struct store *st = xcalloc(1, sizeof(*st));
    st->path = xstrndup(path, strlen(path));
    enum err e = store__open_db(path, true, &st->db, d);
    if (e != ERR_OK)
        goto out;
    e = migrate(st, d);
    if (e != ERR_OK)
        goto out;
    struct {
        sqlite3_stmt **stmt;
        const char *sql;
    } const stmts[] = {
        {&st->trip_get, "SELECT " TRIP_COLS " FROM trips WHERE id = ?1"},
        {&st->trip_by_idem, "SELECT " TRIP_COLS " FROM trips"
                            " WHERE rider_id = ?1 AND idem_key = ?2"},
        {&st->trips_by_rider, "SELECT " TRIP_COLS " FROM trips"
                              " WHERE rider_id = ?1 AND id < ?2"
                              " ORDER BY id DESC LIMIT ?3"},
        {&st->res_get, "SELECT " RES_COLS " FROM reservations WHERE id = ?1"},
        {&st->max_ids, "SELECT (SELECT max(id) FROM trips),"
                       " (SELECT max(id) FROM reservations)"},
        {&st->token_insert, "INSERT INTO tokens"
                            " (token_hash, role, label, created_ms)"
                            " VALUES (?1, ?2, ?3, ?4)"},
        {&st->token_lookup,
         "SELECT id, role FROM tokens WHERE token_hash = ?1"},
        {&st->positions_get, "SELECT t0_ms, n, data FROM position_blocks"
                             " WHERE shard = ?1 AND t1_ms >= ?2"
                             " AND t0_ms <= ?3 ORDER BY t0_ms"},
    };
    for (size_t i = 0; i < ARRAY_LEN(stmts); i++) {
        e = prepare(st, stmts[i].sql, stmts[i].stmt, d);
        if (e != ERR_OK)
            goto out;
    }
    *out = st;
    st = NULL;
out:
    store_close(st);
    return e;
}

void store_close(struct store *st)
{
    if (!st)
        return;
    store__close_db(st->db); /* finalizes the prepared statements */
    xfree(st->path);
    xfree(st);
}

int store_schema_version(const struct store *st)
{
    return st->version;
}

sqlite3 *store__db(struct store *st)
{
    return st->db;
}

const char *store__path(const struct store *st)
{
    return st->path;
}

/* Loading */

enum load_kind {
    LOAD_BIKE,
    LOAD_RIDER,
    LOAD_TRIP,
    LOAD_RES,
    LOAD_PRICING,
    LOAD_SECRET,
    LOAD_POLICY
};

union load_fn {
    store_bike_fn *bike;
    store_rider_fn *rider;
    store_trip_fn *trip;
    store_res_fn *res;
    store_pricing_fn *pricing;
    store_secret_fn *secret;
    store_policy_fn *policy;
};

/* A lock secret row: bike_id, key, rx_counter. True on a bad row. */
static bool row_secret(sqlite3_stmt *s, struct store_lock_secret *out)
{
    const void *key = sqlite3_column_blob(s, 1);
    if (sqlite3_column_type(s, 0) != SQLITE_INTEGER ||
        sqlite3_column_bytes(s, 1) != STORE_LOCK_KEY_BYTES || !key ||
        sqlite3_column_type(s, 2) != SQLITE_INTEGER ||
        sqlite3_column_int64(s, 2) < 0)
        return true;
    out->bike_id = sqlite3_column_int64(s, 0);
    memcpy(out->key, key, STORE_LOCK_KEY_BYTES);
    out->rx_counter = (uint64_t)sqlite3_column_int64(s, 2);
    return false;
}

/* A policy row: vehicle_type, require_secure. True on a bad row. */
static bool row_policy(sqlite3_stmt *s, struct store_lock_policy *out)
{
    const char *t = (const char *)sqlite3_column_text(s, 0);
    if (!t || core_vtype_parse(str_from_cstr(t), &out->vtype) != ERR_OK ||
        sqlite3_column_type(s, 1) != SQLITE_INTEGER)
        return true;
    out->require_secure = sqlite3_column_int64(s, 1) != 0;
    return false;
}

/* Decodes one row of kind and hands it to fn. */
static enum err load_row(sqlite3_stmt *s, enum load_kind kind, union load_fn fn,
                         void *ctx)
{
    union {
        struct core_bike bike;
        struct core_rider rider;
        struct core_trip trip;
        struct core_reservation res;
        struct core_pricing pricing;
        struct store_lock_secret secret;
        struct store_lock_policy policy;
    } rec;
    switch (kind) {
    case LOAD_BIKE:
        return row_bike(s, &rec.bike) ? ERR_IO : fn.bike(ctx, &rec.bike);
    case LOAD_RIDER:
        return row_rider(s, &rec.rider) ? ERR_IO : fn.rider(ctx, &rec.rider);
    case LOAD_TRIP:
        return row_trip(s, &rec.trip) ? ERR_IO : fn.trip(ctx, &rec.trip);
    case LOAD_RES:
        return row_res(s, &rec.res) ? ERR_IO : fn.res(ctx, &rec.res);
    case LOAD_PRICING:
        return row_pricing(s, &rec.pricing) ? ERR_IO
                                            : fn.pricing(ctx, &rec.pricing);
    case LOAD_SECRET:
        return row_secret(s, &rec.secret) ? ERR_IO
                                          : fn.secret(ctx, &rec.secret);
    case LOAD_POLICY:
        return row_policy(s, &rec.policy) ? ERR_IO
                                          : fn.policy(ctx, &rec.policy);
    }
    BUG("unknown load kind %d", (int)kind);
}

/*
 * Runs sql and calls fn for each row. The statement is prepared per call, so
 * fn may use the store's other functions.
 */
static enum err load(struct store *st, const char *sql, enum load_kind kind,
                     union load_fn fn, void *ctx)
{
    sqlite3_stmt *s = NULL;
    enum err e = ERR_IO;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
        goto out;
    for (;;) {
        int rc = sqlite3_step(s);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW) {
            e = ERR_IO;
            goto out;
        }
        e = load_row(s, kind, fn, ctx);
        if (e != ERR_OK)
            goto out;
    }
    e = ERR_OK;
out:
    sqlite3_finalize(s);
    return e;
}

enum err store_load_bikes(struct store *st, store_bike_fn *fn, void *ctx)
{
    return load(st,
                "SELECT id, qr_code, imei, vehicle_type, state, lat, lon,"
                " battery_pct, last_report_ms, lock_closed, created_ms,"
                " last_use_ms, truck_id, alarms FROM bikes ORDER BY id",
                LOAD_BIKE, (union load_fn){.bike = fn}, ctx);
}

enum err store_load_riders(struct store *st, store_rider_fn *fn, void *ctx)
{
    return load(st,
                "SELECT id, token_hash, balance_cents, created_ms,"
                " reward_day, rewards_today FROM riders ORDER BY id",
                LOAD_RIDER, (union load_fn){.rider = fn}, ctx);
}

enum err store_load_active_trips(struct store *st, store_trip_fn *fn, void *ctx)
{
    return load(st,
                "SELECT " TRIP_COLS " FROM trips"
                " WHERE state IN ('unlocking', 'riding') ORDER BY id",
                LOAD_TRIP, (union load_fn){.trip = fn}, ctx);
}

enum err store_load_active_reservations(struct store *st, store_res_fn *fn,
                                        void *ctx)
{
    return load(st,
                "SELECT " RES_COLS " FROM reservations"
                " WHERE state = 'active' ORDER BY id",
                LOAD_RES, (union load_fn){.res = fn}, ctx);
}

enum err store_load_pricing(struct store *st, store_pricing_fn *fn, void *ctx)
{
    return load(st,
                "SELECT version, plan_id, name, currency, unlock_cents,"
                " segments, created_ms FROM pricing_plans ORDER BY version",
                LOAD_PRICING, (union load_fn){.pricing = fn}, ctx);
}

enum err store_load_lock_secrets(struct store *st, store_secret_fn *fn,
                                 void *ctx)
{
    return load(st,
                "SELECT bike_id, key, rx_counter FROM lock_secrets"
                " ORDER BY bike_id",
                LOAD_SECRET, (union load_fn){.secret = fn}, ctx);
}

enum err store_load_lock_policies(struct store *st, store_policy_fn *fn,
                                  void *ctx)
{
    return load(st,
                "SELECT vehicle_type, require_secure FROM lock_policy"
                " ORDER BY vehicle_type",
                LOAD_POLICY, (union load_fn){.policy = fn}, ctx);
}

/* Reads through the prepared statements */

/* Steps s for its single row: ERR_OK with the row current, ERR_NOT_FOUND,
 * or ERR_IO. */
static enum err step_one(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        return ERR_OK;
    return rc == SQLITE_DONE ? ERR_NOT_FOUND : ERR_IO;
}

/* Ends a use of a prepared statement; its error was seen at step. */
static void done(sqlite3_stmt *s)
{
    (void)sqlite3_reset(s);
    (void)sqlite3_clear_bindings(s);
}

enum err store_max_ids(struct store *st, int64_t *max_trip_id,
                       int64_t *max_reservation_id)
{
    sqlite3_stmt *s = st->max_ids;
    enum err e = step_one(s);
    if (e == ERR_OK) {
        /* max() of an empty table is NULL, which reads as 0. */
        *max_trip_id = sqlite3_column_int64(s, 0);
        *max_reservation_id = sqlite3_column_int64(s, 1);
    } else {
        e = ERR_IO;
    }
    done(s);
    return e;
}

enum err store_trip_get(struct store *st, int64_t id, struct core_trip *out)
{
    sqlite3_stmt *s = st->trip_get;
    enum err e = ERR_IO;
    if (sqlite3_bind_int64(s, 1, id) != SQLITE_OK)
        goto out;
    e = step_one(s);
    if (e == ERR_OK) {
        struct core_trip t;
        e = row_trip(s, &t);
        if (e == ERR_OK)
            *out = t;
    }
out:
    done(s);
    return e;
}

enum err store_trip_by_idem(struct store *st, int64_t rider_id, struct str key,
                            struct core_trip *out)
{
    if (key.len == 0 || key.len > CORE_IDEM_KEY_MAX)
        return ERR_NOT_FOUND; /* no trip stores such a key */
    sqlite3_stmt *s = st->trip_by_idem;
    enum err e = ERR_IO;
    if (sqlite3_bind_int64(s, 1, rider_id) != SQLITE_OK ||
        sqlite3_bind_text(s, 2, key.ptr, (int)key.len, SQLITE_STATIC) !=
            SQLITE_OK)
        goto out;
    e = step_one(s);
    if (e == ERR_OK) {
        struct core_trip t;
        e = row_trip(s, &t);
        if (e == ERR_OK)
            *out = t;
    }
out:
    done(s);
    return e;
}

enum err store_reservation_get(struct store *st, int64_t id,
                               struct core_reservation *out)
{
    sqlite3_stmt *s = st->res_get;
    enum err e = ERR_IO;
    if (sqlite3_bind_int64(s, 1, id) != SQLITE_OK)
        goto out;
    e = step_one(s);
    if (e == ERR_OK) {
        struct core_reservation r;
        e = row_res(s, &r);
        if (e == ERR_OK)
            *out = r;
    }
out:
    done(s);
    return e;
}

enum err store_trips_by_rider(struct store *st, int64_t rider_id,
                              int64_t before_id, struct core_trip *out,
                              size_t cap, size_t *n)
{
    sqlite3_stmt *s = st->trips_by_rider;
    enum err e = ERR_IO;
    size_t count = 0;
    int64_t limit = cap > (size_t)INT64_MAX ? INT64_MAX : (int64_t)cap;
    if (sqlite3_bind_int64(s, 1, rider_id) != SQLITE_OK ||
        sqlite3_bind_int64(s, 2, before_id > 0 ? before_id : INT64_MAX) !=
            SQLITE_OK ||
        sqlite3_bind_int64(s, 3, limit) != SQLITE_OK)
        goto out;
    for (;;) {
        int rc = sqlite3_step(s);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW || count == cap) {
            e = ERR_IO;
            goto out;
        }
        e = row_trip(s, &out[count]);
        if (e != ERR_OK)
            goto out;
        count++;
    }
    *n = count;
    e = ERR_OK;
out:
    done(s);
    return e;
}

/* Operator tokens */

enum err store_token_create(struct store *st,
                            const unsigned char hash[CORE_TOKEN_HASH_BYTES],
                            enum store_role role, const char *label,
                            int64_t now_ms, int64_t *id, struct err_detail *d)
{
    if (role != STORE_ROLE_OPERATOR)
        return err_set(d, ERR_INVALID, "role", "unknown token role %d",
                       (int)role);
    size_t label_len = strlen(label);
    if (label_len > STORE_TOKEN_LABEL_MAX)
        return err_set(d, ERR_INVALID, "label",
                       "label must be at most %d bytes", STORE_TOKEN_LABEL_MAX);
    sqlite3_stmt *s = st->token_insert;
    enum err e = ERR_IO;
    int rc =
        sqlite3_bind_blob(s, 1, hash, CORE_TOKEN_HASH_BYTES, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 2, role_operator, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 3, label, (int)label_len, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(s, 4, now_ms);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    if (rc != SQLITE_DONE) {
        e = store__err(rc);
        if (e == ERR_CONFLICT)
            err_set(d, e, "", "the token exists already");
        else
            err_set(d, e, "", "cannot store the token in '%s': %s", st->path,
                    sqlite3_errmsg(st->db));
        goto out;
    }
    *id = sqlite3_last_insert_rowid(st->db);
    e = ERR_OK;
out:
    done(s);
    return e;
}

enum err store_token_lookup(struct store *st,
                            const unsigned char hash[CORE_TOKEN_HASH_BYTES],
                            enum store_role *role, int64_t *id)
{
    sqlite3_stmt *s = st->token_lookup;
    enum err e = ERR_IO;
    if (sqlite3_bind_blob(s, 1, hash, CORE_TOKEN_HASH_BYTES, SQLITE_STATIC) !=
        SQLITE_OK)
        goto out;
    e = step_one(s);
    if (e != ERR_OK)
        goto out;
    struct row r = {s, false};
    int64_t token_id = col_i64(&r, 0);
    if (!str_eq_cstr(col_str(&r, 1), role_operator) || r.bad) {
        e = ERR_IO;
        goto out;
    }
    *role = STORE_ROLE_OPERATOR;
    *id = token_id;
out:
    done(s);
    return e;
}

/* Position history */

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

/* Appends the points of bike_id in [from_ms, to_ms] from one block. */
static void block_points(const unsigned char *data, size_t n, int64_t t0_ms,
                         uint32_t bike_id, int64_t from_ms, int64_t to_ms,
                         struct store_point *out, size_t cap, size_t *count)
{
    /* The first point of the bike: entries are sorted by bike, then time. */
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (get_u32(data + mid * STORE__POINT_BYTES) < bike_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < n && *count < cap; i++) {
        const unsigned char *p = data + i * STORE__POINT_BYTES;
        if (get_u32(p) != bike_id)
            break;
        int64_t ts = t0_ms + get_u32(p + 4);
        if (ts < from_ms || ts > to_ms)
            continue;
        out[(*count)++] = (struct store_point){
            .ts_ms = ts,
            .bike_id = bike_id,
            .lat_e7 = (int32_t)get_u32(p + 8),
            .lon_e7 = (int32_t)get_u32(p + 12),
        };
    }
}

enum err store_positions_get(struct store *st, int64_t bike_id, int64_t from_ms,
                             int64_t to_ms, struct store_point *out, size_t cap,
                             size_t *n)
{
    sqlite3_stmt *s = st->positions_get;
    enum err e = ERR_IO;
    *n = 0;
    if (bike_id < 0 || bike_id > UINT32_MAX)
        return ERR_OK;
    if (sqlite3_bind_int64(s, 1, bike_id % STORE_POSITION_SHARDS) !=
            SQLITE_OK ||
        sqlite3_bind_int64(s, 2, from_ms) != SQLITE_OK ||
        sqlite3_bind_int64(s, 3, to_ms) != SQLITE_OK)
        goto out;
    while (*n < cap) {
        int rc = sqlite3_step(s);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW)
            goto out;
        int64_t t0 = sqlite3_column_int64(s, 0);
        int64_t npts = sqlite3_column_int64(s, 1);
        const unsigned char *data = sqlite3_column_blob(s, 2);
        int bytes = sqlite3_column_bytes(s, 2);
        if (npts < 0 || (int64_t)bytes != npts * STORE__POINT_BYTES ||
            (npts && !data))
            goto out; /* a corrupt block */
        block_points(data, (size_t)npts, t0, (uint32_t)bike_id, from_ms, to_ms,
                     out, cap, n);
    }
    e = ERR_OK;
out:
    done(s);
    return e;
}
