/* SPDX-License-Identifier: MIT */
/*
 * Tests for dispatch/route.h: hand-made instances with known optima
 * (capacity, time, tasks, broken bikes, initial load), the checker against
 * every kind of broken plan, input validation, the quantity optimiser and
 * the solver against exhaustive search on tiny random instances, and the
 * solver's invariants (feasible, deterministic, never below its
 * construction) on random instances of varied size.
 */
#include "base/sys.h"
#include "base/rng.h"
#include "dispatch/route.h"
#include "geo/geo.h"
#include "tests/unit/harness.h"

#include <math.h>

/* ---- helpers ------------------------------------------------------------ */

static const struct geo_latlng depot = {1.30, 103.80};

/* The point dist_m east of the depot (north for a negative bearing). */
static struct geo_latlng east(double dist_m)
{
    return geo_offset(depot, 90.0, dist_m);
}

/* The travel model, written out again: metres and seconds from a to b. */
static double leg_m(const struct route_params *pp, struct geo_latlng a,
                    struct geo_latlng b)
{
    return geo_distance_m(a, b) * pp->detour;
}

static int64_t leg_s(const struct route_params *pp, struct geo_latlng a,
                     struct geo_latlng b)
{
    return (int64_t)ceil(leg_m(pp, a, b) / pp->speed_mps);
}

static struct route_truck truck_at(struct geo_latlng at, int32_t capacity)
{
    return (struct route_truck){
        .start = at, .capacity = capacity, .time_s = 8 * 3600};
}

static struct route_problem problem(const struct route_site *sites, size_t n,
                                    const struct route_truck *trucks, size_t nt)
{
    struct route_problem p = {.depot = depot,
                              .sites = sites,
                              .n_sites = n,
                              .trucks = trucks,
                              .n_trucks = nt};
    route_params_default(&p.params);
    return p;
}

/* Solves p with an iteration cap and checks the result independently. */
static struct route_plan solve(const struct route_problem *p, uint64_t seed,
                               uint64_t iters, struct route_stats *st)
{
    struct route_opts o = {.seed = seed, .max_iters = iters};
    struct route_plan plan;
    struct route_stats dummy;
    struct err_detail d;
    err_clear(&d);
    enum err e = route_solve(p, &o, &plan, st ? st : &dummy, &d);
    if (e != ERR_OK)
        test_fail(__FILE__, __LINE__, "route_solve: %s: %s (%s)", err_name(e),
                  d.msg, d.field);
    struct route_totals t;
    e = route_check(p, &plan, &t, &d);
    if (e != ERR_OK)
        test_fail(__FILE__, __LINE__, "route_check: %s (%s)", d.msg, d.field);
    /* The totals the solver reports are the checker's. */
    CHECK(memcmp(&t, &plan.totals, sizeof(t)) == 0);
    CHECK_EQ(plan.n_paths, p->n_trucks);
    return plan;
}

static bool plans_equal(const struct route_plan *a, const struct route_plan *b)
{
    if (a->n_paths != b->n_paths ||
        memcmp(&a->totals, &b->totals, sizeof(a->totals)) != 0)
        return false;
    for (size_t i = 0; i < a->n_paths; i++) {
        const struct route_path *x = &a->paths[i], *y = &b->paths[i];
        if (x->n_stops != y->n_stops ||
            memcmp(&x->value, &y->value, sizeof(x->value)) != 0)
            return false;
        for (size_t k = 0; k < x->n_stops; k++) {
            if (x->stops[k].site != y->stops[k].site ||
                x->stops[k].pick != y->stops[k].pick ||
                x->stops[k].drop != y->stops[k].drop)
                return false;
        }
    }
    return true;
}

/* A route's metres start -> sites[order...] -> depot, as the model says. */
static double route_metres(const struct route_problem *p, size_t truck,
                           const size_t *order, size_t n)
{
    struct geo_latlng at = p->trucks[truck].start;
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        m += leg_m(&p->params, at, p->sites[order[i]].pos);
        at = p->sites[order[i]].pos;
    }
    return m + leg_m(&p->params, at, p->depot);
}

/* ---- hand-made instances ------------------------------------------------ */

TEST(route_params_defaults)
{
    struct route_params p;
    route_params_default(&p);
    CHECK_NEAR(p.detour, 1.3, 0);
    CHECK_NEAR(p.speed_mps, 6.0, 0);
    CHECK_EQ(p.handle_s, 60);
    CHECK_NEAR(p.bike_value, 100.0, 0);
    CHECK_NEAR(p.metre_cost, 0.02, 0);
}

TEST(route_moves_surplus_to_deficit)
{
    struct route_site s[2] = {
        {.pos = east(500), .supply = 5, .service_s = 120},
        {.pos = east(600), .demand = 5, .service_s = 120},
    };
    struct route_truck t = truck_at(depot, 20);
    struct route_problem p = problem(s, 2, &t, 1);
    struct route_plan plan = solve(&p, 1, 50, NULL);
    CHECK_EQ(plan.paths[0].n_stops, 2);
    CHECK_EQ(plan.paths[0].stops[0].site, 0);
    CHECK_EQ(plan.paths[0].stops[0].pick, 5);
    CHECK_EQ(plan.paths[0].stops[1].site, 1);
    CHECK_EQ(plan.paths[0].stops[1].drop, 5);
    CHECK_EQ(plan.totals.dropped, 5);
    CHECK_EQ(plan.totals.picked, 5);
    CHECK_EQ(plan.totals.stops, 2);
    CHECK_EQ(plan.totals.trucks_used, 1);
    size_t order[2] = {0, 1};
    double m = route_metres(&p, 0, order, 2);
    CHECK_NEAR(plan.totals.metres, m, 1e-6);
    CHECK_NEAR(plan.totals.value, 500 - 0.02 * m, 1e-6);
    int64_t secs = leg_s(&p.params, depot, s[0].pos) +
                   leg_s(&p.params, s[0].pos, s[1].pos) +
                   leg_s(&p.params, s[1].pos, depot) + 2 * 120 + 10 * 60;
    CHECK_EQ(plan.paths[0].seconds, secs);
    CHECK_EQ(plan.totals.seconds, secs);
    CHECK_NEAR(plan.paths[0].value, plan.totals.value, 0);
    route_plan_release(&plan);
    CHECK(plan.paths == NULL && plan.n_paths == 0);
    route_plan_release(&plan); /* again: a no-op */
}

