/* SPDX-License-Identifier: MIT */
/*
 * The operational truck planner: given per-site bike surpluses, deficits
 * and maintenance tasks, and the trucks still on shift, plans one route per
 * truck for the rest of its shift. Pure and deterministic: no I/O; the only
 * clock is an optional callback that bounds the search. The model, the
 * algorithm and measurements are in docs/internals/route.md. (The static
 * benchmark problem, where every station must be balanced, is brp.h.)
 *
 * The model. Travel between two points takes metres = haversine distance x
 * detour and seconds = ceil(metres / speed_mps). A truck starts at its
 * position, visits its stops in order and ends at the depot; an empty route
 * means the truck does nothing: it drives 0 m and spends 0 s. At each stop
 * the crew parks (service_s), does the site's task (task_s, earning
 * task_value and loading task_load broken bikes, which stay aboard until
 * the depot), and either picks up at most the site's supply or drops at
 * most its demand, spending handle_s per bike. A truck carries droppable
 * bikes (its initial load plus those picked) and broken ones; after every
 * stop the droppable load is >= 0 and droppable + broken <= capacity. A
 * route's seconds (travel + parking + tasks + handling) are at most the
 * truck's time_s. Each site is visited at most once over all trucks.
 *
 * The objective, maximised:
 *   bike_value x bikes dropped + sum of task_value of visited sites
 *   - metre_cost x metres driven.
 * Picking up bikes that are never dropped earns nothing; bikes still
 * aboard at the end go back to the depot.
 *
 * Thread-safety: every function only reads its problem; calls may run
 * concurrently on the same problem. A plan belongs to one thread.
 */
#ifndef DISPATCH_ROUTE_H
#define DISPATCH_ROUTE_H

#include "base/sys.h"
#include "base/err.h"
#include "geo/geo.h"

/* Caps on client-driven sizes; over them is ERR_TOO_BIG. */
#define ROUTE_MAX_SITES 100000u
#define ROUTE_MAX_TRUCKS 1000u
/* Value ranges; outside them is ERR_INVALID. */
#define ROUTE_MAX_BIKES 1000000  /* any bike count or capacity */
#define ROUTE_MAX_TIME_S 604800  /* time_s, service_s, task_s: a week */
#define ROUTE_MAX_HANDLE_S 3600  /* handle_s */
#define ROUTE_MAX_VALUE 1e9      /* bike_value, task_value */
#define ROUTE_MAX_METRE_COST 1e6 /* metre_cost */
#define ROUTE_MIN_SPEED_MPS 0.1  /* speed_mps range */
#define ROUTE_MAX_SPEED_MPS 100.0
#define ROUTE_MAX_DETOUR 10.0 /* detour is 1..this */

/* Travel, handling and value parameters. */
struct route_params {
    double detour;     /* road metres per great-circle metre (1.3) */
    double speed_mps;  /* average truck speed (6 m/s, about 22 km/h) */
    int32_t handle_s;  /* seconds per bike picked or dropped (60) */
    double bike_value; /* earned per bike dropped (100) */
    double metre_cost; /* per metre driven (0.02: 2 per km) */
};

/* Fills p with the defaults above. */
void route_params_default(struct route_params *p);

/*
 * A candidate site (typically a grid cell). A site has supply or demand or
 * neither, never both. Every visit does the task: it spends task_s, earns
 * task_value and loads task_load broken bikes (all may be 0).
 */
struct route_site {
    struct geo_latlng pos;
    int32_t supply;    /* bikes that may be picked up here, >= 0 */
    int32_t demand;    /* bikes that may be dropped here, >= 0 */
    int32_t service_s; /* parking time of any visit, >= 0 */
    double task_value; /* earned by a visit, >= 0 */
    int32_t task_load; /* broken bikes a visit loads, >= 0 */
    int32_t task_s;    /* task time of a visit, >= 0 */
};

/* A truck on shift: where it is, what it carries, how long it has left. */
struct route_truck {
    struct geo_latlng start;
    int32_t load;     /* droppable bikes aboard, >= 0 */
    int32_t broken;   /* broken bikes aboard, >= 0 */
    int32_t capacity; /* load + broken <= capacity */
    int32_t time_s;   /* seconds left in the shift, >= 0 */
};

/* A problem: everything borrowed; route functions never keep pointers. */
struct route_problem {
    struct route_params params;
    struct geo_latlng depot; /* where every non-empty route ends */
    const struct route_site *sites;
    size_t n_sites;
    const struct route_truck *trucks;
    size_t n_trucks;
};

/* One stop: the site (index into sites) and the bikes picked or dropped. */
struct route_stop {
    size_t site;
    int32_t pick;
    int32_t drop;
};

/*
 * One truck's route: stops in visiting order. The figures after n_stops
 * are outputs (route_solve fills them); route_check ignores them.
 */
