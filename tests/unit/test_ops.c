/* SPDX-License-Identifier: MIT */
/*
 * Tests for the operations side of dispatch: the targets per cell
 * (dispatch/target.h), maintenance tasks (dispatch/maint.h), crew work and
 * alarms in the world, and the incentive rules (core/reward.h).
 */
#include "base/sys.h"
#include "tests/unit/harness.h"
#include "core/reward.h"
#include "core/world.h"
#include "dispatch/maint.h"
#include "dispatch/target.h"

#include <math.h>

static const unsigned char HASH_A[CORE_TOKEN_HASH_BYTES] = {7};
static const struct geo_latlng P0 = {1.3000, 103.8000};
#define MIN_MS (60 * INT64_C(1000))
#define DAY_MS (86400 * INT64_C(1000))

/* ---- targets -------------------------------------------------------- */

/* P(Poisson(m) <= k). */
static double poisson_cdf(double m, int k)
{
    double p = exp(-m), acc = p;
    for (int i = 1; i <= k; i++) {
        p *= m / i;
        acc += p;
    }
    return acc;
}

TEST(target_poisson_quantile)
{
    struct target_params p;
    target_params_default(&p);
    /* Rentals only: the service-level quantile of a Poisson law. */
    for (double m = 0.05; m < 150; m *= 1.7) {
        double r[4] = {m / 4, m / 4, m / 4, m / 4}, q[4] = {0};
        int32_t s = target_need(&p, r, q, 4);
        CHECK(poisson_cdf(m, s) >= 0.9);
        if (s > 0)
            CHECK(poisson_cdf(m, s - 1) < 0.9);
    }
    /* Nothing forecast: nothing needed. */
    double zero[8] = {0};
    CHECK_EQ(target_need(&p, zero, zero, 8), 0);
    /* A quiet cell needs none at 90 %: P(no rental) = 0.95. */
    double quiet[1] = {0.05};
    CHECK_EQ(target_need(&p, quiet, zero, 1), 0);
}

TEST(target_returns_and_timing)
{
    struct target_params p;
    target_params_default(&p);
    double r[8] = {5, 5, 5, 5, 0, 0, 0, 0};
    double none[8] = {0};
    double late[8] = {0, 0, 0, 0, 5, 5, 5, 5};
    double early[8] = {5, 5, 5, 5, 0, 0, 0, 0};
    int32_t alone = target_need(&p, r, none, 8);
    /* Returns that come after the rentals do not help ... */
    CHECK_EQ(target_need(&p, r, late, 8), alone);
    /* ... returns that come with them do. */
    CHECK(target_need(&p, r, early, 8) < alone);
    /* A higher service level never needs fewer bikes. */
    struct target_params hi = p;
    hi.service_level = 0.99;
    CHECK(target_need(&hi, r, none, 8) > alone);
    /* Large means take the normal law: close to mean + z sd. */
    double big[4] = {250, 250, 250, 250};
    int32_t s = target_need(&p, big, none, 4);
    CHECK(s >= 1000 + 1.28 * sqrt(1000) - 2 &&
          s <= 1000 + 1.28 * sqrt(1000) + 2);
    /* Exact and normal agree near the switch (mean 200). */
    double a[1] = {199.9}, b[1] = {200.1};
    CHECK(abs(target_need(&p, a, none, 1) - target_need(&p, b, none, 1)) <= 1);
}

TEST(target_balance_and_params)
{
    struct target_balance b = target_balance(5, 8);
    CHECK_EQ(b.surplus, 3);
    CHECK_EQ(b.deficit, 0);
    b = target_balance(5, 2);
    CHECK_EQ(b.surplus, 0);
    CHECK_EQ(b.deficit, 3);
    struct target_params p;
    target_params_default(&p);
    struct err_detail d;
    p.service_level = 1.0;
    CHECK_ERR(target_params_validate(&p, &d), ERR_INVALID);
    CHECK_STR(d.field, "service_level");
    target_params_default(&p);
    p.checkpoint_slots = 0;
    CHECK_ERR(target_params_validate(&p, &d), ERR_INVALID);
}

/* ---- maintenance ---------------------------------------------------- */

static struct core_bike bike_at(int64_t now)
{
    struct core_bike b = {0};
    b.id = 9;
    b.state = CORE_VS_AVAILABLE;
    b.battery_pct = 80;
    b.created_ms = now - 10 * DAY_MS;
    b.last_report_ms = now - MIN_MS;
    b.last_use_ms = now - 3600 * 1000;
    return b;
}

