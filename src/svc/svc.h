/* SPDX-License-Identifier: MIT */
/*
 * The running service. It owns the live world (core/), the fleet index
 * (geo/), the store and its group-commit writer (store/), and drives the lock
 * gateway (gateway/). Everything here runs on the loop thread; the writer
 * thread only reports back through the loop's wakeup.
 *
 * Every operation applies its rules to the world at once, queues the changed
 * records for commit and returns the lsn that makes them durable. Callers
 * that acknowledge a write to someone (an HTTP reply, a lock command) wait
 * until svc_durable_lsn() reaches it. A commit failure is fatal: the loop
 * stops, and a restart rebuilds the world from what is durable.
 */
#ifndef SVC_SVC_H
#define SVC_SVC_H

#include "base/sys.h"
#include "base/err.h"
#include "base/str.h"
#include "core/world.h"
#include "geo/geo.h"
#include "net/loop.h"
#include "svc/plan.h"

struct svc;
struct gateway;
struct gateway_ops;

struct svc_config {
    const char *db_path;
    int64_t reservation_hold_ms;     /* default 10 min */
    int64_t unlock_timeout_ms;       /* default 30 s */
    int64_t unlock_key_valid_s;      /* default 60 s, sent to the lock */
    int64_t missing_after_ms;        /* no report for this long: missing */
    int64_t sweep_interval_ms;       /* how often to look for missing bikes */
    struct geo_polygon service_area; /* n == 0: everywhere */
    double index_cell_m;             /* fleet index cell size */
    int64_t checkpoint_ms;           /* telemetry written this often (10 s) */
    int64_t history_flush_ms;        /* position history written (10 s) */
    int64_t history_retention_ms;    /* and kept this long (7 days) */
    int64_t search_flush_ms;         /* search log written (60 s) */
    int64_t demand_retention_ms;     /* demand history kept (400 days) */
    struct svc_dispatch_config dispatch; /* svc/plan.h */
};

/* Fills cfg with the defaults (no service area, db_path NULL). */
void svc_config_default(struct svc_config *cfg);

/*
 * Opens the store at cfg->db_path, rebuilds the world and the fleet index
 * from it, starts the writer, and arms the service's timers on loop. cfg is
 * copied (the service area too). ERR_IO if the store cannot be opened or
 * read; ERR_CONFLICT if its contents are inconsistent.
 */
enum err svc_new(struct net_loop *loop, const struct svc_config *cfg,
                 struct svc **out, struct err_detail *d);

/* Commits what is queued, stops the writer and frees; NULL is a no-op. */
void svc_free(struct svc *s);

/*
 * Connects the lock gateway that unlock commands go through. Create the
 * gateway with svc_gateway_ops() and the service as its context.
 */
void svc_set_gateway(struct svc *s, struct gateway *gw);
const struct gateway_ops *svc_gateway_ops(void);

/*
 * True once a commit failed: the service stopped its loop and must not be
 * used further; the process should exit non-zero.
 */
bool svc_has_failed(const struct svc *s);

/* The highest lsn known durable. */
uint64_t svc_durable_lsn(const struct svc *s);

/* Called on the loop thread each time the durable lsn advances. */
typedef void svc_durable_fn(void *ctx, uint64_t durable_lsn);
void svc_on_durable(struct svc *s, svc_durable_fn *fn, void *ctx);

/* Who is calling. */
enum svc_role { SVC_ROLE_RIDER = 1, SVC_ROLE_OPERATOR = 2 };

struct svc_principal {
    enum svc_role role;
    int64_t id; /* rider id or operator token id */
};

/*
 * Resolves a bearer token. ERR_NOT_FOUND if no rider or operator has it;
 * ERR_INVALID if it is malformed.
 */
enum err svc_authenticate(struct svc *s, struct str token,
                          struct svc_principal *out);

/* Bearer tokens: 32 random bytes in URL-safe base64 (43 chars + NUL). */
#define SVC_TOKEN_LEN 44

/*
 * Makes a new random token and the hash under which it is stored (only the
 * hash is ever stored). Call sodium_init() first (svc_new does).
 */