TEST(route_capacity_binds)
{
    struct route_site s[2] = {
        {.pos = east(500), .supply = 8},
        {.pos = east(700), .demand = 8},
    };
    struct route_truck t = truck_at(depot, 3);
    struct route_problem p = problem(s, 2, &t, 1);
    struct route_plan plan = solve(&p, 1, 50, NULL);
    CHECK_EQ(plan.totals.dropped, 3);
    CHECK_EQ(plan.paths[0].stops[0].pick, 3);
    route_plan_release(&plan);
}

TEST(route_time_binds)
{
    struct route_site s[2] = {
        {.pos = east(500), .supply = 8, .service_s = 100},
        {.pos = east(700), .demand = 8, .service_s = 100},
    };
    struct route_truck t = truck_at(depot, 20);
    struct route_problem p = problem(s, 2, &t, 1);
    int64_t fixed = leg_s(&p.params, depot, s[0].pos) +
                    leg_s(&p.params, s[0].pos, s[1].pos) +
                    leg_s(&p.params, s[1].pos, depot) + 200;
    /* Time for 5 bikes handled: 2 moved (4 handlings), not 3. */
    t.time_s = (int32_t)(fixed + 5 * 60 + 59);
    struct route_plan plan = solve(&p, 1, 50, NULL);
    CHECK_EQ(plan.totals.dropped, 2);
    CHECK(plan.totals.seconds <= t.time_s);
    route_plan_release(&plan);
    /* Less than the fixed time: nothing is possible. */
    t.time_s = (int32_t)(fixed - 1);
    plan = solve(&p, 1, 50, NULL);
    CHECK_EQ(plan.totals.stops, 0);
    CHECK_NEAR(plan.totals.value, 0, 0);
    route_plan_release(&plan);
}

TEST(route_tasks_when_worth_it)
{
    struct route_site s[2] = {
        /* 1 km away and worth 500: visited. */
        {.pos = east(1000), .task_value = 500, .task_s = 300},
        /* 50 km away and worth 100 (the round trip costs 2,600): not. */
        {.pos = geo_offset(depot, 0, 50000), .task_value = 100},
    };
    struct route_truck t = truck_at(depot, 10);
    struct route_problem p = problem(s, 2, &t, 1);
    struct route_plan plan = solve(&p, 1, 50, NULL);
    CHECK_EQ(plan.paths[0].n_stops, 1);
    CHECK_EQ(plan.paths[0].stops[0].site, 0);
    CHECK_EQ(plan.totals.tasks, 1);
    size_t order[1] = {0};
    CHECK_NEAR(plan.totals.value, 500 - 0.02 * route_metres(&p, 0, order, 1),
               1e-6);
    route_plan_release(&plan);
    /* Worth less than the drive: the truck stays put. */
    struct route_site cheap = {.pos = east(5000), .task_value = 100};
    p.sites = &cheap;
    p.n_sites = 1;
    plan = solve(&p, 1, 50, NULL);
    CHECK_EQ(plan.totals.stops, 0);
    route_plan_release(&plan);
}

TEST(route_broken_bikes_take_capacity)
{
    /* The pick site also has a broken bike to fetch (load 2). */
    struct route_site s[2] = {
        {.pos = east(500), .supply = 5, .task_value = 10, .task_load = 2},
        {.pos = east(700), .demand = 5},
    };
    struct route_truck t = truck_at(depot, 5);
    struct route_problem p = problem(s, 2, &t, 1);
    struct route_plan plan = solve(&p, 1, 50, NULL);
    CHECK_EQ(plan.totals.dropped, 3);
    CHECK_EQ(plan.totals.tasks, 1);
    route_plan_release(&plan);
    /* Broken bikes already aboard count too. */
    t.broken = 4;
    struct route_site s2[2] = {
        {.pos = east(500), .supply = 5},
        {.pos = east(700), .demand = 5},
    };
    p.sites = s2;
    plan = solve(&p, 1, 50, NULL);
    CHECK_EQ(plan.totals.dropped, 1);
    route_plan_release(&plan);
    /* A broken bike that does not fit is never fetched. */
    struct route_site s3 = {
        .pos = east(500), .task_value = 1000, .task_load = 2};
    p.sites = &s3;
    p.n_sites = 1;
    plan = solve(&p, 1, 50, NULL);
    CHECK_EQ(plan.totals.stops, 0);
    route_plan_release(&plan);
}

TEST(route_initial_load_dropped)
{
    struct route_site s[1] = {{.pos = east(800), .demand = 3}};
    struct route_truck t = truck_at(depot, 10);
    t.load = 4;
    struct route_problem p = problem(s, 1, &t, 1);
    struct route_plan plan = solve(&p, 1, 50, NULL);
    CHECK_EQ(plan.paths[0].n_stops, 1);
    CHECK_EQ(plan.paths[0].stops[0].drop, 3);
    CHECK_EQ(plan.totals.picked, 0);
    CHECK_EQ(plan.totals.dropped, 3);
    route_plan_release(&plan);
}

