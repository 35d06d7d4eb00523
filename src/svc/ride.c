/* SPDX-License-Identifier: MIT */
/*
 * The ride: riders, finding bikes, reservations, trips from unlock to fare,
 * the operator's fleet actions, and what locks report through the gateway.
 * Each operation applies the world's rules, persists, and returns the lsn
 * its caller must wait for before acknowledging.
 */
#include "base/sys.h"
#include "svc/svc_int.h"
#include "base/clock.h"
#include "base/log.h"
#include "gateway/gateway.h"
#include "lock/lock.h"

/* A trip waiting for its lock to confirm the unlock. */
struct svc_unlock {
    struct net_timer timer;
    struct svc *s;
    int64_t trip_id;
};

/* A reservation's expiry. */
struct svc_res_timer {
    struct net_timer timer;
    struct svc *s;
    int64_t res_id;
};

static int64_t now_ms(void)
{
    return clock_wall_ms();
}

/* Riders */

enum err svc_rider_create(struct svc *s, struct core_rider *out,
                          char token[SVC_TOKEN_LEN], uint64_t *lsn,
                          struct err_detail *d)
{
    unsigned char hash[CORE_TOKEN_HASH_BYTES];
    svc_token_new(token, hash);
    struct core_rider *r;
    enum err e = core_world_add_rider(s->world, hash, now_ms(), &r, d);
    if (e != ERR_OK)
        return e;
    *lsn = svc__persist(s);
    s->stats.riders++;
    *out = *r;
    return ERR_OK;
}

enum err svc_rider_get(struct svc *s, int64_t rider_id, struct core_rider *out)
{
    const struct core_rider *r = core_world_rider(s->world, rider_id);
    if (!r)
        return ERR_NOT_FOUND;
    *out = *r;
    return ERR_OK;
}

/* Finding bikes */

enum err svc_bikes_near(struct svc *s, const struct svc_near_query *q,
                        struct svc_near_hit *out, size_t *n,
                        struct err_detail *d)
{
    if (q->limit < 1 || q->limit > SVC_NEAR_LIMIT_MAX)
        return err_set(d, ERR_INVALID, "limit", "limit must be 1 to %d",
                       SVC_NEAR_LIMIT_MAX);
    if (!(q->radius_m > 0 && q->radius_m <= SVC_NEAR_RADIUS_MAX_M))
        return err_set(d, ERR_INVALID, "radius_m",
                       "radius_m must be more than 0 and at most %g",
                       SVC_NEAR_RADIUS_MAX_M);
    if (!geo_latlng_is_valid(q->center))
        return err_set(d, ERR_INVALID, "lat", "not a valid position");
    struct geo_index_query iq = {
        .center = q->center,
        .radius_m = q->radius_m,
        .k = q->limit,
        .filter = {.state_mask = 1u << CORE_VS_AVAILABLE,
                   .type_mask = GEO_INDEX_ALL_TYPES,
                   .min_battery_pct = -1},
    };
    struct geo_index_hit hits[SVC_NEAR_LIMIT_MAX];
    size_t nhits = 0;
    enum err e =
        geo_index_query(s->index, &iq, hits, ARRAY_LEN(hits), &nhits, d);
    if (e != ERR_OK)
        return e;
    for (size_t i = 0; i < nhits; i++) {
        const struct core_bike *b = core_world_bike(s->world, hits[i].slot);
        ASSERT(b != NULL);
        out[i].bike = *b;
        out[i].distance_m = hits[i].distance_m;
        out[i].reward_cents = svc_reward_offer(s, b);
    }
    *n = nhits;
    return ERR_OK;
}

/* Reservations */

static void res_expired(struct net_timer *t)
{
    struct svc_res_timer *rt = t->ctx;
    struct svc *s = rt->s;
    imap_del(&s->res_timers, (uint64_t)rt->res_id);
    struct core_reservation *r = core_world_reservation(s->world, rt->res_id);
    xfree(rt);
    if (!r || r->state != CORE_RES_ACTIVE)
        return;
    core_world_reservation_end(s->world, r, CORE_RES_EXPIRED, now_ms(), NULL);
    svc__persist(s);
    s->stats.reservations_expired++;
}

