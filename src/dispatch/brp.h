/* SPDX-License-Identifier: MIT */
/*
 * Truck routing for static rebalancing: the bike rebalancing problem (BRP)
 * of Dell'Amico, Hadjicostantinou, Iori & Novellani (Omega 2014) and its
 * single-vehicle case, the 1-PDTSP. An instance, its text parsers, a
 * solution type with a feasibility checker, and a seeded solver. Pure: no
 * I/O, no clocks; the caller passes the text in and the time budget as a
 * callback. Algorithm and measurements: docs/internals/dispatch.md.
 *
 * The problem: node 0 is the depot, nodes 1..n-1 are stations. Station i
 * has q_i bikes to pick up (q_i > 0) or needs -q_i bikes (q_i < 0). Every
 * station is visited exactly once, by one of any number of depot-based
 * routes (or at most max_routes of them). A route leaves the depot with any
 * load in [0, Q] and its load stays in [0, Q] after every station. The
 * objective is the total (asymmetric, integer) arc cost.
 *
 * Thread-safety: an instance is immutable once built, so any number of
 * threads may read it and solve it at once. Solutions belong to one thread.
 */
#ifndef DISPATCH_BRP_H
#define DISPATCH_BRP_H

#include "base/sys.h"
#include "base/err.h"
#include "base/str.h"

/* Caps on client-driven sizes; over them is ERR_TOO_BIG. */
#define BRP_MAX_NODES 2000u            /* depot included */
#define BRP_MAX_TEXT_BYTES (64u << 20) /* instance text */
#define BRP_MAX_NAME_BYTES 63u         /* instance name */
/* Value ranges; outside them is ERR_INVALID. */
#define BRP_MAX_CAPACITY 100000 /* Q is 1..BRP_MAX_CAPACITY */
#define BRP_MAX_COST 1000000000 /* arc costs are 0..this */
#define BRP_MAX_COORD 1e7       /* 1-PDTSP |x|, |y| */

/* Instance text formats (see docs/brp.md for each layout). */
enum brp_format {
    BRP_FORMAT_AUTO,     /* guessed from the first line */
    BRP_FORMAT_RBRP,     /* #name / #numVertices / #capacity / ... */
    BRP_FORMAT_ORIGINAL, /* n, q row, Q, cost matrix (unimore layout) */
    BRP_FORMAT_1PDTSP,   /* TSPLIB EUC_2D with CAPACITY, DEMAND_SECTION */
};

/* An instance (opaque, immutable once built). */
struct brp_instance;

/*
 * Builds an instance from arrays: n nodes (depot 0 included, 1..
 * BRP_MAX_NODES), capacity Q (1..BRP_MAX_CAPACITY), q[n] with q[0] == 0 and
 * |q[i]| <= Q, cost[n * n] row-major (cost[i * n + j] = c[i][j], 0..
 * BRP_MAX_COST; the diagonal is ignored and taken as 0), and max_routes (0:
 * any number; 1: the 1-PDTSP). Arrays are copied. On success *out is a new
 * instance the caller frees with brp_instance_free.
 * Errors: ERR_INVALID (a value out of range, d says which), ERR_TOO_BIG (n).
 */
enum err brp_instance_new(size_t n, int32_t capacity, const int32_t *q,
                          const int64_t *cost, size_t max_routes,
                          struct brp_instance **out, struct err_detail *d);

/*
 * Parses an instance from text in the given format (BRP_FORMAT_AUTO: a
 * first line "#name" is RBRP, "NAME" or "NAME:" is 1-PDTSP, anything else
 * is the original layout). Validation is strict: section order, row
 * counts, row indices, redundant columns (RBRP p and a), integer costs
 * (only the original layout's diagonal may be 1e+009 or other non-integers),
 * |q_i| <= Q, and for the 1-PDTSP demands summing to 0. The 1-PDTSP depot
 * is TSPLIB node 1, costs are nint Euclidean distances and max_routes is 1;
 * the other formats allow any number of routes. text is borrowed. On
 * success *out is a new instance (free with brp_instance_free).
 * Errors: ERR_INVALID (malformed; d->msg starts with "line N: " and
 * d->field names the section), ERR_TOO_BIG (text over BRP_MAX_TEXT_BYTES,
 * more than BRP_MAX_NODES nodes, a name over BRP_MAX_NAME_BYTES).
 */
enum err brp_instance_parse(struct str text, enum brp_format format,
                            struct brp_instance **out, struct err_detail *d);

/* Frees inst; NULL is a no-op. */
void brp_instance_free(struct brp_instance *inst);