TEST(route_truck_away_from_depot)
{
    /* Starts 3 km out beside a pair; the route ends at the depot. */
    struct geo_latlng start = east(3000);
    struct route_site s[2] = {
        {.pos = east(3100), .supply = 4},
        {.pos = east(3200), .demand = 4},
    };
    struct route_truck t = truck_at(start, 10);
    struct route_problem p = problem(s, 2, &t, 1);
    struct route_plan plan = solve(&p, 1, 50, NULL);
    CHECK_EQ(plan.totals.dropped, 4);
    size_t order[2] = {0, 1};
    CHECK_NEAR(plan.totals.metres, route_metres(&p, 0, order, 2), 1e-6);
    route_plan_release(&plan);
    /* Without time to reach the depot the truck does nothing. */
    t.time_s = (int32_t)leg_s(&p.params, start, depot) - 1;
    plan = solve(&p, 1, 50, NULL);
    CHECK_EQ(plan.totals.stops, 0);
    CHECK_EQ(plan.totals.seconds, 0);
    route_plan_release(&plan);
}

TEST(route_sites_shared_by_trucks)
{
    /* Two clusters, one truck near each; every site at most once. */
    struct route_site s[4] = {
        {.pos = east(500), .supply = 6},
        {.pos = east(600), .demand = 6},
        {.pos = east(-4000), .supply = 6},
        {.pos = east(-4100), .demand = 6},
    };
    struct route_truck t[3] = {truck_at(east(450), 10),
                               truck_at(east(-3950), 10), truck_at(depot, 0)};
    struct route_problem p = problem(s, 4, t, 3);
    struct route_plan plan = solve(&p, 7, 100, NULL);
    CHECK_EQ(plan.totals.dropped, 12);
    CHECK_EQ(plan.totals.trucks_used, 2);
    CHECK_EQ(plan.paths[2].n_stops, 0);
    route_plan_release(&plan);
}

TEST(route_empty_problems)
{
    struct route_problem p = problem(NULL, 0, NULL, 0);
    struct route_plan plan = solve(&p, 1, 10, NULL);
    CHECK_EQ(plan.n_paths, 0);
    CHECK_NEAR(plan.totals.value, 0, 0);
    route_plan_release(&plan);
    /* Sites with nothing to do are never visited. */
    struct route_site s[3] = {{.pos = east(100)},
                              {.pos = east(200), .task_load = 1},
                              {.pos = east(300), .service_s = 10}};
    struct route_truck t[2] = {truck_at(depot, 5), truck_at(east(50), 5)};
    p = problem(s, 3, t, 2);
    plan = solve(&p, 1, 10, NULL);
    CHECK_EQ(plan.totals.stops, 0);
    route_plan_release(&plan);
}

/* ---- the checker -------------------------------------------------------- */

/* A valid two-truck plan over four sites, built by hand. */
struct hand {
    struct route_site s[5];
    struct route_truck t[2];
    struct route_stop a[2], b[2];
    struct route_path paths[2];
    struct route_plan plan;
    struct route_problem p;
};

static void hand_init(struct hand *h)
{
    memset(h, 0, sizeof(*h));
    h->s[0] = (struct route_site){.pos = east(500), .supply = 5};
    h->s[1] = (struct route_site){.pos = east(600), .demand = 4};
    h->s[2] = (struct route_site){
        .pos = east(-500), .supply = 3, .task_value = 50, .task_load = 1};
    h->s[3] = (struct route_site){.pos = east(-600), .demand = 3};
    h->s[4] = (struct route_site){.pos = east(-700), .demand = 3};
    h->t[0] = truck_at(depot, 5);
    h->t[1] = truck_at(depot, 4);
    h->a[0] = (struct route_stop){0, 4, 0};
    h->a[1] = (struct route_stop){1, 0, 4};
    h->b[0] = (struct route_stop){2, 3, 0};
    h->b[1] = (struct route_stop){3, 0, 3};
    h->paths[0] = (struct route_path){.stops = h->a, .n_stops = 2};
    h->paths[1] = (struct route_path){.stops = h->b, .n_stops = 2};
    h->plan = (struct route_plan){.paths = h->paths, .n_paths = 2};
    h->p = problem(h->s, 5, h->t, 2);
}

static void check_err(int line, struct hand *h, const char *field,
                      const char *msg)
{
    struct err_detail d;
    err_clear(&d);
    struct route_totals t = {.value = 42};
    enum err e = route_check(&h->p, &h->plan, &t, &d);
    if (e != ERR_INVALID)
        test_fail(__FILE__, line, "route_check returned %s, expected invalid",
                  err_name(e));
    if (strcmp(d.field, field) != 0)
        test_fail(__FILE__, line, "field '%s', expected '%s'", d.field, field);
    if (!strstr(d.msg, msg))
        test_fail(__FILE__, line, "message '%s' lacks '%s'", d.msg, msg);
    if (t.value != 42)
        test_fail(__FILE__, line, "totals written on failure");
}

#define CHECK_PLAN_ERR(h, field, msg) check_err(__LINE__, h, field, msg)

TEST(route_check_valid_plan)
{
    struct hand h;
    hand_init(&h);
    struct route_totals t;
    struct err_detail d;
    CHECK_OK(route_check(&h.p, &h.plan, &t, &d));
    CHECK_OK(route_check(&h.p, &h.plan, NULL, NULL));
    CHECK_EQ(t.dropped, 7);
    CHECK_EQ(t.picked, 7);
    CHECK_EQ(t.tasks, 1);
    CHECK_EQ(t.stops, 4);
    CHECK_EQ(t.trucks_used, 2);
    size_t o0[2] = {0, 1}, o1[2] = {2, 3};
    double m = route_metres(&h.p, 0, o0, 2) + route_metres(&h.p, 1, o1, 2);
    CHECK_NEAR(t.metres, m, 1e-6);
    CHECK_NEAR(t.value, 700 + 50 - 0.02 * m, 1e-6);
    /* Picked bikes left aboard are allowed and earn nothing. */
    h.a[1].drop = 2;
    CHECK_OK(route_check(&h.p, &h.plan, &t, &d));
    CHECK_EQ(t.dropped, 5);
    /* A visit that moves nothing is allowed too. */
    h.a[0].pick = 0;
    h.a[1].drop = 0;
    CHECK_OK(route_check(&h.p, &h.plan, &t, &d));
}

