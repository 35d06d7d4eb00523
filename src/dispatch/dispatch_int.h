/* SPDX-License-Identifier: MIT */
/*
 * Private to dispatch/: the layout of a BRP instance, shared by the parsers
 * (brp_instance.c), the checker (brp_check.c) and the solver (brp_solve.c).
 */
#ifndef DISPATCH_DISPATCH_INT_H
#define DISPATCH_DISPATCH_INT_H

#include "base/sys.h"
#include "dispatch/brp.h"

/*
 * Invariants (brp_instance_new checks them): 1 <= n <= BRP_MAX_NODES,
 * 1 <= capacity, q[0] == 0, |q[i]| <= capacity, 0 <= cost <= BRP_MAX_COST
 * and cost[i * n + i] == 0, so a depot-to-depot step is free.
 */
struct brp_instance {
    size_t n;
    int32_t capacity;
    size_t max_routes; /* 0: any number */
    int32_t *q;        /* n entries */
    int32_t *cost;     /* n * n, row-major */
    char name[BRP_MAX_NAME_BYTES + 1];
};

static inline int32_t brp__c(const struct brp_instance *in, size_t i, size_t j)
{
    return in->cost[i * in->n + j];
}

/* ---- the solver's working sequence (brp_seq.c) ------------------------- */

/*
 * A solution as one sequence of nodes: x[0] and x[len-1] are depot copies,
 * and a depot copy (0) between stations ends one route and starts the
 * next. With any number of routes allowed (`spare`), the sequence is kept
 * normalised: no two adjacent depots except one empty "spare" route at the
 * end, so a move can open a route by moving that depot. With max_routes m
 * it always holds m + 1 depot copies (empty routes allowed).
 *
 * A route is feasible iff its running sum of q (0 included) spans at most
 * Q: then it can leave the depot with load -min. Its excess is how far the
 * span goes over Q; the search may hold routes with excess, at a penalty.
 */
struct brp__win {
    int32_t s;  /* net change */
    int32_t lo; /* lowest running sum, <= 0 */
    int32_t hi; /* highest running sum, >= 0 */
};

/* Positions a..b of the current sequence (empty if a > b), maybe reversed. */
struct brp__piece {
    ptrdiff_t a, b;
    bool rev;
};

#define BRP__MAX_PIECES 6

struct brp__seq {
    const struct brp_instance *in;
    bool spare;
    size_t cap; /* of every position-indexed array */
    uint32_t *x;
    size_t len;
    /* Derived from x by brp__seq_rebuild. */
    int32_t *P;           /* running sum of q since the route's depot */
    int32_t *plo, *phi;   /* min / max of 0 and P from the route start to t */
    int32_t *smin, *smax; /* min / max of P from t to the route end */
    int32_t *rex;         /* excess of the route through t (0 at depots) */
    int64_t *fc, *rc;     /* cost of x[0..t], forward and all arcs reversed */
    int64_t *rpc;         /* excess of the routes that end at depots <= t */
    uint32_t *nd, *pd;    /* nearest depot position at or after / before t */
    uint32_t *pos;        /* station -> position (n entries) */
    uint32_t *deps;       /* depot positions, ascending */
    size_t n_deps;
    int32_t *rmq_min, *rmq_max; /* sparse tables over P, levels * cap */
    uint8_t *lg;                /* floor(log2(i)), cap + 1 entries */
    size_t levels;
    uint32_t *tmp; /* scratch for rearranging */
    int64_t cost, excess;
    size_t routes; /* non-empty */
};

/* Allocates s for in (nothing is valid until brp__seq_load). */
void brp__seq_init(struct brp__seq *s, const struct brp_instance *in,
                   bool spare);
void brp__seq_release(struct brp__seq *s);

/* Sets the sequence to x[0..len) (copied), normalises and rebuilds. */
void brp__seq_load(struct brp__seq *s, const uint32_t *x, size_t len);

/* New cost and excess of the sequence the pieces (in order) make. */
int64_t brp__seq_pieces_cost(const struct brp__seq *s,
                             const struct brp__piece *p, size_t m);
int64_t brp__seq_pieces_excess(const struct brp__seq *s,
                               const struct brp__piece *p, size_t m);
/* Rearranges the sequence into the pieces, normalises and rebuilds. */
void brp__seq_apply(struct brp__seq *s, const struct brp__piece *p, size_t m);

/*
 * Cost and excess change of inserting station v between positions gap and
 * gap + 1 (0 <= gap < len - 1).
 */
void brp__seq_insert_delta(const struct brp__seq *s, size_t gap, uint32_t v,
                           int64_t *dcost, int64_t *dexcess);
void brp__seq_insert(struct brp__seq *s, size_t gap, uint32_t v);

/* Removes the stations v with gone[v] set, normalises and rebuilds. */
void brp__seq_remove(struct brp__seq *s, const uint8_t *gone);

static inline int64_t brp__over(const struct brp_instance *in, int64_t lo,
                                int64_t hi)
{
    int64_t w = hi - lo - in->capacity;
    return w > 0 ? w : 0;
}

/* ---- local search (brp_ls.c) ------------------------------------------- */

struct rng;

struct brp__ls {
    struct brp__seq *seq;
    const uint32_t *near; /* k_near neighbours of each node, row-major */
    size_t k_near;
    int64_t weight;  /* penalty per unit of excess */
    bool strict;     /* never raise the excess (weight unused) */
    uint32_t *order; /* n scratch entries */
    uint8_t *active; /* n flags: nodes whose moves are worth trying */
    struct rng *rng;
    uint64_t moves;
};

/*
 * Applies improving moves until none is left: moves that lower cost +
 * weight * excess, or when strict, moves that lower the cost without
 * raising the excess. Only moves from active nodes are tried; a node
 * with no improving move turns inactive, and the nodes at the ends of
 * every piece a move rearranges turn active. Returns the number applied.
 */
uint64_t brp__ls_run(struct brp__ls *ls);

#endif
