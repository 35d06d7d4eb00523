/* SPDX-License-Identifier: MIT */
/*
 * Persistence behind one interface. The embedded backend is SQLite in WAL
 * mode with synchronous=FULL, so a committed transaction survives kill -9 and
 * power loss. Two kinds of handle:
 *
 *   struct store         a connection for loading and reading, owned by one
 *                        thread (the service's loop thread);
 *   struct store_writer  the group-commit thread: callers submit changes,
 *                        each gets a log sequence number (lsn); the thread
 *                        commits whatever has queued in one transaction and
 *                        then reports the highest durable lsn.
 *
 * No SQLite result code escapes this module; failures are enum err with a
 * message in struct err_detail.
 */
#ifndef STORE_STORE_H
#define STORE_STORE_H

#include "base/sys.h"
#include "base/err.h"
#include "base/str.h"
#include "core/entity.h"
#include "core/pricing.h"
#include "core/world.h"

struct store;
struct store_writer;

enum store_role { STORE_ROLE_OPERATOR = 1 };

/*
 * Opens (creating if needed) the database at path and brings its schema to
 * the current version, running each pending migration in its own
 * transaction. ERR_IO if the file cannot be opened or is not a spoke
 * database; ERR_CONFLICT if its schema is newer than this binary knows.
 * The handle belongs to the calling thread until store_close.
 */
enum err store_open(const char *path, struct store **out, struct err_detail *d);

/* Closes the handle; NULL is a no-op. */
void store_close(struct store *st);

/* The schema version of an open store (for `spoke version` and tests). */
int store_schema_version(const struct store *st);

/*
 * Loading at start: calls fn for each row, in id order. Stops and returns
 * fn's error if fn fails; ERR_IO on a read failure.
 */
typedef enum err store_bike_fn(void *ctx, const struct core_bike *b);
typedef enum err store_rider_fn(void *ctx, const struct core_rider *r);
typedef enum err store_trip_fn(void *ctx, const struct core_trip *t);
typedef enum err store_res_fn(void *ctx, const struct core_reservation *r);
typedef enum err store_pricing_fn(void *ctx, const struct core_pricing *p);

enum err store_load_bikes(struct store *st, store_bike_fn *fn, void *ctx);
enum err store_load_riders(struct store *st, store_rider_fn *fn, void *ctx);
/* Only trips in state unlocking or riding. */
enum err store_load_active_trips(struct store *st, store_trip_fn *fn,
                                 void *ctx);
/* Only reservations in state active. */
enum err store_load_active_reservations(struct store *st, store_res_fn *fn,
                                        void *ctx);
/* Every pricing version, oldest first. */
enum err store_load_pricing(struct store *st, store_pricing_fn *fn, void *ctx);
/* The highest trip and reservation ids ever stored (0 if none). */
enum err store_max_ids(struct store *st, int64_t *max_trip_id,
                       int64_t *max_reservation_id);

/* Reads. ERR_NOT_FOUND if there is no such row; ERR_IO on failure. */
enum err store_trip_get(struct store *st, int64_t id, struct core_trip *out);
enum err store_trip_by_idem(struct store *st, int64_t rider_id, struct str key,
                            struct core_trip *out);
enum err store_reservation_get(struct store *st, int64_t id,
                               struct core_reservation *out);
/*
 * The rider's trips with id < before_id (0: no bound), newest first, at most
 * cap of them into out; *n gets the count. On failure out may be partly
 * written and *n is untouched.
 */
enum err store_trips_by_rider(struct store *st, int64_t rider_id,
                              int64_t before_id, struct core_trip *out,
                              size_t cap, size_t *n);

#define STORE_TOKEN_LABEL_MAX 64

/*
 * Operator tokens (created by `spoke token create`, checked by the server).
 * token_create stores the hash with a role and a label (at most
 * STORE_TOKEN_LABEL_MAX bytes) and commits at once; ERR_CONFLICT if the hash
 * exists, ERR_INVALID for an unknown role or a longer label, ERR_BUSY if
 * another process held the write lock past the busy timeout, ERR_IO on
 * failure. token_lookup gives the role and the token's id, or ERR_NOT_FOUND;
 * ERR_IO on failure.
 */