TEST(route_check_catches_everything)
{
    struct hand h;
    hand_init(&h);
    h.b[1].site = 5;
    CHECK_PLAN_ERR(&h, "paths[1].stops[1]", "site 5 does not exist");
    hand_init(&h);
    h.b[1].site = 1;
    CHECK_PLAN_ERR(&h, "paths[1].stops[1]", "site 1 is visited twice");
    hand_init(&h);
    h.a[1].site = 0;
    CHECK_PLAN_ERR(&h, "paths[0].stops[1]", "site 0 is visited twice");
    hand_init(&h);
    h.a[0].pick = -1;
    CHECK_PLAN_ERR(&h, "paths[0].stops[0]", "negative quantity");
    hand_init(&h);
    h.a[1].pick = 1;
    h.s[1].supply = 0;
    CHECK_PLAN_ERR(&h, "paths[0].stops[1]", "both picks and drops");
    hand_init(&h);
    h.a[0].pick = 6;
    CHECK_PLAN_ERR(&h, "paths[0].stops[0]", "pick 6 over supply 5");
    hand_init(&h);
    h.s[1].demand = 3;
    CHECK_PLAN_ERR(&h, "paths[0].stops[1]", "drop 4 over demand 3");
    hand_init(&h);
    h.a[0].pick = 3;
    CHECK_PLAN_ERR(&h, "paths[0].stops[1]", "drop 4 with only 3 bikes aboard");
    hand_init(&h);
    h.t[0].capacity = 3;
    CHECK_PLAN_ERR(&h, "paths[0].stops[0]", "load 4 over capacity 3");
    hand_init(&h);
    /* Truck 1 carries 3 bikes plus the broken one: over 3. */
    h.t[1].capacity = 3;
    CHECK_PLAN_ERR(&h, "paths[1].stops[0]", "load 4 over capacity 3");
    hand_init(&h);
    h.t[1].time_s = 600;
    CHECK_PLAN_ERR(&h, "paths[1]", "over 600 s");
    hand_init(&h);
    h.plan.n_paths = 1;
    CHECK_PLAN_ERR(&h, "paths", "1 paths for 2 trucks");
    hand_init(&h);
    h.paths[1].stops = NULL;
    CHECK_PLAN_ERR(&h, "paths[1].stops", "no stop array");
    hand_init(&h);
    h.plan.paths = NULL;
    CHECK_PLAN_ERR(&h, "paths", "no path array");
    hand_init(&h);
    h.s[2].demand = 1;
    CHECK_PLAN_ERR(&h, "sites[2].demand", "both supply 3 and demand 1");
    hand_init(&h);
    struct err_detail d;
    CHECK_ERR(route_check(&h.p, NULL, NULL, &d), ERR_INVALID);
    CHECK_ERR(route_check(NULL, &h.plan, NULL, &d), ERR_INVALID);
}

/* ---- validation --------------------------------------------------------- */

/* route_solve and route_check both reject p with code and field. */
static void reject(int line, const struct route_problem *p, enum err code,
                   const char *field)
{
    struct route_opts o = {.seed = 1, .max_iters = 5};
    struct route_plan plan = {.n_paths = 12345};
    struct route_stats st = {.iters = 777};
    struct err_detail d;
    err_clear(&d);
    enum err e = route_solve(p, &o, &plan, &st, &d);
    if (e != code)
        test_fail(__FILE__, line, "route_solve returned %s (%s), expected %s",
                  err_name(e), d.msg, err_name(code));
    if (strcmp(d.field, field) != 0)
        test_fail(__FILE__, line, "field '%s', expected '%s' (%s)", d.field,
                  field, d.msg);
    if (plan.n_paths != 12345 || st.iters != 777)
        test_fail(__FILE__, line, "outputs written on failure");
    struct route_plan empty = {0};
    err_clear(&d);
    e = route_check(p, &empty, NULL, &d);
    if (e != code || strcmp(d.field, field) != 0)
        test_fail(__FILE__, line, "route_check returned %s '%s'", err_name(e),
                  d.field);
}

#define REJECT(p, code, field) reject(__LINE__, p, code, field)

