/* SPDX-License-Identifier: MIT */
/*
 * The truck planner's entry point and working state: route_solve sets up
 * the context (local plane, grids, neighbour lists), runs construction
 * (route_build.c) and the search (route_search.c), and turns the best
 * routes into a checked plan. Also the route operations both phases share.
 */
#include "base/sys.h"
#include "dispatch/route.h"
#include "dispatch/route_int.h"

#include <math.h>

/* ---- points and legs ---------------------------------------------------- */

struct geo_latlng route__point(const struct route__ctx *c, size_t truck,
                               ptrdiff_t i)
{
    const struct route__route *r = &c->r[truck];
    if (i < 0)
        return c->p->trucks[truck].start;
    if ((size_t)i >= r->len)
        return c->p->depot;
    return c->p->sites[r->seq[i]].pos;
}

void route__point_xy(const struct route__ctx *c, size_t truck, ptrdiff_t i,
                     double *x, double *y)
{
    const struct route__route *r = &c->r[truck];
    if (i < 0) {
        *x = c->start_x[truck];
        *y = c->start_y[truck];
    } else if ((size_t)i >= r->len) {
        *x = c->depot_x;
        *y = c->depot_y;
    } else {
        *x = c->px[r->seq[i]];
        *y = c->py[r->seq[i]];
    }
}

bool route__late(struct route__ctx *c)
{
    if (!c->hit_deadline && c->clock &&
        c->clock(c->clock_ctx) >= c->deadline_ns)
        c->hit_deadline = true;
    return c->hit_deadline;
}

static void route_reserve(struct route__route *r, size_t len)
{
    if (len <= r->cap)
        return;
    size_t cap = MAX(len, 2 * r->cap);
    cap = MAX(cap, (size_t)8);
    r->seq = xreallocarray(r->seq, cap, sizeof(*r->seq));
    r->sq = xreallocarray(r->sq, cap, sizeof(*r->sq));
    r->leg_m = xreallocarray(r->leg_m, cap + 1, sizeof(*r->leg_m));
    r->leg_s = xreallocarray(r->leg_s, cap + 1, sizeof(*r->leg_s));
    r->cap = cap;
}

/* Recomputes legs lo..hi (inclusive) of truck's route. */
static void compute_legs(struct route__ctx *c, size_t truck, size_t lo,
                         size_t hi)
{
    struct route__route *r = &c->r[truck];
    for (size_t i = lo; i <= hi; i++) {
        route__leg(&c->p->params, route__point(c, truck, (ptrdiff_t)i - 1),
                   route__point(c, truck, (ptrdiff_t)i), &r->leg_m[i],
                   &r->leg_s[i]);
    }
}

bool route__route_refresh(struct route__ctx *c, size_t truck)
{
    struct route__route *r = &c->r[truck];
    const struct route_problem *p = c->p;
    r->metres = 0;
    r->fixed_s = 0;
    r->task_value = 0;
    memset(&r->q, 0, sizeof(r->q));
    r->value = 0;
    if (r->len == 0)
        return true;
    for (size_t i = 0; i < r->len; i++) {
        const struct route_site *s = &p->sites[r->seq[i]];
        r->metres += r->leg_m[i];
        r->fixed_s += r->leg_s[i] + route__visit_s(s);
        r->task_value += s->task_value;
    }
    r->metres += r->leg_m[r->len];
    r->fixed_s += r->leg_s[r->len];
    if (!route__decode(&p->trucks[truck], p->params.handle_s, r->sq, r->len,
                       r->fixed_s, &c->dec, NULL, NULL, &r->q))
        return false;
    r->value = p->params.bike_value * (double)r->q.dropped + r->task_value -
               p->params.metre_cost * r->metres;
    return true;
}

/* The grid a site is bucketed in (sites worth nothing are in none). */
static struct route__grid *grid_of(struct route__ctx *c, uint32_t site)
{
    uint8_t f = c->flags[site];
    if (f & ROUTE__PICK)
        return &c->grid[ROUTE__K_PICK];
    if (f & ROUTE__DROP)
        return &c->grid[ROUTE__K_DROP];
    return f ? &c->grid[ROUTE__K_TASK] : NULL;
}

