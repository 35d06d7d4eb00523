/* SPDX-License-Identifier: MIT */
/*
 * The truck planner's improvement phase: ruin and recreate under simulated
 * annealing (remove strings of stops around a random site from a few
 * nearby routes, then greedily insert the removed sites and free sites
 * nearby, alone or as pick-drop pairs, at their best places in nearby
 * routes), then a local search inside each route of the best plan
 * (relocate, 2-opt, removal). Every route value is exact: quantities come
 * from route__decode.
 */
#include "base/sys.h"
#include "dispatch/route_int.h"

#include <math.h>
#include <stdlib.h>

#define NONE UINT32_MAX

/* Ruin: routes touched, longest string removed from each. */
#define RUIN_ROUTES 3u
#define RUIN_STRING 10u
/* Free sites near the ruin offered to the recreate, per kind. */
#define RUIN_FREE 6u
/* Recreate: places tried per single site, per pair, partners per site. */
#define PLACES_SINGLE 6u
#define PLACES_PAIR 3u
#define PARTNERS 3u
/* Passes of the recreate over its sites. */
#define RECREATE_PASSES 2u
/* Chance that the recreate passes over a place. */
#define BLINK 0.05
/* The recreate inserts what gains more than -MIN_GAIN_TEMP x temperature. */
#define MIN_GAIN_TEMP 0.5
/* Empty routes offered to each recreate. */
#define EMPTY_ROUTES 2u
/* Annealing temperatures, in units of ctx.scale (one bike's value). */
#define TEMP_START 0.3
#define TEMP_END 0.003
/* Local search: passes over one route, reach of a relocation or 2-opt. */
#define POLISH_PASSES 4u
#define POLISH_WINDOW 12u
/* How far below the acceptance threshold a plan still gets polished. */
#define POLISH_MARGIN 0.5
/* Share of the time budget the ruin and recreate loop may use. */
#define SEARCH_SHARE 0.95

/* A place: insert before stop gap of truck's route. */
struct place {
    size_t truck, gap;
    double cost; /* planar detour, for ranking */
};

/* A recreate candidate and what it could be worth. */
struct prio {
    double value;
    uint32_t site;
};

struct search {
    struct route__ctx *c;
    /* Routes as they were before this iteration touched them. */
    struct route__route *bak;
    uint64_t *touch_mark;
    size_t *touched;
    size_t n_touched;
    uint64_t iter;
    /* The best plan: a copy of each route's order. */
    uint32_t **best_seq;
    size_t *best_len, *best_cap;
    uint8_t *dirty; /* changed since copied into best */
    double best_value, cur_value;
    /* Recreate scratch. */
    uint32_t *cands;
    size_t n_cands;
    uint64_t *cand_mark;
    uint64_t cand_gen; /* current mark of cand_mark */
    struct prio *prio;
    /* Routes ruined or filled in this iteration. */
    size_t *ruined;
    size_t n_ruined;
    uint64_t *ruin_mark; /* == iter: in ruined */
    uint8_t *gone;       /* stops to remove, by position */
    /* Empty routes offered to this recreate. */
    size_t empty[EMPTY_ROUTES];
    size_t n_empty;
    double min_gain; /* least gain for which the recreate inserts */
    double *home_m;  /* metres from each truck's start to the depot */
};

/* ---- route snapshots ---------------------------------------------------- */

static void route_copy(struct route__route *dst, const struct route__route *src)
{
    if (src->len > dst->cap) {
        size_t cap = MAX(src->len, 2 * dst->cap);
        dst->seq = xreallocarray(dst->seq, cap, sizeof(*dst->seq));
        dst->sq = xreallocarray(dst->sq, cap, sizeof(*dst->sq));
        dst->leg_m = xreallocarray(dst->leg_m, cap + 1, sizeof(*dst->leg_m));
        dst->leg_s = xreallocarray(dst->leg_s, cap + 1, sizeof(*dst->leg_s));
        dst->cap = cap;
    }
    if (src->len > 0) {
        memcpy(dst->seq, src->seq, src->len * sizeof(*dst->seq));
        memcpy(dst->sq, src->sq, src->len * sizeof(*dst->sq));
        memcpy(dst->leg_m, src->leg_m, (src->len + 1) * sizeof(*dst->leg_m));
        memcpy(dst->leg_s, src->leg_s, (src->len + 1) * sizeof(*dst->leg_s));
    }
    dst->len = src->len;
    dst->metres = src->metres;
    dst->fixed_s = src->fixed_s;
    dst->task_value = src->task_value;
    dst->q = src->q;
    dst->value = src->value;
}