enum err store_token_create(struct store *st,
                            const unsigned char hash[CORE_TOKEN_HASH_BYTES],
                            enum store_role role, const char *label,
                            int64_t now_ms, int64_t *id, struct err_detail *d);
enum err store_token_lookup(struct store *st,
                            const unsigned char hash[CORE_TOKEN_HASH_BYTES],
                            enum store_role *role, int64_t *id);

/*
 * The secret of a lock that speaks the secure dialect: its 256-bit key and
 * the highest frame counter accepted from it.
 */
#define STORE_LOCK_KEY_BYTES 32
struct store_lock_secret {
    int64_t bike_id;
    unsigned char key[STORE_LOCK_KEY_BYTES];
    uint64_t rx_counter;
};

/* Whether locks of a vehicle type must speak the secure dialect. */
struct store_lock_policy {
    enum core_vtype vtype;
    bool require_secure;
};

typedef enum err store_secret_fn(void *ctx, const struct store_lock_secret *s);
typedef enum err store_policy_fn(void *ctx, const struct store_lock_policy *p);

/* Every lock secret, by bike id; every stored policy. As the loaders above. */
enum err store_load_lock_secrets(struct store *st, store_secret_fn *fn,
                                 void *ctx);
enum err store_load_lock_policies(struct store *st, store_policy_fn *fn,
                                  void *ctx);

/* One reported position of a bike, for the position history. */
struct store_point {
    int64_t ts_ms;    /* when the server received it */
    uint32_t bike_id; /* bike ids stay below 2^32 */
    int32_t lat_e7;   /* degrees times 10^7 */
    int32_t lon_e7;
};

/* A batch of points for the history; the op owns them (see below). */
struct store_positions {
    struct store_point *pts; /* from xmalloc */
    size_t n;
};

/*
 * One aggregate of the search log: the searches of GET /v1/bikes in one
 * minute (ts_ms, a multiple of 60,000) from one square of 0.001 degree
 * (lat, lon: the square's centre) that found bikes or found none. No rider,
 * no token, no exact position: see docs/operations.md.
 */
struct store_search {
    int64_t ts_ms;
    double lat, lon;
    bool found;
    uint32_t n; /* how many searches */
};

/* A batch of search aggregates; the op owns them like positions' points. */
struct store_searches {
    struct store_search *v; /* from xmalloc */
    size_t n;
};

/*
 * What an op does. The first kinds are the world's changes (the same
 * values as enum core_change_kind); the rest are the store's own.
 */
enum store_op_kind {
    STORE_OP_BIKE = CORE_CH_BIKE,
    STORE_OP_RIDER = CORE_CH_RIDER,
    STORE_OP_TRIP = CORE_CH_TRIP,
    STORE_OP_RESERVATION = CORE_CH_RESERVATION,
    STORE_OP_CHARGE = CORE_CH_CHARGE,
    STORE_OP_PRICING = CORE_CH_PRICING,
    STORE_OP_EVENT = CORE_CH_EVENT,
    STORE_OP_POSITIONS,    /* u.positions: appended to the position history */
    STORE_OP_PRUNE,        /* u.before_ms: history older than this goes */
    STORE_OP_SECRET,       /* u.secret: a lock's key and counter (upsert) */
    STORE_OP_POLICY,       /* u.policy (upsert) */
    STORE_OP_SEARCHES,     /* u.searches: appended to the search log */
    STORE_OP_DEMAND_PRUNE, /* u.before_ms: searches and live demand go */
};

