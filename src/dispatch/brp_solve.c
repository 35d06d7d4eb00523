/* SPDX-License-Identifier: MIT */
/*
 * The BRP solver driver: a ruin-and-recreate search in the style of SISR
 * (Christiaens & Vanden Berghe 2020: remove strings of nearby stations,
 * reinsert them greedily with blinks) under simulated annealing, with the
 * local search of brp_ls.c on every candidate. Routes whose load span
 * exceeds Q are allowed at an adaptive penalty when the number of routes is
 * limited (the 1-PDTSP), where feasibility itself is hard.
 */
#include "base/sys.h"
#include "dispatch/brp.h"
#include "dispatch/dispatch_int.h"
#include "base/rng.h"

#include <math.h>

/* Tuning (docs/internals/dispatch.md has the measurements). */
#define K_NEAR 40         /* neighbours per node for moves and strings */
#define AVG_REMOVED 10.0  /* SISR c-bar: mean stations removed */
#define MAX_STRING_LEN 10 /* SISR L-max */
#define BLINK 0.01        /* chance to skip a position on reinsertion */
#define T_START 0.3       /* start temperature, times the mean arc cost */
#define T_END 0.01        /* end temperature, times the mean arc cost */
#define BUDGET_EVERY 8    /* iterations between budget callbacks */
#define PENALTY_EVERY 100 /* iterations between penalty updates */
#define FEASIBLE_TARGET 0.5
#define RESTART_AFTER 1000 /* iterations without a feasible candidate */
/* The load-aware construction: at most this many steps over its tries. */
#define LOAD_GREEDY_WORK 50000000.0
#define LOAD_GREEDY_TRIES 64

struct solver {
    const struct brp_instance *in;
    const struct brp_params *prm;
    struct rng rng;
    size_t n;
    bool limited;   /* max_routes set: no spare route */
    bool penalized; /* routes may exceed Q at a penalty during the search */
    uint32_t *near;
    size_t k_near;
    struct brp__seq work;
    struct brp__ls ls;
    /* current and best sequences (plain copies) */
    uint32_t *cur, *best;
    size_t cur_len, best_len;
    int64_t cur_cost, cur_excess, best_cost;
    bool has_best;
    int64_t weight;
    uint8_t *gone;
    uint32_t *removed;
    double *key;
    size_t n_removed;
    struct brp_stats st;
    double time_used; /* the budget callback's last answer */
};

/* ---- setup ------------------------------------------------------------- */

static void near_lists(struct solver *sv)
{
    const struct brp_instance *in = sv->in;
    size_t n = sv->n, k = MIN((size_t)K_NEAR, n - 1);
    sv->k_near = k;
    sv->near = xcalloc(n * k, sizeof(*sv->near));
    uint32_t *cand = xcalloc(n, sizeof(*cand));
    int64_t *d = xcalloc(n, sizeof(*d));
    for (size_t u = 0; u < n; u++) {
        size_t m = 0;
        for (size_t v = 0; v < n; v++) {
            if (v == u)
                continue;
            cand[m++] = (uint32_t)v;
            d[v] = (int64_t)brp__c(in, u, v) + brp__c(in, v, u);
        }
        /* Partial selection sort of the k nearest, ties by index. */
        for (size_t i = 0; i < k; i++) {
            size_t best = i;
            for (size_t j = i + 1; j < m; j++) {
                if (d[cand[j]] < d[cand[best]] ||
                    (d[cand[j]] == d[cand[best]] && cand[j] < cand[best]))
                    best = j;
            }
            uint32_t t = cand[i];
            cand[i] = cand[best];
            cand[best] = t;
        }
        /* Stations always see the depot: routes start and end there. */
        bool has_depot = u == 0;
        for (size_t i = 0; i < k; i++)
            has_depot = has_depot || cand[i] == 0;
        if (!has_depot)
            cand[k - 1] = 0;
        memcpy(sv->near + u * k, cand, k * sizeof(*cand));
    }
    xfree(cand);
    xfree(d);
}