TEST(route_validation)
{
    struct route_site s[3] = {
        {.pos = east(100), .supply = 2},
        {.pos = east(200), .demand = 2},
        {.pos = east(300), .task_value = 5},
    };
    struct route_truck t[2] = {truck_at(depot, 10), truck_at(depot, 10)};
    struct route_problem p = problem(s, 3, t, 2);
    struct route_plan ok = solve(&p, 1, 5, NULL);
    route_plan_release(&ok);

    struct route_problem q = p;
    q.params.detour = 0.9;
    REJECT(&q, ERR_INVALID, "params.detour");
    q = p;
    q.params.detour = NAN;
    REJECT(&q, ERR_INVALID, "params.detour");
    q = p;
    q.params.speed_mps = 0;
    REJECT(&q, ERR_INVALID, "params.speed_mps");
    q = p;
    q.params.handle_s = -1;
    REJECT(&q, ERR_INVALID, "params.handle_s");
    q = p;
    q.params.handle_s = ROUTE_MAX_HANDLE_S + 1;
    REJECT(&q, ERR_INVALID, "params.handle_s");
    q = p;
    q.params.bike_value = INFINITY;
    REJECT(&q, ERR_INVALID, "params.bike_value");
    q = p;
    q.params.metre_cost = -0.01;
    REJECT(&q, ERR_INVALID, "params.metre_cost");
    q = p;
    q.depot.lat_deg = 91;
    REJECT(&q, ERR_INVALID, "depot");

    struct route_site bad[3];
#define SITE_CASE(i, stmt, field)                                              \
    do {                                                                       \
        memcpy(bad, s, sizeof(s));                                             \
        bad[i].stmt;                                                           \
        q = p;                                                                 \
        q.sites = bad;                                                         \
        REJECT(&q, ERR_INVALID, field);                                        \
    } while (0)
    SITE_CASE(1, pos.lon_deg = 181, "sites[1].pos");
    SITE_CASE(0, pos.lat_deg = NAN, "sites[0].pos");
    SITE_CASE(0, supply = -1, "sites[0].supply");
    SITE_CASE(0, supply = ROUTE_MAX_BIKES + 1, "sites[0].supply");
    SITE_CASE(1, demand = -3, "sites[1].demand");
    SITE_CASE(0, demand = 1, "sites[0].demand");
    SITE_CASE(2, service_s = -1, "sites[2].service_s");
    SITE_CASE(2, service_s = ROUTE_MAX_TIME_S + 1, "sites[2].service_s");
    SITE_CASE(2, task_value = -1, "sites[2].task_value");
    SITE_CASE(2, task_value = NAN, "sites[2].task_value");
    SITE_CASE(2, task_load = -1, "sites[2].task_load");
    SITE_CASE(2, task_s = -5, "sites[2].task_s");
#undef SITE_CASE

    struct route_truck badt[2];
#define TRUCK_CASE(i, stmt, field)                                             \
    do {                                                                       \
        memcpy(badt, t, sizeof(t));                                            \
        badt[i].stmt;                                                          \
        q = p;                                                                 \
        q.trucks = badt;                                                       \
        REJECT(&q, ERR_INVALID, field);                                        \
    } while (0)
    TRUCK_CASE(1, start.lat_deg = -90.5, "trucks[1].start");
    TRUCK_CASE(0, capacity = -1, "trucks[0].capacity");
    TRUCK_CASE(0, load = -1, "trucks[0].load");
    TRUCK_CASE(0, broken = -1, "trucks[0].broken");
    TRUCK_CASE(0, time_s = -1, "trucks[0].time_s");
    TRUCK_CASE(0, time_s = ROUTE_MAX_TIME_S + 1, "trucks[0].time_s");
    TRUCK_CASE(1, load = 6; badt[1].broken = 5, "trucks[1].load");
#undef TRUCK_CASE

    q = p;
    q.sites = NULL;
    REJECT(&q, ERR_INVALID, "sites");
    q = p;
    q.trucks = NULL;
    REJECT(&q, ERR_INVALID, "trucks");
    /* Caps are checked before the arrays are read. */
    q = p;
    q.n_sites = ROUTE_MAX_SITES + 1;
    REJECT(&q, ERR_TOO_BIG, "sites");
    q = p;
    q.n_trucks = ROUTE_MAX_TRUCKS + 1;
    REJECT(&q, ERR_TOO_BIG, "trucks");
    REJECT(NULL, ERR_INVALID, "problem");

    /* Options: an iteration cap or a clock is needed. */
    struct route_opts o = {.seed = 1};
    struct route_plan plan;
    struct err_detail d;
    err_clear(&d);
    CHECK_ERR(route_solve(&p, &o, &plan, NULL, &d), ERR_INVALID);
    CHECK_STR(d.field, "opts");
    CHECK_ERR(route_solve(&p, NULL, &plan, NULL, &d), ERR_INVALID);
}

TEST(route_limits_accepted)
{
    /* The caps themselves are fine: as many trucks as allowed. */
    struct route_truck *t = xcalloc(ROUTE_MAX_TRUCKS, sizeof(*t));
    for (size_t i = 0; i < ROUTE_MAX_TRUCKS; i++)
        t[i] = truck_at(east((double)i), 1 + (int32_t)(i % 50));
    struct route_site s[2] = {{.pos = east(10), .supply = 3},
                              {.pos = east(20), .demand = 3}};
    struct route_problem p = problem(s, 2, t, ROUTE_MAX_TRUCKS);
    p.params.detour = ROUTE_MAX_DETOUR;
    p.params.speed_mps = ROUTE_MIN_SPEED_MPS;
    struct route_plan plan = solve(&p, 3, 20, NULL);
    CHECK_EQ(plan.totals.dropped, 3);
    CHECK_EQ(plan.totals.trucks_used, 1);
    route_plan_release(&plan);
    xfree(t);
}

/* ---- exhaustive search on tiny instances -------------------------------- */

/*
 * The best drops for one truck visiting order[0..n) by trying every
 * quantity at every stop: -1 if no quantities make the order feasible.
 */
struct brute {
    const struct route_problem *p;
    const struct route_truck *t;
    const size_t *order;
    size_t n;
    int64_t budget; /* bikes that may be handled */
    int64_t best;
};

static void brute_stop(struct brute *b, size_t k, int64_t load, int64_t broken,
                       int64_t handled, int64_t dropped)
{
    if (handled > b->budget)
        return;
    if (k == b->n) {
        b->best = MAX(b->best, dropped);
        return;
    }
    const struct route_site *s = &b->p->sites[b->order[k]];
    broken += s->task_load;
    for (int64_t q = 0; q <= s->supply; q++) {
        if (load + q + broken <= b->t->capacity)
            brute_stop(b, k + 1, load + q, broken, handled + q, dropped);
    }
    for (int64_t q = 1; q <= s->demand && q <= load; q++) {
        if (load - q + broken <= b->t->capacity)
            brute_stop(b, k + 1, load - q, broken, handled + q, dropped + q);
    }
}

