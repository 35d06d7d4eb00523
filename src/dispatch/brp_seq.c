/* SPDX-License-Identifier: MIT */
/*
 * The BRP solver's working sequence: one array of stations and depot copies
 * plus the prefix data that price any rearrangement of a few pieces in O(1)
 * (arc cost by prefix sums, load windows by sparse-table range min/max).
 * Used by the local search (brp_ls.c) and the ruin-and-recreate driver
 * (brp_solve.c).
 */
#include "base/sys.h"
#include "dispatch/dispatch_int.h"

#define POS_INF (INT32_MAX / 4)
#define NEG_INF (-(INT32_MAX / 4))

void brp__seq_init(struct brp__seq *s, const struct brp_instance *in,
                   bool spare)
{
    memset(s, 0, sizeof(*s));
    s->in = in;
    s->spare = spare;
    /*
     * Stations, at most one depot per station (any number of routes, or a
     * limit below n - 1), the spare, plus slack.
     */
    s->cap = 2 * in->n + 4;
    size_t c = s->cap;
    s->levels = 1;
    while (((size_t)1 << s->levels) <= c)
        s->levels++;
    s->x = xcalloc(c, sizeof(*s->x));
    s->tmp = xcalloc(c, sizeof(*s->tmp));
    s->P = xcalloc(c, sizeof(*s->P));
    s->plo = xcalloc(c, sizeof(*s->plo));
    s->phi = xcalloc(c, sizeof(*s->phi));
    s->smin = xcalloc(c, sizeof(*s->smin));
    s->smax = xcalloc(c, sizeof(*s->smax));
    s->rex = xcalloc(c, sizeof(*s->rex));
    s->fc = xcalloc(c, sizeof(*s->fc));
    s->rc = xcalloc(c, sizeof(*s->rc));
    s->rpc = xcalloc(c, sizeof(*s->rpc));
    s->nd = xcalloc(c, sizeof(*s->nd));
    s->pd = xcalloc(c, sizeof(*s->pd));
    s->deps = xcalloc(c, sizeof(*s->deps));
    s->pos = xcalloc(in->n, sizeof(*s->pos));
    s->rmq_min = xcalloc(s->levels * c, sizeof(*s->rmq_min));
    s->rmq_max = xcalloc(s->levels * c, sizeof(*s->rmq_max));
    s->lg = xcalloc(c + 1, 1);
    for (size_t i = 2; i <= c; i++)
        s->lg[i] = (uint8_t)(s->lg[i / 2] + 1);
}

void brp__seq_release(struct brp__seq *s)
{
    xfree(s->x);
    xfree(s->tmp);
    xfree(s->P);
    xfree(s->plo);
    xfree(s->phi);
    xfree(s->smin);
    xfree(s->smax);
    xfree(s->rex);
    xfree(s->fc);
    xfree(s->rc);
    xfree(s->rpc);
    xfree(s->nd);
    xfree(s->pd);
    xfree(s->deps);
    xfree(s->pos);
    xfree(s->rmq_min);
    xfree(s->rmq_max);
    xfree(s->lg);
    memset(s, 0, sizeof(*s));
}

/* Drops repeated depots and keeps one spare empty route at the end. */
static void normalise(struct brp__seq *s)
{
    if (!s->spare)
        return;
    size_t k = 0;
    for (size_t t = 0; t < s->len; t++) {
        if (s->x[t] == 0 && k > 0 && s->x[k - 1] == 0)
            continue;
        s->x[k++] = s->x[t];
    }
    ASSERT(k >= 1 && s->x[k - 1] == 0);
    s->x[k++] = 0;
    s->len = k;
}

