/* SPDX-License-Identifier: MIT */
/*
 * The truck planner's construction: a parallel greedy that extends the
 * trucks' routes at their ends. Each truck keeps its best next step (a
 * drop site, a pick site followed by a drop site, or a task site, among
 * the nearest free ones) scored by value gained per second spent; the
 * truck with the best step takes it, until no truck has a step that gains.
 */
#include "base/sys.h"
#include "dispatch/route_int.h"

/* How many free sites of each kind a truck looks at from its last stop. */
#define NEAR_DROP 8u
#define NEAR_PICK 6u
#define NEAR_TASK 4u
/* Drop sites considered after each candidate pick site. */
#define NEAR_PAIR 4u
/* Steps between deadline checks. */
#define CLOCK_EVERY 16u

#define NONE UINT32_MAX

/* A step: append a, then b unless it is NONE. */
struct step {
    uint32_t a, b;
    double score; /* value gained per second spent; 0: no step */
};

/* What the end of a truck's route looks like, from its current decode. */
struct tail {
    size_t truck;
    struct geo_latlng at; /* the last stop, or the start */
    double home_m;        /* its leg to the depot (0 for an empty route) */
    int64_t home_s;
    int64_t load, broken, handled;
};

/*
 * Bikes a drop could take from the route's pick stops, latest first,
 * after a virtual pick stop v (room v_room, supply v_rem; v_rem 0: none).
 * The route's decode state in c->dec is only read.
 */
static int64_t scan_retro(const struct route__ctx *c, size_t len, int64_t want,
                          int64_t v_room, int64_t v_rem)
{
    int64_t room = v_room, got = 0;
    if (v_rem > 0 && room > 0) {
        int64_t x = route__min3(want, v_rem, room);
        want -= x;
        got += x;
        room -= x;
    }
    const struct route__dec *w = &c->dec;
    for (size_t j = len; j-- > 0 && want > 0 && room > 0;) {
        room = MIN(room, w->room[j] - w->load[j]);
        if (room <= 0 || w->rem[j] == 0)
            continue;
        int64_t x = route__min3(want, w->rem[j], room);
        want -= x;
        got += x;
        room -= x;
    }
    return got;
}

/*
 * Scores appending x[0..k) (k is 1 or 2) to the route, given the legs
 * last -> x[0] and x[0] -> x[1]: value gained per second spent, 0 if it
 * gains nothing or is infeasible. The quantities mirror route__decode on
 * the new stops, which is exact here: the prefix decodes the same with the
 * smaller time budget as long as its handling still fits, which is
 * checked. The score leaves out the change of the way back to the depot
 * (only feasibility counts it): a truck that has skimmed its neighbourhood
 * must be able to drive out to the next one. Routes that end up worth less
 * than nothing are emptied at the end.
 */
static double score_append(const struct route__ctx *c, const struct tail *tl,
                           const uint32_t *x, size_t k, const double *leg_m,
                           const int64_t *leg_s)
{
    const struct route_problem *p = c->p;
    const struct route_truck *t = &p->trucks[tl->truck];
    const struct route__route *r = &c->r[tl->truck];
    uint32_t end = x[k - 1];
    int64_t dtime = 0;
    double dm = 0, task_value = 0;
    for (size_t i = 0; i < k; i++) {
        dtime += leg_s[i] + route__visit_s(&p->sites[x[i]]);
        dm += leg_m[i];
        task_value += p->sites[x[i]].task_value;
    }
    int64_t fixed = r->fixed_s + dtime + c->home_s[end] - tl->home_s;
    if (fixed > t->time_s)
        return 0;
    int64_t handle_s = p->params.handle_s;
    int64_t budget =
        handle_s > 0 ? (t->time_s - fixed) / handle_s - tl->handled : INT64_MAX;
    if (budget < 0)
        return 0;
    int64_t load = tl->load, broken = tl->broken, handled = 0, dropped = 0;
    int64_t v_room = INT64_MAX, v_rem = 0;
    for (size_t i = 0; i < k; i++) {
        const struct route_site *s = &p->sites[x[i]];
        broken += s->task_load;
        int64_t room = t->capacity - broken;
        if (s->demand > 0) {
            int64_t here = route__min3(load, s->demand, budget);
            load -= here;
            budget -= here;
            int64_t want = MIN(s->demand - here, budget / 2);
            int64_t got =
                want > 0 ? scan_retro(c, r->len, want, v_room, v_rem) : 0;
            budget -= 2 * got;
            dropped += here + got;
            handled += here + 2 * got;
        } else if (s->supply > 0) {
            v_room = room - load;
            v_rem = s->supply;
        }
        if (load > room)
            return 0;
    }
    double gain = p->params.bike_value * (double)dropped + task_value -
                  p->params.metre_cost * dm;
    if (!(gain > 0))
        return 0;
    return gain / (double)MAX(dtime + handle_s * handled, (int64_t)1);
}

