/* SPDX-License-Identifier: MIT */
/*
 * The truck planner's model: parameter defaults, problem validation, the
 * travel model, the exact quantity optimiser for a fixed order of stops,
 * the independent feasibility checker and plan memory. The search lives in
 * route_solve.c, route_build.c and route_search.c.
 */
#include "base/sys.h"
#include "dispatch/route.h"
#include "dispatch/route_int.h"

#include <math.h>
#include <stdio.h>

void route_params_default(struct route_params *p)
{
    p->detour = 1.3;
    p->speed_mps = 6.0;
    p->handle_s = 60;
    p->bike_value = 100.0;
    p->metre_cost = 0.02;
}

/* ---- validation --------------------------------------------------------- */

static bool in_range(double v, double lo, double hi)
{
    return isfinite(v) && v >= lo && v <= hi;
}

static enum err bad_int(struct err_detail *d, const char *field, int64_t v,
                        int64_t max)
{
    return err_set(d, ERR_INVALID, field,
                   "%s %" PRId64 " is not in 0..%" PRId64, field, v, max);
}

static enum err check_params(const struct route_params *pp,
                             struct err_detail *d)
{
    if (!in_range(pp->detour, 1.0, ROUTE_MAX_DETOUR))
        return err_set(d, ERR_INVALID, "params.detour",
                       "detour %g is not in 1..%g", pp->detour,
                       ROUTE_MAX_DETOUR);
    if (!in_range(pp->speed_mps, ROUTE_MIN_SPEED_MPS, ROUTE_MAX_SPEED_MPS))
        return err_set(d, ERR_INVALID, "params.speed_mps",
                       "speed %g m/s is not in %g..%g", pp->speed_mps,
                       ROUTE_MIN_SPEED_MPS, ROUTE_MAX_SPEED_MPS);
    if (pp->handle_s < 0 || pp->handle_s > ROUTE_MAX_HANDLE_S)
        return bad_int(d, "params.handle_s", pp->handle_s, ROUTE_MAX_HANDLE_S);
    if (!in_range(pp->bike_value, 0.0, ROUTE_MAX_VALUE))
        return err_set(d, ERR_INVALID, "params.bike_value",
                       "bike value %g is not in 0..%g", pp->bike_value,
                       ROUTE_MAX_VALUE);
    if (!in_range(pp->metre_cost, 0.0, ROUTE_MAX_METRE_COST))
        return err_set(d, ERR_INVALID, "params.metre_cost",
                       "metre cost %g is not in 0..%g", pp->metre_cost,
                       ROUTE_MAX_METRE_COST);
    return ERR_OK;
}

/* Checks one int field of element i of an array named arr. */
static enum err check_count(struct err_detail *d, const char *arr, size_t i,
                            const char *name, int64_t v, int64_t max)
{
    if (v >= 0 && v <= max)
        return ERR_OK;
    char field[64];
    snprintf(field, sizeof(field), "%s[%zu].%s", arr, i, name);
    return err_set(d, ERR_INVALID, field,
                   "%s %" PRId64 " is not in 0..%" PRId64, field, v, max);
}

static enum err check_site(const struct route_site *s, size_t i,
                           struct err_detail *d)
{
    char field[64];
    if (!geo_latlng_is_valid(s->pos)) {
        snprintf(field, sizeof(field), "sites[%zu].pos", i);
        return err_set(d, ERR_INVALID, field, "site %zu has bad coordinates",
                       i);
    }
    enum err e =
        check_count(d, "sites", i, "supply", s->supply, ROUTE_MAX_BIKES);
    if (e == ERR_OK)
        e = check_count(d, "sites", i, "demand", s->demand, ROUTE_MAX_BIKES);
    if (e == ERR_OK)
        e = check_count(d, "sites", i, "service_s", s->service_s,
                        ROUTE_MAX_TIME_S);
    if (e == ERR_OK)
        e = check_count(d, "sites", i, "task_load", s->task_load,
                        ROUTE_MAX_BIKES);
    if (e == ERR_OK)
        e = check_count(d, "sites", i, "task_s", s->task_s, ROUTE_MAX_TIME_S);
    if (e != ERR_OK)
        return e;
    if (!in_range(s->task_value, 0.0, ROUTE_MAX_VALUE)) {
        snprintf(field, sizeof(field), "sites[%zu].task_value", i);
        return err_set(d, ERR_INVALID, field, "%s %g is not in 0..%g", field,
                       s->task_value, ROUTE_MAX_VALUE);
    }
    if (s->supply > 0 && s->demand > 0) {
        snprintf(field, sizeof(field), "sites[%zu].demand", i);
        return err_set(d, ERR_INVALID, field,
                       "site %zu has both supply %d and demand %d", i,
                       (int)s->supply, (int)s->demand);
    }
    return ERR_OK;
}

