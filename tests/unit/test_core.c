/* SPDX-License-Identifier: MIT */
/*
 * Tests for src/core: the vehicle state machine, pricing, identifiers, and
 * the world's ride rules with its change list.
 */
#include "base/sys.h"
#include "tests/unit/harness.h"
#include "core/world.h"

static const unsigned char HASH_A[CORE_TOKEN_HASH_BYTES] = {1};
static const unsigned char HASH_B[CORE_TOKEN_HASH_BYTES] = {2};
static const struct geo_latlng P0 = {31.2304, 121.4737};

TEST(vstate_transitions)
{
    enum core_vstate to;
    CHECK_OK(
        core_vstate_next(CORE_VS_AVAILABLE, CORE_VE_TRIP_START, &to, NULL));
    CHECK_EQ(to, CORE_VS_ON_TRIP);
    CHECK_OK(core_vstate_next(CORE_VS_ON_TRIP, CORE_VE_TRIP_END, &to, NULL));
    CHECK_EQ(to, CORE_VS_AVAILABLE);
    CHECK_OK(core_vstate_next(CORE_VS_REMOVED, CORE_VE_PROVIDER_DROP_OFF, &to,
                              NULL));
    CHECK_EQ(to, CORE_VS_AVAILABLE);
    struct err_detail d;
    to = CORE_VS_MISSING;
    CHECK_ERR(
        core_vstate_next(CORE_VS_ON_TRIP, CORE_VE_RESERVATION_START, &to, &d),
        ERR_CONFLICT);
    CHECK_STR(d.code, "illegal_transition");
    CHECK_EQ(to, CORE_VS_MISSING); /* untouched on failure */
    CHECK_ERR(core_vstate_next(CORE_VS_COUNT, CORE_VE_TRIP_END, &to, NULL),
              ERR_INVALID);
    /* A bike on a trip can only end or cancel it. */
    size_t legal = 0;
    for (int e = 0; e < CORE_VE_COUNT; e++)
        legal += core_vstate_next(CORE_VS_ON_TRIP, (enum core_vevent)e, &to,
                                  NULL) == ERR_OK;
    CHECK_EQ(legal, 2);
}

TEST(vstate_names_round_trip)
{
    for (int s = 0; s < CORE_VS_COUNT; s++) {
        enum core_vstate back;
        CHECK_OK(core_vstate_parse(
            str_from_cstr(core_vstate_name((enum core_vstate)s)), &back));
        CHECK_EQ(back, s);
    }
    for (int e = 0; e < CORE_VE_COUNT; e++) {
        enum core_vevent back;
        CHECK_OK(core_vevent_parse(
            str_from_cstr(core_vevent_name((enum core_vevent)e)), &back));
        CHECK_EQ(back, e);
    }
    enum core_vtype t;
    CHECK_OK(core_vtype_parse(STR_LIT("ebike"), &t));
    CHECK_EQ(t, CORE_VT_EBIKE);
    CHECK_ERR(core_vtype_parse(STR_LIT("car"), &t), ERR_INVALID);
    enum core_vstate s;
    CHECK_ERR(core_vstate_parse(STR_LIT("flying"), &s), ERR_INVALID);
}

TEST(pricing_fare)
{
    struct core_pricing p;
    core_pricing_default(&p);
    CHECK_OK(core_pricing_validate(&p, NULL));
    /* 1.00 to unlock plus 0.15 per started minute. */
    CHECK_EQ(core_pricing_fare(&p, 0), 100);
    CHECK_EQ(core_pricing_fare(&p, 1), 115);
    CHECK_EQ(core_pricing_fare(&p, 60000), 115);
    CHECK_EQ(core_pricing_fare(&p, 60001), 130);
    CHECK_EQ(core_pricing_fare(&p, -5), 100);
    /* First 30 min free, then 0.50 per 10 min until 60, then 2.00/h. */
    p.unlock_cents = 0;
    p.nsegments = 2;
    p.segments[0] = (struct core_price_segment){30, 60, 50, 10};
    p.segments[1] = (struct core_price_segment){60, 0, 200, 60};
    CHECK_OK(core_pricing_validate(&p, NULL));
    CHECK_EQ(core_pricing_fare(&p, 30 * 60000), 0);
    CHECK_EQ(core_pricing_fare(&p, 30 * 60000 + 1), 50);
    CHECK_EQ(core_pricing_fare(&p, 60 * 60000), 150);
    CHECK_EQ(core_pricing_fare(&p, 61 * 60000), 350);
}