/*
 * One change to persist. Records are copies, so the submitter may change or
 * free its own objects right after submitting. A bike, rider, trip,
 * reservation or pricing record is written whole (insert or replace by id);
 * a charge inserts the ledger row for the trip's fare unless that trip was
 * charged before (so a charge is recorded exactly once however often it is
 * submitted); an event appends to the vehicle event log.
 *
 * STORE_OP_POSITIONS is the exception to copying: submitting it hands the
 * points array to the writer, which frees it (also when the submit fails).
 * The points are stored in blocks: per flush, one block per shard of bikes
 * (bike id modulo STORE_POSITION_SHARDS), 16 bytes a point.
 * STORE_OP_SEARCHES hands over its array the same way; each aggregate is
 * one row of the searches table.
 *
 * The demand history: a trip written in state ended (by STORE_OP_TRIP or
 * STORE_OP_CHARGE) is also copied, once, into the anonymous demand_trips
 * table (its times and end points, no rider, no bike), in the same
 * transaction; a trip longer than STORE_DEMAND_TRIP_MAX_MS is not.
 * STORE_OP_DEMAND_PRUNE deletes searches and those copies older than
 * u.before_ms; imported history stays until its source is replaced.
 */
struct store_op {
    enum store_op_kind kind;
    union {
        struct core_bike bike;
        struct core_rider rider;
        struct core_trip trip; /* STORE_OP_TRIP and STORE_OP_CHARGE */
        struct core_reservation res;
        struct core_pricing pricing;
        struct core_vehicle_event event;
        struct store_positions positions;
        int64_t before_ms;
        struct store_lock_secret secret;
        struct store_lock_policy policy;
        struct store_searches searches;
    } u;
};

#define STORE_POSITION_SHARDS 256

/*
 * The history of bike_id from from_ms to to_ms (inclusive), oldest first:
 * at most cap points into out, *n the count (the earliest cap if there are
 * more). ERR_IO on a read failure or a corrupt block.
 */
enum err store_positions_get(struct store *st, int64_t bike_id, int64_t from_ms,
                             int64_t to_ms, struct store_point *out, size_t cap,
                             size_t *n);

/*
 * Called on the writer thread after each commit with the highest durable
 * lsn (msg NULL), or with err != ERR_OK, the last durable lsn and a message
 * if a commit failed: ERR_BUSY if the database stayed locked through every
 * retry, ERR_CONFLICT for a constraint the batch broke, ERR_IO otherwise.
 * After a failure the writer accepts no more work: nothing after the last
 * durable lsn is in the database, and the owner should stop (restart
 * rebuilds from the store). The callback may call store_writer_submit.
 */
typedef void store_commit_fn(void *ctx, uint64_t durable_lsn, enum err err,
                             const char *msg);

/*
 * Starts the group-commit thread on its own connection to path (which
 * store_open has already migrated). lsn numbering starts after start_lsn.
 * ERR_IO if the database cannot be opened or the thread cannot start.
 */
enum err store_writer_start(const char *path, uint64_t start_lsn,
                            store_commit_fn *fn, void *ctx,
                            struct store_writer **out, struct err_detail *d);

/*
 * Queues n ops to commit together in one transaction (with whatever else is
 * queued) and returns their lsn: every op of this call is durable once the
 * callback reports a durable_lsn >= that value. n may be 0: the lsn is then
 * a barrier, durable once everything submitted before it is. Thread-safe.
 * Returns 0 if the writer has failed or is stopping (points of position
 * ops are freed then too).
 */
uint64_t store_writer_submit(struct store_writer *w, const struct store_op *ops,
                             size_t n);

/*
 * Commits everything queued, stops the thread and closes its connection;
 * NULL is a no-op. Call from the thread that started it.
 */
void store_writer_stop(struct store_writer *w);

/*
 * Bulk import of bikes (`spoke import bikes`), all or nothing, for a
 * database no server has open: the import holds an exclusive lock from
 * begin to free, so a running server (or a second import) makes begin
 * fail, and a server starting meanwhile waits, then fails to open.
 */
struct store_import;

/*
 * Called for each bike the database refuses (a qr_code or IMEI that a
 * stored bike or an earlier bike of the import has), with the caller's
 * line for it and the reason (d->msg, d->field "qr_code" or "lock_imei").
 * It runs inside store_import_add or store_import_finish, up to a batch of
 * bikes after the bike's own add.
 */