/* The share of the budget used, asking the callback every few iterations. */
static double budget_used(struct solver *sv, uint64_t iter)
{
    double f = 0;
    if (sv->prm->max_iters)
        f = (double)iter / (double)sv->prm->max_iters;
    if (sv->prm->budget && iter % BUDGET_EVERY == 0)
        sv->time_used = sv->prm->budget(sv->prm->budget_ctx);
    return MAX(f, sv->time_used);
}

/* ---- ruin and recreate ------------------------------------------------- */

static void mark(struct solver *sv, size_t t)
{
    const struct brp__seq *s = &sv->work;
    uint32_t v = s->x[t];
    if (v == 0 || sv->gone[v])
        return;
    sv->gone[v] = 1;
    sv->removed[sv->n_removed++] = v;
    /* Its neighbours get new arcs: worth a local search look. */
    sv->ls.active[v] = 1;
    sv->ls.active[s->x[t - 1]] = 1;
    sv->ls.active[s->x[t + 1]] = 1;
}

static void activate_all(struct solver *sv)
{
    memset(sv->ls.active, 1, sv->n);
}

/* SISR string removal around a random seed station. */
static void ruin(struct solver *sv)
{
    struct brp__seq *s = &sv->work;
    size_t stations = sv->n - 1;
    size_t routes = MAX(s->routes, (size_t)1);
    double avg_len = (double)stations / (double)routes;
    double lmax = MIN((double)MAX_STRING_LEN, avg_len);
    double cbar = MIN(AVG_REMOVED, (double)stations / 3.0 + 1);
    double kmax = 4.0 * cbar / (1.0 + lmax) - 1.0;
    size_t strings = (size_t)floor(rng_range(&sv->rng, 1.0, kmax + 1.0));
    strings = MAX(strings, (size_t)1);
    uint32_t seed = 1 + (uint32_t)rng_below(&sv->rng, stations);
    sv->n_removed = 0;
    for (size_t i = 0; i <= sv->k_near && strings > 0; i++) {
        uint32_t v =
            i == 0 ? seed : sv->near[(size_t)seed * sv->k_near + i - 1];
        if (v == 0 || sv->gone[v])
            continue;
        size_t t = s->pos[v];
        size_t rs = s->pd[t] + 1, re = s->nd[t] - 1;
        size_t rlen = re - rs + 1;
        size_t cap = MIN((size_t)lmax, rlen);
        size_t l = 1 + (size_t)rng_below(&sv->rng, MAX(cap, (size_t)1));
        size_t lo = t + 1 >= rs + l ? t + 1 - l : rs;
        size_t hi = MIN(t, re + 1 - l);
        size_t st = lo + (size_t)rng_below(&sv->rng, hi - lo + 1);
        for (size_t k = st; k < st + l; k++)
            mark(sv, k);
        strings--;
    }
    brp__seq_remove(s, sv->gone);
}

/* Orders the removed stations: random, big demands, far or close first. */
static void sort_removed(struct solver *sv)
{
    const struct brp_instance *in = sv->in;
    uint64_t r = rng_below(&sv->rng, 11);
    for (size_t i = 0; i < sv->n_removed; i++) {
        uint32_t v = sv->removed[i];
        double dep = (double)brp__c(in, 0, v) + brp__c(in, v, 0);
        if (r < 4)
            sv->key[i] = rng_unit(&sv->rng);
        else if (r < 8)
            sv->key[i] = -(double)(in->q[v] < 0 ? -in->q[v] : in->q[v]) +
                         0.5 * rng_unit(&sv->rng);
        else if (r < 10)
            sv->key[i] = -dep;
        else
            sv->key[i] = dep;
    }
    for (size_t i = 1; i < sv->n_removed; i++) {
        uint32_t v = sv->removed[i];
        double k = sv->key[i];
        size_t j = i;
        while (j > 0 && sv->key[j - 1] > k) {
            sv->key[j] = sv->key[j - 1];
            sv->removed[j] = sv->removed[j - 1];
            j--;
        }
        sv->key[j] = k;
        sv->removed[j] = v;
    }
}