/* Remembers truck's route before this iteration first changes it. */
static void touch(struct search *s, size_t truck)
{
    s->dirty[truck] = 1;
    if (s->touch_mark[truck] == s->iter)
        return;
    s->touch_mark[truck] = s->iter;
    route_copy(&s->bak[truck], &s->c->r[truck]);
    s->touched[s->n_touched++] = truck;
}

/* Puts every touched route back as it was. */
static void undo(struct search *s)
{
    struct route__ctx *c = s->c;
    for (size_t i = 0; i < s->n_touched; i++) {
        const struct route__route *r = &c->r[s->touched[i]];
        for (size_t k = 0; k < r->len; k++)
            route__mark(c, r->seq[k], -1);
    }
    for (size_t i = 0; i < s->n_touched; i++) {
        size_t t = s->touched[i];
        route_copy(&c->r[t], &s->bak[t]);
        route__route_index(c, t);
    }
}

static void save_best(struct search *s)
{
    struct route__ctx *c = s->c;
    for (size_t t = 0; t < c->nt; t++) {
        if (!s->dirty[t])
            continue;
        s->dirty[t] = 0;
        const struct route__route *r = &c->r[t];
        if (r->len > s->best_cap[t]) {
            s->best_cap[t] = MAX(r->len, 2 * s->best_cap[t]);
            s->best_seq[t] = xreallocarray(s->best_seq[t], s->best_cap[t],
                                           sizeof(*s->best_seq[t]));
        }
        if (r->len > 0)
            memcpy(s->best_seq[t], r->seq, r->len * sizeof(*r->seq));
        s->best_len[t] = r->len;
    }
    s->best_value = s->cur_value;
}

/* ---- planar helpers ----------------------------------------------------- */

static double plane_dist(double ax, double ay, double bx, double by)
{
    double dx = ax - bx, dy = ay - by;
    return sqrt(dx * dx + dy * dy);
}

/* ---- ruin --------------------------------------------------------------- */

static void add_cand(struct search *s, uint32_t v)
{
    if (v == NONE || s->cand_mark[v] == s->cand_gen)
        return;
    s->cand_mark[v] = s->cand_gen;
    s->cands[s->n_cands++] = v;
}

static void add_ruined(struct search *s, size_t truck)
{
    if (s->ruin_mark[truck] == s->iter)
        return;
    s->ruin_mark[truck] = s->iter;
    s->ruined[s->n_ruined++] = truck;
}

/* Removes a string of stops around position at of truck's route. */
static void ruin_string(struct search *s, size_t truck, size_t at)
{
    struct route__ctx *c = s->c;
    struct route__route *r = &c->r[truck];
    size_t max_len = MIN((size_t)RUIN_STRING, r->len);
    size_t len = 1 + (size_t)rng_below(&c->rng, max_len);
    /* A start such that the string covers at and fits in the route. */
    size_t lo = at + 1 >= len ? at + 1 - len : 0;
    size_t hi = MIN(at, r->len - len);
    size_t first = lo + (size_t)rng_below(&c->rng, hi - lo + 1);
    touch(s, truck);
    memset(s->gone, 0, r->len);
    for (size_t i = first; i < first + len; i++) {
        s->gone[i] = 1;
        add_cand(s, r->seq[i]);
    }
    route__route_remove(c, truck, s->gone);
    add_ruined(s, truck);
}

/* Picks a site to ruin around: mostly a visited one. */
static uint32_t pick_seed(struct route__ctx *c)
{
    if (rng_unit(&c->rng) < 0.8) {
        /* A random stop of a random non-empty route. */
        size_t t = (size_t)rng_below(&c->rng, c->nt);
        for (size_t k = 0; k < c->nt; k++, t = (t + 1) % c->nt) {
            if (c->r[t].len > 0)
                return c->r[t].seq[rng_below(&c->rng, c->r[t].len)];
        }
    }
    return c->cand[rng_below(&c->rng, c->n_cand)];
}