/* The value of the route, or -INFINITY if no quantities make it feasible. */
static double brute_route(const struct route_problem *p, size_t truck,
                          const size_t *order, size_t n, int64_t *dropped)
{
    const struct route_truck *t = &p->trucks[truck];
    if (n == 0) {
        *dropped = 0;
        return 0;
    }
    int64_t fixed = 0;
    double tv = 0;
    struct geo_latlng at = t->start;
    for (size_t i = 0; i < n; i++) {
        const struct route_site *s = &p->sites[order[i]];
        fixed += leg_s(&p->params, at, s->pos) + s->service_s + s->task_s;
        tv += s->task_value;
        at = s->pos;
    }
    fixed += leg_s(&p->params, at, p->depot);
    if (fixed > t->time_s)
        return -INFINITY;
    struct brute b = {.p = p, .t = t, .order = order, .n = n, .best = -1};
    b.budget = p->params.handle_s > 0 ? (t->time_s - fixed) / p->params.handle_s
                                      : INT64_MAX;
    brute_stop(&b, 0, t->load, t->broken, 0, 0);
    if (b.best < 0)
        return -INFINITY;
    *dropped = b.best;
    return p->params.bike_value * (double)b.best + tv -
           p->params.metre_cost * route_metres(p, truck, order, n);
}

/* best[mask]: the best route of truck over exactly the sites in mask. */
static void brute_orders(const struct route_problem *p, size_t truck,
                         size_t *order, size_t n, unsigned used, double *best)
{
    int64_t dropped;
    double v = brute_route(p, truck, order, n, &dropped);
    if (v > best[used])
        best[used] = v;
    for (size_t i = 0; i < p->n_sites; i++) {
        if (used & (1u << i))
            continue;
        order[n] = i;
        brute_orders(p, truck, order, n + 1, used | 1u << i, best);
    }
}

/* The optimum of a problem with at most 6 sites and 1 or 2 trucks. */
static double brute_optimum(const struct route_problem *p)
{
    size_t masks = (size_t)1 << p->n_sites;
    double *best = xmalloc(2 * masks * sizeof(*best));
    for (size_t t = 0; t < 2; t++) {
        for (size_t m = 0; m < masks; m++)
            best[t * masks + m] = -INFINITY;
        best[t * masks] = 0;
        size_t order[8];
        if (t < p->n_trucks)
            brute_orders(p, t, order, 0, 0, best + t * masks);
    }
    double opt = 0;
    for (size_t a = 0; a < masks; a++) {
        for (size_t b = 0; b < masks; b++) {
            if ((a & b) == 0 && best[a] + best[masks + b] > opt)
                opt = best[a] + best[masks + b];
        }
    }
    xfree(best);
    return opt;
}

/* A tiny random instance in a 3 km square: small quantities, tight trucks. */
static void tiny_instance(struct rng *r, struct route_site *s, size_t n,
                          struct route_truck *t, size_t nt,
                          struct route_problem *p)
{
    for (size_t i = 0; i < n; i++) {
        struct geo_latlng at =
            geo_offset(depot, rng_range(r, 0, 360), rng_range(r, 0, 1500));
        s[i] = (struct route_site){.pos = at,
                                   .service_s = (int32_t)rng_below(r, 200)};
        uint64_t kind = rng_below(r, 5);
        if (kind < 2)
            s[i].supply = (int32_t)rng_below(r, 4);
        else if (kind < 4)
            s[i].demand = (int32_t)rng_below(r, 4);
        if (rng_below(r, 3) == 0) {
            s[i].task_value = (double)rng_below(r, 300);
            s[i].task_load = (int32_t)rng_below(r, 2);
            s[i].task_s = (int32_t)rng_below(r, 300);
        }
    }
    for (size_t i = 0; i < nt; i++) {
        t[i] = truck_at(
            geo_offset(depot, rng_range(r, 0, 360), rng_range(r, 0, 1000)),
            (int32_t)rng_below(r, 5));
        t[i].load = (int32_t)rng_below(r, (uint64_t)t[i].capacity + 1);
        t[i].broken =
            (int32_t)rng_below(r, (uint64_t)(t[i].capacity - t[i].load) + 1);
        /* Often too short for everything. */
        t[i].time_s = (int32_t)(300 + rng_below(r, 3000));
    }
    *p = problem(s, n, t, nt);
    if (rng_below(r, 4) == 0)
        p->params.handle_s = 0;
    if (rng_below(r, 4) == 0)
        p->params.metre_cost = 0.2;
}

TEST(route_fill_quantities_exact)
{
    /* The quantity optimiser against trying every quantity. */
    struct rng r;
    rng_seed(&r, 11);
    struct route_site s[7];
    struct route_truck t;
    struct route_problem p;
    size_t feasible = 0;
    for (int iter = 0; iter < 3000; iter++) {
        size_t n = 1 + (size_t)rng_below(&r, 7);
        tiny_instance(&r, s, n, &t, 1, &p);
        t.capacity = (int32_t)rng_below(&r, 7);
        t.load = (int32_t)rng_below(&r, (uint64_t)t.capacity + 1);
        t.broken = (int32_t)rng_below(&r, (uint64_t)(t.capacity - t.load) + 1);
        t.time_s = (int32_t)(500 + rng_below(&r, 4000));
        size_t order[7];
        struct route_stop stops[7];
        for (size_t i = 0; i < n; i++)
            order[i] = i;
        for (size_t i = n; i > 1; i--) {
            size_t j = (size_t)rng_below(&r, i);
            size_t x = order[i - 1];
            order[i - 1] = order[j];
            order[j] = x;
        }
        for (size_t i = 0; i < n; i++)
            stops[i] = (struct route_stop){.site = order[i]};
        struct route_path path = {.stops = stops, .n_stops = n};
        struct route_plan plan = {.paths = &path, .n_paths = 1};
        struct err_detail d;
        int64_t best;
        double v = brute_route(&p, 0, order, n, &best);
        enum err e = route_fill_quantities(&p, &plan, &d);
        if (v == -INFINITY) {
            CHECK_ERR(e, ERR_INVALID);
            CHECK_STR(d.field, "paths[0]");
            continue;
        }
        feasible++;
        if (e != ERR_OK)
            test_fail(__FILE__, __LINE__, "case %d: %s", iter, d.msg);
        CHECK_EQ(plan.totals.dropped, best);
        CHECK_EQ(path.dropped, best);
        CHECK_NEAR(plan.totals.value, v, 1e-6);
        CHECK_OK(route_check(&p, &plan, NULL, &d));
        for (size_t i = 0; i < n; i++)
            CHECK_EQ(stops[i].site, order[i]);
    }
    CHECK(feasible > 1000);
}