typedef void store_import_reject_fn(void *ctx, int64_t line,
                                    const struct err_detail *d);

/* How an import ended (store_import_finish). */
struct store_import_result {
    int64_t first_id; /* the first bike's id: one more than the highest */
    size_t added;     /* bikes given to store_import_add */
    size_t rejected;  /* of those, refused through the reject callback */
    bool committed;   /* the bikes are in the database, ids first_id.. */
};

/*
 * Opens path (already created and migrated by store_open), takes it for
 * itself and starts one transaction; bikes get ids from the highest stored
 * plus one, in the order added, and created_ms now_ms. fn (may be NULL)
 * hears of refused bikes. ERR_BUSY if another connection kept the database
 * past the busy timeout (5 s; a running server keeps it all the time);
 * ERR_IO if it cannot be opened or has another schema version. The handle
 * belongs to the calling thread; free it with store_import_free.
 */
enum err store_import_begin(const char *path, int64_t now_ms,
                            store_import_reject_fn *fn, void *ctx,
                            struct store_import **out, struct err_detail *d);

/*
 * Adds a bike: qr_code, imei, vtype, state, pos and battery_pct are used,
 * the other fields ignored (last report 0, lock open). line is the
 * caller's number for it in reports. Bikes are inserted in batches; a
 * duplicate goes to the reject callback, and the import goes on so that
 * every duplicate is found. ERR_INVALID (nothing added) for a bike the
 * server could not hold: a bad QR code, IMEI, position or battery, or state
 * reserved or on_trip; ERR_IO if the database failed (only
 * store_import_finish or store_import_free may follow).
 */
enum err store_import_add(struct store_import *imp, const struct core_bike *b,
                          int64_t line, struct err_detail *d);

/*
 * Inserts what is pending and ends the transaction: commits, durably, if
 * commit is true and no bike was refused, else rolls back (the database is
 * as before: a dry run passes false). *res says what happened, also on
 * failure. ERR_CONFLICT if commit was asked for but bikes were refused;
 * ERR_IO if the database failed (rolled back). Call once, then free.
 */
enum err store_import_finish(struct store_import *imp, bool commit,
                             struct store_import_result *res,
                             struct err_detail *d);

/*
 * Rolls back what is not committed, releases the database and frees the
 * handle; NULL is a no-op.
 */
void store_import_free(struct store_import *imp);

/*
 * The demand history the forecast learns from (docs/forecast.md): trips
 * (ended live trips, and imported ones) and searches that found no bike.
 * Anonymous by design: no rider, no bike, positions of searches rounded.
 */

/* Trips in the demand history last at most this long (24 h). */
#define STORE_DEMAND_TRIP_MAX_MS (24 * 3600 * 1000LL)

enum store_demand_kind {
    STORE_DEMAND_RENTAL, /* a trip started: at started_ms, start position */
    STORE_DEMAND_RETURN, /* a trip ended: at ended_ms, end position */
    STORE_DEMAND_LOST,   /* searches at t_ms that found no bike: n of them */
};

struct store_demand_event {
    enum store_demand_kind kind;
    int64_t t_ms;
    struct geo_latlng pos;
    uint32_t n; /* 1 for rentals and returns */
};

typedef enum err store_demand_fn(void *ctx,
                                 const struct store_demand_event *ev);

/*
 * Calls fn for every demand event with from_ms <= t_ms < to_ms: the rental
 * and the return of each stored trip (each if its own time is in range),
 * and each search aggregate with found = 0. Events come grouped by kind of
 * table (trips, then searches), in no particular time order. Stops and
 * returns fn's error if fn fails; ERR_IO on a read failure or a malformed
 * row. Reads one snapshot (a read transaction), so open a store of its own
 * for a long load beside a running server; the handle's thread only.
 */
enum err store_demand_load(struct store *st, int64_t from_ms, int64_t to_ms,
                           store_demand_fn *fn, void *ctx);