TEST(maint_tasks_by_urgency)
{
    struct maint_rules r;
    maint_rules_default(&r);
    int64_t now = 1800000000000;
    struct maint_task t;
    struct core_bike b = bike_at(now);
    CHECK(!maint_task_of(&r, &b, now, &t));
    b.last_use_ms = now - 4 * DAY_MS; /* idle */
    CHECK(maint_task_of(&r, &b, now, &t));
    CHECK_EQ(t.kind, MAINT_IDLE);
    CHECK_EQ(t.since_ms, now - 4 * DAY_MS);
    b.battery_pct = 20; /* low battery beats idle */
    CHECK(maint_task_of(&r, &b, now, &t));
    CHECK_EQ(t.kind, MAINT_BATTERY);
    b.last_report_ms = now - 5 * 3600 * 1000; /* silent beats battery */
    CHECK(maint_task_of(&r, &b, now, &t));
    CHECK_EQ(t.kind, MAINT_LOCATE);
    b.alarms = CORE_ALARM_FALL;
    CHECK(maint_task_of(&r, &b, now, &t));
    CHECK_EQ(t.kind, MAINT_UPRIGHT);
    b.alarms |= CORE_ALARM_FAULT;
    CHECK(maint_task_of(&r, &b, now, &t));
    CHECK_EQ(t.kind, MAINT_REPAIR);
    CHECK_EQ(t.priority, 1);
    CHECK_EQ(t.bike_id, 9);
    /* Bikes with a rider or on a truck need no crew. */
    b.state = CORE_VS_ON_TRIP;
    CHECK(!maint_task_of(&r, &b, now, &t));
    b.state = CORE_VS_REMOVED;
    CHECK(!maint_task_of(&r, &b, now, &t));
    /* A missing bike is to be located whatever its last report. */
    b = bike_at(now);
    b.state = CORE_VS_MISSING;
    CHECK(maint_task_of(&r, &b, now, &t));
    CHECK_EQ(t.kind, MAINT_LOCATE);
    /* A bike never used counts from its registration. */
    b = bike_at(now);
    b.last_use_ms = 0;
    CHECK(maint_task_of(&r, &b, now, &t));
    CHECK_EQ(t.kind, MAINT_IDLE);
    CHECK_EQ(t.since_ms, b.created_ms);
    CHECK_STR(maint_kind_name(MAINT_REPAIR), "repair");
    struct err_detail d;
    r.battery_low_pct = 101;
    CHECK_ERR(maint_rules_validate(&r, &d), ERR_INVALID);
    CHECK_STR(d.field, "battery_low_pct");
}

/* ---- crews and alarms in the world ---------------------------------- */

static const struct core_change *last_event(struct core_world *w)
{
    const struct core_change *ch, *ev = NULL;
    size_t n = core_world_changes(w, &ch);
    for (size_t i = 0; i < n; i++)
        if (ch[i].kind == CORE_CH_EVENT)
            ev = &ch[i];
    return ev;
}

TEST(world_crew_moves_a_bike)
{
    struct core_world *w = core_world_new();
    struct core_bike *b;
    CHECK_OK(core_world_add_bike(w, STR_LIT("Q1"), 123456789012345,
                                 CORE_VT_BICYCLE, P0, 1000, &b, NULL));
    core_world_changes_clear(w);
    struct err_detail d;
    CHECK_ERR(core_world_crew_pick_up(w, b, 0, false, 2000, &d), ERR_INVALID);
    CHECK_OK(core_world_crew_pick_up(w, b, 3, false, 2000, &d));
    CHECK_EQ(b->state, CORE_VS_REMOVED);
    CHECK_EQ(b->truck_id, 3);
    CHECK_EQ(b->last_use_ms, 2000);
    const struct core_change *ev = last_event(w);
    CHECK(ev != NULL);
    CHECK_EQ(ev->u.event.event, CORE_VE_REBALANCE_PICK_UP);
    CHECK_EQ(ev->u.event.state, CORE_VS_REMOVED);
    core_world_changes_clear(w);
    /* Only that truck can drop it, at a real position. */
    struct geo_latlng there = {1.31, 103.81};
    CHECK_ERR(core_world_crew_drop_off(w, b, 4, there, 3000, &d), ERR_CONFLICT);
    CHECK_STR(d.code, "not_on_truck");
    struct geo_latlng bad = {100, 0};
    CHECK_ERR(core_world_crew_drop_off(w, b, 3, bad, 3000, &d), ERR_INVALID);
    CHECK_EQ(b->state, CORE_VS_REMOVED);
    b->alarms = CORE_ALARM_FALL;
    CHECK_OK(core_world_crew_drop_off(w, b, 3, there, 3000, &d));
    CHECK_EQ(b->state, CORE_VS_AVAILABLE);
    CHECK_EQ(b->truck_id, 0);
    CHECK_EQ(b->alarms, 0);
    CHECK(b->pos.lat_deg == there.lat_deg && b->pos.lon_deg == there.lon_deg);
    ev = last_event(w);
    CHECK_EQ(ev->u.event.event, CORE_VE_PROVIDER_DROP_OFF);
    CHECK(ev->u.event.pos.lat_deg == there.lat_deg);
    /* Twice is refused: it is no longer on the truck. */
    CHECK_ERR(core_world_crew_drop_off(w, b, 3, there, 4000, &d), ERR_CONFLICT);
    /* A maintenance pick-up records its own event. */
    core_world_changes_clear(w);
    CHECK_OK(core_world_crew_pick_up(w, b, 1, true, 5000, &d));
    CHECK_EQ(last_event(w)->u.event.event, CORE_VE_MAINTENANCE_PICK_UP);
    /* A bike on a truck cannot be loaded again. */
    CHECK_ERR(core_world_crew_pick_up(w, b, 2, false, 6000, &d), ERR_CONFLICT);
    CHECK_STR(d.code, "illegal_transition");
    CHECK_EQ(b->truck_id, 1);
    core_world_free(w);
}