void route__mark(struct route__ctx *c, uint32_t site, int32_t truck)
{
    c->where[site] = truck;
    bool taken = truck >= 0;
    if (taken == c->taken[site])
        return;
    c->taken[site] = taken;
    struct route__grid *g = grid_of(c, site);
    if (!g)
        return;
    if (taken)
        route__grid_take(g, site);
    else
        route__grid_put(g, site);
}

void route__route_index(struct route__ctx *c, size_t truck)
{
    const struct route__route *r = &c->r[truck];
    for (size_t i = 0; i < r->len; i++) {
        route__mark(c, r->seq[i], (int32_t)truck);
        c->pos[r->seq[i]] = (uint32_t)i;
    }
}

bool route__route_set(struct route__ctx *c, size_t truck, const uint32_t *seq,
                      size_t len)
{
    struct route__route *r = &c->r[truck];
    for (size_t i = 0; i < r->len; i++)
        route__mark(c, r->seq[i], -1);
    route_reserve(r, len);
    if (len > 0)
        memmove(r->seq, seq, len * sizeof(*seq));
    for (size_t i = 0; i < len; i++)
        r->sq[i] = c->site_sq[r->seq[i]];
    r->len = len;
    if (len > 0)
        compute_legs(c, truck, 0, len);
    bool ok = route__route_refresh(c, truck);
    if (!ok) {
        r->len = 0;
        route__route_refresh(c, truck);
    }
    route__route_index(c, truck);
    return ok;
}

bool route__route_insert(struct route__ctx *c, size_t truck, size_t gap,
                         const uint32_t *ins, size_t k)
{
    struct route__route *r = &c->r[truck];
    ASSERT(gap <= r->len);
    route_reserve(r, r->len + k);
    if (r->len == 0) {
        memcpy(r->seq, ins, k * sizeof(*ins));
        for (size_t i = 0; i < k; i++)
            r->sq[i] = c->site_sq[ins[i]];
        r->len = k;
        compute_legs(c, truck, 0, k);
    } else {
        /* Stops gap.. move up by k; legs gap+1.. likewise. */
        memmove(r->seq + gap + k, r->seq + gap,
                (r->len - gap) * sizeof(*r->seq));
        memmove(r->leg_m + gap + k + 1, r->leg_m + gap + 1,
                (r->len - gap) * sizeof(*r->leg_m));
        memmove(r->leg_s + gap + k + 1, r->leg_s + gap + 1,
                (r->len - gap) * sizeof(*r->leg_s));
        memmove(r->sq + gap + k, r->sq + gap, (r->len - gap) * sizeof(*r->sq));
        memcpy(r->seq + gap, ins, k * sizeof(*ins));
        for (size_t i = 0; i < k; i++)
            r->sq[gap + i] = c->site_sq[ins[i]];
        r->len += k;
        compute_legs(c, truck, gap, gap + k);
    }
    route__route_index(c, truck);
    return route__route_refresh(c, truck);
}

void route__route_remove(struct route__ctx *c, size_t truck,
                         const uint8_t *gone)
{
    struct route__route *r = &c->r[truck];
    size_t n = 0;
    for (size_t i = 0; i < r->len; i++) {
        if (gone[i]) {
            route__mark(c, r->seq[i], -1);
        } else {
            r->sq[n] = r->sq[i];
            r->seq[n++] = r->seq[i];
        }
    }
    if (n == r->len)
        return;
    r->len = n;
    if (n > 0)
        compute_legs(c, truck, 0, n);
    /*
     * Removing stops can break an order (a drop that made room for broken
     * bikes is gone): drop stops from the end until it is feasible again.
     */
    while (!route__route_refresh(c, truck)) {
        route__mark(c, r->seq[--r->len], -1);
        if (r->len > 0)
            compute_legs(c, truck, r->len, r->len);
    }
    route__route_index(c, truck);
}

double route__total(const struct route__ctx *c)
{
    double v = 0;
    for (size_t t = 0; t < c->nt; t++)
        v += c->r[t].value;
    return v;
}

/* ---- the context -------------------------------------------------------- */

#define DEG (M_PI / 180.0)