/* Where a load of the demand history ended: the highest row ids read. */
struct store_demand_cursor {
    int64_t trip_id;   /* of demand_trips */
    int64_t search_id; /* of searches */
};

/*
 * For a history kept up to date: calls fn for the events with t_ms >=
 * from_ms (and no upper bound) of the rows added since *cursor, or of
 * every row if it is {0, 0}; then sets *cursor to the highest ids of the
 * snapshot read. ERR_CONFLICT, reading nothing, if a table's highest id is
 * below the cursor (its newest rows were deleted and their ids may come
 * again): start over from {0, 0}. Otherwise as store_demand_load.
 */
enum err store_demand_load_since(struct store *st, int64_t from_ms,
                                 struct store_demand_cursor *cursor,
                                 store_demand_fn *fn, void *ctx);

#define STORE_DEMAND_SOURCE_MAX 64 /* bytes of a source name */

/* A named import of trips. */
struct store_demand_source {
    int64_t id;
    char name[STORE_DEMAND_SOURCE_MAX + 1];
    int64_t trips;
    int64_t imported_ms;
};

typedef enum err store_demand_source_fn(void *ctx,
                                        const struct store_demand_source *s);

/* Every source, by name; as the loaders above (ERR_IO, fn's error). */
enum err store_demand_sources(struct store *st, store_demand_source_fn *fn,
                              void *ctx);

/* One trip of the demand history: when and where it started and ended. */
struct store_demand_trip {
    int64_t started_ms;
    int64_t ended_ms;
    struct geo_latlng start_pos;
    struct geo_latlng end_pos;
};

/*
 * Bulk import of trips into the demand history as one named source (`spoke
 * import trips`), all or nothing in one transaction. Like the bike import
 * it takes the database for itself from begin to free: ERR_BUSY while a
 * server has it open.
 */
struct store_trip_import;

/* How a trip import ended (store_trip_import_finish). */
struct store_trip_import_result {
    int64_t source_id; /* the new source's id (0 if not committed) */
    size_t added;      /* trips given to store_trip_import_add */
    size_t replaced;   /* trips of the old source deleted (replace) */
    int64_t first_ms;  /* earliest start of the trips added (0 if none) */
    int64_t last_ms;   /* latest end */
    bool committed;
};

/*
 * Opens path (already created and migrated by store_open), takes it for
 * itself and starts the transaction of a new source named source (1 to
 * STORE_DEMAND_SOURCE_MAX bytes, no control characters), imported_ms
 * now_ms. If a source of that name exists: with replace its trips and row
 * are deleted in the same transaction, else ERR_CONFLICT. ERR_INVALID for
 * a bad name; ERR_BUSY if another connection kept the database past the
 * busy timeout; ERR_IO. Free the handle with store_trip_import_free.
 */
enum err store_trip_import_begin(const char *path, const char *source,
                                 bool replace, int64_t now_ms,
                                 struct store_trip_import **out,
                                 struct err_detail *d);

/*
 * Adds a trip. ERR_INVALID (nothing added; d->field names the column) for
 * a trip the history cannot hold: a position that is not a valid
 * coordinate, a start before 1970 or after year 9999, an end before the
 * start or more than STORE_DEMAND_TRIP_MAX_MS after it. ERR_IO if the
 * database failed (only finish or free may follow).
 */
enum err store_trip_import_add(struct store_trip_import *imp,
                               const struct store_demand_trip *t,
                               struct err_detail *d);

/*
 * Writes what is pending, records the source's trip count and commits,
 * durably, if commit is true; else rolls back (a dry run). *res says what
 * happened, also on failure. ERR_IO (rolled back). Call once, then free.
 */
enum err store_trip_import_finish(struct store_trip_import *imp, bool commit,
                                  struct store_trip_import_result *res,
                                  struct err_detail *d);

/* Rolls back what is not committed, releases the database and frees the
 * handle; NULL is a no-op. */
void store_trip_import_free(struct store_trip_import *imp);

#endif