static void ruin(struct search *s, uint32_t seed)
{
    struct route__ctx *c = s->c;
    size_t want = 1 + (size_t)rng_below(&c->rng, RUIN_ROUTES);
    if (c->where[seed] >= 0) {
        size_t t = (size_t)c->where[seed];
        ruin_string(s, t, c->pos[seed]);
    }
    /* Routes through the seed's neighbours, nearest kinds first. */
    const uint32_t *nb = &c->nb[(size_t)seed * ROUTE__KINDS * ROUTE__NB];
    for (size_t i = 0; i < ROUTE__KINDS * ROUTE__NB && s->n_ruined < want;
         i++) {
        uint32_t v = nb[i];
        if (v == NONE || c->where[v] < 0)
            continue;
        size_t t = (size_t)c->where[v];
        if (s->ruin_mark[t] != s->iter)
            ruin_string(s, t, c->pos[v]);
    }
    /* Free sites near the seed join the removed ones. */
    add_cand(s, seed);
    uint32_t near[ROUTE__MAX_NEAR];
    for (size_t k = 0; k < ROUTE__KINDS; k++) {
        size_t n = route__grid_near(&c->grid[k], c->px, c->py, c->px[seed],
                                    c->py[seed], RUIN_FREE, NONE, near);
        for (size_t i = 0; i < n; i++)
            add_cand(s, near[i]);
    }
}

/* ---- recreate ----------------------------------------------------------- */

/* Keeps the m cheapest distinct places in best[0..*n), sorted by cost. */
static void keep_place(struct place *best, size_t *n, size_t m, struct place pl)
{
    if (*n == m && pl.cost >= best[*n - 1].cost)
        return;
    for (size_t i = 0; i < *n; i++) {
        if (best[i].truck == pl.truck && best[i].gap == pl.gap)
            return;
    }
    size_t i = *n < m ? (*n)++ : *n - 1;
    while (i > 0 && best[i - 1].cost > pl.cost) {
        best[i] = best[i - 1];
        i--;
    }
    best[i] = pl;
}

/* What x[0..k) adds to the planar length of a route, minus the gap. */
struct detour {
    double fx, fy, lx, ly; /* first and last site */
    double inner;          /* from first to last */
};

static double gap_cost(const struct route__ctx *c, size_t t, size_t g,
                       const struct detour *dt)
{
    const struct route__route *r = &c->r[t];
    double ax = g == 0 ? c->start_x[t] : c->px[r->seq[g - 1]];
    double ay = g == 0 ? c->start_y[t] : c->py[r->seq[g - 1]];
    double bx = g == r->len ? c->depot_x : c->px[r->seq[g]];
    double by = g == r->len ? c->depot_y : c->py[r->seq[g]];
    double old = r->len > 0 ? plane_dist(ax, ay, bx, by) : 0;
    return plane_dist(ax, ay, dt->fx, dt->fy) + dt->inner +
           plane_dist(dt->lx, dt->ly, bx, by) - old;
}

/*
 * The m cheapest places (planar detour) for x[0..k), which would sit near
 * site v: every gap of the routes ruined or filled in this iteration, the
 * gaps beside v's visited neighbours, and a few empty routes.
 */
static size_t cheap_places(struct search *s, uint32_t v, const uint32_t *x,
                           size_t k, struct place *best, size_t m)
{
    struct route__ctx *c = s->c;
    struct detour dt = {.fx = c->px[x[0]],
                        .fy = c->py[x[0]],
                        .lx = c->px[x[k - 1]],
                        .ly = c->py[x[k - 1]]};
    for (size_t i = 0; i + 1 < k; i++)
        dt.inner += plane_dist(c->px[x[i]], c->py[x[i]], c->px[x[i + 1]],
                               c->py[x[i + 1]]);
    size_t n = 0;
    for (size_t j = 0; j < s->n_ruined; j++) {
        size_t t = s->ruined[j];
        for (size_t g = 0; g <= c->r[t].len; g++)
            keep_place(best, &n, m,
                       (struct place){t, g, gap_cost(c, t, g, &dt)});
    }
    const uint32_t *nb = &c->nb[(size_t)v * ROUTE__KINDS * ROUTE__NB];
    for (size_t i = 0; i < ROUTE__KINDS * ROUTE__NB; i++) {
        uint32_t u = nb[i];
        if (u == NONE || c->where[u] < 0)
            continue;
        size_t t = (size_t)c->where[u];
        if (s->ruin_mark[t] == s->iter)
            continue;
        for (size_t g = c->pos[u]; g <= c->pos[u] + 1; g++)
            keep_place(best, &n, m,
                       (struct place){t, g, gap_cost(c, t, g, &dt)});
    }
    for (size_t j = 0; j < s->n_empty; j++) {
        size_t t = s->empty[j];
        if (c->r[t].len == 0 && s->ruin_mark[t] != s->iter)
            keep_place(best, &n, m,
                       (struct place){t, 0, gap_cost(c, t, 0, &dt)});
    }
    return n;
}