static void project(const struct route__ctx *c, struct geo_latlng q, double *x,
                    double *y)
{
    struct geo_latlng o = c->p->depot;
    double dlon = q.lon_deg - o.lon_deg;
    if (dlon > 180.0)
        dlon -= 360.0;
    else if (dlon < -180.0)
        dlon += 360.0;
    *x = GEO_EARTH_RADIUS_M * dlon * DEG * cos(o.lat_deg * DEG);
    *y = GEO_EARTH_RADIUS_M * (q.lat_deg - o.lat_deg) * DEG;
}

static void ctx_init(struct route__ctx *c, const struct route_problem *p,
                     const struct route_opts *o)
{
    memset(c, 0, sizeof(*c));
    c->p = p;
    c->n = p->n_sites;
    c->nt = p->n_trucks;
    size_t n1 = MAX(c->n, (size_t)1), nt1 = MAX(c->nt, (size_t)1);
    c->px = xmalloc(n1 * sizeof(*c->px));
    c->py = xmalloc(n1 * sizeof(*c->py));
    c->home_m = xmalloc(n1 * sizeof(*c->home_m));
    c->home_s = xmalloc(n1 * sizeof(*c->home_s));
    c->flags = xcalloc(n1, sizeof(*c->flags));
    c->cand = xmalloc(n1 * sizeof(*c->cand));
    c->where = xmalloc(n1 * sizeof(*c->where));
    c->pos = xcalloc(n1, sizeof(*c->pos));
    c->taken = xcalloc(n1, sizeof(*c->taken));
    c->start_x = xmalloc(nt1 * sizeof(*c->start_x));
    c->start_y = xmalloc(nt1 * sizeof(*c->start_y));
    c->r = xcalloc(nt1, sizeof(*c->r));
    c->tmp = xmalloc((c->n + 2) * sizeof(*c->tmp));
    c->tmp_sq = xmalloc((c->n + 2) * sizeof(*c->tmp_sq));
    c->site_sq = xmalloc(n1 * sizeof(*c->site_sq));
    c->pick = xmalloc((c->n + 2) * sizeof(*c->pick));
    c->drop = xmalloc((c->n + 2) * sizeof(*c->drop));
    project(c, p->depot, &c->depot_x, &c->depot_y);
    for (size_t t = 0; t < c->nt; t++)
        project(c, p->trucks[t].start, &c->start_x[t], &c->start_y[t]);
    uint32_t *by_kind[ROUTE__KINDS];
    size_t n_kind[ROUTE__KINDS] = {0};
    for (size_t k = 0; k < ROUTE__KINDS; k++)
        by_kind[k] = xmalloc(n1 * sizeof(*by_kind[k]));
    double max_task = 0;
    for (size_t i = 0; i < c->n; i++) {
        const struct route_site *s = &p->sites[i];
        project(c, s->pos, &c->px[i], &c->py[i]);
        c->site_sq[i] = route__sq_of(s);
        route__leg(&p->params, s->pos, p->depot, &c->home_m[i], &c->home_s[i]);
        c->where[i] = -1;
        uint8_t f = 0;
        if (s->supply > 0)
            f |= ROUTE__PICK;
        if (s->demand > 0)
            f |= ROUTE__DROP;
        if (s->task_value > 0)
            f |= ROUTE__TASK;
        c->flags[i] = f;
        if (f == 0)
            continue;
        c->cand[c->n_cand++] = (uint32_t)i;
        enum route__kind k = (f & ROUTE__PICK)   ? ROUTE__K_PICK
                             : (f & ROUTE__DROP) ? ROUTE__K_DROP
                                                 : ROUTE__K_TASK;
        by_kind[k][n_kind[k]++] = (uint32_t)i;
        max_task = MAX(max_task, s->task_value);
    }
    for (size_t k = 0; k < ROUTE__KINDS; k++) {
        route__grid_build(&c->grid[k], c->px, c->py, by_kind[k], n_kind[k],
                          c->n);
        xfree(by_kind[k]);
    }
    /* Static neighbour lists of every candidate, per kind. */
    c->nb = xmalloc(n1 * ROUTE__KINDS * ROUTE__NB * sizeof(*c->nb));
    for (size_t i = 0; i < c->n * ROUTE__KINDS * ROUTE__NB; i++)
        c->nb[i] = UINT32_MAX;
    for (size_t j = 0; j < c->n_cand; j++) {
        uint32_t v = c->cand[j];
        for (size_t k = 0; k < ROUTE__KINDS; k++)
            route__grid_near(
                &c->grid[k], c->px, c->py, c->px[v], c->py[v], ROUTE__NB, v,
                &c->nb[((size_t)v * ROUTE__KINDS + k) * ROUTE__NB]);
    }
    rng_seed(&c->rng, o->seed);
    c->scale = p->params.bike_value > 0 ? p->params.bike_value
               : max_task > 0           ? max_task
                                        : 1.0;
    c->clock = o->clock;
    c->clock_ctx = o->clock_ctx;
    c->deadline_ns = o->deadline_ns;
}