TEST(pricing_validate_errors)
{
    struct core_pricing p;
    struct err_detail d;
    core_pricing_default(&p);
    p.currency[0] = 'e';
    CHECK_ERR(core_pricing_validate(&p, &d), ERR_INVALID);
    CHECK_STR(d.field, "currency");
    core_pricing_default(&p);
    p.plan_id[0] = '\0';
    CHECK_ERR(core_pricing_validate(&p, &d), ERR_INVALID);
    core_pricing_default(&p);
    p.segments[0].interval_min = 0;
    CHECK_ERR(core_pricing_validate(&p, &d), ERR_INVALID);
    CHECK_STR(d.field, "per_min_pricing[0]");
    core_pricing_default(&p);
    p.nsegments = 2;
    p.segments[1] = p.segments[0]; /* open-ended segment before another */
    CHECK_ERR(core_pricing_validate(&p, &d), ERR_INVALID);
    core_pricing_default(&p);
    p.unlock_cents = -1;
    CHECK_ERR(core_pricing_validate(&p, &d), ERR_INVALID);
}

TEST(identifiers)
{
    uint64_t imei;
    CHECK_OK(core_imei_parse(STR_LIT("012345678901234"), &imei, NULL));
    char out[16];
    core_imei_format(imei, out);
    CHECK_STR(out, "012345678901234");
    CHECK_ERR(core_imei_parse(STR_LIT("12345"), &imei, NULL), ERR_INVALID);
    CHECK_ERR(core_imei_parse(STR_LIT("01234567890123x"), &imei, NULL),
              ERR_INVALID);
    CHECK_OK(core_qr_validate(STR_LIT("SH-00001_a"), NULL));
    CHECK_ERR(core_qr_validate(STR_LIT(""), NULL), ERR_INVALID);
    CHECK_ERR(core_qr_validate(STR_LIT("a b"), NULL), ERR_INVALID);
    CHECK_ERR(
        core_qr_validate(STR_LIT("123456789012345678901234567890123"), NULL),
        ERR_INVALID);
    CHECK_OK(core_idem_key_validate(STR_LIT("retry-1"), NULL));
    CHECK_ERR(core_idem_key_validate(STR_LIT("has space"), NULL), ERR_INVALID);
}

/* A world with one bike and two riders, changes cleared. */
struct fixture {
    struct core_world *w;
    struct core_bike *bike;
    struct core_rider *a, *b;
};

static void setup(struct fixture *f)
{
    f->w = core_world_new();
    CHECK_OK(core_world_add_bike(f->w, STR_LIT("QR1"), 111111111111111,
                                 CORE_VT_BICYCLE, P0, 1000, &f->bike, NULL));
    CHECK_OK(core_world_add_rider(f->w, HASH_A, 1000, &f->a, NULL));
    CHECK_OK(core_world_add_rider(f->w, HASH_B, 1000, &f->b, NULL));
    core_world_changes_clear(f->w);
}

static size_t count_kind(struct core_world *w, enum core_change_kind k)
{
    const struct core_change *ch;
    size_t n = core_world_changes(w, &ch), c = 0;
    for (size_t i = 0; i < n; i++)
        c += ch[i].kind == k;
    return c;
}