static void rebuild(struct brp__seq *s)
{
    const struct brp_instance *in = s->in;
    const uint32_t *x = s->x;
    size_t len = s->len;
    ASSERT(len >= 2 && len <= s->cap && x[0] == 0 && x[len - 1] == 0);
    s->n_deps = 0;
    s->routes = 0;
    s->fc[0] = 0;
    s->rc[0] = 0;
    for (size_t t = 0; t < len; t++) {
        uint32_t v = x[t];
        if (t > 0) {
            s->fc[t] = s->fc[t - 1] + brp__c(in, x[t - 1], v);
            s->rc[t] = s->rc[t - 1] + brp__c(in, v, x[t - 1]);
        }
        if (v == 0) {
            s->P[t] = 0;
            s->plo[t] = 0;
            s->phi[t] = 0;
            s->pd[t] = (uint32_t)t;
            s->deps[s->n_deps++] = (uint32_t)t;
            if (t > 0 && x[t - 1] != 0)
                s->routes++;
            continue;
        }
        s->pos[v] = (uint32_t)t;
        s->P[t] = s->P[t - 1] + in->q[v];
        s->plo[t] = MIN(s->plo[t - 1], s->P[t]);
        s->phi[t] = MAX(s->phi[t - 1], s->P[t]);
        s->pd[t] = s->pd[t - 1];
    }
    int64_t excess = 0;
    s->rpc[0] = 0;
    for (size_t t = 1; t < len; t++) {
        s->rpc[t] = s->rpc[t - 1];
        if (x[t] == 0 && x[t - 1] != 0) {
            int64_t e = brp__over(in, s->plo[t - 1], s->phi[t - 1]);
            s->rpc[t] += e;
            excess += e;
        }
    }
    for (size_t t = len; t-- > 0;) {
        if (x[t] == 0) {
            s->nd[t] = (uint32_t)t;
            s->smin[t] = POS_INF;
            s->smax[t] = NEG_INF;
            s->rex[t] = 0;
            continue;
        }
        s->nd[t] = s->nd[t + 1];
        s->smin[t] = MIN(s->P[t], s->smin[t + 1]);
        s->smax[t] = MAX(s->P[t], s->smax[t + 1]);
        s->rex[t] = x[t + 1] == 0 ? (int32_t)brp__over(in, s->plo[t], s->phi[t])
                                  : s->rex[t + 1];
    }
    size_t c = s->cap;
    memcpy(s->rmq_min, s->P, len * sizeof(*s->P));
    memcpy(s->rmq_max, s->P, len * sizeof(*s->P));
    for (size_t k = 1; k < s->levels && ((size_t)1 << k) <= len; k++) {
        const int32_t *pmin = s->rmq_min + (k - 1) * c;
        const int32_t *pmax = s->rmq_max + (k - 1) * c;
        int32_t *qmin = s->rmq_min + k * c;
        int32_t *qmax = s->rmq_max + k * c;
        size_t half = (size_t)1 << (k - 1);
        for (size_t t = 0; t + 2 * half <= len; t++) {
            qmin[t] = MIN(pmin[t], pmin[t + half]);
            qmax[t] = MAX(pmax[t], pmax[t + half]);
        }
    }
    s->cost = s->fc[len - 1];
    s->excess = excess;
}

void brp__seq_load(struct brp__seq *s, const uint32_t *x, size_t len)
{
    ASSERT(len <= s->cap);
    memmove(s->x, x, len * sizeof(*x));
    s->len = len;
    normalise(s);
    rebuild(s);
}

/* The window of stations a..b of one route (empty if a > b). */
static inline struct brp__win win_range(const struct brp__seq *s, ptrdiff_t a,
                                        ptrdiff_t b)
{
    if (a > b)
        return (struct brp__win){0, 0, 0};
    int32_t base = s->P[a - 1];
    size_t k = s->lg[b - a + 1];
    size_t c = s->cap, w = (size_t)1 << k;
    const int32_t *mn = s->rmq_min + k * c, *mx = s->rmq_max + k * c;
    int32_t lo = MIN(mn[a], mn[(size_t)b + 1 - w]);
    int32_t hi = MAX(mx[a], mx[(size_t)b + 1 - w]);
    return (struct brp__win){s->P[b] - base, MIN(0, lo - base),
                             MAX(0, hi - base)};
}

static inline struct brp__win win_cat(struct brp__win a, struct brp__win b)
{
    return (struct brp__win){a.s + b.s, MIN(a.lo, a.s + b.lo),
                             MAX(a.hi, a.s + b.hi)};
}

static inline struct brp__win win_rev(struct brp__win a)
{
    return (struct brp__win){a.s, a.s - a.hi, a.s - a.lo};
}