static enum err check_truck(const struct route_truck *t, size_t i,
                            struct err_detail *d)
{
    char field[64];
    if (!geo_latlng_is_valid(t->start)) {
        snprintf(field, sizeof(field), "trucks[%zu].start", i);
        return err_set(d, ERR_INVALID, field,
                       "truck %zu has a bad start position", i);
    }
    enum err e =
        check_count(d, "trucks", i, "capacity", t->capacity, ROUTE_MAX_BIKES);
    if (e == ERR_OK)
        e = check_count(d, "trucks", i, "load", t->load, ROUTE_MAX_BIKES);
    if (e == ERR_OK)
        e = check_count(d, "trucks", i, "broken", t->broken, ROUTE_MAX_BIKES);
    if (e == ERR_OK)
        e = check_count(d, "trucks", i, "time_s", t->time_s, ROUTE_MAX_TIME_S);
    if (e != ERR_OK)
        return e;
    if ((int64_t)t->load + t->broken > t->capacity) {
        snprintf(field, sizeof(field), "trucks[%zu].load", i);
        return err_set(d, ERR_INVALID, field,
                       "truck %zu carries %d + %d broken bikes, over its "
                       "capacity %d",
                       i, (int)t->load, (int)t->broken, (int)t->capacity);
    }
    return ERR_OK;
}

enum err route__validate(const struct route_problem *p, struct err_detail *d)
{
    if (!p)
        return err_set(d, ERR_INVALID, "problem", "no problem given");
    if (p->n_sites > ROUTE_MAX_SITES)
        return err_set(d, ERR_TOO_BIG, "sites", "%zu sites, over the cap %u",
                       p->n_sites, ROUTE_MAX_SITES);
    if (p->n_trucks > ROUTE_MAX_TRUCKS)
        return err_set(d, ERR_TOO_BIG, "trucks", "%zu trucks, over the cap %u",
                       p->n_trucks, ROUTE_MAX_TRUCKS);
    if (p->n_sites > 0 && !p->sites)
        return err_set(d, ERR_INVALID, "sites", "no site array");
    if (p->n_trucks > 0 && !p->trucks)
        return err_set(d, ERR_INVALID, "trucks", "no truck array");
    enum err e = check_params(&p->params, d);
    if (e != ERR_OK)
        return e;
    if (!geo_latlng_is_valid(p->depot))
        return err_set(d, ERR_INVALID, "depot",
                       "the depot has bad coordinates");
    for (size_t i = 0; i < p->n_sites; i++) {
        e = check_site(&p->sites[i], i, d);
        if (e != ERR_OK)
            return e;
    }
    for (size_t i = 0; i < p->n_trucks; i++) {
        e = check_truck(&p->trucks[i], i, d);
        if (e != ERR_OK)
            return e;
    }
    return ERR_OK;
}

/* ---- travel ------------------------------------------------------------- */

void route__leg(const struct route_params *pp, struct geo_latlng a,
                struct geo_latlng b, double *metres, int64_t *secs)
{
    double m = geo_distance_m(a, b) * pp->detour;
    *metres = m;
    *secs = (int64_t)ceil(m / pp->speed_mps);
}

/* ---- quantities for a fixed order --------------------------------------- */

void route__dec_reserve(struct route__dec *w, size_t m)
{
    if (m <= w->cap)
        return;
    size_t cap = MAX(m, 2 * w->cap);
    w->load = xreallocarray(w->load, cap, sizeof(*w->load));
    w->room = xreallocarray(w->room, cap, sizeof(*w->room));
    w->rem = xreallocarray(w->rem, cap, sizeof(*w->rem));
    w->adj = xreallocarray(w->adj, cap, sizeof(*w->adj));
    w->cap = cap;
}

void route__dec_release(struct route__dec *w)
{
    xfree(w->load);
    xfree(w->room);
    xfree(w->rem);
    xfree(w->adj);
    memset(w, 0, sizeof(*w));
}

/*
 * Serves up to want bikes of the drop at stop k with bikes picked
 * retroactively at earlier stops, latest first. Such a bike rides from its
 * pick stop j to k, raising the load after stops j..k-1, so it needs room
 * on all of them. While stops are decoded, load[] holds only the load that
 * is not retroactive; the retroactive part after stop i is the sum of
 * adj[0..i], where a bike picked at j for k adds 1 at j and -1 at k.
 * Returns the bikes found.
 */
