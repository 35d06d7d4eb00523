/* SPDX-License-Identifier: MIT */
/*
 * Tests for src/svc on a real store in a temporary directory: operations,
 * durability waits, the lock callbacks driving a trip, and the world rebuilt
 * after a restart.
 */
#include "base/sys.h"
#include "tests/unit/harness.h"
#include "gateway/gateway.h"
#include "store/store.h"
#include "svc/svc.h"

#include <sodium.h>
#include <stdio.h>
#include <time.h>

struct env {
    struct net_loop *loop;
    struct svc *svc;
    char db[256];
    struct svc_config cfg;
};

static const struct geo_latlng CENTER = {31.2304, 121.4737};

static void env_start(struct env *e)
{
    CHECK_OK(net_loop_new(&e->loop, NULL));
    struct err_detail d;
    err_clear(&d);
    enum err rc = svc_new(e->loop, &e->cfg, &e->svc, &d);
    if (rc != ERR_OK)
        test_fail(__FILE__, __LINE__, "svc_new: %s", d.msg);
}

static void env_init(struct env *e)
{
    memset(e, 0, sizeof(*e));
    snprintf(e->db, sizeof(e->db), "%s/svc.db", test_tmpdir());
    svc_config_default(&e->cfg);
    e->cfg.db_path = e->db;
    struct geo_latlng ring[4] = {
        {31.18, 121.42}, {31.18, 121.52}, {31.28, 121.52}, {31.28, 121.42}};
    CHECK_OK(geo_polygon_init(&e->cfg.service_area, ring, 4, NULL));
    env_start(e);
}

static void env_stop(struct env *e)
{
    svc_free(e->svc);
    net_loop_free(e->loop);
    e->svc = NULL;
}

static void env_free(struct env *e)
{
    env_stop(e);
    geo_polygon_release(&e->cfg.service_area);
}

struct wait {
    struct env *e;
    uint64_t lsn;
    struct net_timer timer;
    int rounds;
};

static void check_durable(struct net_timer *t)
{
    struct wait *w = t->ctx;
    if (svc_durable_lsn(w->e->svc) >= w->lsn || ++w->rounds > 2000) {
        net_loop_stop(w->e->loop);
        return;
    }
    net_timer_start(w->e->loop, t, 1, check_durable, w);
}

/* Runs the loop until lsn is durable (or about two seconds pass). */
static void wait_durable(struct env *e, uint64_t lsn)
{
    struct wait w = {.e = e, .lsn = lsn};
    net_timer_start(e->loop, &w.timer, 0, check_durable, &w);
    CHECK_OK(net_loop_run(e->loop));
    net_timer_stop(e->loop, &w.timer);
    CHECK(svc_durable_lsn(e->svc) >= lsn);
}

static int64_t add_bike(struct env *e, const char *qr, const char *imei,
                        struct geo_latlng pos)
{
    struct svc_bike_spec spec = {.qr_code = str_from_cstr(qr),
                                 .lock_imei = str_from_cstr(imei),
                                 .pos = pos,
                                 .vtype = CORE_VT_BICYCLE};
    struct core_bike b;
    uint64_t lsn;
    CHECK_OK(svc_bike_add(e->svc, &spec, &b, NULL, &lsn, NULL));
    CHECK(lsn > 0);
    return b.id;
}