static void arm_reservation(struct svc *s, const struct core_reservation *r)
{
    struct svc_res_timer *rt = xcalloc(1, sizeof(*rt));
    rt->s = s;
    rt->res_id = r->id;
    imap_put(&s->res_timers, (uint64_t)r->id, rt);
    net_timer_start(s->loop, &rt->timer, r->expires_ms - now_ms(), res_expired,
                    rt);
}

static void disarm_reservation(struct svc *s, int64_t res_id)
{
    struct svc_res_timer *rt = imap_del(&s->res_timers, (uint64_t)res_id);
    if (rt) {
        net_timer_stop(s->loop, &rt->timer);
        xfree(rt);
    }
}

enum err svc_reserve(struct svc *s, int64_t rider_id, int64_t bike_id,
                     struct core_reservation *out, uint64_t *lsn,
                     struct err_detail *d)
{
    struct core_rider *rider = core_world_rider(s->world, rider_id);
    struct core_bike *bike = core_world_bike(s->world, bike_id);
    if (!rider)
        return err_set(d, ERR_NOT_FOUND, "", "no such rider");
    if (!bike)
        return err_setc(d, ERR_NOT_FOUND, "bike_not_found", "bike_id",
                        "no bike %" PRId64, bike_id);
    struct core_reservation *r;
    enum err e = core_world_reserve(s->world, rider, bike, now_ms(),
                                    s->cfg.reservation_hold_ms, &r, d);
    if (e != ERR_OK)
        return e;
    *lsn = svc__persist(s);
    arm_reservation(s, r);
    s->stats.reservations_made++;
    *out = *r;
    return ERR_OK;
}

/* The rider's reservation by id, from memory or the store. */
static enum err find_reservation(struct svc *s, int64_t rider_id, int64_t id,
                                 struct core_reservation *out,
                                 struct err_detail *d)
{
    const struct core_reservation *r = core_world_reservation(s->world, id);
    if (r) {
        *out = *r;
    } else {
        enum err e = store_reservation_get(s->store, id, out);
        if (e == ERR_IO)
            return err_set(d, ERR_IO, "", "cannot read the store");
        if (e != ERR_OK)
            out->rider_id = -1;
    }
    if (out->rider_id != rider_id)
        return err_setc(d, ERR_NOT_FOUND, "not_found", "",
                        "no reservation %" PRId64, id);
    return ERR_OK;
}

enum err svc_reservation_get(struct svc *s, int64_t rider_id, int64_t id,
                             struct core_reservation *out, uint64_t *lsn,
                             struct err_detail *d)
{
    enum err e = find_reservation(s, rider_id, id, out, d);
    if (e == ERR_OK)
        *lsn = out->lsn;
    return e;
}

enum err svc_reservation_cancel(struct svc *s, int64_t rider_id, int64_t id,
                                struct core_reservation *out, uint64_t *lsn,
                                struct err_detail *d)
{
    enum err e = find_reservation(s, rider_id, id, out, d);
    if (e != ERR_OK)
        return e;
    struct core_reservation *r = core_world_reservation(s->world, id);
    if (!r || r->state != CORE_RES_ACTIVE)
        return err_setc(d, ERR_CONFLICT, "reservation_not_active", "",
                        "reservation %" PRId64 " is %s already", id,
                        core_res_state_name(out->state));
    e = core_world_reservation_end(s->world, r, CORE_RES_CANCELLED, now_ms(),
                                   d);
    if (e != ERR_OK)
        return e;
    disarm_reservation(s, id);
    *lsn = svc__persist(s);
    *out = *r;
    return ERR_OK;
}

/* Trips */

static void unlock_timed_out(struct net_timer *t);