TEST(world_add_bike_conflicts)
{
    struct fixture f;
    setup(&f);
    struct core_bike *b;
    struct err_detail d;
    CHECK_ERR(core_world_add_bike(f.w, STR_LIT("QR1"), 222222222222222,
                                  CORE_VT_BICYCLE, P0, 0, &b, &d),
              ERR_CONFLICT);
    CHECK_STR(d.code, "qr_code_taken");
    CHECK_ERR(core_world_add_bike(f.w, STR_LIT("QR2"), 111111111111111,
                                  CORE_VT_BICYCLE, P0, 0, &b, &d),
              ERR_CONFLICT);
    CHECK_STR(d.code, "lock_imei_taken");
    struct geo_latlng bad = {91, 0};
    CHECK_ERR(core_world_add_bike(f.w, STR_LIT("QR2"), 2, CORE_VT_BICYCLE, bad,
                                  0, &b, &d),
              ERR_INVALID);
    CHECK_OK(core_world_add_bike(f.w, STR_LIT("QR2"), 2, CORE_VT_EBIKE, P0, 0,
                                 &b, NULL));
    CHECK_EQ(b->id, 2);
    CHECK(core_world_bike_by_qr(f.w, STR_LIT("QR2")) == b);
    CHECK(core_world_bike_by_imei(f.w, 2) == b);
    CHECK_EQ(count_kind(f.w, CORE_CH_BIKE), 1);
    struct core_rider *r;
    CHECK_ERR(core_world_add_rider(f.w, HASH_A, 0, &r, NULL), ERR_CONFLICT);
    CHECK(core_world_rider_by_token(f.w, HASH_B) == f.b);
    core_world_free(f.w);
}

TEST(world_ride_charges_once)
{
    struct fixture f;
    setup(&f);
    struct core_trip *t;
    CHECK_OK(core_world_trip_start(f.w, f.a, f.bike, STR_LIT("k1"), 10000, &t,
                                   NULL));
    CHECK_EQ(t->state, CORE_TRIP_UNLOCKING);
    CHECK_EQ(f.bike->state, CORE_VS_ON_TRIP);
    CHECK_EQ(f.a->trip_id, t->id);
    CHECK(core_world_trip_by_idem(f.w, f.a->id, STR_LIT("k1")) == t);
    CHECK(core_world_trip_by_idem(f.w, f.b->id, STR_LIT("k1")) == NULL);
    CHECK_EQ(count_kind(f.w, CORE_CH_EVENT), 1);
    core_world_changes_clear(f.w);
    /* The second rider cannot take the bike. */
    struct core_trip *t2;
    struct err_detail d;
    CHECK_ERR(
        core_world_trip_start(f.w, f.b, f.bike, STR_LIT(""), 10001, &t2, &d),
        ERR_CONFLICT);
    CHECK_STR(d.code, "bike_unavailable");
    CHECK_ERR(core_world_trip_end(f.w, t, "locked", true, 10002, &d),
              ERR_CONFLICT);
    CHECK_OK(core_world_trip_unlocked(f.w, t, 20000, NULL));
    struct core_bike_report rep = {.has_pos = true,
                                   .pos = {P0.lat_deg + 0.001, P0.lon_deg},
                                   .battery_pct = 80,
                                   .lock_closed = 0};
    core_world_bike_report(f.w, f.bike, &rep, 50000);
    CHECK_NEAR(t->distance_m, 111.2, 0.5);
    CHECK_OK(core_world_trip_end(f.w, t, "locked", true, 20000 + 125000, NULL));
    /* 2 min 5 s: three started minutes. */
    CHECK_EQ(t->fare_cents, 100 + 3 * 15);
    CHECK_EQ(f.a->balance_cents, -145);
    CHECK_EQ(count_kind(f.w, CORE_CH_CHARGE), 1);
    CHECK_EQ(f.bike->state, CORE_VS_AVAILABLE);
    CHECK_NEAR(t->end_pos.lat_deg, P0.lat_deg + 0.001, 1e-9);
    CHECK_EQ(f.a->trip_id, 0);
    /* Ending again is refused: no second charge. */
    CHECK_ERR(core_world_trip_end(f.w, t, "locked", true, 200000, NULL),
              ERR_CONFLICT);
    CHECK_EQ(f.a->balance_cents, -145);
    core_world_free(f.w);
}