TEST(svc_bikes_and_riders_survive_restart)
{
    struct env e;
    env_init(&e);
    int64_t b1 = add_bike(&e, "Q1", "100000000000001", CENTER);
    struct geo_latlng near = {CENTER.lat_deg + 0.001, CENTER.lon_deg};
    int64_t b2 = add_bike(&e, "Q2", "100000000000002", near);
    struct svc_bike_spec outside = {.qr_code = STR_LIT("Q3"),
                                    .lock_imei = STR_LIT("100000000000003"),
                                    .pos = {40.0, 116.0}};
    struct core_bike b;
    uint64_t lsn;
    struct err_detail d;
    CHECK_ERR(svc_bike_add(e.svc, &outside, &b, NULL, &lsn, &d), ERR_INVALID);
    CHECK_STR(d.code, "outside_service_area");
    struct core_rider r;
    char token[SVC_TOKEN_LEN];
    CHECK_OK(svc_rider_create(e.svc, &r, token, &lsn, NULL));
    struct core_reservation res;
    CHECK_OK(svc_reserve(e.svc, r.id, b2, &res, &lsn, NULL));
    /* Only available bikes are found, nearest first. */
    struct svc_near_query q = {.center = near, .radius_m = 500, .limit = 10};
    struct svc_near_hit hits[10];
    size_t n;
    CHECK_OK(svc_bikes_near(e.svc, &q, hits, &n, NULL));
    CHECK_EQ(n, 1);
    CHECK_EQ(hits[0].bike.id, b1);
    CHECK_NEAR(hits[0].distance_m, 111.2, 1.0);
    q.radius_m = 0;
    CHECK_ERR(svc_bikes_near(e.svc, &q, hits, &n, &d), ERR_INVALID);
    /* A new database stores the built-in plan as version 1. */
    int64_t plan_created = svc_pricing(e.svc)->created_ms;
    CHECK(plan_created > 0);
    wait_durable(&e, lsn);
    env_stop(&e);

    env_start(&e);
    CHECK_EQ(svc_pricing(e.svc)->version, 1);
    CHECK_EQ(svc_pricing(e.svc)->created_ms, plan_created);
    struct svc_principal p;
    CHECK_OK(svc_authenticate(e.svc, str_from_cstr(token), &p));
    CHECK_EQ(p.role, SVC_ROLE_RIDER);
    CHECK_EQ(p.id, r.id);
    CHECK_ERR(svc_authenticate(e.svc, STR_LIT("short"), &p), ERR_INVALID);
    struct svc_bike_view v;
    CHECK_OK(svc_bike_get(e.svc, b2, &v));
    CHECK_EQ(v.bike.state, CORE_VS_RESERVED);
    CHECK_EQ(v.bike.reservation_id, res.id);
    struct core_reservation back;
    CHECK_OK(svc_reservation_get(e.svc, r.id, res.id, &back, &lsn, NULL));
    CHECK_EQ(back.state, CORE_RES_ACTIVE);
    CHECK_ERR(svc_reservation_get(e.svc, r.id + 1, res.id, &back, &lsn, NULL),
              ERR_NOT_FOUND);
    CHECK_OK(svc_reservation_cancel(e.svc, r.id, res.id, &back, &lsn, NULL));
    CHECK_EQ(back.state, CORE_RES_CANCELLED);
    struct svc_stats st;
    svc_stats(e.svc, &st);
    CHECK_EQ(st.riders, 1);
    CHECK_EQ(st.bikes_by_state[CORE_VS_AVAILABLE], 2);
    env_free(&e);
}

TEST(svc_trip_without_lock_fails_offline)
{
    struct env e;
    env_init(&e);
    int64_t bike = add_bike(&e, "Q1", "100000000000001", CENTER);
    struct core_rider r;
    char token[SVC_TOKEN_LEN];
    uint64_t lsn;
    CHECK_OK(svc_rider_create(e.svc, &r, token, &lsn, NULL));
    struct svc_trip_request req = {.bike_id = bike, .idem_key = STR_LIT("k1")};
    struct core_trip t;
    bool replayed;
    CHECK_OK(svc_trip_start(e.svc, r.id, &req, &t, &replayed, &lsn, NULL));
    CHECK(!replayed);
    CHECK_EQ(t.state, CORE_TRIP_UNLOCKING);
    /* The unlock goes out only once the trip is durable: no lock here. */
    wait_durable(&e, lsn);
    struct core_trip now;
    CHECK_OK(svc_trip_get(e.svc, r.id, t.id, &now, &lsn, NULL));
    CHECK_EQ(now.state, CORE_TRIP_FAILED);
    CHECK_STR(now.reason, "lock_offline");
    /* A retry returns the same trip; another bike with the key is refused. */
    struct core_trip again;
    CHECK_OK(svc_trip_start(e.svc, r.id, &req, &again, &replayed, &lsn, NULL));
    CHECK(replayed);
    CHECK_EQ(again.id, t.id);
    int64_t other = add_bike(&e, "Q2", "100000000000002", CENTER);
    struct svc_trip_request req2 = {.bike_id = other,
                                    .idem_key = STR_LIT("k1")};
    struct err_detail d;
    CHECK_ERR(svc_trip_start(e.svc, r.id, &req2, &again, &replayed, &lsn, &d),
              ERR_CONFLICT);
    CHECK_STR(d.code, "idempotency_key_reused");
    wait_durable(&e, lsn);
    env_stop(&e);
    /* After a restart the key is found in the store. */
    env_start(&e);
    CHECK_OK(svc_trip_start(e.svc, r.id, &req, &again, &replayed, &lsn, NULL));
    CHECK(replayed);
    CHECK_EQ(again.state, CORE_TRIP_FAILED);
    CHECK_ERR(svc_trip_get(e.svc, r.id + 5, t.id, &now, &lsn, NULL),
              ERR_NOT_FOUND);
    env_free(&e);
}