void svc_token_new(char token[SVC_TOKEN_LEN],
                   unsigned char hash[CORE_TOKEN_HASH_BYTES]);

/* Rider sign-up: a new rider and their bearer token. */
enum err svc_rider_create(struct svc *s, struct core_rider *out,
                          char token[SVC_TOKEN_LEN], uint64_t *lsn,
                          struct err_detail *d);
enum err svc_rider_get(struct svc *s, int64_t rider_id, struct core_rider *out);

/* Nearest available bikes. */
struct svc_near_query {
    struct geo_latlng center;
    double radius_m;
    size_t limit;
};

struct svc_near_hit {
    struct core_bike bike; /* a copy */
    double distance_m;
    int64_t reward_cents; /* for riding it to a cell short of bikes */
};

#define SVC_NEAR_LIMIT_MAX 100
#define SVC_NEAR_RADIUS_MAX_M 5000.0

/*
 * Available bikes within radius_m of center, nearest first, at most limit
 * (<= SVC_NEAR_LIMIT_MAX, radius <= SVC_NEAR_RADIUS_MAX_M). ERR_INVALID for
 * a bad center, radius or limit (field in d).
 */
enum err svc_bikes_near(struct svc *s, const struct svc_near_query *q,
                        struct svc_near_hit *out, size_t *n,
                        struct err_detail *d);

/*
 * Reservations, for the rider who holds them. ERR_NOT_FOUND for an unknown
 * bike or a reservation that is not the rider's; ERR_CONFLICT as
 * core_world_reserve / core_world_reservation_end.
 */
enum err svc_reserve(struct svc *s, int64_t rider_id, int64_t bike_id,
                     struct core_reservation *out, uint64_t *lsn,
                     struct err_detail *d);
enum err svc_reservation_get(struct svc *s, int64_t rider_id, int64_t id,
                             struct core_reservation *out, uint64_t *lsn,
                             struct err_detail *d);
enum err svc_reservation_cancel(struct svc *s, int64_t rider_id, int64_t id,
                                struct core_reservation *out, uint64_t *lsn,
                                struct err_detail *d);

/* The bike to unlock: by id, or by the QR code printed on it. */
struct svc_trip_request {
    int64_t bike_id;    /* 0 if qr_code is given */
    struct str qr_code; /* empty if bike_id is given */
    struct str idem_key;
};

/*
 * Starts a trip in state unlocking; once it is durable the unlock goes to
 * the bike's lock. A request with an Idempotency-Key the rider used before
 * returns that trip with *replayed set (ERR_CONFLICT with reason
 * "idempotency_key_reused" if it named another bike). ERR_NOT_FOUND for an
 * unknown bike; ERR_CONFLICT as core_world_trip_start.
 */
enum err svc_trip_start(struct svc *s, int64_t rider_id,
                        const struct svc_trip_request *req,
                        struct core_trip *out, bool *replayed, uint64_t *lsn,
                        struct err_detail *d);

/*
 * A trip by id. For a rider (rider_id != 0) only their own: ERR_NOT_FOUND
 * otherwise, exactly as for a trip that does not exist.
 */
enum err svc_trip_get(struct svc *s, int64_t rider_id, int64_t id,
                      struct core_trip *out, uint64_t *lsn,
                      struct err_detail *d);

/* The rider's trips with id < before_id (0: newest), newest first. */
#define SVC_TRIPS_PAGE_MAX 100
enum err svc_trips_list(struct svc *s, int64_t rider_id, int64_t before_id,
                        struct core_trip *out, size_t cap, size_t *n,
                        struct err_detail *d);

/* Operators */

struct svc_bike_spec {
    struct str qr_code;
    struct str lock_imei;
    struct geo_latlng pos;
    enum core_vtype vtype;
    bool secure; /* its lock speaks the secure dialect: make it a key */
};

#define SVC_LOCK_KEY_BYTES 32

/*
 * Registers a bike. For a secure lock, a new random 256-bit key goes to
 * lock_key (the only time it leaves the server: it is to be provisioned
 * into the lock). ERR_INVALID for a bad field or a position outside the
 * service area (reason "outside_service_area"); ERR_CONFLICT as
 * core_world_add_bike.
 */