/*
 * The exact change of the plan's value if x[0..k) went before stop gap of
 * truck's route; -INFINITY if that is infeasible.
 */
static double insert_delta(struct route__ctx *c, size_t truck, size_t gap,
                           const uint32_t *x, size_t k)
{
    const struct route_problem *p = c->p;
    const struct route_truck *tr = &p->trucks[truck];
    const struct route__route *r = &c->r[truck];
    struct geo_latlng prev = route__point(c, truck, (ptrdiff_t)gap - 1);
    struct geo_latlng next = route__point(c, truck, (ptrdiff_t)gap);
    double dm = r->len > 0 ? -r->leg_m[gap] : 0;
    int64_t ds = r->len > 0 ? -r->leg_s[gap] : 0;
    double tv = 0;
    for (size_t i = 0; i <= k; i++) {
        struct geo_latlng a = i == 0 ? prev : p->sites[x[i - 1]].pos;
        struct geo_latlng b = i == k ? next : p->sites[x[i]].pos;
        double m;
        int64_t sec;
        route__leg(&p->params, a, b, &m, &sec);
        dm += m;
        ds += sec;
        if (i < k) {
            ds += route__visit_s(&p->sites[x[i]]);
            tv += p->sites[x[i]].task_value;
        }
    }
    int64_t fixed = r->fixed_s + ds;
    if (fixed > tr->time_s)
        return -INFINITY;
    struct route__sq *sq = c->tmp_sq;
    if (gap > 0)
        memcpy(sq, r->sq, gap * sizeof(*sq));
    for (size_t i = 0; i < k; i++)
        sq[gap + i] = c->site_sq[x[i]];
    if (r->len > gap)
        memcpy(sq + gap + k, r->sq + gap, (r->len - gap) * sizeof(*sq));
    struct route__qty q;
    if (!route__decode(tr, p->params.handle_s, sq, r->len + k, fixed, &c->dec,
                       NULL, NULL, &q))
        return -INFINITY;
    double value = p->params.bike_value * (double)q.dropped +
                   (r->task_value + tv) -
                   p->params.metre_cost * (r->metres + dm);
    return value - r->value;
}

struct choice {
    double delta;
    size_t truck, gap, k;
    uint32_t x[2];
};

static void try_places(struct search *s, uint32_t v, const uint32_t *x,
                       size_t k, size_t m, struct choice *best)
{
    struct place pl[PLACES_SINGLE];
    size_t n = cheap_places(s, v, x, k, pl, m);
    for (size_t i = 0; i < n; i++) {
        /*
         * Blinks: now and then a place is passed over, so the greedy
         * recreate does not always make the same choices.
         */
        if (rng_unit(&s->c->rng) < BLINK)
            continue;
        double d = insert_delta(s->c, pl[i].truck, pl[i].gap, x, k);
        /*
         * A first stop pays for the whole way home from the truck's start,
         * which may take several stops to earn back: the recreate lets it
         * start the route on credit, and the annealing judges the result.
         */
        if (s->c->r[pl[i].truck].len == 0)
            d += s->c->p->params.metre_cost * s->home_m[pl[i].truck];
        if (d > best->delta) {
            best->delta = d;
            best->truck = pl[i].truck;
            best->gap = pl[i].gap;
            best->k = k;
            best->x[0] = x[0];
            best->x[1] = k > 1 ? x[1] : NONE;
        }
    }
}

/*
 * Inserts v (and maybe a partner) where it gains most, if anywhere.
 * Returns true if it did.
 */