int64_t brp__seq_pieces_cost(const struct brp__seq *s,
                             const struct brp__piece *p, size_t m)
{
    const struct brp_instance *in = s->in;
    int64_t cost = 0;
    uint32_t prev = UINT32_MAX;
    for (size_t i = 0; i < m; i++) {
        ptrdiff_t a = p[i].a, b = p[i].b;
        if (a > b)
            continue;
        uint32_t first = p[i].rev ? s->x[b] : s->x[a];
        cost += p[i].rev ? s->rc[b] - s->rc[a] : s->fc[b] - s->fc[a];
        if (prev != UINT32_MAX)
            cost += brp__c(in, prev, first);
        prev = p[i].rev ? s->x[a] : s->x[b];
    }
    return cost;
}

int64_t brp__seq_pieces_excess(const struct brp__seq *s,
                               const struct brp__piece *p, size_t m)
{
    const struct brp_instance *in = s->in;
    int64_t excess = 0;
    struct brp__win open = {0, 0, 0};
    for (size_t i = 0; i < m; i++) {
        ptrdiff_t a = p[i].a, b = p[i].b;
        if (a > b)
            continue;
        ptrdiff_t fd = s->nd[a];
        if (fd > b) {
            struct brp__win w = win_range(s, a, b);
            open = win_cat(open, p[i].rev ? win_rev(w) : w);
            continue;
        }
        ptrdiff_t ld = s->pd[b];
        struct brp__win head = win_range(s, a, fd - 1);
        struct brp__win tail = win_range(s, ld + 1, b);
        if (p[i].rev) {
            struct brp__win h = win_rev(tail);
            tail = win_rev(head);
            head = h;
        }
        struct brp__win closed = win_cat(open, head);
        excess += brp__over(in, closed.lo, closed.hi);
        excess += s->rpc[ld] - s->rpc[fd];
        open = tail;
    }
    return excess + brp__over(in, open.lo, open.hi);
}

void brp__seq_apply(struct brp__seq *s, const struct brp__piece *p, size_t m)
{
    size_t k = 0;
    for (size_t i = 0; i < m; i++) {
        ptrdiff_t a = p[i].a, b = p[i].b;
        if (a > b)
            continue;
        if (p[i].rev) {
            for (ptrdiff_t t = b; t >= a; t--)
                s->tmp[k++] = s->x[t];
        } else {
            memcpy(s->tmp + k, s->x + a, (size_t)(b - a + 1) * sizeof(*s->x));
            k += (size_t)(b - a + 1);
        }
    }
    ASSERT(k == s->len);
    uint32_t *t = s->x;
    s->x = s->tmp;
    s->tmp = t;
    normalise(s);
    rebuild(s);
}

void brp__seq_insert_delta(const struct brp__seq *s, size_t gap, uint32_t v,
                           int64_t *dcost, int64_t *dexcess)
{
    const struct brp_instance *in = s->in;
    uint32_t u = s->x[gap], w = s->x[gap + 1];
    *dcost = (int64_t)brp__c(in, u, v) + brp__c(in, v, w) - brp__c(in, u, w);
    if (u == 0 && w == 0) {
        *dexcess = 0;
        return;
    }
    int32_t qv = in->q[v];
    int32_t at = s->P[gap] + qv;
    int32_t lo = MIN(s->plo[gap], at), hi = MAX(s->phi[gap], at);
    int32_t old = 0;
    if (w != 0) {
        lo = MIN(lo, s->smin[gap + 1] + qv);
        hi = MAX(hi, s->smax[gap + 1] + qv);
        old = s->rex[gap + 1];
    } else {
        old = s->rex[gap];
    }
    *dexcess = brp__over(in, lo, hi) - old;
}

void brp__seq_insert(struct brp__seq *s, size_t gap, uint32_t v)
{
    ASSERT(gap + 1 < s->len && s->len < s->cap);
    memmove(s->x + gap + 2, s->x + gap + 1, (s->len - gap - 1) * sizeof(*s->x));
    s->x[gap + 1] = v;
    s->len++;
    normalise(s);
    rebuild(s);
}

void brp__seq_remove(struct brp__seq *s, const uint8_t *gone)
{
    size_t k = 0;
    for (size_t t = 0; t < s->len; t++) {
        if (!gone[s->x[t]] || s->x[t] == 0)
            s->x[k++] = s->x[t];
    }
    s->len = k;
    normalise(s);
    rebuild(s);
}