static int64_t retro_pick(struct route__dec *w, size_t k, int64_t want,
                          int32_t *pick)
{
    int64_t room = INT64_MAX;
    int64_t got = 0;
    int64_t extra = 0; /* sum of adj[0..j]: all earlier rides end by k - 1 */
    for (size_t j = k; j-- > 0 && want > 0;) {
        room = MIN(room, w->room[j] - w->load[j] - extra);
        if (room <= 0)
            break;
        if (w->rem[j] > 0) {
            int64_t x = route__min3(want, w->rem[j], room);
            w->rem[j] -= x;
            if (pick)
                pick[j] += (int32_t)x;
            w->adj[j] += x;
            w->adj[k] -= x;
            extra += x;
            room -= x;
            want -= x;
            got += x;
        }
        extra -= w->adj[j];
    }
    return got;
}

bool route__decode(const struct route_truck *t, int32_t handle_s,
                   const struct route__sq *sq, size_t m, int64_t fixed_s,
                   struct route__dec *w, int32_t *pick, int32_t *drop,
                   struct route__qty *q)
{
    if (fixed_s > t->time_s)
        return false;
    route__dec_reserve(w, m);
    /* Bikes that may still be handled (picked or dropped) in time. */
    int64_t budget =
        handle_s > 0 ? (t->time_s - fixed_s) / handle_s : INT64_MAX;
    int64_t load = t->load;
    int64_t broken = t->broken;
    int64_t dropped = 0, picked = 0, unpicked = 0;
    for (size_t k = 0; k < m; k++) {
        const struct route__sq *s = &sq[k];
        broken += s->task_load;
        int64_t here = 0;
        w->rem[k] = 0;
        w->adj[k] = 0;
        if (pick)
            pick[k] = 0;
        if (s->demand > 0) {
            /* The initial load first: it costs one handling, not two. */
            here = route__min3(load, s->demand, budget);
            load -= here;
            budget -= here;
            int64_t want = MIN(s->demand - here, budget / 2);
            if (want > 0 && unpicked > 0) {
                int64_t got = retro_pick(w, k, want, pick);
                here += got;
                picked += got;
                unpicked -= got;
                budget -= 2 * got;
            }
        } else if (s->supply > 0) {
            w->rem[k] = s->supply;
            unpicked += s->supply;
        }
        /* Every retroactive ride so far ends by k - 1. */
        w->load[k] = load;
        w->room[k] = t->capacity - broken;
        if (load > w->room[k])
            return false;
        if (drop)
            drop[k] = (int32_t)here;
        dropped += here;
    }
    int64_t extra = 0;
    for (size_t k = 0; k < m; k++) {
        extra += w->adj[k];
        w->load[k] += extra;
    }
    q->dropped = dropped;
    q->picked = picked;
    q->load = load;
    q->broken = broken;
    return true;
}

/* ---- the checker -------------------------------------------------------- */

void route_plan_release(struct route_plan *plan)
{
    for (size_t i = 0; i < plan->n_paths; i++)
        xfree(plan->paths[i].stops);
    xfree(plan->paths);
    memset(plan, 0, sizeof(*plan));
}

/*
 * Checks path i against its truck and fills its figures into *f (only the
 * figures, never stops). seen[site] marks sites visited by earlier paths.
 */
