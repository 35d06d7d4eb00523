/* SPDX-License-Identifier: MIT */
/*
 * BRP solutions: their lifecycle and the independent feasibility checker,
 * which recomputes everything from the instance and trusts nothing the
 * solver keeps (it shares no code with brp_solve.c).
 */
#include "base/sys.h"
#include "dispatch/brp.h"
#include "dispatch/dispatch_int.h"

#include <stdio.h>

void brp_solution_init(struct brp_solution *s)
{
    s->routes = NULL;
    s->n_routes = 0;
    s->cost = 0;
}

void brp_solution_release(struct brp_solution *s)
{
    for (size_t r = 0; r < s->n_routes; r++)
        xfree(s->routes[r].stations);
    xfree(s->routes);
    brp_solution_init(s);
}

/* Checks one route; marks its stations in seen[]. */
static enum err check_route(const struct brp_instance *in,
                            const struct brp_route *rt, size_t r, uint8_t *seen,
                            int64_t *cost, struct err_detail *d)
{
    char field[48];
    snprintf(field, sizeof(field), "routes[%zu]", r);
    if (rt->len == 0 || !rt->stations)
        return err_set(d, ERR_INVALID, field, "route %zu is empty", r + 1);
    if (rt->start_load < 0 || rt->start_load > in->capacity)
        return err_set(d, ERR_INVALID, field,
                       "route %zu: start load %" PRId32
                       " is not in 0..%" PRId32,
                       r + 1, rt->start_load, in->capacity);
    int64_t load = rt->start_load;
    int64_t c = 0;
    size_t prev = 0;
    for (size_t k = 0; k < rt->len; k++) {
        size_t s = rt->stations[k];
        if (s == 0 || s >= in->n)
            return err_set(d, ERR_INVALID, field,
                           "route %zu position %zu: %zu is not a station",
                           r + 1, k + 1, s);
        if (seen[s])
            return err_set(d, ERR_INVALID, field,
                           "route %zu position %zu: station %zu is visited "
                           "twice",
                           r + 1, k + 1, s);
        seen[s] = 1;
        load += in->q[s];
        if (load < 0)
            return err_set(d, ERR_INVALID, field,
                           "route %zu position %zu: load %" PRId64
                           " is negative at station %zu",
                           r + 1, k + 1, load, s);
        if (load > in->capacity)
            return err_set(d, ERR_INVALID, field,
                           "route %zu position %zu: load %" PRId64
                           " exceeds capacity %" PRId32 " at station %zu",
                           r + 1, k + 1, load, in->capacity, s);
        c += brp__c(in, prev, s);
        prev = s;
    }
    c += brp__c(in, prev, 0);
    if (c != rt->cost)
        return err_set(d, ERR_INVALID, field,
                       "route %zu: cost %" PRId64 " differs from the "
                       "recomputed %" PRId64,
                       r + 1, rt->cost, c);
    *cost = c;
    return ERR_OK;
}

enum err brp_check(const struct brp_instance *in,
                   const struct brp_solution *sol, struct err_detail *d)
{
    if (in->max_routes && sol->n_routes > in->max_routes)
        return err_set(d, ERR_INVALID, "routes",
                       "%zu routes where at most %zu are allowed",
                       sol->n_routes, in->max_routes);
    if (sol->n_routes && !sol->routes)
        return err_set(d, ERR_INVALID, "routes", "no route array");
    uint8_t *seen = xcalloc(in->n, 1);
    int64_t total = 0;
    enum err e = ERR_OK;
    for (size_t r = 0; e == ERR_OK && r < sol->n_routes; r++) {
        int64_t c = 0;
        e = check_route(in, &sol->routes[r], r, seen, &c, d);
        total += c;
    }
    for (size_t s = 1; e == ERR_OK && s < in->n; s++) {
        if (!seen[s])
            e = err_set(d, ERR_INVALID, "routes", "station %zu is not visited",
                        s);
    }
    if (e == ERR_OK && total != sol->cost)
        e = err_set(d, ERR_INVALID, "cost",
                    "total cost %" PRId64 " differs from the recomputed "
                    "%" PRId64,
                    sol->cost, total);
    xfree(seen);
    return e;
}