static bool recreate_one(struct search *s, uint32_t v)
{
    struct route__ctx *c = s->c;
    if (c->taken[v])
        return false;
    struct choice best = {.delta = s->min_gain};
    uint32_t x[2] = {v, NONE};
    try_places(s, v, x, 1, PLACES_SINGLE, &best);
    /* Pairs: a pick site before a drop site, both free. */
    uint8_t f = c->flags[v];
    enum route__kind other = (f & ROUTE__PICK)   ? ROUTE__K_DROP
                             : (f & ROUTE__DROP) ? ROUTE__K_PICK
                                                 : ROUTE__KINDS;
    if (other != ROUTE__KINDS) {
        const uint32_t *nb =
            &c->nb[((size_t)v * ROUTE__KINDS + other) * ROUTE__NB];
        size_t partners = 0;
        for (size_t i = 0; i < ROUTE__NB && partners < PARTNERS; i++) {
            uint32_t w = nb[i];
            if (w == NONE || c->taken[w])
                continue;
            partners++;
            x[0] = other == ROUTE__K_DROP ? v : w;
            x[1] = other == ROUTE__K_DROP ? w : v;
            try_places(s, v, x, 2, PLACES_PAIR, &best);
        }
    }
    if (best.k == 0)
        return false;
    touch(s, best.truck);
    bool ok = route__route_insert(c, best.truck, best.gap, best.x, best.k);
    ASSERT(ok);
    add_ruined(s, best.truck);
    return true;
}

static int cmp_prio(const void *a, const void *b)
{
    const struct prio *x = a, *y = b;
    if (x->value != y->value)
        return x->value > y->value ? -1 : 1;
    return x->site < y->site ? -1 : x->site > y->site;
}

static void recreate(struct search *s)
{
    struct route__ctx *c = s->c;
    uint32_t *v = s->cands;
    size_t n = s->n_cands;
    if (rng_unit(&c->rng) < 0.5) {
        for (size_t i = n; i > 1; i--) {
            size_t j = (size_t)rng_below(&c->rng, i);
            uint32_t t = v[i - 1];
            v[i - 1] = v[j];
            v[j] = t;
        }
    } else {
        /* Most valuable first: bikes it could move plus its task. */
        const struct route_problem *p = c->p;
        for (size_t i = 0; i < n; i++) {
            const struct route_site *st = &p->sites[v[i]];
            s->prio[i].site = v[i];
            s->prio[i].value =
                p->params.bike_value * (double)(st->supply + st->demand) +
                st->task_value;
        }
        qsort(s->prio, n, sizeof(*s->prio), cmp_prio);
        for (size_t i = 0; i < n; i++)
            v[i] = s->prio[i].site;
    }
    /* A few empty routes, from a random truck on. */
    s->n_empty = 0;
    size_t from = (size_t)rng_below(&c->rng, c->nt);
    for (size_t j = 0; j < c->nt && s->n_empty < EMPTY_ROUTES; j++) {
        size_t t = (from + j) % c->nt;
        if (c->r[t].len == 0)
            s->empty[s->n_empty++] = t;
    }
    /* Sites that did not fit may fit next to those inserted after them. */
    bool more = true;
    for (size_t pass = 0; pass < RECREATE_PASSES && more; pass++) {
        more = false;
        for (size_t i = 0; i < n; i++)
            more |= recreate_one(s, v[i]);
    }
}

/* ---- local search inside one route -------------------------------------- */

/*
 * Moves inside one route (removal, relocation within POLISH_WINDOW places,
 * 2-opt over at most POLISH_WINDOW stops), first improvement. A move is
 * evaluated exactly (order_value) only if a bound says it may gain: the planar
 * length change stands in for the metres, and the drops can grow at most to the
 * set's potential (the initial load plus the supply, or the demand, whichever
 * is less) and to what the handling time left allows.
 */
struct polish {
    struct route__ctx *c;
    size_t truck;
    uint32_t *a, *b; /* the current order and a candidate */
    size_t n;
    int64_t potential; /* most drops any order of these sites could make */
};

static void polish_stats(struct polish *po)
{
    const struct route_problem *p = po->c->p;
    int64_t supply = p->trucks[po->truck].load, demand = 0;
    for (size_t i = 0; i < po->n; i++) {
        supply += p->sites[po->a[i]].supply;
        demand += p->sites[po->a[i]].demand;
    }
    po->potential = MIN(supply, demand);
}

/* Planar position of point i of the current order (-1 start, n depot). */
static void polish_xy(const struct polish *po, ptrdiff_t i, double *x,
                      double *y)
{
    const struct route__ctx *c = po->c;
    if (i < 0) {
        *x = c->start_x[po->truck];
        *y = c->start_y[po->truck];
    } else if ((size_t)i >= po->n) {
        *x = c->depot_x;
        *y = c->depot_y;
    } else {
        *x = c->px[po->a[i]];
        *y = c->py[po->a[i]];
    }
}