TEST(world_trip_fail_releases_bike)
{
    struct fixture f;
    setup(&f);
    struct core_trip *t;
    CHECK_OK(core_world_trip_start(f.w, f.a, f.bike, STR_LIT(""), 1, &t, NULL));
    CHECK_OK(core_world_trip_fail(f.w, t, "lock_offline", 2, NULL));
    CHECK_EQ(t->state, CORE_TRIP_FAILED);
    CHECK_STR(t->reason, "lock_offline");
    CHECK_EQ(f.bike->state, CORE_VS_AVAILABLE);
    CHECK_EQ(f.a->balance_cents, 0);
    CHECK_ERR(core_world_trip_fail(f.w, t, "again", 3, NULL), ERR_CONFLICT);
    /* Retired trips stay findable until their final write is durable. */
    CHECK(core_world_trip(f.w, t->id) == t);
    t->lsn = 5;
    core_world_changes_clear(f.w);
    core_world_collect(f.w, 4);
    CHECK(core_world_trip(f.w, 1) != NULL);
    core_world_collect(f.w, 5);
    CHECK(core_world_trip(f.w, 1) == NULL);
    core_world_free(f.w);
}

TEST(world_reservations)
{
    struct fixture f;
    setup(&f);
    struct core_reservation *r;
    struct err_detail d;
    CHECK_OK(core_world_reserve(f.w, f.a, f.bike, 100, 600000, &r, NULL));
    CHECK_EQ(f.bike->state, CORE_VS_RESERVED);
    CHECK_EQ(r->expires_ms, 600100);
    struct core_reservation *r2;
    CHECK_ERR(core_world_reserve(f.w, f.b, f.bike, 101, 1000, &r2, &d),
              ERR_CONFLICT);
    CHECK_STR(d.code, "bike_unavailable");
    struct core_bike *other;
    CHECK_OK(core_world_add_bike(f.w, STR_LIT("QR2"), 2, CORE_VT_BICYCLE, P0, 0,
                                 &other, NULL));
    CHECK_ERR(core_world_reserve(f.w, f.a, other, 102, 1000, &r2, &d),
              ERR_CONFLICT);
    CHECK_STR(d.code, "reservation_exists");
    /* B cannot unlock A's reserved bike; A can, using the reservation. */
    struct core_trip *t;
    CHECK_ERR(core_world_trip_start(f.w, f.b, f.bike, STR_LIT(""), 103, &t, &d),
              ERR_CONFLICT);
    CHECK_OK(
        core_world_trip_start(f.w, f.a, f.bike, STR_LIT(""), 104, &t, NULL));
    CHECK_EQ(r->state, CORE_RES_USED);
    CHECK_EQ(f.a->reservation_id, 0);
    CHECK_ERR(core_world_reservation_end(f.w, r, CORE_RES_EXPIRED, 105, &d),
              ERR_CONFLICT);
    core_world_free(f.w);
}

TEST(world_trip_cancels_other_reservation)
{
    struct fixture f;
    setup(&f);
    struct core_bike *other;
    CHECK_OK(core_world_add_bike(f.w, STR_LIT("QR2"), 2, CORE_VT_BICYCLE, P0, 0,
                                 &other, NULL));
    struct core_reservation *r;
    CHECK_OK(core_world_reserve(f.w, f.a, other, 1, 1000, &r, NULL));
    struct core_trip *t;
    CHECK_OK(core_world_trip_start(f.w, f.a, f.bike, STR_LIT(""), 2, &t, NULL));
    CHECK_EQ(r->state, CORE_RES_CANCELLED);
    CHECK_EQ(other->state, CORE_VS_AVAILABLE);
    CHECK_EQ(f.bike->state, CORE_VS_ON_TRIP);
    CHECK_ERR(core_world_reservation_end(f.w, r, CORE_RES_USED, 3, NULL),
              ERR_INVALID);
    core_world_free(f.w);
}