TEST(world_alarms_and_inspection)
{
    struct core_world *w = core_world_new();
    struct core_bike *b;
    CHECK_OK(core_world_add_bike(w, STR_LIT("Q1"), 123456789012345,
                                 CORE_VT_BICYCLE, P0, 1000, &b, NULL));
    core_world_changes_clear(w);
    core_world_bike_alarm(w, b, CORE_ALARM_FALL, 0);
    CHECK_EQ(b->alarms, CORE_ALARM_FALL);
    const struct core_change *ch;
    CHECK_EQ(core_world_changes(w, &ch), 1);
    CHECK_EQ(ch[0].kind, CORE_CH_BIKE);
    core_world_changes_clear(w);
    core_world_bike_alarm(w, b, CORE_ALARM_FALL, 0); /* no change */
    CHECK_EQ(core_world_changes(w, &ch), 0);
    core_world_bike_alarm(w, b, CORE_ALARM_FAULT, CORE_ALARM_FALL);
    CHECK_EQ(b->alarms, CORE_ALARM_FAULT);
    core_world_changes_clear(w);
    core_world_bike_inspected(w, b, 9000);
    CHECK_EQ(b->alarms, 0);
    CHECK_EQ(b->last_use_ms, 9000);
    CHECK_EQ(core_world_changes(w, &ch), 1);
    core_world_free(w);
}

/* ---- incentives ----------------------------------------------------- */

/* An ended trip of rider r from P0 to `to` after ride_ms, with an offer. */
static struct core_trip *ride(struct core_world *w, struct core_rider *r,
                              struct core_bike *b, struct geo_latlng to,
                              int64_t start, int64_t ride_ms, int64_t offer)
{
    b->pos = P0;
    struct core_trip *t;
    CHECK_OK(core_world_trip_start(w, r, b, STR_LIT(""), start, &t, NULL));
    t->reward_offer_cents = offer;
    CHECK_OK(core_world_trip_unlocked(w, t, start + 1000, NULL));
    struct core_bike_report rep = {
        .has_pos = true, .pos = to, .battery_pct = -1, .lock_closed = -1};
    core_world_bike_report(w, b, &rep, start + ride_ms);
    CHECK_OK(core_world_trip_end(w, t, "locked", true, start + 1000 + ride_ms,
                                 NULL));
    return t;
}