TEST(svc_lock_events_drive_the_ride)
{
    struct env e;
    env_init(&e);
    int64_t bike = add_bike(&e, "Q1", "100000000000001", CENTER);
    struct core_rider r;
    char token[SVC_TOKEN_LEN];
    uint64_t lsn;
    CHECK_OK(svc_rider_create(e.svc, &r, token, &lsn, NULL));
    struct svc_trip_request req = {.qr_code = STR_LIT("Q1")};
    struct core_trip t;
    bool replayed;
    CHECK_OK(svc_trip_start(e.svc, r.id, &req, &t, &replayed, &lsn, NULL));
    CHECK_EQ(t.bike_id, bike);
    const struct gateway_ops *ops = svc_gateway_ops();
    struct gateway_admission a;
    ops->admit(e.svc, 100000000000001, false, &a);
    CHECK(a.admit && !a.secure);
    ops->admit(e.svc, 100000000000009, false, &a);
    CHECK(!a.admit);
    ops->admit(e.svc, 100000000000001, true, &a); /* it has no key */
    CHECK(!a.admit);
    /* The lock confirms (here before the commit lands, which is fine). */
    ops->unlock_result(e.svc, 100000000000001, r.id, GATEWAY_UNLOCKED);
    struct core_trip now;
    CHECK_OK(svc_trip_get(e.svc, r.id, t.id, &now, &lsn, NULL));
    CHECK_EQ(now.state, CORE_TRIP_RIDING);
    struct core_bike_report rep = {
        .has_pos = true,
        .pos = {CENTER.lat_deg + 0.002, CENTER.lon_deg},
        .battery_pct = 70,
        .lock_closed = 0};
    ops->report(e.svc, 100000000000001, &rep);
    ops->locked(e.svc, 100000000000001, r.id, 0);
    CHECK_OK(svc_trip_get(e.svc, r.id, t.id, &now, &lsn, NULL));
    CHECK_EQ(now.state, CORE_TRIP_ENDED);
    CHECK_STR(now.reason, "locked");
    CHECK_NEAR(now.distance_m, 222.4, 1.0);
    /* 1.00 plus 0.15 per minute begun; under a minute has passed. */
    int64_t fare = 100 + (now.ended_ms > now.started_ms ? 15 : 0);
    CHECK_EQ(now.fare_cents, fare);
    wait_durable(&e, lsn);
    /* A second L1 charges nothing more. */
    ops->locked(e.svc, 100000000000001, r.id, 0);
    struct core_rider me;
    CHECK_OK(svc_rider_get(e.svc, r.id, &me));
    CHECK_EQ(me.balance_cents, -fare);
    struct core_trip list[4];
    size_t n;
    CHECK_OK(svc_trips_list(e.svc, r.id, 0, list, 4, &n, NULL));
    CHECK_EQ(n, 1);
    CHECK_EQ(list[0].state, CORE_TRIP_ENDED);
    struct svc_stats st;
    svc_stats(e.svc, &st);
    CHECK_EQ(st.fare_cents_charged, fare);
    env_stop(&e);
    env_start(&e);
    CHECK_OK(svc_rider_get(e.svc, r.id, &me));
    CHECK_EQ(me.balance_cents, -fare);
    struct svc_bike_view v;
    CHECK_OK(svc_bike_get(e.svc, bike, &v));
    CHECK_EQ(v.bike.state, CORE_VS_AVAILABLE);
    CHECK_EQ(v.bike.battery_pct, 70);
    CHECK_NEAR(v.bike.pos.lat_deg, CENTER.lat_deg + 0.002, 1e-9);
    env_free(&e);
}