/* Greedy reinsertion with blinks, at cost + weight * excess. */
static void recreate(struct solver *sv, bool strict)
{
    struct brp__seq *s = &sv->work;
    sort_removed(sv);
    for (size_t i = 0; i < sv->n_removed; i++) {
        uint32_t v = sv->removed[i];
        size_t best_gap = SIZE_MAX;
        int64_t best_f = INT64_MAX;
        for (size_t g = 0; g + 1 < s->len; g++) {
            if (rng_unit(&sv->rng) < BLINK)
                continue;
            int64_t dc, de;
            brp__seq_insert_delta(s, g, v, &dc, &de);
            if (strict && de > 0)
                continue;
            int64_t f = dc + sv->weight * de;
            if (f < best_f) {
                best_f = f;
                best_gap = g;
            }
        }
        if (best_gap == SIZE_MAX) {
            /* Everything blinked or was infeasible: the spare route. */
            best_gap = s->len - 2;
        }
        brp__seq_insert(s, best_gap, v);
        sv->gone[v] = 0;
        sv->ls.active[v] = 1;
        sv->ls.active[s->x[best_gap]] = 1;
        sv->ls.active[s->x[best_gap + 2]] = 1;
    }
    sv->n_removed = 0;
}

/* ---- bookkeeping ------------------------------------------------------- */

static void save(const struct brp__seq *s, uint32_t *dst, size_t *len)
{
    memcpy(dst, s->x, s->len * sizeof(*dst));
    *len = s->len;
}

/*
 * Records the work sequence as the best solution. It has just been through
 * the local search, and a feasible local optimum of cost + weight * excess
 * is also one of cost alone among feasible moves, so there is nothing to
 * polish.
 */
static void new_best(struct solver *sv, uint64_t iter)
{
    struct brp__seq *s = &sv->work;
    save(s, sv->best, &sv->best_len);
    sv->best_cost = s->cost;
    sv->has_best = true;
    sv->st.best_iter = iter;
    if (sv->prm->on_improve)
        sv->prm->on_improve(sv->prm->improve_ctx, s->cost, iter);
}

/* Improves the work sequence from its active nodes. */
static void local_search(struct solver *sv)
{
    sv->ls.strict = !sv->penalized;
    brp__ls_run(&sv->ls);
    sv->st.ls_runs++;
}

/* The initial solution: every station inserted into empty routes. */
static void construct(struct solver *sv)
{
    size_t len = 0;
    uint32_t *x = sv->cur;
    x[len++] = 0;
    for (size_t r = 1; sv->limited && r < sv->in->max_routes; r++)
        x[len++] = 0;
    x[len++] = 0;
    brp__seq_load(&sv->work, x, len);
    sv->n_removed = 0;
    for (uint32_t v = 1; v < sv->n; v++) {
        sv->gone[v] = 1;
        sv->removed[sv->n_removed++] = v;
    }
    recreate(sv, !sv->penalized);
    activate_all(sv);
}

/*
 * One try of the load-aware greedy into x (max_routes + 1 depots): a route
 * starts with a random load and goes on to the station, among those that
 * keep its load in [0, Q], with the least arc cost (randomised by up to
 * 30 %) less bonus * |q| (big demands are the hard ones to place late);
 * with none left it ends and the next begins. False if the routes ran out.
 */
static bool load_greedy_try(struct solver *sv, double bonus, uint32_t *x,
                            size_t *len)
{
    const struct brp_instance *in = sv->in;
    uint8_t *done = sv->gone; /* all 0 between uses */
    size_t left = sv->n - 1, routes = 1, m = 0;
    int64_t load = (int64_t)rng_below(&sv->rng, (uint64_t)in->capacity + 1);
    uint32_t at = 0;
    x[m++] = 0;
    while (left > 0) {
        uint32_t pick = 0;
        double pick_score = INFINITY;
        for (uint32_t v = 1; v < sv->n; v++) {
            int64_t after = load + in->q[v];
            if (done[v] || after < 0 || after > in->capacity)
                continue;
            double score =
                (double)brp__c(in, at, v) * (1.0 + 0.3 * rng_unit(&sv->rng)) -
                bonus * fabs((double)in->q[v]);
            if (score < pick_score) {
                pick_score = score;
                pick = v;
            }
        }
        if (pick == 0) {
            if (at == 0 || routes == in->max_routes)
                break;
            x[m++] = 0; /* this route is stuck: the next one begins */
            routes++;
            at = 0;
            load = (int64_t)rng_below(&sv->rng, (uint64_t)in->capacity + 1);
            continue;
        }
        done[pick] = 1;
        x[m++] = pick;
        load += in->q[pick];
        at = pick;
        left--;
    }
    memset(done, 0, sv->n);
    for (; routes <= in->max_routes; routes++)
        x[m++] = 0;
    *len = m;
    return left == 0;
}