TEST(world_operator_events_and_missing)
{
    struct fixture f;
    setup(&f);
    struct err_detail d;
    CHECK_ERR(core_world_bike_event(f.w, f.bike, CORE_VE_TRIP_START, 1, &d),
              ERR_INVALID);
    CHECK_STR(d.code, "event_not_allowed");
    CHECK_ERR(
        core_world_bike_event(f.w, f.bike, CORE_VE_PROVIDER_DROP_OFF, 1, &d),
        ERR_CONFLICT);
    CHECK_OK(
        core_world_bike_event(f.w, f.bike, CORE_VE_MAINTENANCE_START, 1, NULL));
    CHECK_EQ(f.bike->state, CORE_VS_NON_OPERATIONAL);
    /* Silent for longer than the threshold: missing, then back. */
    CHECK_EQ(core_world_mark_missing(f.w, 1000 + 5000, 10000), 0);
    CHECK_EQ(core_world_mark_missing(f.w, 1000 + 20000, 10000), 1);
    CHECK_EQ(f.bike->state, CORE_VS_MISSING);
    struct core_bike_report rep = {.battery_pct = 50, .lock_closed = 1};
    core_world_bike_report(f.w, f.bike, &rep, 30000);
    CHECK_EQ(f.bike->state, CORE_VS_AVAILABLE);
    CHECK_EQ(f.bike->battery_pct, 50);
    CHECK_EQ(f.bike->last_report_ms, 30000);
    core_world_free(f.w);
}

TEST(world_pricing_versions)
{
    struct fixture f;
    setup(&f);
    struct core_trip *t;
    CHECK_OK(core_world_trip_start(f.w, f.a, f.bike, STR_LIT(""), 0, &t, NULL));
    CHECK_OK(core_world_trip_unlocked(f.w, t, 0, NULL));
    struct core_pricing p;
    core_pricing_default(&p);
    p.unlock_cents = 500;
    const struct core_pricing *cur;
    CHECK_OK(core_world_set_pricing(f.w, &p, 10, &cur, NULL));
    CHECK_EQ(cur->version, 2);
    /* The trip keeps the price it started under. */
    CHECK_OK(core_world_trip_end(f.w, t, "locked", true, 1, NULL));
    CHECK_EQ(t->fare_cents, 115);
    p.currency[0] = '\0';
    CHECK_ERR(core_world_set_pricing(f.w, &p, 10, &cur, NULL), ERR_INVALID);
    core_world_free(f.w);
}

