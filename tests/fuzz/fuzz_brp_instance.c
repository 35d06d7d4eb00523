/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the BRP instance parsers (dispatch/brp.h): parses
 * the input in every format and checks what a successful parse promises
 * (node cap, q_0 = 0, |q_i| <= Q, costs in range, a zero diagonal, out
 * untouched on failure). Small instances are then solved for a few
 * iterations and the solution must pass brp_check.
 */
#include "base/sys.h"
#include "dispatch/brp.h"

#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(c)                                                             \
    do {                                                                       \
        if (!(c)) {                                                            \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__,         \
                    __LINE__, #c);                                             \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* Instances up to this many nodes are also solved. */
#define SOLVE_MAX_NODES 40

static void check_instance(const struct brp_instance *in)
{
    size_t n = brp_instance_nodes(in);
    int32_t cap = brp_instance_capacity(in);
    REQUIRE(n >= 1 && n <= BRP_MAX_NODES);
    REQUIRE(cap >= 1 && cap <= BRP_MAX_CAPACITY);
    REQUIRE(brp_instance_demand(in, 0) == 0);
    REQUIRE(strlen(brp_instance_name(in)) <= BRP_MAX_NAME_BYTES);
    for (size_t i = 0; i < n; i++) {
        int32_t q = brp_instance_demand(in, i);
        REQUIRE(q >= -cap && q <= cap);
        for (size_t j = 0; j < n; j++) {
            int64_t c = brp_instance_cost(in, i, j);
            REQUIRE(c >= 0 && c <= BRP_MAX_COST);
            REQUIRE(i != j || c == 0);
        }
    }
    if (n > SOLVE_MAX_NODES)
        return;
    struct brp_params p = {.seed = n, .max_iters = 4};
    struct brp_solution s;
    brp_solution_init(&s);
    struct err_detail d;
    enum err e = brp_solve(in, &p, &s, NULL, &d);
    /* Only a route limit can make an instance infeasible. */
    REQUIRE(e == ERR_OK ||
            (e == ERR_NOT_FOUND && brp_instance_max_routes(in) > 0));
    if (e == ERR_OK)
        REQUIRE(brp_check(in, &s, &d) == ERR_OK);
    brp_solution_release(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum brp_format formats[] = {BRP_FORMAT_AUTO, BRP_FORMAT_RBRP,
                                              BRP_FORMAT_ORIGINAL,
                                              BRP_FORMAT_1PDTSP};
    struct str text = {(const char *)data, size};
    for (size_t f = 0; f < ARRAY_LEN(formats); f++) {
        struct brp_instance *in = (struct brp_instance *)&text; /* sentinel */
        struct err_detail d;
        err_clear(&d);
        enum err e = brp_instance_parse(text, formats[f], &in, &d);
        if (e != ERR_OK) {
            REQUIRE(e == ERR_INVALID || e == ERR_TOO_BIG);
            REQUIRE(in == (struct brp_instance *)&text);
            REQUIRE(d.msg[0] != '\0');
            continue;
        }
        check_instance(in);
        brp_instance_free(in);
    }
    return 0;
}
