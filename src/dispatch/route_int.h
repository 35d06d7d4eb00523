/* SPDX-License-Identifier: MIT */
/*
 * Private to the truck planner (route*.c): the travel model, the exact
 * quantity optimiser, the spatial grid, and the solver's working state
 * shared by construction (route_build.c), the search (route_search.c) and
 * the entry point (route_solve.c). See docs/internals/route.md.
 */
#ifndef DISPATCH_ROUTE_INT_H
#define DISPATCH_ROUTE_INT_H

#include "base/sys.h"
#include "base/err.h"
#include "base/rng.h"
#include "dispatch/route.h"

/* ---- route.c: validation, travel, quantities ---------------------------- */

/* Checks every field of p; ERR_INVALID or ERR_TOO_BIG with d filled. */
enum err route__validate(const struct route_problem *p, struct err_detail *d);

/*
 * The travel model, the one definition every caller uses: metres =
 * haversine x detour, seconds = ceil(metres / speed).
 */
void route__leg(const struct route_params *pp, struct geo_latlng a,
                struct geo_latlng b, double *metres, int64_t *secs);

/* The least of three counts. */
static inline int64_t route__min3(int64_t a, int64_t b, int64_t c)
{
    int64_t m = a < b ? a : b;
    return m < c ? m : c;
}

/* Seconds of a visit without handling: parking plus task. */
static inline int64_t route__visit_s(const struct route_site *s)
{
    return (int64_t)s->service_s + s->task_s;
}

/* True if the site has a task (counted in the totals' tasks). */
static inline bool route__has_task(const struct route_site *s)
{
    return s->task_value > 0 || s->task_load > 0;
}

/* What the quantity optimiser needs to know of a stop's site. */
struct route__sq {
    int32_t supply, demand, task_load;
};

static inline struct route__sq route__sq_of(const struct route_site *s)
{
    return (struct route__sq){s->supply, s->demand, s->task_load};
}

/*
 * Scratch of route__decode, grown on demand. After a successful decode of
 * m stops, for k < m: load[k] is the droppable load after stop k, room[k]
 * is capacity minus broken bikes after stop k, and rem[k] the supply of
 * stop k left unpicked (0 at stops that are not pick sites).
 */
struct route__dec {
    int64_t *load;
    int64_t *room;
    int64_t *rem;
    int64_t *adj; /* retroactive loads as a difference array */
    size_t cap;
};

void route__dec_reserve(struct route__dec *w, size_t m);
void route__dec_release(struct route__dec *w);

/* What a decode found. */
struct route__qty {
    int64_t dropped; /* bikes dropped */
    int64_t picked;  /* bikes picked up */
    int64_t load;    /* droppable load at the end */
    int64_t broken;  /* broken bikes at the end */
};

/*
 * The exact quantity optimiser: for truck t visiting stops whose sites are
 * sq[0..m) in that order, with fixed_s seconds of travel, parking and
 * tasks and handle_s seconds per bike handled, chooses picks and drops
 * that drop the most bikes under the capacity and time rules (greedy: each
 * drop takes the initial load first, then bikes picked retroactively at
 * the latest earlier pick stops with supply and room; see
 * docs/internals/route.md for why this is optimal). Writes pick[k] and
 * drop[k] if they are not NULL, and *q. Returns false if no quantities
 * make the order feasible. w is grown to m. O(m) plus the retroactive
 * scans (each walks back at most to the last stop without room).
 */
bool route__decode(const struct route_truck *t, int32_t handle_s,
                   const struct route__sq *sq, size_t m, int64_t fixed_s,
                   struct route__dec *w, int32_t *pick, int32_t *drop,
                   struct route__qty *q);

/*
 * Verifies a plan the solver built and fills in its figures and totals.
 * ERR_INTERNAL (a bug; debug builds abort) if it fails the checker.
 */
enum err route__finish(const struct route_problem *p, struct route_plan *plan,
                       struct err_detail *d);

/* ---- route_grid.c: nearest sites in a plane ----------------------------- */

/*
 * A uniform grid over points in a local plane (metres east and north of a
 * reference point), bucketing a subset of the sites. Sites can be taken
 * out and put back (a visited site is out, so queries never wade through
 * them). Only for pruning: distances that matter are always recomputed
 * with route__leg.
 */
struct route__grid {
    double x0, y0; /* south-west corner */
    double cell_m; /* cell edge */
    uint32_t cols, rows;
    uint32_t *start; /* rows * cols + 1 offsets into ids */
    uint32_t *count; /* per cell: ids[start .. start + count) are in */
    uint32_t *ids;   /* site indices, by cell */
    uint32_t *cell;  /* site -> its cell (sites of this grid only) */
    uint32_t *at;    /* site -> its index in ids */
    size_t n;
};

/*
 * Buckets the n sites ids[] (coordinates x[id], y[id], every id below
 * n_all) into g, all in. An empty grid answers every query with nothing.
 */
void route__grid_build(struct route__grid *g, const double *x, const double *y,
                       const uint32_t *ids, size_t n, size_t n_all);
void route__grid_release(struct route__grid *g);

/* Takes site id (one of g's, in) out of g, or puts it (out) back. */
void route__grid_take(struct route__grid *g, uint32_t id);
void route__grid_put(struct route__grid *g, uint32_t id);

/*
 * Up to k sites in g nearest to (qx, qy) in the plane, nearest first (ties
 * by index), but not the site except (UINT32_MAX for none). Writes
 * out[0..count) and returns count. k <= ROUTE__MAX_NEAR.
 */
