/* SPDX-License-Identifier: MIT */
/*
 * The live world: every bike and rider, the active reservations and trips,
 * and the pricing plans, with the rules that change them (who may reserve,
 * unlock, end; what a trip costs). Pure and single-threaded: the owner passes
 * the time, and after each operation drains the change list to persist it.
 *
 * Trips and reservations that end stay findable until the owner reports that
 * their final state is durable (core_world_collect), so a retry or a read in
 * the meantime sees them.
 */
#ifndef CORE_WORLD_H
#define CORE_WORLD_H

#include "base/sys.h"
#include "base/err.h"
#include "base/str.h"
#include "core/entity.h"
#include "core/pricing.h"

struct core_world;

/* An MDS vehicle event, recorded with each bike state change. */
struct core_vehicle_event {
    int64_t bike_id;
    enum core_vevent event;
    enum core_vstate state; /* the state it led to */
    int64_t ts_ms;
    struct geo_latlng pos;
    int64_t trip_id; /* 0 if none */
};

enum core_change_kind {
    CORE_CH_BIKE,
    CORE_CH_RIDER,
    CORE_CH_TRIP,
    CORE_CH_RESERVATION,
    CORE_CH_CHARGE, /* the trip's fare was charged to its rider */
    CORE_CH_PRICING,
    CORE_CH_EVENT,
};

/* One changed record; pointers are borrowed from the world. */
struct core_change {
    enum core_change_kind kind;
    union {
        struct core_bike *bike;
        struct core_rider *rider;
        struct core_trip *trip;
        struct core_reservation *res;
        const struct core_pricing *pricing;
        struct core_vehicle_event event;
    } u;
};

/* A lock's report: each part is optional. */
struct core_bike_report {
    bool has_pos;
    struct geo_latlng pos;
    int battery_pct; /* 0..100, or -1 if not reported */
    int lock_closed; /* 1 closed, 0 open, -1 not reported */
};

/* Returns an empty world with the default pricing plan as version 1. */
struct core_world *core_world_new(void);

/* Frees the world and everything in it; NULL is a no-op. */
void core_world_free(struct core_world *w);

/*
 * Restoring from the store at start, as persisted (no rules run, no changes
 * recorded). ERR_CONFLICT if an id, QR code, IMEI or token is already there.
 * Restore bikes and riders before the reservations and trips that name them;
 * ERR_NOT_FOUND if they are missing.
 */
enum err core_world_restore_bike(struct core_world *w,
                                 const struct core_bike *b);
enum err core_world_restore_rider(struct core_world *w,
                                  const struct core_rider *r);
enum err core_world_restore_reservation(struct core_world *w,
                                        const struct core_reservation *r);
enum err core_world_restore_trip(struct core_world *w,
                                 const struct core_trip *t);
enum err core_world_restore_pricing(struct core_world *w,
                                    const struct core_pricing *p);
/* Next ids continue after the highest ever stored (ended trips included). */
void core_world_restore_ids(struct core_world *w, int64_t max_trip_id,
                            int64_t max_reservation_id);

/* Lookups; they return borrowed pointers or NULL. */
struct core_bike *core_world_bike(const struct core_world *w, int64_t id);
struct core_bike *core_world_bike_by_imei(const struct core_world *w,
                                          uint64_t imei);
struct core_bike *core_world_bike_by_qr(const struct core_world *w,
                                        struct str qr);
/* The highest bike id; look ids 1..max up with core_world_bike (NULL gaps). */
int64_t core_world_bike_max_id(const struct core_world *w);
struct core_rider *core_world_rider(const struct core_world *w, int64_t id);
/* The number of riders. */
size_t core_world_rider_count(const struct core_world *w);
struct core_rider *
core_world_rider_by_token(const struct core_world *w,
                          const unsigned char hash[CORE_TOKEN_HASH_BYTES]);
/* Active trips, and ended ones not yet collected. */
struct core_trip *core_world_trip(const struct core_world *w, int64_t id);
struct core_trip *core_world_trip_by_idem(const struct core_world *w,
                                          int64_t rider_id, struct str key);
/* Active reservations, and ended ones not yet collected. */
struct core_reservation *core_world_reservation(const struct core_world *w,
                                                int64_t id);
const struct core_pricing *core_world_pricing(const struct core_world *w);
const struct core_pricing *
core_world_pricing_version(const struct core_world *w, int64_t version);

/*
 * Registers a bike in state available. ERR_INVALID for a bad QR code or
 * position; ERR_CONFLICT with reason "qr_code_taken" or "lock_imei_taken".
 */
enum err core_world_add_bike(struct core_world *w, struct str qr, uint64_t imei,
                             enum core_vtype vtype, struct geo_latlng pos,
                             int64_t now_ms, struct core_bike **out,
                             struct err_detail *d);

/* Adds a rider with a zero balance. ERR_CONFLICT if the token is taken. */
enum err core_world_add_rider(struct core_world *w,
                              const unsigned char hash[CORE_TOKEN_HASH_BYTES],
                              int64_t now_ms, struct core_rider **out,
                              struct err_detail *d);

/*
 * Holds an available bike for the rider until now + hold_ms. ERR_CONFLICT
 * with reason "rider_on_trip", "reservation_exists" or "bike_unavailable".
 */
enum err core_world_reserve(struct core_world *w, struct core_rider *rider,
                            struct core_bike *bike, int64_t now_ms,
                            int64_t hold_ms, struct core_reservation **out,
                            struct err_detail *d);