static struct svc_unlock *track_unlock(struct svc *s, int64_t trip_id)
{
    struct svc_unlock *u = imap_get(&s->unlocks, (uint64_t)trip_id);
    if (!u) {
        u = xcalloc(1, sizeof(*u));
        u->s = s;
        u->trip_id = trip_id;
        imap_put(&s->unlocks, (uint64_t)trip_id, u);
    }
    return u;
}

static void untrack_unlock(struct svc *s, int64_t trip_id)
{
    struct svc_unlock *u = imap_del(&s->unlocks, (uint64_t)trip_id);
    if (u) {
        net_timer_stop(s->loop, &u->timer);
        xfree(u);
    }
}

static void log_trip(const char *event, const struct core_trip *t)
{
    log_emit(LOG_INFO, event,
             LOG_FIELDS(LOG_I64("trip_id", t->id),
                        LOG_I64("bike_id", t->bike_id),
                        LOG_STR("state", core_trip_state_name(t->state)),
                        LOG_STR("reason", t->reason[0] ? t->reason : NULL),
                        LOG_I64("fare_cents", t->fare_cents)));
}

/* Fails an unlocking trip for reason and persists it. */
static void fail_trip(struct svc *s, struct core_trip *t, const char *reason)
{
    struct core_bike *bike = core_world_bike(s->world, t->bike_id);
    if (core_world_trip_fail(s->world, t, reason, now_ms(), NULL) != ERR_OK)
        return;
    if (s->gw && bike)
        gateway_unlock_cancel(s->gw, bike->imei);
    untrack_unlock(s, t->id);
    svc__persist(s);
    s->stats.trips_failed++;
    log_trip("trip_failed", t);
}

/* Sends the unlock of an unlocking trip to its lock, if it is connected. */
static void send_unlock(struct svc *s, struct core_trip *t, bool fail_offline)
{
    struct core_bike *bike = core_world_bike(s->world, t->bike_id);
    if (!bike)
        return;
    enum err e = ERR_NOT_FOUND;
    if (s->gw)
        e = gateway_unlock(s->gw, bike->imei, t->rider_id, t->id,
                           now_ms() / 1000, s->cfg.unlock_key_valid_s);
    if (e == ERR_OK || (e == ERR_NOT_FOUND && !fail_offline))
        return; /* else sent when the lock connects, or it times out */
    fail_trip(s, t,
              e == ERR_NOT_FOUND ? "lock_offline"
              : e == ERR_BUSY    ? "lock_busy"
                                 : "unlock_error");
}

static void unlock_timed_out(struct net_timer *t)
{
    struct svc_unlock *u = t->ctx;
    struct svc *s = u->s;
    struct core_trip *trip = core_world_trip(s->world, u->trip_id);
    if (trip && trip->state == CORE_TRIP_UNLOCKING)
        fail_trip(s, trip, "unlock_timeout");
    else
        untrack_unlock(s, u->trip_id);
}

void svc__after_durable(struct svc *s, const struct svc_after *a)
{
    switch (a->kind) {
    case SVC_AFTER_UNLOCK: {
        struct core_trip *t = core_world_trip(s->world, a->id);
        if (t && t->state == CORE_TRIP_UNLOCKING)
            send_unlock(s, t, true);
        break;
    }
    case SVC_AFTER_ACK:
        if (s->gw)
            gateway_ack(s->gw, (uint64_t)a->id, a->token);
        break;
    }
}

/* The bike a trip request names; NOT_FOUND if there is none. */
static enum err request_bike(struct svc *s, const struct svc_trip_request *req,
                             struct core_bike **out, struct err_detail *d)
{
    struct core_bike *b = req->qr_code.len
                              ? core_world_bike_by_qr(s->world, req->qr_code)
                              : core_world_bike(s->world, req->bike_id);
    if (!b)
        return err_setc(d, ERR_NOT_FOUND, "bike_not_found",
                        req->qr_code.len ? "qr_code" : "bike_id",
                        "no such bike");
    *out = b;
    return ERR_OK;
}

