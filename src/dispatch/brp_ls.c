/* SPDX-License-Identifier: MIT */
/*
 * The BRP local search on the working sequence (brp_seq.c). Every move is
 * a rearrangement of at most six pieces of the sequence, priced in O(1):
 * relocating a string of 1-3 elements (stations or depot copies, so routes
 * split and merge), forward or reversed; exchanging two strings; 2-opt;
 * and 2-opt* between routes in both orientations. Moves are generated
 * from node pairs (u, v) with v among u's nearest neighbours, each move
 * making the arc u -> v (granular neighbourhoods), and the first improving
 * move is applied.
 */
#include "base/sys.h"
#include "dispatch/dispatch_int.h"
#include "base/rng.h"

#define MAX_STRING 3

struct ctx {
    struct brp__ls *ls;
    struct brp__seq *s;
    int64_t f_cur; /* cost (+ weight * excess) of the current sequence */
};

static int64_t objective(const struct brp__ls *ls, const struct brp__seq *s)
{
    return ls->strict ? s->cost : s->cost + ls->weight * s->excess;
}

#define P(a_, b_)                                                              \
    (struct brp__piece)                                                        \
    {                                                                          \
        (a_), (b_), false                                                      \
    }
#define R(a_, b_)                                                              \
    (struct brp__piece)                                                        \
    {                                                                          \
        (a_), (b_), true                                                       \
    }

/* Applies the rearrangement if it lowers cost + weight * excess. */
static bool try_pieces(struct ctx *c, const struct brp__piece *p, size_t m)
{
    int64_t cost = brp__seq_pieces_cost(c->s, p, m);
    if (cost >= c->f_cur)
        return false;
    int64_t excess = brp__seq_pieces_excess(c->s, p, m);
    if (c->ls->strict ? excess > c->s->excess
                      : cost + c->ls->weight * excess >= c->f_cur)
        return false;
    /* The nodes beside every cut get another look. */
    uint8_t *act = c->ls->active;
    const uint32_t *x = c->s->x;
    ptrdiff_t last = (ptrdiff_t)c->s->len - 1;
    for (size_t i = 0; i < m; i++) {
        if (p[i].a > p[i].b)
            continue;
        act[x[p[i].a]] = 1;
        act[x[p[i].b]] = 1;
        if (p[i].a > 0)
            act[x[p[i].a - 1]] = 1;
        if (p[i].b < last)
            act[x[p[i].b + 1]] = 1;
    }
    brp__seq_apply(c->s, p, m);
    c->f_cur = objective(c->ls, c->s);
    c->ls->moves++;
    return true;
}

#define TRY(...)                                                               \
    do {                                                                       \
        const struct brp__piece p_[] = {__VA_ARGS__};                          \
        if (try_pieces(c, p_, ARRAY_LEN(p_)))                                  \
            return true;                                                       \
    } while (0)

/* Relocations that make the arc x[a] -> x[b]. */
static bool relocate(struct ctx *c, ptrdiff_t a, ptrdiff_t b)
{
    ptrdiff_t L = (ptrdiff_t)c->s->len;
    for (ptrdiff_t l = 1; l <= MAX_STRING; l++) {
        /* The string starting at b moves to just after a. */
        ptrdiff_t e = b + l - 1;
        if (b >= 1 && e <= L - 2 && a <= L - 2 && (a < b - 1 || a > e)) {
            if (a < b)
                TRY(P(0, a), P(b, e), P(a + 1, b - 1), P(e + 1, L - 1));
            else
                TRY(P(0, b - 1), P(e + 1, a), P(b, e), P(a + 1, L - 1));
        }
        /* The string ending at a moves to just before b. */
        ptrdiff_t s0 = a - l + 1;
        if (s0 >= 1 && a <= L - 2 && b >= 1 && (b < s0 || b > a + 1)) {
            if (b < s0)
                TRY(P(0, b - 1), P(s0, a), P(b, s0 - 1), P(a + 1, L - 1));
            else
                TRY(P(0, s0 - 1), P(a + 1, b - 1), P(s0, a), P(b, L - 1));
        }
        /* The string ending at b moves reversed to just after a. */
        s0 = b - l + 1;
        if (l > 1 && s0 >= 1 && b <= L - 2 && a <= L - 2 &&
            (a < s0 - 1 || a > b)) {
            if (a < s0)
                TRY(P(0, a), R(s0, b), P(a + 1, s0 - 1), P(b + 1, L - 1));
            else
                TRY(P(0, s0 - 1), P(b + 1, a), R(s0, b), P(a + 1, L - 1));
        }
        /* The string starting at a moves reversed to just before b. */
        e = a + l - 1;
        if (l > 1 && a >= 1 && e <= L - 2 && b >= 1 && (b < a || b > e + 1)) {
            if (b < a)
                TRY(P(0, b - 1), R(a, e), P(b, a - 1), P(e + 1, L - 1));
            else
                TRY(P(0, a - 1), P(e + 1, b - 1), R(a, e), P(b, L - 1));
        }
    }
    return false;
}