/*
 * With few routes the insertion greedy can leave every order with excess
 * (a tight Q): tries the load-aware greedy, and loads the first feasible
 * sequence it finds. True if it did.
 */
static bool construct_by_load(struct solver *sv)
{
    const struct brp_instance *in = sv->in;
    double n = (double)sv->n, mean_arc = 0;
    for (size_t v = 1; v < sv->n; v++)
        mean_arc += (double)brp__c(in, 0, v) / (n - 1);
    size_t tries = (size_t)MIN((double)LOAD_GREEDY_TRIES,
                               MAX(1.0, LOAD_GREEDY_WORK / (n * n)));
    static const double scale[] = {0.5, 1, 2, 4};
    for (size_t i = 0; i < tries; i++) {
        double bonus = scale[i % ARRAY_LEN(scale)] * mean_arc / in->capacity;
        size_t len;
        if (load_greedy_try(sv, bonus, sv->cur, &len)) {
            brp__seq_load(&sv->work, sv->cur, len);
            sv->st.load_greedy_tries = i + 1;
            return true;
        }
    }
    sv->st.load_greedy_tries = tries;
    return false;
}

static void export(struct solver *sv, struct brp_solution *out)
{
    const struct brp_instance *in = sv->in;
    brp__seq_load(&sv->work, sv->best, sv->best_len);
    const struct brp__seq *s = &sv->work;
    brp_solution_init(out);
    out->routes = xcalloc(MAX(s->routes, (size_t)1), sizeof(*out->routes));
    for (size_t t = 1; t < s->len; t++) {
        if (s->x[t] == 0 || s->x[t - 1] != 0)
            continue;
        size_t e = s->nd[t];
        struct brp_route *r = &out->routes[out->n_routes++];
        r->len = e - t;
        r->stations = xcalloc(r->len, sizeof(*r->stations));
        int32_t lo = 0;
        int64_t cost = brp__c(in, 0, s->x[t]) + brp__c(in, s->x[e - 1], 0);
        for (size_t k = t; k < e; k++) {
            r->stations[k - t] = s->x[k];
            lo = MIN(lo, s->P[k]);
            if (k + 1 < e)
                cost += brp__c(in, s->x[k], s->x[k + 1]);
        }
        r->start_load = -lo;
        r->cost = cost;
        out->cost += cost;
    }
}

static void solver_free(struct solver *sv)
{
    xfree(sv->near);
    xfree(sv->cur);
    xfree(sv->best);
    xfree(sv->gone);
    xfree(sv->removed);
    xfree(sv->key);
    xfree(sv->ls.order);
    xfree(sv->ls.active);
    brp__seq_release(&sv->work);
}

/* ---- the search -------------------------------------------------------- */