static double polish_dist(const struct polish *po, ptrdiff_t i, ptrdiff_t j)
{
    double ax, ay, bx, by;
    polish_xy(po, i, &ax, &ay);
    polish_xy(po, j, &bx, &by);
    return plane_dist(ax, ay, bx, by);
}

/*
 * Whether a move that changes the planar length by dplane, the parking
 * and task time by dvisit and the task value by dtask may gain.
 */
static bool polish_may_gain(const struct polish *po, double dplane,
                            int64_t dvisit, double dtask)
{
    const struct route_problem *p = po->c->p;
    const struct route_truck *t = &p->trucks[po->truck];
    const struct route__route *r = &po->c->r[po->truck];
    double dm = dplane * p->params.detour;
    int64_t most = po->potential;
    if (p->params.handle_s > 0) {
        int64_t fixed =
            r->fixed_s + dvisit + (int64_t)floor(dm / p->params.speed_mps);
        int64_t handle = (t->time_s - fixed) / p->params.handle_s;
        most = MIN(most, (handle + t->load) / 2);
    }
    double gain = p->params.bike_value * (double)(most - r->q.dropped) + dtask -
                  p->params.metre_cost * dm;
    return gain > 1e-9;
}

/*
 * The exact value of truck's route in the order seq[0..n) of some of its
 * current sites, or -INFINITY if infeasible: legs the current order also
 * has are reused, the others computed, and all summed in order as
 * route__route_refresh does, so taking the order gives this very value.
 */
static double order_value(struct route__ctx *c, size_t truck,
                          const uint32_t *seq, size_t n)
{
    const struct route_problem *p = c->p;
    const struct route__route *r = &c->r[truck];
    if (n == 0)
        return 0;
    double metres = 0, tv = 0;
    int64_t fixed = 0;
    ptrdiff_t at = -1; /* where the previous point is in the current order */
    for (size_t k = 0; k <= n; k++) {
        ptrdiff_t next = k < n ? (ptrdiff_t)c->pos[seq[k]] : (ptrdiff_t)r->len;
        if (next == at + 1) {
            metres += r->leg_m[next];
            fixed += r->leg_s[next];
        } else {
            double m;
            int64_t secs;
            route__leg(&p->params, route__point(c, truck, at),
                       route__point(c, truck, next), &m, &secs);
            metres += m;
            fixed += secs;
        }
        if (k < n) {
            const struct route_site *s = &p->sites[seq[k]];
            fixed += route__visit_s(s);
            tv += s->task_value;
            c->tmp_sq[k] = r->sq[next];
        }
        at = next;
    }
    struct route__qty q;
    if (!route__decode(&p->trucks[truck], p->params.handle_s, c->tmp_sq, n,
                       fixed, &c->dec, NULL, NULL, &q))
        return -INFINITY;
    return p->params.bike_value * (double)q.dropped + tv -
           p->params.metre_cost * metres;
}

/* Tries the order b[0..n); takes it if it is better. */
static bool polish_try(struct polish *po, size_t n)
{
    struct route__ctx *c = po->c;
    double before = c->r[po->truck].value;
    if (!(order_value(c, po->truck, po->b, n) > before + 1e-9))
        return false;
    bool ok = route__route_set(c, po->truck, po->b, n);
    if (NEVER(!ok || !(c->r[po->truck].value > before))) {
        /* The value promised and the one found differ: keep the old. */
        ok = route__route_set(c, po->truck, po->a, po->n);
        ASSERT(ok);
        return false;
    }
    memcpy(po->a, po->b, n * sizeof(*po->a));
    po->n = n;
    polish_stats(po);
    return true;
}

static bool polish_remove(struct polish *po)
{
    const struct route_problem *p = po->c->p;
    bool moved = false;
    for (size_t i = 0; i < po->n; i++) {
        ptrdiff_t k = (ptrdiff_t)i;
        double dplane = polish_dist(po, k - 1, k + 1) -
                        polish_dist(po, k - 1, k) - polish_dist(po, k, k + 1);
        const struct route_site *s = &p->sites[po->a[i]];
        if (!polish_may_gain(po, dplane, -route__visit_s(s), -s->task_value))
            continue;
        memcpy(po->b, po->a, i * sizeof(*po->b));
        memcpy(po->b + i, po->a + i + 1, (po->n - i - 1) * sizeof(*po->b));
        if (polish_try(po, po->n - 1)) {
            moved = true;
            i--;
        }
    }
    return moved;
}