static enum err check_path(const struct route_problem *p,
                           const struct route_path *path, size_t i,
                           uint8_t *seen, struct route_path *f,
                           struct err_detail *d)
{
    const struct route_truck *t = &p->trucks[i];
    const struct route_params *pp = &p->params;
    char field[64];
    memset(f, 0, sizeof(*f));
    if (path->n_stops == 0)
        return ERR_OK;
    if (!path->stops) {
        snprintf(field, sizeof(field), "paths[%zu].stops", i);
        return err_set(d, ERR_INVALID, field, "truck %zu has no stop array", i);
    }
    int64_t load = t->load, broken = t->broken, secs = 0;
    double metres = 0, tasks_value = 0;
    struct geo_latlng at = t->start;
    for (size_t k = 0; k < path->n_stops; k++) {
        const struct route_stop *st = &path->stops[k];
        snprintf(field, sizeof(field), "paths[%zu].stops[%zu]", i, k);
        if (st->site >= p->n_sites)
            return err_set(d, ERR_INVALID, field,
                           "truck %zu stop %zu: site %zu does not exist", i, k,
                           st->site);
        if (seen[st->site])
            return err_set(d, ERR_INVALID, field,
                           "truck %zu stop %zu: site %zu is visited twice", i,
                           k, st->site);
        seen[st->site] = 1;
        const struct route_site *s = &p->sites[st->site];
        if (st->pick < 0 || st->drop < 0)
            return err_set(d, ERR_INVALID, field,
                           "truck %zu stop %zu: negative quantity", i, k);
        if (st->pick > 0 && st->drop > 0)
            return err_set(d, ERR_INVALID, field,
                           "truck %zu stop %zu: both picks and drops", i, k);
        if (st->pick > s->supply)
            return err_set(d, ERR_INVALID, field,
                           "truck %zu stop %zu: pick %d over supply %d at "
                           "site %zu",
                           i, k, (int)st->pick, (int)s->supply, st->site);
        if (st->drop > s->demand)
            return err_set(d, ERR_INVALID, field,
                           "truck %zu stop %zu: drop %d over demand %d at "
                           "site %zu",
                           i, k, (int)st->drop, (int)s->demand, st->site);
        if (st->drop > load)
            return err_set(d, ERR_INVALID, field,
                           "truck %zu stop %zu: drop %d with only %" PRId64
                           " bikes aboard",
                           i, k, (int)st->drop, load);
        load += st->pick - st->drop;
        broken += s->task_load;
        if (load + broken > t->capacity)
            return err_set(d, ERR_INVALID, field,
                           "truck %zu stop %zu: load %" PRId64
                           " over capacity %d",
                           i, k, load + broken, (int)t->capacity);
        double m;
        int64_t leg_s;
        route__leg(pp, at, s->pos, &m, &leg_s);
        metres += m;
        secs += leg_s + s->service_s + s->task_s +
                (int64_t)pp->handle_s * (st->pick + st->drop);
        at = s->pos;
        f->picked += st->pick;
        f->dropped += st->drop;
        tasks_value += s->task_value;
        if (route__has_task(s))
            f->tasks++;
    }
    double m;
    int64_t leg_s;
    route__leg(pp, at, p->depot, &m, &leg_s);
    metres += m;
    secs += leg_s;
    if (secs > t->time_s) {
        snprintf(field, sizeof(field), "paths[%zu]", i);
        return err_set(d, ERR_INVALID, field,
                       "truck %zu: route takes %" PRId64 " s, over %d s", i,
                       secs, (int)t->time_s);
    }
    f->metres = metres;
    f->seconds = secs;
    f->value = pp->bike_value * (double)f->dropped + tasks_value -
               pp->metre_cost * metres;
    return ERR_OK;
}

/*
 * Checks plan and fills the figures of each path into figs[i] (if not
 * NULL) and the totals into *t (if not NULL).
 */
static enum err check_plan(const struct route_problem *p,
                           const struct route_plan *plan,
                           struct route_path *figs, struct route_totals *t,
                           struct err_detail *d)
{
    enum err e = route__validate(p, d);
    if (e != ERR_OK)
        return e;
    if (!plan)
        return err_set(d, ERR_INVALID, "paths", "no plan given");
    if (plan->n_paths != p->n_trucks)
        return err_set(d, ERR_INVALID, "paths", "%zu paths for %zu trucks",
                       plan->n_paths, p->n_trucks);
    if (plan->n_paths > 0 && !plan->paths)
        return err_set(d, ERR_INVALID, "paths", "no path array");
    uint8_t *seen = xcalloc(MAX(p->n_sites, (size_t)1), 1);
    struct route_totals sum = {0};
    for (size_t i = 0; i < plan->n_paths; i++) {
        struct route_path f;
        e = check_path(p, &plan->paths[i], i, seen, &f, d);
        if (e != ERR_OK)
            goto out;
        if (figs)
            figs[i] = f;
        sum.value += f.value;
        sum.metres += f.metres;
        sum.seconds += f.seconds;
        sum.picked += f.picked;
        sum.dropped += f.dropped;
        sum.tasks += f.tasks;
        sum.stops += plan->paths[i].n_stops;
        if (plan->paths[i].n_stops > 0)
            sum.trucks_used++;
    }
    if (t)
        *t = sum;
out:
    xfree(seen);
    return e;
}

enum err route_check(const struct route_problem *p,
                     const struct route_plan *plan, struct route_totals *t,
                     struct err_detail *d)
{
    return check_plan(p, plan, NULL, t, d);
}