static void offer(struct step *best, double score, uint32_t a, uint32_t b)
{
    if (score > best->score) {
        best->score = score;
        best->a = a;
        best->b = b;
    }
}

/* Finds truck's best next step into *best (score 0: none). */
static void best_step(struct route__ctx *c, size_t truck, struct step *best)
{
    const struct route_problem *p = c->p;
    struct route__route *r = &c->r[truck];
    best->score = 0;
    best->a = best->b = NONE;
    struct tail tl = {.truck = truck};
    struct route__qty q = {0};
    bool ok = route__decode(&p->trucks[truck], p->params.handle_s, r->sq,
                            r->len, r->fixed_s, &c->dec, NULL, NULL, &q);
    ASSERT(ok);
    tl.load = r->len ? q.load : p->trucks[truck].load;
    tl.broken = r->len ? q.broken : p->trucks[truck].broken;
    tl.handled = q.picked + q.dropped;
    tl.at = route__point(c, truck, (ptrdiff_t)r->len - 1);
    if (r->len > 0) {
        tl.home_m = r->leg_m[r->len];
        tl.home_s = r->leg_s[r->len];
    }
    double qx, qy;
    route__point_xy(c, truck, (ptrdiff_t)r->len - 1, &qx, &qy);
    uint32_t near[ROUTE__MAX_NEAR], pair[ROUTE__MAX_NEAR];
    uint32_t x[2];
    double lm[2];
    int64_t ls[2];
    /* A drop site or a task site on its own. */
    static const struct {
        enum route__kind kind;
        size_t k;
    } single[] = {{ROUTE__K_DROP, NEAR_DROP}, {ROUTE__K_TASK, NEAR_TASK}};
    for (size_t s = 0; s < ARRAY_LEN(single); s++) {
        size_t n = route__grid_near(&c->grid[single[s].kind], c->px, c->py, qx,
                                    qy, single[s].k, NONE, near);
        for (size_t i = 0; i < n; i++) {
            x[0] = near[i];
            route__leg(&p->params, tl.at, p->sites[x[0]].pos, &lm[0], &ls[0]);
            offer(best, score_append(c, &tl, x, 1, lm, ls), x[0], NONE);
        }
    }
    /* A pick site, alone for its task, or followed by a drop site. */
    size_t n = route__grid_near(&c->grid[ROUTE__K_PICK], c->px, c->py, qx, qy,
                                NEAR_PICK, NONE, near);
    for (size_t i = 0; i < n; i++) {
        x[0] = near[i];
        route__leg(&p->params, tl.at, p->sites[x[0]].pos, &lm[0], &ls[0]);
        if (c->flags[x[0]] & ROUTE__TASK)
            offer(best, score_append(c, &tl, x, 1, lm, ls), x[0], NONE);
        size_t m =
            route__grid_near(&c->grid[ROUTE__K_DROP], c->px, c->py, c->px[x[0]],
                             c->py[x[0]], NEAR_PAIR, NONE, pair);
        for (size_t j = 0; j < m; j++) {
            x[1] = pair[j];
            route__leg(&p->params, p->sites[x[0]].pos, p->sites[x[1]].pos,
                       &lm[1], &ls[1]);
            offer(best, score_append(c, &tl, x, 2, lm, ls), x[0], x[1]);
        }
    }
}

void route__build(struct route__ctx *c)
{
    if (c->nt == 0 || c->n_cand == 0)
        return;
    struct step *steps = xmalloc(c->nt * sizeof(*steps));
    for (size_t t = 0; t < c->nt; t++) {
        best_step(c, t, &steps[t]);
    }
    for (uint64_t iter = 1;; iter++) {
        if (iter % CLOCK_EVERY == 0 && route__late(c))
            break;
        size_t t = SIZE_MAX;
        for (size_t u = 0; u < c->nt; u++) {
            if (steps[u].score > 0 &&
                (t == SIZE_MAX || steps[u].score > steps[t].score))
                t = u;
        }
        if (t == SIZE_MAX)
            break;
        struct step *s = &steps[t];
        if (c->taken[s->a] || (s->b != NONE && c->taken[s->b])) {
            /* Another truck took a site since: look again. */
            best_step(c, t, s);
            continue;
        }
        uint32_t x[2] = {s->a, s->b};
        struct route__route *r = &c->r[t];
        size_t k = s->b == NONE ? 1 : 2;
        if (NEVER(!route__route_insert(c, t, r->len, x, k))) {
            uint8_t *gone = xcalloc(r->len, 1);
            memset(gone + r->len - k, 1, k);
            route__route_remove(c, t, gone);
            xfree(gone);
            s->score = 0;
            continue;
        }
        best_step(c, t, s);
    }
    xfree(steps);
    /* A route worth less than staying put is dropped. */
    for (size_t t = 0; t < c->nt; t++) {
        if (c->r[t].value < 0)
            route__route_set(c, t, NULL, 0);
    }
}