TEST(route_fill_quantities_errors)
{
    struct hand h;
    hand_init(&h);
    struct err_detail d;
    CHECK_OK(route_fill_quantities(&h.p, &h.plan, &d));
    CHECK_EQ(h.plan.totals.dropped, 7);
    CHECK_EQ(h.a[0].pick, 4);
    h.b[1].site = 9;
    CHECK_ERR(route_fill_quantities(&h.p, &h.plan, &d), ERR_INVALID);
    CHECK_STR(d.field, "paths[1]");
    h.b[1].site = 0;
    CHECK_ERR(route_fill_quantities(&h.p, &h.plan, &d), ERR_INVALID);
    CHECK(strstr(d.msg, "visited twice") != NULL);
    hand_init(&h);
    h.s[2].task_load = 5; /* more broken bikes than truck 1 holds */
    CHECK_ERR(route_fill_quantities(&h.p, &h.plan, &d), ERR_INVALID);
    CHECK_STR(d.field, "paths[1]");
    hand_init(&h);
    h.plan.n_paths = 3;
    CHECK_ERR(route_fill_quantities(&h.p, &h.plan, &d), ERR_INVALID);
    hand_init(&h);
    h.paths[0].stops = NULL;
    CHECK_ERR(route_fill_quantities(&h.p, &h.plan, &d), ERR_INVALID);
    hand_init(&h);
    h.s[0].supply = -1;
    CHECK_ERR(route_fill_quantities(&h.p, &h.plan, &d), ERR_INVALID);
    CHECK_STR(d.field, "sites[0].supply");
}

TEST(route_solve_tiny_optimal)
{
    struct rng r;
    rng_seed(&r, 5);
    struct route_site s[5];
    struct route_truck t[2];
    struct route_problem p;
    size_t nonzero = 0;
    for (int iter = 0; iter < 120; iter++) {
        size_t n = 1 + (size_t)rng_below(&r, 5);
        size_t nt = 1 + (size_t)rng_below(&r, 2);
        tiny_instance(&r, s, n, t, nt, &p);
        double opt = brute_optimum(&p);
        struct route_plan plan = solve(&p, (uint64_t)iter, 200, NULL);
        if (fabs(plan.totals.value - opt) > 1e-6)
            test_fail(__FILE__, __LINE__,
                      "case %d (%zu sites, %zu trucks): %.6f, optimum %.6f",
                      iter, n, nt, plan.totals.value, opt);
        nonzero += opt > 0;
        route_plan_release(&plan);
    }
    CHECK(nonzero > 60);
}

/* ---- invariants on random instances ------------------------------------- */

/* A random city: n sites in a square of side_m, nt trucks. */
static void random_instance(struct rng *r, size_t n, size_t nt, double side_m,
                            struct route_site *s, struct route_truck *t,
                            struct route_problem *p)
{
    for (size_t i = 0; i < n; i++) {
        struct geo_latlng at = geo_offset(
            geo_offset(depot, 90, rng_range(r, -side_m / 2, side_m / 2)), 0,
            rng_range(r, -side_m / 2, side_m / 2));
        /* Some sites share a position. */
        if (i > 0 && rng_below(r, 20) == 0)
            at = s[rng_below(r, i)].pos;
        s[i] = (struct route_site){.pos = at,
                                   .service_s = (int32_t)rng_below(r, 240)};
        uint64_t kind = rng_below(r, 10);
        if (kind < 4)
            s[i].supply = (int32_t)rng_below(r, 12);
        else if (kind < 8)
            s[i].demand = (int32_t)rng_below(r, 12);
        if (rng_below(r, 8) == 0) {
            s[i].task_value = rng_range(r, 0, 400);
            s[i].task_load = (int32_t)rng_below(r, 3);
            s[i].task_s = (int32_t)rng_below(r, 600);
        }
    }
    for (size_t i = 0; i < nt; i++) {
        struct geo_latlng at = rng_below(r, 2)
                                   ? depot
                                   : geo_offset(depot, rng_range(r, 0, 360),
                                                rng_range(r, 0, side_m / 2));
        t[i] = truck_at(at, (int32_t)rng_below(r, 40));
        t[i].load = (int32_t)rng_below(r, (uint64_t)t[i].capacity / 2 + 1);
        t[i].broken = (int32_t)rng_below(
            r, (uint64_t)(t[i].capacity - t[i].load) / 4 + 1);
        t[i].time_s = (int32_t)rng_below(r, 4 * 3600);
    }
    *p = problem(s, n, t, nt);
    p->params.handle_s = (int32_t)rng_below(r, 90);
    if (rng_below(r, 5) == 0)
        p->params.metre_cost = rng_range(r, 0, 0.2);
}