#define ROUTE__MAX_NEAR 32u
size_t route__grid_near(const struct route__grid *g, const double *x,
                        const double *y, double qx, double qy, size_t k,
                        uint32_t except, uint32_t *out);

/* ---- the solver's state (route_solve.c) --------------------------------- */

/* Site roles (route__ctx.flags). */
enum route__flags {
    ROUTE__PICK = 1u << 0, /* supply > 0 */
    ROUTE__DROP = 1u << 1, /* demand > 0 */
    ROUTE__TASK = 1u << 2, /* task_value > 0 */
};

/* The grids and neighbour lists, one per kind of site. */
enum route__kind {
    ROUTE__K_PICK, /* sites with supply */
    ROUTE__K_DROP, /* sites with demand */
    ROUTE__K_TASK, /* sites with a task value and neither */
    ROUTE__KINDS,
};

/* Neighbours kept per site and kind. */
#define ROUTE__NB 8u

/*
 * One truck's working route: seq[0..len) with its legs. When len > 0,
 * leg i (0 <= i <= len) runs from point i - 1 to point i, where point -1
 * is the truck's start and point len the depot; an empty route has no
 * legs and costs nothing. value = bike_value x dropped + task_value -
 * metre_cost x metres, with metres summed leg by leg in order (as
 * route_check does).
 */
struct route__route {
    uint32_t *seq;
    struct route__sq *sq; /* of seq's sites */
    double *leg_m;
    int64_t *leg_s;
    size_t len, cap; /* cap: of seq; legs have cap + 1 */
    double metres;
    int64_t fixed_s; /* travel + parking + tasks */
    double task_value;
    struct route__qty q;
    double value;
};

struct route__ctx {
    const struct route_problem *p;
    size_t n, nt;    /* sites, trucks */
    double *px, *py; /* sites in the local plane, metres */
    double depot_x, depot_y;
    double *start_x, *start_y; /* trucks' starts in the plane */
    double *home_m;            /* site to depot */
    int64_t *home_s;
    uint8_t *flags; /* enum route__flags per site */
    uint32_t *cand; /* sites worth visiting, ascending */
    size_t n_cand;
    struct route__grid grid[ROUTE__KINDS];
    uint32_t *nb;              /* [site * KINDS * NB + kind * NB + i] */
    struct route__route *r;    /* one per truck */
    int32_t *where;            /* site -> truck visiting it, or -1 */
    uint32_t *pos;             /* site -> its position there */
    uint8_t *taken;            /* where[site] >= 0, for grid queries */
    struct route__sq *site_sq; /* every site's */
    struct route__dec dec;
    uint32_t *tmp;            /* scratch sequence, n + 2 */
    struct route__sq *tmp_sq; /* its sites, n + 2 */
    int32_t *pick, *drop;     /* scratch quantities, n + 2 */
    struct rng rng;
    double scale; /* typical value of one unit of work */
    /* The deadline. */
    route_clock_fn *clock;
    void *clock_ctx;
    int64_t deadline_ns;
    bool hit_deadline;
};

/* Planar coordinates of the route's point i (-1: start, len: depot). */
void route__point_xy(const struct route__ctx *c, size_t truck, ptrdiff_t i,
                     double *x, double *y);
/* The geographic position of the route's point i. */
struct geo_latlng route__point(const struct route__ctx *c, size_t truck,
                               ptrdiff_t i);

/* True once the deadline has passed (sticky). */
bool route__late(struct route__ctx *c);

/*
 * Sets truck's route to seq[0..len) (may alias nothing in the route),
 * recomputing legs, quantities and value. Returns false (and leaves the
 * route empty) if the order is infeasible. Updates where[] and taken[].
 */
bool route__route_set(struct route__ctx *c, size_t truck, const uint32_t *seq,
                      size_t len);

/*
 * Inserts the k sites ins[] (unvisited) before stop gap (0 <= gap <= len)
 * of truck's route, computing the new legs exactly. Returns what
 * route__route_refresh returns.
 */
bool route__route_insert(struct route__ctx *c, size_t truck, size_t gap,
                         const uint32_t *ins, size_t k);

/*
 * Removes the stops i with gone[i] set from truck's route; if that makes
 * the order infeasible, also drops stops from its end until it is not.
 */
void route__route_remove(struct route__ctx *c, size_t truck,
                         const uint8_t *gone);

/*
 * Re-derives the route's totals from its legs and sequence and decodes
 * its quantities. Returns false if the order is infeasible.
 */
bool route__route_refresh(struct route__ctx *c, size_t truck);

/*
 * Records that site is visited by truck (-1: by none), taking it out of
 * its grid or putting it back.
 */
void route__mark(struct route__ctx *c, uint32_t site, int32_t truck);

/* Sets where[], taken[] and pos[] for every stop of truck's route. */
void route__route_index(struct route__ctx *c, size_t truck);

/* Sum of the routes' values in truck order. */
double route__total(const struct route__ctx *c);

/* ---- route_build.c ------------------------------------------------------ */

/* Builds the first plan into c->r (all routes empty on entry). */
void route__build(struct route__ctx *c);

/* ---- route_search.c ----------------------------------------------------- */

struct route__search_opts {
    uint64_t max_iters;
};

/*
 * Improves the plan in c->r by ruin and recreate with simulated annealing,
 * then a local search on each route; c->r holds the best plan found on
 * return, never worse than on entry. Counts go to *stats.
 */
void route__search(struct route__ctx *c, uint64_t max_iters,
                   struct route_stats *stats);

#endif