/* Exchanges of the string after a with the string starting at b. */
static bool exchange(struct ctx *c, ptrdiff_t a, ptrdiff_t b)
{
    ptrdiff_t L = (ptrdiff_t)c->s->len;
    if (b < 1 || a > L - 3)
        return false;
    for (ptrdiff_t l1 = 1; l1 <= MAX_STRING; l1++) {
        ptrdiff_t e1 = a + l1;
        if (e1 > L - 2)
            break;
        for (ptrdiff_t l2 = 1; l2 <= MAX_STRING; l2++) {
            ptrdiff_t e2 = b + l2 - 1;
            if (e2 > L - 2)
                break;
            if (a < b && e1 < b)
                TRY(P(0, a), P(b, e2), P(e1 + 1, b - 1), P(a + 1, e1),
                    P(e2 + 1, L - 1));
            else if (b < a && e2 < a)
                TRY(P(0, b - 1), P(a + 1, e1), P(e2 + 1, a), P(b, e2),
                    P(e1 + 1, L - 1));
        }
    }
    return false;
}

/* 2-opt within the sequence: reversals that make x[a] -> x[b]. */
static bool two_opt(struct ctx *c, ptrdiff_t a, ptrdiff_t b)
{
    ptrdiff_t L = (ptrdiff_t)c->s->len;
    if (a >= b)
        return false;
    if (a + 1 < b && b <= L - 2)
        TRY(P(0, a), R(a + 1, b), P(b + 1, L - 1));
    if (a >= 1 && a < b - 1)
        TRY(P(0, a - 1), R(a, b - 1), P(b, L - 1));
    return false;
}

/* 2-opt* between the routes of stations x[a] and x[b]: x[a] -> x[b]. */
static bool two_opt_star(struct ctx *c, ptrdiff_t a, ptrdiff_t b)
{
    const struct brp__seq *s = c->s;
    ptrdiff_t L = (ptrdiff_t)s->len;
    if (s->x[a] == 0 || s->x[b] == 0 || s->nd[a] == s->nd[b])
        return false;
    ptrdiff_t e1 = (ptrdiff_t)s->nd[a] - 1, e2 = (ptrdiff_t)s->nd[b] - 1;
    ptrdiff_t s2 = (ptrdiff_t)s->pd[b] + 1;
    /* Head of a's route + tail of b's from b; head of b's + tail of a's. */
    if (a < b)
        TRY(P(0, a), P(b, e2), P(e1 + 1, b - 1), P(a + 1, e1),
            P(e2 + 1, L - 1));
    else
        TRY(P(0, b - 1), P(a + 1, e1), P(e2 + 1, a), P(b, e2),
            P(e1 + 1, L - 1));
    /* Head of a's + reversed head of b's up to b; reversed tails. */
    if (a < b)
        TRY(P(0, a), R(s2, b), P(e1 + 1, s2 - 1), R(a + 1, e1),
            P(b + 1, L - 1));
    else
        TRY(P(0, s2 - 1), R(a + 1, e1), P(b + 1, e2), P(e2 + 1, a), R(s2, b),
            P(e1 + 1, L - 1));
    return false;
}

static bool pair_moves(struct ctx *c, ptrdiff_t a, ptrdiff_t b)
{
    if (a == b || b == a + 1)
        return false;
    return relocate(c, a, b) || exchange(c, a, b) || two_opt(c, a, b) ||
           two_opt_star(c, a, b);
}

/* Tries every move that makes an arc from u (at any of its positions). */
static bool node_moves(struct ctx *c, uint32_t u)
{
    struct brp__seq *s = c->s;
    const uint32_t *nb = c->ls->near + (size_t)u * c->ls->k_near;
    size_t na = u ? 1 : s->n_deps - 1;
    for (size_t ia = 0; ia < na; ia++) {
        ptrdiff_t a = u ? (ptrdiff_t)s->pos[u] : (ptrdiff_t)s->deps[ia];
        for (size_t k = 0; k < c->ls->k_near; k++) {
            uint32_t v = nb[k];
            if (v != 0) {
                if (pair_moves(c, a, (ptrdiff_t)s->pos[v]))
                    return true;
                continue;
            }
            for (size_t ib = 1; ib < s->n_deps; ib++) {
                if (pair_moves(c, a, (ptrdiff_t)s->deps[ib]))
                    return true;
            }
        }
    }
    return false;
}

uint64_t brp__ls_run(struct brp__ls *ls)
{
    struct brp__seq *s = ls->seq;
    size_t n = s->in->n;
    struct ctx c = {ls, s, objective(ls, s)};
    uint64_t before = ls->moves;
    for (;;) {
        size_t k = 0;
        for (size_t u = 0; u < n; u++) {
            if (ls->active[u])
                ls->order[k++] = (uint32_t)u;
        }
        if (k == 0)
            break;
        for (size_t i = k; i > 1; i--) {
            size_t j = (size_t)rng_below(ls->rng, i);
            uint32_t t = ls->order[i - 1];
            ls->order[i - 1] = ls->order[j];
            ls->order[j] = t;
        }
        for (size_t i = 0; i < k; i++) {
            uint32_t u = ls->order[i];
            if (!ls->active[u])
                continue;
            ls->active[u] = 0;
            node_moves(&c, u);
        }
    }
    return ls->moves - before;
}