static bool polish_relocate(struct polish *po)
{
    bool moved = false;
    for (size_t i = 0; i < po->n; i++) {
        ptrdiff_t k = (ptrdiff_t)i, n = (ptrdiff_t)po->n;
        double out = polish_dist(po, k - 1, k + 1) - polish_dist(po, k - 1, k) -
                     polish_dist(po, k, k + 1);
        ptrdiff_t lo = MAX(k - (ptrdiff_t)POLISH_WINDOW, (ptrdiff_t)0);
        ptrdiff_t hi = MIN(k + (ptrdiff_t)POLISH_WINDOW, n - 1);
        for (ptrdiff_t g = lo; g <= hi; g++) {
            if (g == k)
                continue;
            /*
             * Stop i moves to position g: between the stops that will be
             * at g - 1 and g once it is out of the order.
             */
            ptrdiff_t u = g <= k ? g - 1 : g;
            ptrdiff_t w = g < k ? g : g + 1;
            double in = polish_dist(po, u, k) + polish_dist(po, k, w) -
                        polish_dist(po, u, w);
            if (!polish_may_gain(po, out + in, 0, 0))
                continue;
            uint32_t x = po->a[i];
            size_t o = 0;
            for (size_t j = 0; j < po->n; j++) {
                if (j == i)
                    continue;
                if (o == (size_t)g)
                    po->b[o++] = x;
                po->b[o++] = po->a[j];
            }
            if (o == (size_t)g)
                po->b[o++] = x;
            if (polish_try(po, po->n)) {
                moved = true;
                break;
            }
        }
    }
    return moved;
}

static bool polish_reverse(struct polish *po)
{
    bool moved = false;
    for (size_t i = 0; i + 1 < po->n; i++) {
        size_t hi = MIN(i + POLISH_WINDOW, po->n - 1);
        for (size_t j = i + 1; j <= hi; j++) {
            ptrdiff_t a = (ptrdiff_t)i, b = (ptrdiff_t)j;
            double dplane =
                polish_dist(po, a - 1, b) + polish_dist(po, a, b + 1) -
                polish_dist(po, a - 1, a) - polish_dist(po, b, b + 1);
            if (!polish_may_gain(po, dplane, 0, 0))
                continue;
            memcpy(po->b, po->a, po->n * sizeof(*po->b));
            for (size_t k = 0; k <= j - i; k++)
                po->b[i + k] = po->a[j - k];
            if (polish_try(po, po->n))
                moved = true;
        }
    }
    return moved;
}

/* Improves truck's route by moves inside it; never makes it worse. */
static void polish_route(struct route__ctx *c, size_t truck, size_t passes)
{
    struct route__route *r = &c->r[truck];
    if (r->len == 0)
        return;
    struct polish po = {.c = c, .truck = truck, .n = r->len};
    po.a = xmalloc(r->len * sizeof(*po.a));
    po.b = xmalloc(r->len * sizeof(*po.b));
    memcpy(po.a, r->seq, r->len * sizeof(*po.a));
    polish_stats(&po);
    for (size_t pass = 0; pass < passes && po.n > 0; pass++) {
        bool moved = polish_remove(&po);
        moved |= polish_relocate(&po);
        moved |= polish_reverse(&po);
        if (!moved)
            break;
    }
    xfree(po.a);
    xfree(po.b);
}

/* ---- the loop ----------------------------------------------------------- */

static void search_init(struct search *s, struct route__ctx *c)
{
    memset(s, 0, sizeof(*s));
    s->c = c;
    size_t nt = MAX(c->nt, (size_t)1), n = MAX(c->n, (size_t)1);
    s->bak = xcalloc(nt, sizeof(*s->bak));
    s->touch_mark = xcalloc(nt, sizeof(*s->touch_mark));
    s->touched = xmalloc(nt * sizeof(*s->touched));
    s->best_seq = xcalloc(nt, sizeof(*s->best_seq));
    s->best_len = xcalloc(nt, sizeof(*s->best_len));
    s->best_cap = xcalloc(nt, sizeof(*s->best_cap));
    s->dirty = xmalloc(nt);
    memset(s->dirty, 1, nt);
    s->cands = xmalloc(n * sizeof(*s->cands));
    s->cand_mark = xcalloc(n, sizeof(*s->cand_mark));
    s->ruin_mark = xcalloc(nt, sizeof(*s->ruin_mark));
    s->ruined = xmalloc(nt * sizeof(*s->ruined));
    s->gone = xmalloc(n + 1);
    s->prio = xmalloc(n * sizeof(*s->prio));
    s->home_m = xmalloc(nt * sizeof(*s->home_m));
    for (size_t t = 0; t < c->nt; t++) {
        int64_t secs;
        route__leg(&c->p->params, c->p->trucks[t].start, c->p->depot,
                   &s->home_m[t], &secs);
    }
    s->min_gain = 1e-9;
    s->cur_value = route__total(c);
    save_best(s);
}