/*
 * Ends an active reservation as cancelled or expired and frees its bike.
 * ERR_CONFLICT ("reservation_not_active") if it already ended; ERR_INVALID
 * for another final state.
 */
enum err core_world_reservation_end(struct core_world *w,
                                    struct core_reservation *res,
                                    enum core_res_state how, int64_t now_ms,
                                    struct err_detail *d);

/*
 * Starts a trip in state unlocking on a bike that is available or reserved
 * by this rider (the reservation is used; a reservation of another bike is
 * cancelled). idem_key may be empty. ERR_CONFLICT with reason
 * "rider_on_trip" or "bike_unavailable".
 */
enum err core_world_trip_start(struct core_world *w, struct core_rider *rider,
                               struct core_bike *bike, struct str idem_key,
                               int64_t now_ms, struct core_trip **out,
                               struct err_detail *d);

/* The lock confirmed the unlock: unlocking -> riding. ERR_CONFLICT else. */
enum err core_world_trip_unlocked(struct core_world *w, struct core_trip *t,
                                  int64_t now_ms, struct err_detail *d);

/*
 * The unlock did not happen: unlocking -> failed with reason (a short
 * stable word), nothing charged, the bike available again. ERR_CONFLICT if
 * the trip is not unlocking.
 */
enum err core_world_trip_fail(struct core_world *w, struct core_trip *t,
                              const char *reason, int64_t now_ms,
                              struct err_detail *d);

/*
 * Ends a riding trip at the bike's position: riding -> ended with reason;
 * the fare from the plan version the trip started under is charged to the
 * rider exactly once if charge is true. ERR_CONFLICT if not riding.
 */
enum err core_world_trip_end(struct core_world *w, struct core_trip *t,
                             const char *reason, bool charge, int64_t now_ms,
                             struct err_detail *d);

/*
 * Applies a lock's report: position (adding to the distance of a riding
 * trip), battery, lock state, last report time; a missing bike comes back
 * (comms_restored). This telemetry is not in the change list (locks report
 * far too often to persist each report): the owner checkpoints the bike and
 * its riding trip itself. A state change (comms_restored) is, as usual.
 */
void core_world_bike_report(struct core_world *w, struct core_bike *bike,
                            const struct core_bike_report *r, int64_t now_ms);

/*
 * Applies an operator's event (maintenance_start, maintenance_end,
 * rebalance_pick_up, maintenance_pick_up, provider_drop_off,
 * decommissioned). ERR_INVALID ("event_not_allowed") for events that only
 * the ride itself may cause; ERR_CONFLICT ("illegal_transition") if the
 * state machine forbids it.
 */
enum err core_world_bike_event(struct core_world *w, struct core_bike *bike,
                               enum core_vevent e, int64_t now_ms,
                               struct err_detail *d);

/*
 * Crew work (dispatch). pick_up loads a bike onto truck truck_id (> 0):
 * rebalance_pick_up, or maintenance_pick_up if maintenance; drop_off
 * unloads a bike that truck carries at pos: provider_drop_off, the bike
 * available there, its alarms cleared (the crew vouches for it). Both count
 * as a use (last_use_ms). ERR_INVALID for a bad truck id or position;
 * ERR_CONFLICT "illegal_transition" as core_world_bike_event, or
 * "not_on_truck" if the bike is not on that truck.
 */
enum err core_world_crew_pick_up(struct core_world *w, struct core_bike *bike,
                                 int32_t truck_id, bool maintenance,
                                 int64_t now_ms, struct err_detail *d);
enum err core_world_crew_drop_off(struct core_world *w, struct core_bike *bike,
                                  int32_t truck_id, struct geo_latlng pos,
                                  int64_t now_ms, struct err_detail *d);

/* A crew checked the bike where it stands: alarms cleared, a use. */
void core_world_bike_inspected(struct core_world *w, struct core_bike *bike,
                               int64_t now_ms);

/* A lock raised (raise) or cleared (clear) alarm bits (enum core_alarm). */
void core_world_bike_alarm(struct core_world *w, struct core_bike *bike,
                           uint8_t raise, uint8_t clear);

/*
 * Settles the incentive of an ended trip that carried an offer
 * (reward_offer_cents > 0; else a no-op): reward_note gets the verdict
 * (core/reward.h) and, if granted, reward_cents the offer, credited to the
 * rider's balance and counted against their day.
 */
struct core_reward_rules;
void core_world_trip_reward(struct core_world *w, struct core_trip *t,
                            const struct core_reward_rules *rules,
                            bool ended_in_deficit);

/*
 * Marks bikes whose lock has not reported since before now - silent_ms as
 * missing (comms_lost), for those whose state allows it. Returns how many.
 */
size_t core_world_mark_missing(struct core_world *w, int64_t now_ms,
                               int64_t silent_ms);

/*
 * Installs p as the new current plan with the next version. ERR_INVALID as
 * core_pricing_validate.
 */
enum err core_world_set_pricing(struct core_world *w,
                                const struct core_pricing *p, int64_t now_ms,
                                const struct core_pricing **out,
                                struct err_detail *d);

/*
 * The changes made since the last clear, in order, each record once (events
 * in full). The array is borrowed until the next operation or clear.
 */
size_t core_world_changes(const struct core_world *w,
                          const struct core_change **out);
void core_world_changes_clear(struct core_world *w);

/*
 * Frees ended trips and reservations whose lsn is set and at or below
 * durable_lsn: their final state is in the store.
 */
void core_world_collect(struct core_world *w, uint64_t durable_lsn);

#endif