struct route_path {
    struct route_stop *stops;
    size_t n_stops;
    double value;    /* this route's share of the objective */
    double metres;   /* driven, start to depot */
    int64_t seconds; /* travel + parking + tasks + handling */
    int64_t picked;  /* bikes picked up */
    int64_t dropped; /* bikes dropped */
    size_t tasks;    /* stops at sites with a task */
};

/* Totals over all routes, recomputed from the stops by route_check. */
struct route_totals {
    double value;    /* the objective */
    double metres;   /* driven */
    int64_t seconds; /* summed over trucks */
    int64_t picked;  /* bikes picked up */
    int64_t dropped; /* bikes dropped (the bikes moved, with initial load) */
    size_t tasks;    /* stops at sites with a task (value or load > 0) */
    size_t stops;
    size_t trucks_used; /* non-empty routes */
};

/*
 * A plan: paths[i] is truck i's route, n_paths == the problem's n_trucks.
 * A plain value: route_solve fills one; a caller may build one by hand for
 * route_check (stops from xmalloc if route_plan_release will free them).
 */
struct route_plan {
    struct route_path *paths;
    size_t n_paths;
    struct route_totals totals;
};

/* Frees every path's stops and the path array; plan becomes empty. */
void route_plan_release(struct route_plan *plan);

/*
 * Verifies plan against p from scratch: p itself is valid (as for
 * route_solve), one path per truck, every site index in range and visited
 * at most once, at each stop pick <= supply, drop <= demand, not both, and
 * both >= 0, after each stop the droppable load >= 0 and droppable +
 * broken <= capacity, and each route's seconds <= its truck's time_s. Fills
 * *t (if not NULL) with the recomputed totals. Neither argument changes.
 * Errors: ERR_INVALID with d->msg naming the first violation ("truck 2
 * stop 5: load 31 over capacity 30") and d->field its place
 * ("paths[2].stops[5]"), or a problem error as route_solve's; ERR_TOO_BIG
 * as route_solve.
 */
enum err route_check(const struct route_problem *p,
                     const struct route_plan *plan, struct route_totals *t,
                     struct err_detail *d);

/*
 * Keeps each route's order of sites and sets every stop's pick and drop to
 * the best quantities for that order: the most bikes dropped under the
 * capacity and time rules (exact; see docs/internals/route.md), then fills
 * the per-path figures and plan->totals. plan's stops belong to the caller.
 * Errors: ERR_INVALID (p invalid, a bad or repeated site index, or an order
 * no quantities make feasible: too many broken bikes, the initial load not
 * droppable before it must be, or the fixed time over time_s; d names the
 * path); ERR_TOO_BIG. The quantities are unspecified on failure.
 */
enum err route_fill_quantities(const struct route_problem *p,
                               struct route_plan *plan, struct err_detail *d);

/* Reads a monotonic clock in nanoseconds (for instance CLOCK_MONOTONIC). */
typedef int64_t route_clock_fn(void *ctx);

/*
 * Search options. At least one of max_iters and clock must be set.
 *
 * Determinism: for a given problem, seed and max_iters the plan is
 * bit-identical from run to run as long as the deadline does not end the
 * search first (stats->hit_deadline false). With a clock, the deadline is
 * checked during construction (every few dozen steps) and every
 * iteration; a deadline that passes during construction leaves a shorter,
 * still feasible, plan.
 */
struct route_opts {
    uint64_t seed;
    uint64_t max_iters;    /* search iterations; 0: until the deadline */
    route_clock_fn *clock; /* NULL: no deadline */
    void *clock_ctx;
    int64_t deadline_ns; /* stop once clock(clock_ctx) >= deadline_ns */
};

/* What a run did. */
struct route_stats {
    double construct_value; /* objective of the constructed plan */
    int64_t construct_ns;   /* construction time (0 without a clock) */
    uint64_t iters;         /* search iterations run */
    uint64_t improvements;  /* times the best plan improved */
    uint64_t best_iter;     /* iteration that found the returned plan */
    bool hit_deadline;      /* the clock ended the run (not reproducible) */
};

/*
 * Plans routes for p: a parallel greedy construction, then ruin-and-
 * recreate with simulated annealing, then a local search on each route;
 * quantities are always the exact optimum for each route's order. The
 * result passed route_check; its objective is at least
 * stats->construct_value. On success *out (its previous contents are
 * overwritten, not freed) holds one path per truck, with figures and
 * totals filled in; the caller frees it with route_plan_release. *stats
 * (may be NULL) says what the run did.
 * Errors: ERR_INVALID (a field of p out of range: d->field is its path,
 * like "sites[12].demand"; or opts with neither max_iters nor clock),
 * ERR_TOO_BIG (more than ROUTE_MAX_SITES sites or ROUTE_MAX_TRUCKS trucks),
 * ERR_INTERNAL (the result failed route_check: a bug; debug builds abort).
 * *out and *stats are untouched on failure.
 */
enum err route_solve(const struct route_problem *p,
                     const struct route_opts *opts, struct route_plan *out,
                     struct route_stats *stats, struct err_detail *d);

#endif