static void search_release(struct search *s)
{
    for (size_t t = 0; t < s->c->nt; t++) {
        xfree(s->bak[t].seq);
        xfree(s->bak[t].sq);
        xfree(s->bak[t].leg_m);
        xfree(s->bak[t].leg_s);
        xfree(s->best_seq[t]);
    }
    xfree(s->bak);
    xfree(s->touch_mark);
    xfree(s->touched);
    xfree(s->best_seq);
    xfree(s->best_len);
    xfree(s->best_cap);
    xfree(s->dirty);
    xfree(s->cands);
    xfree(s->cand_mark);
    xfree(s->ruin_mark);
    xfree(s->ruined);
    xfree(s->gone);
    xfree(s->prio);
    xfree(s->home_m);
}

/* How far the search is, 0..1: by iterations if capped, else by time. */
static double progress(const struct route__ctx *c, uint64_t iter,
                       uint64_t max_iters, int64_t t0)
{
    if (max_iters > 0)
        return (double)iter / (double)max_iters;
    double span = (double)c->deadline_ns - (double)t0;
    if (span <= 0)
        return 1.0;
    double f = ((double)c->clock(c->clock_ctx) - (double)t0) / span;
    return MIN(MAX(f, 0.0), 1.0);
}

void route__search(struct route__ctx *c, uint64_t max_iters,
                   struct route_stats *stats)
{
    if (c->nt == 0 || c->n_cand == 0)
        return;
    struct search s;
    search_init(&s, c);
    int64_t t0 = c->clock ? c->clock(c->clock_ctx) : 0;
    /* The loop leaves a little of the time for the polish. */
    double span = (double)c->deadline_ns - (double)t0;
    int64_t stop_ns = span <= 0      ? t0
                      : span >= 9e18 ? INT64_MAX
                                     : t0 + (int64_t)(span * SEARCH_SHARE);
    for (s.iter = 1; max_iters == 0 || s.iter <= max_iters; s.iter++) {
        if (route__late(c))
            break;
        if (c->clock && c->clock(c->clock_ctx) >= stop_ns) {
            c->hit_deadline = true;
            break;
        }
        double temp =
            c->scale * TEMP_START *
            pow(TEMP_END / TEMP_START, progress(c, s.iter - 1, max_iters, t0));
        s.n_touched = 0;
        s.n_ruined = 0;
        s.n_cands = 0;
        s.cand_gen++;
        s.min_gain = 1e-9 - MIN_GAIN_TEMP * temp;
        ruin(&s, pick_seed(c));
        recreate(&s);
        double value = route__total(c);
        double u = rng_unit(&c->rng);
        double threshold = s.cur_value + temp * log(MAX(u, 1e-300));
        /* Routes that come close get a pass of the local search. */
        if (value >= threshold - POLISH_MARGIN * c->scale) {
            for (size_t i = 0; i < s.n_ruined; i++)
                polish_route(c, s.ruined[i], 1);
            value = route__total(c);
        }
        stats->iters = s.iter;
        if (value >= threshold) {
            s.cur_value = value;
            if (value > s.best_value + 1e-9) {
                save_best(&s);
                stats->improvements++;
                stats->best_iter = s.iter;
            }
        } else {
            undo(&s);
        }
    }
    /*
     * Back to the best plan (every route emptied first, since sites may
     * have moved between routes), then polish each route.
     */
    for (size_t t = 0; t < c->nt; t++)
        route__route_set(c, t, NULL, 0);
    for (size_t t = 0; t < c->nt; t++) {
        bool ok = route__route_set(c, t, s.best_seq[t], s.best_len[t]);
        ASSERT(ok);
    }
    for (size_t t = 0; t < c->nt && !route__late(c); t++)
        polish_route(c, t, POLISH_PASSES);
    /* A route worth less than staying put is dropped. */
    for (size_t t = 0; t < c->nt; t++) {
        if (c->r[t].value < 0)
            route__route_set(c, t, NULL, 0);
    }
    search_release(&s);
}