/* Copies the figures of figs[i] into the plan's paths, keeping the stops. */
static void set_figures(struct route_plan *plan, const struct route_path *figs)
{
    for (size_t i = 0; i < plan->n_paths; i++) {
        struct route_path *path = &plan->paths[i];
        path->value = figs[i].value;
        path->metres = figs[i].metres;
        path->seconds = figs[i].seconds;
        path->picked = figs[i].picked;
        path->dropped = figs[i].dropped;
        path->tasks = figs[i].tasks;
    }
}

enum err route__finish(const struct route_problem *p, struct route_plan *plan,
                       struct err_detail *d)
{
    struct route_path *figs =
        xcalloc(MAX(plan->n_paths, (size_t)1), sizeof(*figs));
    struct route_totals t;
    struct err_detail why;
    err_clear(&why);
    enum err e = check_plan(p, plan, figs, &t, &why);
    if (NEVER(e != ERR_OK)) {
        e = err_set(d, ERR_INTERNAL, why.field, "planner bug: %s", why.msg);
        goto out;
    }
    set_figures(plan, figs);
    plan->totals = t;
out:
    xfree(figs);
    return e;
}

enum err route_fill_quantities(const struct route_problem *p,
                               struct route_plan *plan, struct err_detail *d)
{
    enum err e = route__validate(p, d);
    if (e != ERR_OK)
        return e;
    if (!plan || plan->n_paths != p->n_trucks ||
        (plan->n_paths > 0 && !plan->paths))
        return err_set(d, ERR_INVALID, "paths",
                       "the plan needs one path per truck");
    uint8_t *seen = xcalloc(MAX(p->n_sites, (size_t)1), 1);
    struct route__sq *seq = NULL;
    struct route__dec w = {0};
    size_t cap = 0;
    for (size_t i = 0; i < plan->n_paths && e == ERR_OK; i++) {
        struct route_path *path = &plan->paths[i];
        const struct route_truck *t = &p->trucks[i];
        char field[64];
        snprintf(field, sizeof(field), "paths[%zu]", i);
        if (path->n_stops == 0)
            continue;
        if (!path->stops) {
            e = err_set(d, ERR_INVALID, field, "truck %zu has no stop array",
                        i);
            break;
        }
        if (path->n_stops > cap) {
            cap = path->n_stops;
            seq = xreallocarray(seq, cap, sizeof(*seq));
        }
        /* The fixed time: travel, parking and tasks. */
        int64_t fixed_s = 0;
        struct geo_latlng at = t->start;
        for (size_t k = 0; k < path->n_stops; k++) {
            size_t site = path->stops[k].site;
            if (site >= p->n_sites || seen[site]) {
                e = err_set(d, ERR_INVALID, field,
                            "truck %zu stop %zu: site %zu is %s", i, k, site,
                            site >= p->n_sites ? "out of range"
                                               : "visited twice");
                break;
            }
            seen[site] = 1;
            seq[k] = route__sq_of(&p->sites[site]);
            double m;
            int64_t s;
            route__leg(&p->params, at, p->sites[site].pos, &m, &s);
            fixed_s += s + route__visit_s(&p->sites[site]);
            at = p->sites[site].pos;
        }
        if (e != ERR_OK)
            break;
        double m;
        int64_t s;
        route__leg(&p->params, at, p->depot, &m, &s);
        fixed_s += s;
        /* Scratch for the quantities, then copied into the stops. */
        int32_t *q = xcalloc(2 * path->n_stops, sizeof(*q));
        struct route__qty qty;
        bool ok = route__decode(t, p->params.handle_s, seq, path->n_stops,
                                fixed_s, &w, q, q + path->n_stops, &qty);
        if (ok) {
            for (size_t k = 0; k < path->n_stops; k++) {
                path->stops[k].pick = q[k];
                path->stops[k].drop = q[path->n_stops + k];
            }
        } else {
            e = err_set(d, ERR_INVALID, field,
                        "truck %zu: no quantities make this order feasible", i);
        }
        xfree(q);
    }
    xfree(seen);
    xfree(seq);
    route__dec_release(&w);
    if (e != ERR_OK)
        return e;
    struct route_path *figs =
        xcalloc(MAX(plan->n_paths, (size_t)1), sizeof(*figs));
    struct route_totals tot;
    e = check_plan(p, plan, figs, &tot, d);
    if (ALWAYS(e == ERR_OK)) {
        set_figures(plan, figs);
        plan->totals = tot;
    }
    xfree(figs);
    return e;
}