TEST(svc_force_end_and_operator_token)
{
    struct env e;
    env_init(&e);
    int64_t bike = add_bike(&e, "Q1", "100000000000001", CENTER);
    struct core_rider r;
    char token[SVC_TOKEN_LEN];
    uint64_t lsn;
    CHECK_OK(svc_rider_create(e.svc, &r, token, &lsn, NULL));
    struct svc_trip_request req = {.bike_id = bike};
    struct core_trip t;
    bool replayed;
    CHECK_OK(svc_trip_start(e.svc, r.id, &req, &t, &replayed, &lsn, NULL));
    svc_gateway_ops()->unlock_result(e.svc, 100000000000001, r.id,
                                     GATEWAY_UNLOCKED);
    struct core_trip out;
    struct err_detail d;
    CHECK_OK(svc_trip_force_end(e.svc, t.id, false, &out, &lsn, NULL));
    CHECK_EQ(out.state, CORE_TRIP_ENDED);
    CHECK_EQ(out.fare_cents, 0);
    CHECK_ERR(svc_trip_force_end(e.svc, t.id, true, &out, &lsn, &d),
              ERR_CONFLICT);
    CHECK_STR(d.code, "trip_not_active");
    CHECK_ERR(svc_trip_force_end(e.svc, 999, true, &out, &lsn, &d),
              ERR_NOT_FOUND);
    struct core_bike b;
    CHECK_OK(
        svc_bike_event(e.svc, bike, CORE_VE_MAINTENANCE_START, &b, &lsn, NULL));
    CHECK_EQ(b.state, CORE_VS_NON_OPERATIONAL);
    struct svc_bike_view views[4];
    CHECK_EQ(svc_bike_list(e.svc, 0, false, CORE_VS_NON_OPERATIONAL, views, 4),
             1);
    CHECK_EQ(svc_bike_list(e.svc, 1, true, CORE_VS_AVAILABLE, views, 4), 0);
    /* An operator token made by another handle works at once. */
    CHECK(sodium_init() >= 0);
    char op_token[SVC_TOKEN_LEN];
    unsigned char hash[CORE_TOKEN_HASH_BYTES];
    svc_token_new(op_token, hash);
    struct store *st;
    int64_t id;
    CHECK_OK(store_open(e.db, &st, NULL));
    CHECK_OK(store_token_create(st, hash, STORE_ROLE_OPERATOR, "test", 1, &id,
                                NULL));
    store_close(st);
    struct svc_principal p;
    CHECK_OK(svc_authenticate(e.svc, str_from_cstr(op_token), &p));
    CHECK_EQ(p.role, SVC_ROLE_OPERATOR);
    op_token[0] = op_token[0] == 'A' ? 'B' : 'A';
    CHECK_ERR(svc_authenticate(e.svc, str_from_cstr(op_token), &p),
              ERR_NOT_FOUND);
    wait_durable(&e, lsn);
    env_free(&e);
}

TEST(svc_position_history)
{
    struct env e;
    env_init(&e);
    add_bike(&e, "Q1", "100000000000001", CENTER);
    add_bike(&e, "Q2", "100000000000002", CENTER);
    const struct gateway_ops *ops = svc_gateway_ops();
    struct svc_point pts[16];
    size_t n;
    /* Reports 10 ms apart: buffered, then written at the stop. */
    for (int i = 0; i < 5; i++) {
        struct core_bike_report rep = {
            .has_pos = true,
            .pos = {CENTER.lat_deg + 0.001 * i, CENTER.lon_deg},
            .battery_pct = -1,
            .lock_closed = -1};
        ops->report(e.svc, 100000000000001, &rep);
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    struct core_bike_report silent = {.battery_pct = 50, .lock_closed = 1};
    ops->report(e.svc, 100000000000002, &silent); /* no position */
    CHECK_OK(svc_positions(e.svc, 1, 0, INT64_MAX, pts, 16, &n));
    CHECK_EQ(n, 5);
    CHECK_NEAR(pts[4].pos.lat_deg, CENTER.lat_deg + 0.004, 1e-7);
    int64_t third = pts[2].ts_ms;
    CHECK_OK(svc_positions(e.svc, 2, 0, INT64_MAX, pts, 16, &n));
    CHECK_EQ(n, 0);
    CHECK_ERR(svc_positions(e.svc, 99, 0, INT64_MAX, pts, 16, &n),
              ERR_NOT_FOUND);
    struct svc_point at;
    CHECK_OK(svc_position_at(e.svc, 1, third, &at));
    CHECK_EQ(at.ts_ms, third);
    CHECK_NEAR(at.pos.lat_deg, CENTER.lat_deg + 0.002, 1e-7);
    CHECK_ERR(svc_position_at(e.svc, 1, third - 1000000, &at), ERR_NOT_FOUND);
    struct svc_stats st;
    svc_stats(e.svc, &st);
    CHECK_EQ(st.positions, 5);
    env_stop(&e);
    /* From the store after a restart, the same answers. */
    env_start(&e);
    CHECK_OK(svc_positions(e.svc, 1, 0, INT64_MAX, pts, 16, &n));
    CHECK_EQ(n, 5);
    CHECK_EQ(pts[2].ts_ms, third);
    CHECK_OK(svc_position_at(e.svc, 1, third + 1, &at));
    CHECK_EQ(at.ts_ms, third);
    struct svc_bike_view v;
    CHECK_OK(svc_bike_get(e.svc, 2, &v));
    CHECK_EQ(v.bike.battery_pct, 50); /* checkpointed at the stop */
    env_free(&e);
}

const struct test_case test_suite_svc[] = {
    CASE(svc_position_history),
    CASE(svc_bikes_and_riders_survive_restart),
    CASE(svc_trip_without_lock_fails_offline),
    CASE(svc_lock_events_drive_the_ride),
    CASE(svc_force_end_and_operator_token),
    {0},
};