/* A retry with an Idempotency-Key: the earlier trip, if there is one. */
static enum err replay(struct svc *s, int64_t rider_id,
                       const struct svc_trip_request *req,
                       struct core_trip *out, bool *found, uint64_t *lsn,
                       struct err_detail *d)
{
    *found = false;
    const struct core_trip *t =
        core_world_trip_by_idem(s->world, rider_id, req->idem_key);
    if (t) {
        *out = *t;
    } else {
        enum err e = store_trip_by_idem(s->store, rider_id, req->idem_key, out);
        if (e == ERR_NOT_FOUND)
            return ERR_OK;
        if (e != ERR_OK)
            return err_set(d, ERR_IO, "", "cannot read the store");
        /* A trip of the store ended long ago if it is not in memory. */
        out->lsn = 0;
    }
    struct core_bike *bike;
    enum err e = request_bike(s, req, &bike, d);
    if (e != ERR_OK || bike->id != out->bike_id)
        return err_setc(d, ERR_CONFLICT, "idempotency_key_reused",
                        "Idempotency-Key",
                        "this Idempotency-Key was used for another request");
    *found = true;
    *lsn = out->lsn;
    return ERR_OK;
}

enum err svc_trip_start(struct svc *s, int64_t rider_id,
                        const struct svc_trip_request *req,
                        struct core_trip *out, bool *replayed, uint64_t *lsn,
                        struct err_detail *d)
{
    struct core_rider *rider = core_world_rider(s->world, rider_id);
    if (!rider)
        return err_set(d, ERR_NOT_FOUND, "", "no such rider");
    *replayed = false;
    if (req->idem_key.len) {
        enum err e = replay(s, rider_id, req, out, replayed, lsn, d);
        if (e != ERR_OK || *replayed)
            return e;
    }
    struct core_bike *bike;
    enum err e = request_bike(s, req, &bike, d);
    if (e != ERR_OK)
        return e;
    /* A reservation the trip uses or cancels no longer expires. */
    int64_t held = rider->reservation_id;
    struct core_trip *t;
    e = core_world_trip_start(s->world, rider, bike, req->idem_key, now_ms(),
                              &t, d);
    if (e != ERR_OK)
        return e;
    svc__reward_start(s, t, bike->pos);
    if (held)
        disarm_reservation(s, held);
    *lsn = svc__persist(s);
    s->stats.trips_started++;
    struct svc_unlock *u = track_unlock(s, t->id);
    net_timer_start(s->loop, &u->timer, s->cfg.unlock_timeout_ms,
                    unlock_timed_out, u);
    svc__after(s, *lsn, SVC_AFTER_UNLOCK, t->id, 0);
    log_trip("trip_requested", t);
    *out = *t;
    return ERR_OK;
}

enum err svc_trip_get(struct svc *s, int64_t rider_id, int64_t id,
                      struct core_trip *out, uint64_t *lsn,
                      struct err_detail *d)
{
    const struct core_trip *t = core_world_trip(s->world, id);
    if (t) {
        *out = *t;
    } else {
        enum err e = store_trip_get(s->store, id, out);
        if (e == ERR_IO)
            return err_set(d, ERR_IO, "", "cannot read the store");
        if (e != ERR_OK)
            return err_setc(d, ERR_NOT_FOUND, "not_found", "",
                            "no trip %" PRId64, id);
        out->lsn = 0;
    }
    /* Another rider's trip looks exactly like one that does not exist. */
    if (rider_id && out->rider_id != rider_id)
        return err_setc(d, ERR_NOT_FOUND, "not_found", "", "no trip %" PRId64,
                        id);
    *lsn = out->lsn;
    return ERR_OK;
}