static void search(struct solver *sv)
{
    struct brp__seq *s = &sv->work;
    construct(sv);
    local_search(sv);
    if (s->excess > 0 && sv->limited && construct_by_load(sv)) {
        /* Feasible: a strict local search keeps it so. */
        activate_all(sv);
        sv->ls.strict = true;
        brp__ls_run(&sv->ls);
        sv->st.ls_runs++;
    }
    if (s->excess == 0)
        new_best(sv, 0);
    save(s, sv->cur, &sv->cur_len);
    sv->cur_cost = s->cost;
    sv->cur_excess = s->excess;
    double arc = (double)MAX(s->cost, (int64_t)1) / (double)(sv->n + s->routes);
    double t0 = T_START * arc, t1 = T_END * arc;
    size_t feasible = 0;
    uint64_t iter = 0, last_feasible = 0;
    for (;;) {
        double frac = budget_used(sv, iter);
        if (frac >= 1)
            break;
        iter++;
        double temp = t0 * pow(t1 / t0, frac);
        brp__seq_load(s, sv->cur, sv->cur_len);
        ruin(sv);
        recreate(sv, !sv->penalized);
        local_search(sv);
        if (s->excess == 0) {
            feasible++;
            last_feasible = iter;
            if (!sv->has_best || s->cost < sv->best_cost)
                new_best(sv, iter);
        }
        int64_t f_new = s->cost + sv->weight * s->excess;
        int64_t f_cur = sv->cur_cost + sv->weight * sv->cur_excess;
        double u = 1.0 - rng_unit(&sv->rng);
        if ((double)f_new < (double)f_cur - temp * log(u)) {
            save(s, sv->cur, &sv->cur_len);
            sv->cur_cost = s->cost;
            sv->cur_excess = s->excess;
            sv->st.accepted++;
        }
        if (sv->penalized && sv->has_best &&
            iter - last_feasible >= RESTART_AFTER) {
            /* Lost in excess (its plateaus are wide): back to the best. */
            memcpy(sv->cur, sv->best, sv->best_len * sizeof(*sv->cur));
            sv->cur_len = sv->best_len;
            sv->cur_cost = sv->best_cost;
            sv->cur_excess = 0;
            last_feasible = iter;
            sv->st.restarts++;
        }
        if (sv->penalized && iter % PENALTY_EVERY == 0) {
            double share = (double)feasible / PENALTY_EVERY;
            if (share < FEASIBLE_TARGET)
                sv->weight = sv->weight + sv->weight / 4 + 1;
            else
                sv->weight = MAX(sv->weight - sv->weight / 8, (int64_t)1);
            sv->weight = MIN(sv->weight, (int64_t)BRP_MAX_COST);
            sv->ls.weight = sv->weight;
            feasible = 0;
        }
    }
    sv->st.iters = iter;
    sv->st.ls_moves = sv->ls.moves;
}

enum err brp_solve(const struct brp_instance *in,
                   const struct brp_params *params, struct brp_solution *out,
                   struct brp_stats *stats, struct err_detail *d)
{
    if (!params->max_iters && !params->budget)
        return err_set(d, ERR_INVALID, "params",
                       "a solve needs max_iters or a budget callback");
    if (in->n == 1) {
        brp_solution_init(out);
        if (stats)
            memset(stats, 0, sizeof(*stats));
        return ERR_OK;
    }
    struct solver sv = {0};
    sv.in = in;
    sv.prm = params;
    sv.n = in->n;
    /* A limit of n - 1 routes or more limits nothing. */
    sv.limited = in->max_routes != 0 && in->max_routes < in->n - 1;
    sv.penalized = sv.limited;
    rng_seed(&sv.rng, params->seed);
    near_lists(&sv);
    brp__seq_init(&sv.work, in, !sv.limited);
    size_t cap = sv.work.cap;
    sv.cur = xcalloc(cap, sizeof(*sv.cur));
    sv.best = xcalloc(cap, sizeof(*sv.best));
    sv.gone = xcalloc(sv.n, 1);
    sv.removed = xcalloc(sv.n, sizeof(*sv.removed));
    sv.key = xcalloc(sv.n, sizeof(*sv.key));
    /* Start near the mean arc cost per unit of excess. */
    int64_t total = 0;
    for (size_t v = 1; v < sv.n; v++)
        total += brp__c(in, 0, v);
    sv.weight = MAX(total / (int64_t)(sv.n - 1), (int64_t)1);
    sv.ls = (struct brp__ls){
        &sv.work,         sv.near, sv.k_near,
        sv.weight,        false,   xcalloc(sv.n, sizeof(uint32_t)),
        xcalloc(sv.n, 1), &sv.rng, 0};
    search(&sv);
    enum err e = ERR_OK;
    if (!sv.has_best) {
        e = err_set(d, ERR_NOT_FOUND, "max_routes",
                    "no solution with at most %zu routes was found",
                    in->max_routes);
    } else {
        export(&sv, out);
        if (stats)
            *stats = sv.st;
    }
    solver_free(&sv);
    return e;
}