TEST(world_many_bikes_by_id_qr_imei)
{
    /* Past a block of records (4,096) and several growths of the QR map;
     * restored ids may leave gaps. */
    struct core_world *w = core_world_new();
    enum { N = 10000 };
    for (int64_t id = 1; id <= N; id++) {
        if (id % 7 == 0)
            continue; /* a gap */
        struct core_bike b = {.id = id, .imei = 500000000000000 + (uint64_t)id};
        snprintf(b.qr_code, sizeof(b.qr_code), "QR-%" PRId64, id);
        CHECK_OK(core_world_restore_bike(w, &b));
    }
    CHECK_EQ(core_world_bike_max_id(w), N); /* 10,000 is not a gap */
    for (int64_t id = 1; id <= N; id++) {
        char qr[32];
        snprintf(qr, sizeof(qr), "QR-%" PRId64, id);
        struct core_bike *b = core_world_bike(w, id);
        struct core_bike *bq = core_world_bike_by_qr(w, str_from_cstr(qr));
        struct core_bike *bi =
            core_world_bike_by_imei(w, 500000000000000 + (uint64_t)id);
        if (id % 7 == 0) {
            CHECK(b == NULL && bq == NULL && bi == NULL);
            continue;
        }
        CHECK(b != NULL && b->id == id);
        CHECK(bq == b && bi == b);
    }
    CHECK(core_world_bike_by_qr(w, STR_LIT("QR-")) == NULL);
    CHECK(core_world_bike_by_qr(w, STR_LIT("QR-10")) != NULL);
    CHECK(core_world_bike_by_qr(w, STR_LIT("QR-100000")) == NULL);
    CHECK(core_world_bike(w, 0) == NULL);
    CHECK(core_world_bike(w, N + 1) == NULL);
    /* A new bike takes the next id and its code is found. */
    struct core_bike *nb;
    CHECK_OK(core_world_add_bike(w, STR_LIT("NEW"), 7, CORE_VT_BICYCLE, P0, 0,
                                 &nb, NULL));
    CHECK_EQ(nb->id, N + 1);
    CHECK(core_world_bike_by_qr(w, STR_LIT("NEW")) == nb);
    CHECK_ERR(core_world_add_bike(w, STR_LIT("QR-12"), 8, CORE_VT_BICYCLE, P0,
                                  0, &nb, NULL),
              ERR_CONFLICT);
    core_world_free(w);
}

TEST(world_restore)
{
    struct core_world *w = core_world_new();
    struct core_bike b = {.id = 3, .imei = 7, .state = CORE_VS_ON_TRIP};
    snprintf(b.qr_code, sizeof(b.qr_code), "Q3");
    CHECK_OK(core_world_restore_bike(w, &b));
    CHECK_ERR(core_world_restore_bike(w, &b), ERR_CONFLICT);
    CHECK(core_world_bike(w, 1) == NULL);
    CHECK_EQ(core_world_bike_max_id(w), 3);
    struct core_rider r = {.id = 1, .token_hash = {9}};
    CHECK_OK(core_world_restore_rider(w, &r));
    struct core_trip t = {
        .id = 41, .rider_id = 1, .bike_id = 3, .state = CORE_TRIP_RIDING};
    snprintf(t.idem_key, sizeof(t.idem_key), "abc");
    struct core_trip orphan = t;
    orphan.rider_id = 2;
    CHECK_ERR(core_world_restore_trip(w, &orphan), ERR_NOT_FOUND);
    CHECK_OK(core_world_restore_trip(w, &t));
    CHECK_EQ(core_world_bike(w, 3)->trip_id, 41);
    CHECK(core_world_trip_by_idem(w, 1, STR_LIT("abc")) != NULL);
    core_world_restore_ids(w, 100, 7);
    struct core_bike *nb;
    CHECK_OK(core_world_add_bike(w, STR_LIT("Q4"), 8, CORE_VT_BICYCLE, P0, 0,
                                 &nb, NULL));
    CHECK_EQ(nb->id, 4);
    struct core_pricing p;
    core_pricing_default(&p);
    p.version = 3;
    CHECK_ERR(core_world_restore_pricing(w, &p), ERR_CONFLICT);
    core_world_free(w);
}

const struct test_case test_suite_core[] = {
    CASE(vstate_transitions),
    CASE(vstate_names_round_trip),
    CASE(pricing_fare),
    CASE(pricing_validate_errors),
    CASE(identifiers),
    CASE(world_add_bike_conflicts),
    CASE(world_ride_charges_once),
    CASE(world_trip_fail_releases_bike),
    CASE(world_reservations),
    CASE(world_trip_cancels_other_reservation),
    CASE(world_operator_events_and_missing),
    CASE(world_pricing_versions),
    CASE(world_many_bikes_by_id_qr_imei),
    CASE(world_restore),
    {0},
};