static void ctx_release(struct route__ctx *c)
{
    xfree(c->px);
    xfree(c->py);
    xfree(c->home_m);
    xfree(c->home_s);
    xfree(c->flags);
    xfree(c->cand);
    xfree(c->where);
    xfree(c->pos);
    xfree(c->taken);
    xfree(c->start_x);
    xfree(c->start_y);
    for (size_t k = 0; k < ROUTE__KINDS; k++)
        route__grid_release(&c->grid[k]);
    xfree(c->nb);
    for (size_t t = 0; t < c->nt; t++) {
        xfree(c->r[t].seq);
        xfree(c->r[t].sq);
        xfree(c->r[t].leg_m);
        xfree(c->r[t].leg_s);
    }
    xfree(c->r);
    xfree(c->tmp);
    xfree(c->tmp_sq);
    xfree(c->site_sq);
    xfree(c->pick);
    xfree(c->drop);
    route__dec_release(&c->dec);
    memset(c, 0, sizeof(*c));
}

/* ---- the plan ----------------------------------------------------------- */

/* Turns the routes in c into *plan with their exact quantities. */
static void make_plan(struct route__ctx *c, struct route_plan *plan)
{
    const struct route_problem *p = c->p;
    plan->n_paths = c->nt;
    plan->paths = xcalloc(MAX(c->nt, (size_t)1), sizeof(*plan->paths));
    for (size_t t = 0; t < c->nt; t++) {
        const struct route__route *r = &c->r[t];
        struct route_path *path = &plan->paths[t];
        if (r->len == 0)
            continue;
        struct route__qty q;
        bool ok =
            route__decode(&p->trucks[t], p->params.handle_s, r->sq, r->len,
                          r->fixed_s, &c->dec, c->pick, c->drop, &q);
        ASSERT(ok);
        path->stops = xmalloc(r->len * sizeof(*path->stops));
        path->n_stops = r->len;
        for (size_t i = 0; i < r->len; i++) {
            path->stops[i].site = r->seq[i];
            path->stops[i].pick = c->pick[i];
            path->stops[i].drop = c->drop[i];
        }
    }
}

enum err route_solve(const struct route_problem *p,
                     const struct route_opts *opts, struct route_plan *out,
                     struct route_stats *stats, struct err_detail *d)
{
    enum err e = route__validate(p, d);
    if (e != ERR_OK)
        return e;
    if (!opts || (opts->max_iters == 0 && !opts->clock))
        return err_set(d, ERR_INVALID, "opts",
                       "the search needs max_iters or a clock");
    struct route__ctx c;
    struct route_stats st = {0};
    struct route_plan plan = {0};
    int64_t t0 = opts->clock ? opts->clock(opts->clock_ctx) : 0;
    ctx_init(&c, p, opts);
    route__build(&c);
    st.construct_value = route__total(&c);
    if (opts->clock)
        st.construct_ns = opts->clock(opts->clock_ctx) - t0;
    route__search(&c, opts->max_iters, &st);
    st.hit_deadline = c.hit_deadline;
    make_plan(&c, &plan);
    ctx_release(&c);
    e = route__finish(p, &plan, d);
    if (e != ERR_OK) {
        route_plan_release(&plan);
        return e;
    }
    *out = plan;
    if (stats)
        *stats = st;
    return ERR_OK;
}