enum err svc_bike_add(struct svc *s, const struct svc_bike_spec *spec,
                      struct core_bike *out,
                      unsigned char lock_key[SVC_LOCK_KEY_BYTES], uint64_t *lsn,
                      struct err_detail *d);

/* One bike as operators see it. */
struct svc_bike_view {
    struct core_bike bike;
    bool lock_online;
    bool lock_secure;
};

/*
 * Which vehicle types must have secure locks: a plain lock of such a type
 * is refused when it connects (those connected stay until they reconnect).
 */
void svc_lock_policy(struct svc *s, bool require_secure[CORE_VT_COUNT]);
enum err svc_lock_policy_set(struct svc *s,
                             const bool require_secure[CORE_VT_COUNT],
                             uint64_t *lsn);

enum err svc_bike_get(struct svc *s, int64_t id, struct svc_bike_view *out);

/*
 * Bikes with id > after_id in id order, at most cap; only those in state
 * `state` unless all_states.
 */
size_t svc_bike_list(struct svc *s, int64_t after_id, bool all_states,
                     enum core_vstate state, struct svc_bike_view *out,
                     size_t cap);

/* Applies an operator's event to a bike; errors as core_world_bike_event. */
enum err svc_bike_event(struct svc *s, int64_t bike_id, enum core_vevent e,
                        struct core_bike *out, uint64_t *lsn,
                        struct err_detail *d);

/*
 * Ends a trip by force: a riding trip ends (reason "operator"), charged if
 * charge; an unlocking one fails (reason "operator"). ERR_NOT_FOUND;
 * ERR_CONFLICT ("trip_not_active") if it already ended.
 */
enum err svc_trip_force_end(struct svc *s, int64_t trip_id, bool charge,
                            struct core_trip *out, uint64_t *lsn,
                            struct err_detail *d);

const struct core_pricing *svc_pricing(struct svc *s);
enum err svc_pricing_set(struct svc *s, const struct core_pricing *p,
                         struct core_pricing *out, uint64_t *lsn,
                         struct err_detail *d);

/* Position history */

struct svc_point {
    int64_t ts_ms;
    struct geo_latlng pos;
};

#define SVC_POINTS_MAX 10000

/*
 * The positions bike_id reported from from_ms to to_ms (inclusive), oldest
 * first, at most cap (the earliest ones): what is stored plus what is
 * still buffered. ERR_NOT_FOUND for an unknown bike; ERR_IO.
 */
enum err svc_positions(struct svc *s, int64_t bike_id, int64_t from_ms,
                       int64_t to_ms, struct svc_point *out, size_t cap,
                       size_t *n);

/*
 * Where bike_id was at at_ms: its last reported position at or before it
 * (within the retention window). ERR_NOT_FOUND if the bike is unknown or
 * reported nothing before at_ms; ERR_IO.
 */
enum err svc_position_at(struct svc *s, int64_t bike_id, int64_t at_ms,
                         struct svc_point *out);

/*
 * Counts a search of GET /v1/bikes in the search log: center is where it
 * looked, found whether it found a bike. Only an aggregate is kept: the
 * minute, the 0.001-degree square of center and found, with a count,
 * written every search_flush_ms (docs/operations.md). Call once per
 * search that succeeded.
 */
void svc_search_log(struct svc *s, struct geo_latlng center, bool found);

/* Counters for /metrics. */
struct svc_stats {
    uint64_t trips_started;
    uint64_t trips_ended;
    uint64_t trips_failed;
    uint64_t reservations_made;
    uint64_t reservations_expired;
    uint64_t fare_cents_charged;
    uint64_t lock_frames;
    uint64_t positions;         /* reported positions accepted */
    uint64_t positions_flushed; /* of those, written to the history */
    uint64_t searches;          /* searches counted in the search log */
    uint64_t search_rows;       /* aggregates written to the search log */
    uint64_t commits_batches;
    uint64_t bikes_by_state[CORE_VS_COUNT];
    uint64_t locks_online;
    uint64_t riders;
    uint64_t durable_lsn;
    uint64_t submitted_lsn;
};

void svc_stats(struct svc *s, struct svc_stats *out);

#endif