/* Accessors. i, j < brp_instance_nodes(inst). */
size_t brp_instance_nodes(const struct brp_instance *inst);
int32_t brp_instance_capacity(const struct brp_instance *inst);
int32_t brp_instance_demand(const struct brp_instance *inst, size_t i);
int64_t brp_instance_cost(const struct brp_instance *inst, size_t i, size_t j);
/* 0 for any number of routes. */
size_t brp_instance_max_routes(const struct brp_instance *inst);
/* The name the text gave ("" if none); borrowed, lives with inst. */
const char *brp_instance_name(const struct brp_instance *inst);

/*
 * One route: depot, stations[0..len), depot. start_load is the load when
 * it leaves the depot; cost is the route's arc cost, depot arcs included.
 */
struct brp_route {
    size_t *stations;
    size_t len;
    int32_t start_load;
    int64_t cost;
};

/*
 * A solution: routes[0..n_routes) and their total cost. A plain value:
 * brp_solve fills one, and a caller may build one by hand for brp_check
 * (with xmalloc'd arrays, since brp_solution_release xfrees them).
 */
struct brp_solution {
    struct brp_route *routes;
    size_t n_routes;
    int64_t cost;
};

/* Empties s without freeing anything (s may hold garbage). */
void brp_solution_init(struct brp_solution *s);

/* Frees every route's stations and the route array; s becomes empty. */
void brp_solution_release(struct brp_solution *s);

/*
 * Verifies sol against inst from scratch: every route non-empty, every
 * station index in 1..n-1, every station visited exactly once, at most
 * max_routes routes, each start load in [0, Q], the load after each station
 * (previous load + q_i, applied exactly) in [0, Q], each route's cost and
 * the total equal to the recomputed arc costs. Neither argument changes.
 * Errors: ERR_INVALID with d->msg naming the first violation ("route 2
 * position 5: load 31 exceeds capacity 30") and d->field the route
 * ("routes[1]"), or "cost" for the total.
 */
enum err brp_check(const struct brp_instance *inst,
                   const struct brp_solution *sol, struct err_detail *d);

/*
 * How much of the time budget is used: 0 at the start, >= 1 when the
 * solver must stop. Called about once per iteration (every few
 * microseconds to milliseconds, depending on n). The solver also cools its
 * annealing schedule by it, so the budget is spread over the whole run.
 */
typedef double brp_budget_fn(void *ctx);

/* Told each time the best solution improves: its cost and the iteration. */
typedef void brp_improve_fn(void *ctx, int64_t cost, uint64_t iter);

struct brp_params {
    uint64_t seed;
    /* Iterations to run; 0 for no limit (then budget must be set). */
    uint64_t max_iters;
    /* The time budget (may be NULL when max_iters > 0). */
    brp_budget_fn *budget;
    void *budget_ctx;
    /* Optional progress callback. */
    brp_improve_fn *on_improve;
    void *improve_ctx;
};

/* What a run did (all counts). */
struct brp_stats {
    uint64_t iters;     /* ruin-and-recreate iterations */
    uint64_t best_iter; /* iteration that found the returned solution */
    uint64_t ls_runs;   /* full local searches */
    uint64_t ls_moves;  /* improving moves they applied */
    uint64_t accepted;  /* iterations whose result was accepted */
    /* Tries of the load-aware construction (limited routes, when the
     * insertion greedy left excess); 0 if it did not run. */
    uint64_t load_greedy_tries;
    uint64_t restarts; /* returns to the best after long infeasibility */
};

/*
 * Solves inst: a ruin-and-recreate search with simulated annealing over a
 * single sequence of stations and depot copies, with a local search
 * (relocate, exchange, 2-opt, 2-opt*, route split and merge) on every
 * candidate. Single-threaded; uses O(n^2) time to set up and O(n) memory
 * beyond the instance. Stops after max_iters iterations or when the budget
 * callback reaches 1, whichever comes first; deterministic for a given
 * seed when it stops on max_iters (a budget callback makes the iteration
 * count depend on time). On success *out (which must be empty, see
 * brp_solution_init) holds the best feasible solution found, with each
 * route's start load the lowest that works; the caller frees it with
 * brp_solution_release. *stats (if not NULL) gets what the run did.
 * Errors: ERR_INVALID if params has neither max_iters nor budget;
 * ERR_NOT_FOUND if the instance limits the routes (max_routes) and no
 * solution within the limit was found (with any number of routes there is
 * always one). *out is untouched on failure.
 */
enum err brp_solve(const struct brp_instance *inst,
                   const struct brp_params *params, struct brp_solution *out,
                   struct brp_stats *stats, struct err_detail *d);

#endif