enum err svc_trips_list(struct svc *s, int64_t rider_id, int64_t before_id,
                        struct core_trip *out, size_t cap, size_t *n,
                        struct err_detail *d)
{
    if (cap > SVC_TRIPS_PAGE_MAX)
        cap = SVC_TRIPS_PAGE_MAX;
    enum err e =
        store_trips_by_rider(s->store, rider_id, before_id, out, cap, n);
    if (e != ERR_OK)
        return err_set(d, ERR_IO, "", "cannot read the store");
    /* Memory is ahead of the store for trips still changing. */
    for (size_t i = 0; i < *n; i++) {
        const struct core_trip *t = core_world_trip(s->world, out[i].id);
        if (t)
            out[i] = *t;
        else
            out[i].lsn = 0;
    }
    return ERR_OK;
}

/* Operators */

enum err svc_bike_add(struct svc *s, const struct svc_bike_spec *spec,
                      struct core_bike *out,
                      unsigned char lock_key[SVC_LOCK_KEY_BYTES], uint64_t *lsn,
                      struct err_detail *d)
{
    uint64_t imei;
    enum err e = core_imei_parse(spec->lock_imei, &imei, d);
    if (e != ERR_OK)
        return e;
    if (!geo_latlng_is_valid(spec->pos))
        return err_set(d, ERR_INVALID, "lat", "not a valid position");
    if (s->cfg.service_area.n &&
        !geo_polygon_contains(&s->cfg.service_area, spec->pos))
        return err_setc(d, ERR_INVALID, "outside_service_area", "lat",
                        "the position is outside the service area");
    struct core_bike *b;
    e = core_world_add_bike(s->world, spec->qr_code, imei, spec->vtype,
                            spec->pos, now_ms(), &b, d);
    if (e != ERR_OK)
        return e;
    *lsn = svc__persist(s);
    svc__dispatch_fleet_changed(s);
    /* After the bike's own write: the key's row refers to it. */
    if (spec->secure)
        *lsn = svc__lock_key_new(s, b, lock_key);
    *out = *b;
    return ERR_OK;
}

static void bike_view(struct svc *s, const struct core_bike *b,
                      struct svc_bike_view *out)
{
    out->bike = *b;
    out->lock_online = s->gw && gateway_is_online(s->gw, b->imei);
    out->lock_secure = svc__lock_is_secure(s, b->imei);
}

enum err svc_bike_get(struct svc *s, int64_t id, struct svc_bike_view *out)
{
    const struct core_bike *b = core_world_bike(s->world, id);
    if (!b)
        return ERR_NOT_FOUND;
    bike_view(s, b, out);
    return ERR_OK;
}

size_t svc_bike_list(struct svc *s, int64_t after_id, bool all_states,
                     enum core_vstate state, struct svc_bike_view *out,
                     size_t cap)
{
    size_t n = 0;
    int64_t max = core_world_bike_max_id(s->world);
    for (int64_t id = MAX(after_id, 0) + 1; id <= max && n < cap; id++) {
        const struct core_bike *b = core_world_bike(s->world, id);
        if (b && (all_states || b->state == state))
            bike_view(s, b, &out[n++]);
    }
    return n;
}

enum err svc_bike_event(struct svc *s, int64_t bike_id, enum core_vevent e,
                        struct core_bike *out, uint64_t *lsn,
                        struct err_detail *d)
{
    struct core_bike *b = core_world_bike(s->world, bike_id);
    if (!b)
        return err_setc(d, ERR_NOT_FOUND, "not_found", "", "no bike %" PRId64,
                        bike_id);
    enum err err = core_world_bike_event(s->world, b, e, now_ms(), d);
    if (err != ERR_OK)
        return err;
    *lsn = svc__persist(s);
    *out = *b;
    return ERR_OK;
}