TEST(route_solve_random_invariants)
{
    struct rng r;
    rng_seed(&r, 99);
    struct route_site *s = xmalloc(400 * sizeof(*s));
    struct route_truck t[12];
    for (int iter = 0; iter < 200; iter++) {
        size_t n = (size_t)rng_below(&r, iter % 20 == 0 ? 400 : 60);
        size_t nt = 1 + (size_t)rng_below(&r, 12);
        struct route_problem p;
        random_instance(&r, n, nt, rng_range(&r, 200, 20000), s, t, &p);
        uint64_t seed = rng_u64(&r);
        uint64_t iters = 1 + rng_below(&r, 40);
        struct route_stats st;
        struct route_plan a = solve(&p, seed, iters, &st);
        CHECK(a.totals.value >= st.construct_value - 1e-9);
        CHECK(a.totals.value >= 0);
        /* No iterations when there is nothing to visit or no truck. */
        CHECK(st.iters == iters || st.iters == 0);
        CHECK(!st.hit_deadline);
        CHECK(st.best_iter <= st.iters);
        /* Every route is worth having. */
        for (size_t k = 0; k < a.n_paths; k++)
            CHECK(a.paths[k].value >= 0);
        /* Same seed, same plan, to the bit. */
        struct route_plan b = solve(&p, seed, iters, NULL);
        CHECK(plans_equal(&a, &b));
        /* Refilling the quantities changes nothing: they are optimal. */
        struct err_detail d;
        CHECK_OK(route_fill_quantities(&p, &b, &d));
        CHECK_EQ(b.totals.dropped, a.totals.dropped);
        route_plan_release(&b);
        route_plan_release(&a);
    }
    xfree(s);
}

/* A clock that advances by step_ns at every reading. */
struct fake_clock {
    int64_t now_ns, step_ns;
    uint64_t reads;
};

static int64_t fake_now(void *ctx)
{
    struct fake_clock *fc = ctx;
    fc->reads++;
    fc->now_ns += fc->step_ns;
    return fc->now_ns;
}

TEST(route_solve_deadline)
{
    struct rng r;
    rng_seed(&r, 3);
    struct route_site s[300];
    struct route_truck t[6];
    struct route_problem p;
    random_instance(&r, 300, 6, 5000, s, t, &p);
    for (size_t i = 0; i < 6; i++)
        t[i].time_s = 4 * 3600;
    /*
     * A clock that never reaches the deadline: the cap decides, and the
     * plan is the one without a clock.
     */
    struct fake_clock fc = {.now_ns = 0, .step_ns = 1};
    struct route_opts o = {.seed = 4,
                           .max_iters = 40,
                           .clock = fake_now,
                           .clock_ctx = &fc,
                           .deadline_ns = INT64_MAX};
    struct route_plan a, b;
    struct route_stats st;
    struct err_detail d;
    CHECK_OK(route_solve(&p, &o, &a, &st, &d));
    CHECK(!st.hit_deadline);
    CHECK_EQ(st.iters, 40);
    CHECK(fc.reads > 40);
    CHECK(st.construct_ns > 0);
    b = solve(&p, 4, 40, NULL);
    CHECK(plans_equal(&a, &b));
    route_plan_release(&a);
    route_plan_release(&b);
    /* A deadline alone ends the search. */
    fc = (struct fake_clock){.now_ns = 0, .step_ns = 1000};
    o = (struct route_opts){.seed = 4,
                            .clock = fake_now,
                            .clock_ctx = &fc,
                            .deadline_ns = 200 * 1000};
    CHECK_OK(route_solve(&p, &o, &a, &st, &d));
    CHECK(st.hit_deadline);
    CHECK(st.iters < 200);
    CHECK_OK(route_check(&p, &a, NULL, &d));
    CHECK(a.totals.value >= st.construct_value);
    route_plan_release(&a);
    /* A deadline already past: construction stops early, still feasible. */
    fc = (struct fake_clock){.now_ns = 1000, .step_ns = 1};
    o.deadline_ns = 10;
    CHECK_OK(route_solve(&p, &o, &a, &st, &d));
    CHECK(st.hit_deadline);
    CHECK_OK(route_check(&p, &a, NULL, &d));
    route_plan_release(&a);
}

TEST(route_solve_improves_construction)
{
    /* On a mid-size city the search finds a better plan than the greedy. */
    struct rng r;
    rng_seed(&r, 21);
    size_t n = 1500;
    struct route_site *s = xmalloc(n * sizeof(*s));
    struct route_truck t[8];
    struct route_problem p;
    random_instance(&r, n, 8, 8000, s, t, &p);
    for (size_t i = 0; i < 8; i++) {
        t[i].time_s = 3 * 3600;
        t[i].capacity = 30;
    }
    struct route_stats st;
    struct route_plan a = solve(&p, 1, 300, &st);
    CHECK(a.totals.value > st.construct_value);
    CHECK(st.improvements > 0);
    CHECK(a.totals.dropped > 0);
    route_plan_release(&a);
    xfree(s);
}

const struct test_case test_suite_route[] = {
    CASE(route_params_defaults),
    CASE(route_moves_surplus_to_deficit),
    CASE(route_capacity_binds),
    CASE(route_time_binds),
    CASE(route_tasks_when_worth_it),
    CASE(route_broken_bikes_take_capacity),
    CASE(route_initial_load_dropped),
    CASE(route_truck_away_from_depot),
    CASE(route_sites_shared_by_trucks),
    CASE(route_empty_problems),
    CASE(route_check_valid_plan),
    CASE(route_check_catches_everything),
    CASE(route_validation),
    CASE(route_limits_accepted),
    CASE(route_fill_quantities_exact),
    CASE(route_fill_quantities_errors),
    CASE(route_solve_tiny_optimal),
    CASE(route_solve_random_invariants),
    CASE(route_solve_deadline),
    CASE(route_solve_improves_construction),
    {0},
};