TEST(reward_rules)
{
    struct core_world *w = core_world_new();
    struct core_bike *b;
    struct core_rider *r;
    CHECK_OK(core_world_add_bike(w, STR_LIT("Q1"), 123456789012345,
                                 CORE_VT_BICYCLE, P0, 1000, &b, NULL));
    CHECK_OK(core_world_add_rider(w, HASH_A, 1000, &r, NULL));
    struct core_reward_rules rules;
    core_reward_rules_default(&rules);
    rules.amount_cents = 150;
    struct geo_latlng far = {P0.lat_deg + 0.01, P0.lon_deg};   /* 1.1 km */
    struct geo_latlng near = {P0.lat_deg + 0.002, P0.lon_deg}; /* 222 m */
    int64_t day = 1800000000000 - 1800000000000 % DAY_MS + 8 * 3600 * 1000;
    /* Granted: credited, counted, noted. */
    struct core_trip *t = ride(w, r, b, far, day, 10 * MIN_MS, 150);
    int64_t before = r->balance_cents;
    core_world_changes_clear(w);
    core_world_trip_reward(w, t, &rules, true);
    CHECK_STR(t->reward_note, "granted");
    CHECK_EQ(t->reward_cents, 150);
    CHECK_EQ(r->balance_cents, before + 150);
    CHECK_EQ(r->rewards_today, 1);
    const struct core_change *ch;
    size_t n = core_world_changes(w, &ch);
    bool trip_ch = false, rider_ch = false;
    for (size_t i = 0; i < n; i++) {
        trip_ch |= ch[i].kind == CORE_CH_TRIP;
        rider_ch |= ch[i].kind == CORE_CH_RIDER;
    }
    CHECK(trip_ch && rider_ch);
    /* Each rule refuses on its own, crediting nothing. */
    struct {
        struct geo_latlng to;
        int64_t ride_ms;
        bool deficit;
        const char *note;
    } cases[] = {
        {far, 10 * MIN_MS, false, "not_deficit"},
        {far, 2 * MIN_MS, true, "too_short"},
        {near, 10 * MIN_MS, true, "too_close"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        before = r->balance_cents;
        int64_t start = day + (int64_t)(i + 1) * 3600 * 1000;
        t = ride(w, r, b, cases[i].to, start, cases[i].ride_ms, 150);
        int64_t charged = before - r->balance_cents;
        core_world_trip_reward(w, t, &rules, cases[i].deficit);
        CHECK_STR(t->reward_note, cases[i].note);
        CHECK_EQ(t->reward_cents, 0);
        CHECK_EQ(before - r->balance_cents, charged);
    }
    /* Ended by an operator: not the rider's doing. */
    struct core_trip *op;
    b->pos = P0;
    CHECK_OK(core_world_trip_start(w, r, b, STR_LIT(""), day + 5 * 3600000, &op,
                                   NULL));
    op->reward_offer_cents = 150;
    CHECK_OK(core_world_trip_unlocked(w, op, day + 5 * 3600000 + 1, NULL));
    b->pos = far;
    CHECK_OK(core_world_trip_end(w, op, "operator", false,
                                 day + 5 * 3600000 + 20 * MIN_MS, NULL));
    core_world_trip_reward(w, op, &rules, true);
    CHECK_STR(op->reward_note, "not_locked");
    /* The day cap: two more granted, the next refused. */
    for (int i = 0; i < 3; i++) {
        t = ride(w, r, b, far, day + (6 + i) * 3600 * INT64_C(1000),
                 10 * MIN_MS, 150);
        core_world_trip_reward(w, t, &rules, true);
        CHECK_STR(t->reward_note, i < 2 ? "granted" : "daily_cap");
    }
    CHECK_EQ(r->rewards_today, 3);
    /* A new day starts a new count. */
    t = ride(w, r, b, far, day + DAY_MS, 10 * MIN_MS, 150);
    core_world_trip_reward(w, t, &rules, true);
    CHECK_STR(t->reward_note, "granted");
    CHECK_EQ(r->rewards_today, 1);
    /* No offer: nothing judged. */
    t = ride(w, r, b, far, day + DAY_MS + 3600000, 10 * MIN_MS, 0);
    core_world_trip_reward(w, t, &rules, true);
    CHECK_STR(t->reward_note, "");
    core_world_free(w);
}

TEST(reward_local_day_and_validation)
{
    struct core_reward_rules r;
    core_reward_rules_default(&r);
    r.utc_offset_s = 8 * 3600;
    /* 17:00 UTC is 01:00 the next day at UTC+8. */
    CHECK_EQ(core_reward_day(&r, 17 * 3600 * INT64_C(1000)), 1);
    CHECK_EQ(core_reward_day(&r, 15 * 3600 * INT64_C(1000)), 0);
    r.utc_offset_s = -3600;
    CHECK_EQ(core_reward_day(&r, 0), -1);
    struct err_detail d;
    CHECK_OK(core_reward_rules_validate(&r, &d));
    r.amount_cents = -1;
    CHECK_ERR(core_reward_rules_validate(&r, &d), ERR_INVALID);
    CHECK_STR(d.field, "amount_cents");
    CHECK_STR(core_reward_verdict_name(CORE_REWARD_DAILY_CAP), "daily_cap");
}

const struct test_case test_suite_ops[] = {
    CASE(target_poisson_quantile),
    CASE(target_returns_and_timing),
    CASE(target_balance_and_params),
    CASE(maint_tasks_by_urgency),
    CASE(world_crew_moves_a_bike),
    CASE(world_alarms_and_inspection),
    CASE(reward_rules),
    CASE(reward_local_day_and_validation),
    {0},
};