enum err svc_trip_force_end(struct svc *s, int64_t trip_id, bool charge,
                            struct core_trip *out, uint64_t *lsn,
                            struct err_detail *d)
{
    struct core_trip *t = core_world_trip(s->world, trip_id);
    if (!t) {
        struct core_trip stored;
        if (store_trip_get(s->store, trip_id, &stored) != ERR_OK)
            return err_setc(d, ERR_NOT_FOUND, "not_found", "",
                            "no trip %" PRId64, trip_id);
        return err_setc(d, ERR_CONFLICT, "trip_not_active", "",
                        "trip %" PRId64 " is %s already", trip_id,
                        core_trip_state_name(stored.state));
    }
    if (t->state == CORE_TRIP_UNLOCKING) {
        fail_trip(s, t, "operator");
    } else if (t->state == CORE_TRIP_RIDING) {
        core_world_trip_end(s->world, t, "operator", charge, now_ms(), d);
        svc__reward_settle(s, t);
        svc__persist(s);
        s->stats.trips_ended++;
        log_trip("trip_ended", t);
    } else {
        return err_setc(d, ERR_CONFLICT, "trip_not_active", "",
                        "trip %" PRId64 " is %s already", trip_id,
                        core_trip_state_name(t->state));
    }
    *lsn = t->lsn;
    *out = *t;
    return ERR_OK;
}

const struct core_pricing *svc_pricing(struct svc *s)
{
    return core_world_pricing(s->world);
}

enum err svc_pricing_set(struct svc *s, const struct core_pricing *p,
                         struct core_pricing *out, uint64_t *lsn,
                         struct err_detail *d)
{
    const struct core_pricing *cur;
    enum err e = core_world_set_pricing(s->world, p, now_ms(), &cur, d);
    if (e != ERR_OK)
        return e;
    *out = *cur;
    *lsn = svc__persist(s);
    return ERR_OK;
}

/* What locks report, through the gateway */

static struct core_bike *bike_of_lock(struct svc *s, uint64_t imei)
{
    return core_world_bike_by_imei(s->world, imei);
}

static void gw_report(void *ctx, uint64_t imei,
                      const struct core_bike_report *r)
{
    struct svc *s = ctx;
    struct core_bike *b = bike_of_lock(s, imei);
    if (!b)
        return;
    core_world_bike_report(s->world, b, r, now_ms());
    svc__persist(s); /* a state change (comms_restored), if any */
    svc__telemetry(s, b, r->has_pos && geo_latlng_is_valid(r->pos));
}

static void gw_alarm(void *ctx, uint64_t imei, int code, bool fault)
{
    struct svc *s = ctx;
    struct core_bike *b = bike_of_lock(s, imei);
    if (b) {
        uint8_t raise = fault                     ? CORE_ALARM_FAULT
                        : code == LOCK_ALARM_FALL ? CORE_ALARM_FALL
                                                  : 0;
        uint8_t clear =
            !fault && code == LOCK_ALARM_FALL_CLEARED ? CORE_ALARM_FALL : 0;
        core_world_bike_alarm(s->world, b, raise, clear);
        svc__persist(s);
    }
    log_emit(
        LOG_WARN, fault ? "lock_fault" : "lock_alarm",
        LOG_FIELDS(LOG_I64("bike_id", b ? b->id : 0), LOG_I64("code", code)));
}

static void gw_unlock_result(void *ctx, uint64_t imei, int64_t user_id,
                             enum gateway_unlock_outcome outcome)
{
    static const char *const reasons[] = {
        [GATEWAY_REFUSED] = "lock_refused",
        [GATEWAY_BUSY] = "lock_busy",
        [GATEWAY_OFFLINE] = "lock_offline",
    };
    struct svc *s = ctx;
    struct core_bike *b = bike_of_lock(s, imei);
    struct core_trip *t =
        b && b->trip_id ? core_world_trip(s->world, b->trip_id) : NULL;
    if (!t || t->state != CORE_TRIP_UNLOCKING || t->rider_id != user_id) {
        log_emit(LOG_WARN, "unlock_result_unexpected",
                 LOG_FIELDS(LOG_I64("bike_id", b ? b->id : 0),
                            LOG_I64("user_id", user_id),
                            LOG_I64("outcome", (int64_t)outcome)));
        return;
    }
    if (outcome != GATEWAY_UNLOCKED) {
        fail_trip(s, t, reasons[outcome]);
        return;
    }
    untrack_unlock(s, t->id);
    core_world_trip_unlocked(s->world, t, now_ms(), NULL);
    svc__persist(s);
    log_trip("trip_riding", t);
}

static void gw_locked(void *ctx, uint64_t imei, int64_t user_id,
                      int64_t ride_min)
{
    struct svc *s = ctx;
    struct core_bike *b = bike_of_lock(s, imei);
    struct core_trip *t =
        b && b->trip_id ? core_world_trip(s->world, b->trip_id) : NULL;
    (void)ride_min;
    if (!t || t->state != CORE_TRIP_RIDING) {
        log_emit(LOG_INFO, "lock_closed_without_trip",
                 LOG_FIELDS(LOG_I64("bike_id", b ? b->id : 0),
                            LOG_I64("user_id", user_id)));
        return;
    }
    core_world_trip_end(s->world, t, "locked", true, now_ms(), NULL);
    svc__reward_settle(s, t);
    svc__persist(s);
    s->stats.trips_ended++;
    log_trip("trip_ended", t);
}

static void gw_online(void *ctx, uint64_t imei, bool online)
{
    struct svc *s = ctx;
    struct core_bike *b = bike_of_lock(s, imei);
    if (!online || !b || !b->trip_id)
        return;
    /*
     * A trip still unlocking gets its unlock (again) on the new session:
     * after a restart nothing was sent, and what went to an older session
     * of a reconnecting lock may be lost.
     */
    struct core_trip *t = core_world_trip(s->world, b->trip_id);
    if (t && t->state == CORE_TRIP_UNLOCKING &&
        imap_get(&s->unlocks, (uint64_t)b->trip_id) && t->lsn <= s->durable_lsn)
        send_unlock(s, t, false);
}

/*
 * The lock's report is acknowledged once everything submitted so far, what
 * the report changed included, is durable: an acknowledged L1 is a trip
 * that stays ended after a crash.
 */
static void gw_settle(void *ctx, uint64_t imei, uint64_t token)
{
    struct svc *s = ctx;
    if (s->submitted_lsn > s->durable_lsn)
        svc__after(s, s->submitted_lsn, SVC_AFTER_ACK, (int64_t)imei, token);
    else if (s->gw)
        gateway_ack(s->gw, imei, token);
}

static const struct gateway_ops gateway_ops = {
    .admit = svc__gw_admit,
    .counter = svc__gw_counter,
    .report = gw_report,
    .alarm = gw_alarm,
    .unlock_result = gw_unlock_result,
    .locked = gw_locked,
    .online = gw_online,
    .settle = gw_settle,
};

const struct gateway_ops *svc_gateway_ops(void)
{
    return &gateway_ops;
}

/* Start and stop */

void svc__ride_restore(struct svc *s)
{
    int64_t max = core_world_bike_max_id(s->world);
    for (int64_t id = 1; id <= max; id++) {
        const struct core_bike *b = core_world_bike(s->world, id);
        if (!b)
            continue;
        if (b->reservation_id) {
            const struct core_reservation *r =
                core_world_reservation(s->world, b->reservation_id);
            if (r)
                arm_reservation(s, r);
        }
        const struct core_trip *t =
            b->trip_id ? core_world_trip(s->world, b->trip_id) : NULL;
        if (t && t->state == CORE_TRIP_UNLOCKING) {
            /* Its lock gets the unlock when it connects, or the trip fails. */
            struct svc_unlock *u = track_unlock(s, t->id);
            net_timer_start(s->loop, &u->timer, s->cfg.unlock_timeout_ms,
                            unlock_timed_out, u);
        }
    }
}

void svc__ride_release(struct svc *s)
{
    size_t pos = 0;
    uint64_t key;
    void *val;
    while (imap_next(&s->unlocks, &pos, &key, &val)) {
        struct svc_unlock *u = val;
        net_timer_stop(s->loop, &u->timer);
        xfree(u);
    }
    pos = 0;
    while (imap_next(&s->res_timers, &pos, &key, &val)) {
        struct svc_res_timer *rt = val;
        net_timer_stop(s->loop, &rt->timer);
        xfree(rt);
    }
}
