/* SPDX-License-Identifier: MIT */
/*
 * Tests for dispatch/brp.h: the three instance parsers (success and every
 * error), instances from arrays, the feasibility checker against every
 * kind of broken solution, the solver's invariants and determinism on
 * random instances, optimality on tiny instances against an exact subset
 * DP written here, and, when the benchmark data is present, agreement of
 * the two BRP file formats and the proven optima of ids 1-5.
 */
#include "base/sys.h"
#include "base/rng.h"
#include "dispatch/brp.h"
#include "tests/unit/harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* ---- helpers ----------------------------------------------------------- */

static struct brp_instance *parse_ok(const char *text, enum brp_format f)
{
    struct brp_instance *in = NULL;
    struct err_detail d;
    err_clear(&d);
    enum err e = brp_instance_parse(str_from_cstr(text), f, &in, &d);
    if (e != ERR_OK)
        test_fail(__FILE__, __LINE__, "parse failed: %s (%s)", d.msg, d.field);
    return in;
}

/* Parsing fails with code and a message that starts with msg_prefix. */
static void parse_err(int line, const char *text, enum brp_format f,
                      enum err code, const char *msg_prefix)
{
    struct brp_instance *in = NULL;
    struct err_detail d;
    err_clear(&d);
    enum err e = brp_instance_parse(str_from_cstr(text), f, &in, &d);
    if (e != code)
        test_fail(__FILE__, line, "got %s (%s), expected %s", err_name(e),
                  d.msg, err_name(code));
    if (strncmp(d.msg, msg_prefix, strlen(msg_prefix)) != 0)
        test_fail(__FILE__, line, "message '%s', expected '%s...'", d.msg,
                  msg_prefix);
    if (in)
        test_fail(__FILE__, line, "out was set on failure");
}

#define PARSE_ERR(text, f, code, prefix)                                       \
    parse_err(__LINE__, text, f, code, prefix)

/* A 4-node instance: depot, +2, -3, +1 with Q = 3. */
static const char rbrp_small[] = "#name\n"
                                 "tiny3\n"
                                 "\n"
                                 "#numVertices\n"
                                 "4\n"
                                 "\n"
                                 "#capacity\n"
                                 "3\n"
                                 "\n"
                                 "#d/p/q\n"
                                 "     0      0      0      0\n"
                                 "     1      2      2      2\n"
                                 "     2     -3      0      3\n"
                                 "     3      1      1      1\n"
                                 "\n"
                                 "#distances\n"
                                 "       0    1    2    3\n"
                                 "  0    0   10   20   30\n"
                                 "  1   11    0    5   25\n"
                                 "  2   21    6    0    7\n"
                                 "  3   31   26    8    0\n";

static const char original_small[] = "4\r\n"
                                     "0\t2\t-3\t1\t\r\n"
                                     "3\r\n"
                                     "0\t10\t20\t30\t\r\n"
                                     "11\t1e+009\t5\t25\t\r\n"
                                     "21\t6\t9.99999e+008\t7\t\r\n"
                                     "31\t26\t8\t1e+009\t\r\n";

static const char tsp_small[] = "NAME: t4.tsp, 4 nodes\r\n"
                                "COMMENT: test\r\n"
                                "DIMENSION: 4\r\n"
                                "CAPACITY: 5\r\n"
                                "EDGE_WEIGHT_TYPE: EUC_2D\r\n"
                                "NODE_COORD_SECTION\r\n"
                                "1 0.0 0.0\r\n"
                                "2 3.0 4.0\r\n"
                                "3 -3.0 4.0\r\n"
                                "4 0.0 -10.4\r\n"
                                "DISPLAY_DATA_SECTION:\r\n"
                                "1 1 1\r\n"
                                "2 1 1\r\n"
                                "3 1 1\r\n"
                                "4 1 1\r\n"
                                "DEMAND_SECTION\r\n"
                                "1 -2\r\n"
                                "2 5\r\n"
                                "3 -4\r\n"
                                "4 1\r\n"
                                "EOF";

/* An instance from arrays; cost[i][j] given as a flat n * n list. */
static struct brp_instance *make(size_t n, int32_t cap, const int32_t *q,
                                 const int64_t *cost, size_t max_routes)
{
    struct brp_instance *in = NULL;
    CHECK_OK(brp_instance_new(n, cap, q, cost, max_routes, &in, NULL));
    return in;
}

/* A random instance: Euclidean-ish asymmetric costs, |q| <= Q. */
static struct brp_instance *random_instance(struct rng *r, size_t n,
                                            int32_t cap, size_t max_routes)
{
    int32_t *q = xcalloc(n, sizeof(*q));
    int64_t *c = xcalloc(n * n, sizeof(*c));
    double *xs = xcalloc(n, sizeof(*xs)), *ys = xcalloc(n, sizeof(*ys));
    for (size_t i = 0; i < n; i++) {
        xs[i] = rng_range(r, 0, 1000);
        ys[i] = rng_range(r, 0, 1000);
        if (i)
            q[i] = (int32_t)rng_below(r, 2 * (uint64_t)cap + 1) - cap;
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            double dx = xs[i] - xs[j], dy = ys[i] - ys[j];
            c[i * n + j] =
                (int64_t)(sqrt(dx * dx + dy * dy) + (double)rng_below(r, 50));
        }
    }
    struct brp_instance *in = make(n, cap, q, c, max_routes);
    xfree(q);
    xfree(c);
    xfree(xs);
    xfree(ys);
    return in;
}

static struct brp_solution solve_iters(const struct brp_instance *in,
                                       uint64_t seed, uint64_t iters)
{
    struct brp_params p = {.seed = seed, .max_iters = iters};
    struct brp_solution s;
    brp_solution_init(&s);
    struct err_detail d;
    err_clear(&d);
    enum err e = brp_solve(in, &p, &s, NULL, &d);
    if (e != ERR_OK)
        test_fail(__FILE__, __LINE__, "solve failed: %s", d.msg);
    return s;
}

static void check_feasible(const struct brp_instance *in,
                           const struct brp_solution *s)
{
    struct err_detail d;
    err_clear(&d);
    if (brp_check(in, s, &d) != ERR_OK)
        test_fail(__FILE__, __LINE__, "infeasible: %s", d.msg);
    /* The same invariants, checked here independently. */
    size_t n = brp_instance_nodes(in);
    int32_t cap = brp_instance_capacity(in);
    uint8_t *seen = xcalloc(n, 1);
    int64_t total = 0;
    for (size_t r = 0; r < s->n_routes; r++) {
        const struct brp_route *rt = &s->routes[r];
        int64_t load = rt->start_load, cost = 0;
        size_t prev = 0;
        CHECK(load >= 0 && load <= cap);
        for (size_t k = 0; k < rt->len; k++) {
            size_t v = rt->stations[k];
            CHECK(v >= 1 && v < n && !seen[v]);
            seen[v] = 1;
            load += brp_instance_demand(in, v);
            CHECK(load >= 0 && load <= cap);
            cost += brp_instance_cost(in, prev, v);
            prev = v;
        }
        cost += brp_instance_cost(in, prev, 0);
        CHECK_EQ(cost, rt->cost);
        total += cost;
    }
    for (size_t v = 1; v < n; v++)
        CHECK(seen[v]);
    CHECK_EQ(total, s->cost);
    xfree(seen);
}

/* ---- exact reference: subset DP (Held-Karp per start load) ------------- */

#define DP_INF INT64_MAX / 4

/*
 * The optimum by dynamic programming over subsets of stations: the best
 * single route for every subset (every start load, every last station),
 * then the best partition of all stations into routes (or one route).
 */
static int64_t dp_optimum(const struct brp_instance *in)
{
    size_t n = brp_instance_nodes(in), m = n - 1;
    int32_t cap = brp_instance_capacity(in);
    size_t full = ((size_t)1 << m) - 1;
    int64_t *route = xcalloc(full + 1, sizeof(*route));
    int64_t *f = xcalloc((full + 1) * m, sizeof(*f));
    int32_t *sum = xcalloc(full + 1, sizeof(*sum));
    for (size_t s = 0; s <= full; s++) {
        route[s] = DP_INF;
        for (size_t i = 0; i < m; i++) {
            if (s & ((size_t)1 << i)) {
                sum[s] =
                    sum[s & ~((size_t)1 << i)] + brp_instance_demand(in, i + 1);
                break;
            }
        }
    }
    for (int32_t l0 = 0; l0 <= cap; l0++) {
        for (size_t k = 0; k < (full + 1) * m; k++)
            f[k] = DP_INF;
        for (size_t i = 0; i < m; i++) {
            int32_t load = l0 + brp_instance_demand(in, i + 1);
            if (load >= 0 && load <= cap)
                f[((size_t)1 << i) * m + i] = brp_instance_cost(in, 0, i + 1);
        }
        for (size_t s = 1; s <= full; s++) {
            for (size_t i = 0; i < m; i++) {
                int64_t v = f[s * m + i];
                if (v >= DP_INF)
                    continue;
                route[s] = MIN(route[s], v + brp_instance_cost(in, i + 1, 0));
                for (size_t j = 0; j < m; j++) {
                    size_t bit = (size_t)1 << j;
                    if (s & bit)
                        continue;
                    int32_t load = l0 + sum[s] + brp_instance_demand(in, j + 1);
                    if (load < 0 || load > cap)
                        continue;
                    int64_t w = v + brp_instance_cost(in, i + 1, j + 1);
                    if (w < f[(s | bit) * m + j])
                        f[(s | bit) * m + j] = w;
                }
            }
        }
    }
    int64_t best;
    if (brp_instance_max_routes(in) == 1) {
        best = route[full];
    } else {
        int64_t *g = xcalloc(full + 1, sizeof(*g));
        for (size_t s = 1; s <= full; s++) {
            g[s] = DP_INF;
            size_t low = s & (~s + 1);
            /* Every sub-route t of s that holds s's lowest station. */
            for (size_t t = s; t; t = (t - 1) & s) {
                if (!(t & low) || route[t] >= DP_INF || g[s & ~t] >= DP_INF)
                    continue;
                g[s] = MIN(g[s], route[t] + g[s & ~t]);
            }
        }
        best = g[full];
        xfree(g);
    }
    xfree(route);
    xfree(f);
    xfree(sum);
    return best;
}

/* ---- parsing ----------------------------------------------------------- */

TEST(brp_parse_rbrp)
{
    struct brp_instance *in = parse_ok(rbrp_small, BRP_FORMAT_RBRP);
    CHECK_EQ(brp_instance_nodes(in), 4);
    CHECK_EQ(brp_instance_capacity(in), 3);
    CHECK_EQ(brp_instance_max_routes(in), 0);
    CHECK_STR(brp_instance_name(in), "tiny3");
    CHECK_EQ(brp_instance_demand(in, 0), 0);
    CHECK_EQ(brp_instance_demand(in, 1), 2);
    CHECK_EQ(brp_instance_demand(in, 2), -3);
    CHECK_EQ(brp_instance_demand(in, 3), 1);
    CHECK_EQ(brp_instance_cost(in, 0, 1), 10);
    CHECK_EQ(brp_instance_cost(in, 1, 0), 11);
    CHECK_EQ(brp_instance_cost(in, 3, 2), 8);
    CHECK_EQ(brp_instance_cost(in, 2, 2), 0);
    brp_instance_free(in);
    /* Auto-detected. */
    in = parse_ok(rbrp_small, BRP_FORMAT_AUTO);
    CHECK_EQ(brp_instance_cost(in, 2, 3), 7);
    brp_instance_free(in);
    brp_instance_free(NULL);
}

TEST(brp_parse_original)
{
    struct brp_instance *a = parse_ok(rbrp_small, BRP_FORMAT_RBRP);
    struct brp_instance *b = parse_ok(original_small, BRP_FORMAT_AUTO);
    CHECK_EQ(brp_instance_nodes(b), 4);
    CHECK_EQ(brp_instance_capacity(b), 3);
    CHECK_STR(brp_instance_name(b), "");
    for (size_t i = 0; i < 4; i++) {
        CHECK_EQ(brp_instance_demand(a, i), brp_instance_demand(b, i));
        for (size_t j = 0; j < 4; j++)
            CHECK_EQ(brp_instance_cost(a, i, j), brp_instance_cost(b, i, j));
    }
    brp_instance_free(a);
    brp_instance_free(b);
}

TEST(brp_parse_1pdtsp)
{
    struct brp_instance *in = parse_ok(tsp_small, BRP_FORMAT_AUTO);
    CHECK_EQ(brp_instance_nodes(in), 4);
    CHECK_EQ(brp_instance_capacity(in), 5);
    CHECK_EQ(brp_instance_max_routes(in), 1);
    CHECK_STR(brp_instance_name(in), "t4.tsp, 4 nodes");
    CHECK_EQ(brp_instance_demand(in, 0), 0); /* the depot's -2 is dropped */
    CHECK_EQ(brp_instance_demand(in, 1), 5);
    CHECK_EQ(brp_instance_demand(in, 2), -4);
    CHECK_EQ(brp_instance_cost(in, 0, 1), 5);
    CHECK_EQ(brp_instance_cost(in, 1, 2), 6);
    CHECK_EQ(brp_instance_cost(in, 0, 3), 10); /* nint(10.4) */
    CHECK_EQ(brp_instance_cost(in, 3, 1), 15); /* nint(14.7) */
    brp_instance_free(in);
    /* "KEY : value" spacing, no display section, no EOF. */
    in = parse_ok("NAME : x\nTYPE : 1PDTSP\nDIMENSION : 2\nCAPACITY : 1\n"
                  "EDGE_WEIGHT_TYPE : EUC_2D\nNODE_COORD_SECTION\n1 0 0\n"
                  "2 0 1.5\nDEMAND_SECTION\n1 1\n2 -1\n",
                  BRP_FORMAT_1PDTSP);
    CHECK_EQ(brp_instance_cost(in, 0, 1), 2);
    brp_instance_free(in);
}

/* The RBRP small instance with one line replaced. */
static char *rbrp_with(const char *from, const char *to)
{
    const char *at = strstr(rbrp_small, from);
    ASSERT(at);
    size_t pre = (size_t)(at - rbrp_small);
    size_t len = strlen(rbrp_small) - strlen(from) + strlen(to) + 1;
    char *s = xmalloc(len);
    snprintf(s, len, "%.*s%s%s", (int)pre, rbrp_small, to, at + strlen(from));
    return s;
}

TEST(brp_parse_rbrp_errors)
{
    static const struct {
        const char *from, *to;
        enum err code;
        const char *prefix;
    } cases[] = {
        {"#name\n", "#nam\n", ERR_INVALID, "line 1: expected '#name'"},
        {"#numVertices\n", "#vertices\n", ERR_INVALID, "line 4: expected"},
        {"\n4\n", "\nfour\n", ERR_INVALID, "line 5: the number of nodes"},
        {"\n4\n", "\n0\n", ERR_INVALID, "line 5: the number of nodes 0"},
        {"\n4\n", "\n2001\n", ERR_TOO_BIG, "line 5: 2001 nodes"},
        {"\n4\n", "\n4 4\n", ERR_INVALID, "line 5: expected 1 values"},
        {"\n3\n\n#d", "\n0\n\n#d", ERR_INVALID, "line 8: capacity 0"},
        {"\n3\n\n#d", "\n100001\n\n#d", ERR_INVALID, "line 8: capacity"},
        {"     2     -3      0      3\n", "     5     -3      0      3\n",
         ERR_INVALID, "line 13: row index 5"},
        {"     2     -3      0      3\n", "     2     -3      1      3\n",
         ERR_INVALID, "line 13: pickup 1"},
        {"     2     -3      0      3\n", "     2     -3      0      2\n",
         ERR_INVALID, "line 13: absolute demand 2"},
        {"     2     -3      0      3\n", "     2     -4      0      4\n",
         ERR_INVALID, "line 13: station 2 demand -4 exceeds capacity 3"},
        {"     2     -3      0      3\n", "     2     -3      0\n", ERR_INVALID,
         "line 13: expected 4 values"},
        {"     0      0      0      0\n", "     0      1      1      1\n",
         ERR_INVALID, "line 11: the depot's demand"},
        {"       0    1    2    3\n", "       0    1    3    2\n", ERR_INVALID,
         "line 17: column index 3"},
        {"  1   11    0    5   25\n", "  1   11    0    5\n", ERR_INVALID,
         "line 19: expected 5 values"},
        {"  1   11    0    5   25\n", "  1   11    0   -5   25\n", ERR_INVALID,
         "line 19: cost -5"},
        {"  1   11    0    5   25\n", "  1   11    0  5.5   25\n", ERR_INVALID,
         "line 19: cost '5.5' is not an integer"},
        {"  1   11    0    5   25\n", "  1   11    0 1000000001   25\n",
         ERR_INVALID, "line 19: cost 1000000001"},
        {"  2   21    6    0    7\n", "  9   21    6    0    7\n", ERR_INVALID,
         "line 20: row index 9"},
        {"  3   31   26    8    0\n", "  3   31   26    8    0\nextra\n",
         ERR_INVALID, "line 22: unexpected 'extra'"},
        {"  3   31   26    8    0\n", "", ERR_INVALID,
         "line 21: expected a row index and costs, got the end"},
        {"tiny3\n",
         "a-name-that-is-much-longer-than-sixty-three-bytes-"
         "in-total-xxxxxxxxxx\n",
         ERR_TOO_BIG, "line 2: the name is over 63 bytes"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char *text = rbrp_with(cases[i].from, cases[i].to);
        parse_err(__LINE__ * 1000 + (int)i, text, BRP_FORMAT_RBRP,
                  cases[i].code, cases[i].prefix);
        xfree(text);
    }
    PARSE_ERR("", BRP_FORMAT_RBRP, ERR_INVALID,
              "line 1: expected '#name', got the end");
    PARSE_ERR("#name\n", BRP_FORMAT_RBRP, ERR_INVALID,
              "line 2: expected the name");
    /* The section is named in the detail. */
    struct brp_instance *in = NULL;
    struct err_detail d;
    char *text = rbrp_with("  1   11    0    5   25\n", "  1   11    0\n");
    CHECK_ERR(brp_instance_parse(str_from_cstr(text), BRP_FORMAT_RBRP, &in, &d),
              ERR_INVALID);
    CHECK_STR(d.field, "distances");
    xfree(text);
    /* Over the text cap (the bytes are never read). */
    static const char tiny[] = "#name";
    CHECK_ERR(brp_instance_parse((struct str){tiny, BRP_MAX_TEXT_BYTES + 1},
                                 BRP_FORMAT_AUTO, &in, &d),
              ERR_TOO_BIG);
    CHECK_ERR(brp_instance_parse(STR_LIT("1"), (enum brp_format)42, &in, &d),
              ERR_INVALID);
}

TEST(brp_parse_original_errors)
{
    PARSE_ERR("", BRP_FORMAT_ORIGINAL, ERR_INVALID,
              "line 1: expected the number of nodes, got the end");
    PARSE_ERR("2\n0 1\n", BRP_FORMAT_ORIGINAL, ERR_INVALID,
              "line 3: expected the capacity, got the end");
    PARSE_ERR("2\n0\n1\n", BRP_FORMAT_ORIGINAL, ERR_INVALID,
              "line 2: expected 2 values");
    PARSE_ERR("2\n1 1\n1\n", BRP_FORMAT_ORIGINAL, ERR_INVALID,
              "line 2: depot demand 1");
    PARSE_ERR("2\n0 2\n1\n0 1\n1 0\n", BRP_FORMAT_ORIGINAL, ERR_INVALID,
              "line 2: station 1 demand 2 exceeds capacity 1");
    PARSE_ERR("2\n0 1\n1\n0 1\n1 x\n", BRP_FORMAT_ORIGINAL, ERR_INVALID,
              "line 5: diagonal 'x'");
    PARSE_ERR("2\n0 1\n1\n0 1\n1 -1\n", BRP_FORMAT_ORIGINAL, ERR_INVALID,
              "line 5: diagonal '-1'");
    PARSE_ERR("2\n0 1\n1\n0 1e3\n1 0\n", BRP_FORMAT_ORIGINAL, ERR_INVALID,
              "line 4: cost '1e3' is not an integer");
    PARSE_ERR("2\n0 1\n1\n0 1\n1 0\n0\n", BRP_FORMAT_ORIGINAL, ERR_INVALID,
              "line 6: unexpected '0'");
    PARSE_ERR("3000\n", BRP_FORMAT_ORIGINAL, ERR_TOO_BIG, "line 1: 3000 nodes");
    struct brp_instance *in = parse_ok("1\n0\n5\n0\n", BRP_FORMAT_ORIGINAL);
    CHECK_EQ(brp_instance_nodes(in), 1);
    brp_instance_free(in);
}

TEST(brp_parse_1pdtsp_errors)
{
    static const char head[] = "NAME: t\nDIMENSION: 2\nCAPACITY: 2\n"
                               "EDGE_WEIGHT_TYPE: EUC_2D\n";
    static const struct {
        const char *text; /* appended to head, or whole if it starts '!' */
        enum err code;
        const char *prefix;
    } cases[] = {
        {"NODE_COORD_SECTION\n1 0 0\n2 1 1\nDEMAND_SECTION\n1 1\n2 -2\n",
         ERR_INVALID, "line 9: the demands sum to -1"},
        {"NODE_COORD_SECTION\n1 0 0\n2 1 1\nDEMAND_SECTION\n1 1\n2 -3\n",
         ERR_INVALID, "line 10: station 1 demand -3 exceeds capacity 2"},
        {"NODE_COORD_SECTION\n1 0 0\n2 1 1\n", ERR_INVALID,
         "line 8: NODE_COORD_SECTION and DEMAND_SECTION are required"},
        {"NODE_COORD_SECTION\n1 0 0\n3 1 1\n", ERR_INVALID,
         "line 7: node id 3"},
        {"NODE_COORD_SECTION\n1 0 0\n2 1 1e8\n", ERR_INVALID,
         "line 7: coordinate '1e8'"},
        {"NODE_COORD_SECTION\n1 0 0\n2 1 nan\n", ERR_INVALID,
         "line 7: coordinate 'nan'"},
        {"NODE_COORD_SECTION\n1 0 0\n", ERR_INVALID,
         "line 7: expected a node row, got the end"},
        {"NODE_COORD_SECTION extra\n", ERR_INVALID,
         "line 5: 'NODE_COORD_SECTION' takes no value"},
        {"FOO: 1\n", ERR_INVALID, "line 5: unexpected or repeated 'FOO'"},
        {"CAPACITY: 3\n", ERR_INVALID, "line 5: unexpected or repeated"},
        {"EOF\nmore\n", ERR_INVALID, "line 6: unexpected 'more'"},
        {"!NAME: t\nDIMENSION: 2\nCAPACITY: 2\nEDGE_WEIGHT_TYPE: GEO\n",
         ERR_INVALID, "line 4: EDGE_WEIGHT_TYPE 'GEO'"},
        {"!DIMENSION: 2\nNODE_COORD_SECTION\n", ERR_INVALID,
         "line 2: DIMENSION, CAPACITY and EDGE_WEIGHT_TYPE must come"},
        {"!DIMENSION: 2 3\n", ERR_INVALID, "line 1: DIMENSION needs one"},
        {"!DIMENSION: 5000\n", ERR_TOO_BIG, "line 1: 5000 nodes"},
        {"!CAPACITY: 0\n", ERR_INVALID, "line 1: CAPACITY 0"},
        {"!NAME: a-name-that-is-much-longer-than-sixty-three-bytes-in-"
         "total-xxxxxx\n",
         ERR_TOO_BIG, "line 1: the name is over"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char text[512];
        if (cases[i].text[0] == '!')
            snprintf(text, sizeof(text), "%s", cases[i].text + 1);
        else
            snprintf(text, sizeof(text), "%s%s", head, cases[i].text);
        parse_err(__LINE__ * 1000 + (int)i, text, BRP_FORMAT_1PDTSP,
                  cases[i].code, cases[i].prefix);
    }
    /* A net demand no single route can carry. */
    PARSE_ERR("DIMENSION: 3\nCAPACITY: 2\nEDGE_WEIGHT_TYPE: EUC_2D\n"
              "NODE_COORD_SECTION\n1 0 0\n2 1 1\n3 2 2\nDEMAND_SECTION\n"
              "1 -4\n2 2\n3 2\n",
              BRP_FORMAT_1PDTSP, ERR_INVALID,
              "line 9: the stations' net demand 4 exceeds capacity 2");
}

TEST(brp_instance_new_errors)
{
    int32_t q[3] = {0, 1, -1};
    int64_t c[9] = {0, 1, 2, 3, 0, 4, 5, 6, 0};
    struct brp_instance *in = NULL;
    struct err_detail d;
    CHECK_ERR(brp_instance_new(0, 1, q, c, 0, &in, &d), ERR_INVALID);
    CHECK_ERR(brp_instance_new(BRP_MAX_NODES + 1, 1, q, c, 0, &in, &d),
              ERR_TOO_BIG);
    CHECK_ERR(brp_instance_new(3, 0, q, c, 0, &in, &d), ERR_INVALID);
    CHECK_ERR(brp_instance_new(3, BRP_MAX_CAPACITY + 1, q, c, 0, &in, &d),
              ERR_INVALID);
    q[0] = 1;
    CHECK_ERR(brp_instance_new(3, 1, q, c, 0, &in, &d), ERR_INVALID);
    CHECK_STR(d.field, "q");
    q[0] = 0;
    q[2] = -2;
    CHECK_ERR(brp_instance_new(3, 1, q, c, 0, &in, &d), ERR_INVALID);
    q[2] = -1;
    c[5] = -1;
    CHECK_ERR(brp_instance_new(3, 1, q, c, 0, &in, &d), ERR_INVALID);
    CHECK_STR(d.field, "cost");
    c[5] = (int64_t)BRP_MAX_COST + 1;
    CHECK_ERR(brp_instance_new(3, 1, q, c, 0, &in, &d), ERR_INVALID);
    CHECK(in == NULL);
    c[5] = 4;
    c[4] = -7; /* the diagonal is ignored */
    CHECK_OK(brp_instance_new(3, 1, q, c, 0, &in, &d));
    CHECK_EQ(brp_instance_cost(in, 1, 1), 0);
    CHECK_EQ(brp_instance_cost(in, 1, 2), 4);
    brp_instance_free(in);
}

/* ---- checking ---------------------------------------------------------- */

/*
 * The tiny instance's solution 0 1 2 3 0 from load 1 (loads 3, 0, 1), built
 * the way brp_solution_release expects; returns its stations.
 */
static size_t *good_solution(struct brp_solution *s)
{
    size_t *st = xcalloc(3, sizeof(*st));
    st[0] = 1;
    st[1] = 2;
    st[2] = 3;
    s->routes = xcalloc(1, sizeof(*s->routes));
    s->n_routes = 1;
    s->routes[0] = (struct brp_route){st, 3, 1, 10 + 5 + 7 + 31};
    s->cost = 53;
    return st;
}

static void check_err(int line, const struct brp_instance *in,
                      const struct brp_solution *s, const char *substr)
{
    struct err_detail d;
    err_clear(&d);
    enum err e = brp_check(in, s, &d);
    if (e != ERR_INVALID)
        test_fail(__FILE__, line, "brp_check returned %s", err_name(e));
    if (!strstr(d.msg, substr))
        test_fail(__FILE__, line, "message '%s' lacks '%s'", d.msg, substr);
}

#define CHECK_BAD(in, s, substr) check_err(__LINE__, in, s, substr)

TEST(brp_check_catches_everything)
{
    struct brp_instance *in = parse_ok(rbrp_small, BRP_FORMAT_RBRP);
    struct brp_solution s;
    size_t *st = good_solution(&s);
    CHECK_OK(brp_check(in, &s, NULL));
    /* Start load: 0 is too low (2 - 3 < 0), 2 too high (2 + 2 > 3). */
    s.routes[0].start_load = 0;
    CHECK_BAD(in, &s, "load -1 is negative at station 2");
    s.routes[0].start_load = 2;
    CHECK_BAD(in, &s, "load 4 exceeds capacity 3 at station 1");
    s.routes[0].start_load = -1;
    CHECK_BAD(in, &s, "start load -1 is not in 0..3");
    s.routes[0].start_load = 4;
    CHECK_BAD(in, &s, "start load 4");
    s.routes[0].start_load = 1;
    /* Costs. */
    s.routes[0].cost = 52;
    CHECK_BAD(in, &s, "cost 52 differs from the recomputed 53");
    s.routes[0].cost = 53;
    s.cost = 54;
    CHECK_BAD(in, &s, "total cost 54 differs");
    s.cost = 53;
    /* Stations: duplicate, missing, not a station. */
    st[2] = 1;
    CHECK_BAD(in, &s, "station 1 is visited twice");
    st[2] = 3;
    s.routes[0].len = 2;
    s.routes[0].cost = 10 + 5 + 21;
    s.cost = s.routes[0].cost;
    CHECK_BAD(in, &s, "station 3 is not visited");
    s.routes[0].len = 3;
    st[1] = 0;
    CHECK_BAD(in, &s, "0 is not a station");
    st[1] = 4;
    CHECK_BAD(in, &s, "4 is not a station");
    st[1] = 2;
    s.routes[0].cost = 53;
    s.cost = 53;
    CHECK_OK(brp_check(in, &s, NULL));
    /* An empty route. */
    s.routes[0].len = 0;
    CHECK_BAD(in, &s, "route 1 is empty");
    s.routes[0].len = 3;
    /* Two routes: 0 1 2 0 (from 1) and 0 3 0 (from 0). */
    struct brp_route two[2] = {{st, 2, 1, 10 + 5 + 21}, {st + 2, 1, 0, 61}};
    struct brp_solution s2 = {two, 2, 36 + 61};
    CHECK_OK(brp_check(in, &s2, NULL));
    struct err_detail d;
    two[1].start_load = 3;
    CHECK_ERR(brp_check(in, &s2, &d), ERR_INVALID);
    CHECK_STR(d.field, "routes[1]");
    CHECK(strstr(d.msg, "route 2 position 1: load 4 exceeds") != NULL);
    two[1].start_load = 0;
    /* No route array. */
    struct brp_solution s3 = {NULL, 1, 0};
    CHECK_BAD(in, &s3, "no route array");
    brp_solution_release(&s);
    CHECK_EQ(s.n_routes, 0);
    CHECK(s.routes == NULL);
    brp_instance_free(in);
    /* The 1-PDTSP allows one route only. */
    in = parse_ok(tsp_small, BRP_FORMAT_AUTO);
    size_t a[1] = {1}, b[2] = {2, 3};
    struct brp_route r1[2] = {
        {a, 1, 0, brp_instance_cost(in, 0, 1) + brp_instance_cost(in, 1, 0)},
        {b, 2, 4,
         brp_instance_cost(in, 0, 2) + brp_instance_cost(in, 2, 3) +
             brp_instance_cost(in, 3, 0)}};
    struct brp_solution s4 = {r1, 2, r1[0].cost + r1[1].cost};
    CHECK_BAD(in, &s4, "2 routes where at most 1 are allowed");
    brp_instance_free(in);
}

/* ---- solving ----------------------------------------------------------- */

TEST(brp_solve_params_and_trivial)
{
    struct brp_instance *in = parse_ok(rbrp_small, BRP_FORMAT_RBRP);
    struct brp_params p = {.seed = 1};
    struct brp_solution s;
    brp_solution_init(&s);
    struct err_detail d;
    CHECK_ERR(brp_solve(in, &p, &s, NULL, &d), ERR_INVALID);
    CHECK_EQ(s.n_routes, 0);
    /* Optimum by hand: 0 1 2 3 0 costs 53; 0 3 2 1 0 costs 30+8+6+11 = 55;
     * 0 2 ... needs start load 3 then +1 ... the DP decides. */
    struct brp_stats st;
    p.max_iters = 50;
    CHECK_OK(brp_solve(in, &p, &s, &st, &d));
    check_feasible(in, &s);
    CHECK_EQ(s.cost, dp_optimum(in));
    CHECK_EQ(st.iters, 50);
    CHECK(st.ls_runs >= 1);
    brp_solution_release(&s);
    brp_instance_free(in);
    /* A depot alone: no routes. */
    in = parse_ok("1\n0\n5\n0\n", BRP_FORMAT_ORIGINAL);
    CHECK_OK(brp_solve(in, &p, &s, NULL, &d));
    CHECK_EQ(s.n_routes, 0);
    CHECK_EQ(s.cost, 0);
    CHECK_OK(brp_check(in, &s, NULL));
    brp_instance_free(in);
}

struct fake_clock {
    int calls;
    int stop_at;
    int improved;
};

static double fake_budget(void *ctx)
{
    struct fake_clock *c = ctx;
    c->calls++;
    return (double)c->calls / c->stop_at;
}

static void fake_improve(void *ctx, int64_t cost, uint64_t iter)
{
    struct fake_clock *c = ctx;
    (void)cost;
    (void)iter;
    c->improved++;
}

TEST(brp_solve_budget_callback)
{
    struct rng r;
    rng_seed(&r, 7);
    struct brp_instance *in = random_instance(&r, 30, 10, 0);
    struct fake_clock fc = {0, 20, 0};
    struct brp_params p = {.seed = 3,
                           .budget = fake_budget,
                           .budget_ctx = &fc,
                           .on_improve = fake_improve,
                           .improve_ctx = &fc};
    struct brp_solution s;
    struct brp_stats st;
    brp_solution_init(&s);
    CHECK_OK(brp_solve(in, &p, &s, &st, NULL));
    check_feasible(in, &s);
    CHECK_EQ(fc.calls, 20);
    CHECK(st.iters >= 19 * 8 && st.iters <= 20 * 8);
    CHECK(fc.improved >= 1);
    brp_solution_release(&s);
    brp_instance_free(in);
}

static bool same_solution(const struct brp_solution *a,
                          const struct brp_solution *b)
{
    if (a->n_routes != b->n_routes || a->cost != b->cost)
        return false;
    for (size_t r = 0; r < a->n_routes; r++) {
        const struct brp_route *x = &a->routes[r], *y = &b->routes[r];
        if (x->len != y->len || x->start_load != y->start_load ||
            memcmp(x->stations, y->stations, x->len * sizeof(size_t)) != 0)
            return false;
    }
    return true;
}

TEST(brp_solve_random_invariants)
{
    struct rng r;
    rng_seed(&r, 11);
    for (int k = 0; k < 30; k++) {
        size_t n = 2 + (size_t)rng_below(&r, 40);
        int32_t cap = 1 + (int32_t)rng_below(&r, 25);
        struct brp_instance *in = random_instance(&r, n, cap, 0);
        uint64_t seed = rng_u64(&r);
        struct brp_solution a = solve_iters(in, seed, 30);
        struct brp_solution b = solve_iters(in, seed, 30);
        check_feasible(in, &a);
        CHECK(same_solution(&a, &b));
        /* Never worse than every station on its own route. */
        int64_t alone = 0;
        for (size_t v = 1; v < n; v++)
            alone += brp_instance_cost(in, 0, v) + brp_instance_cost(in, v, 0);
        CHECK(a.cost <= alone);
        brp_solution_release(&a);
        brp_solution_release(&b);
        brp_instance_free(in);
    }
}

/*
 * A 1-PDTSP-like instance (one route) that is feasible by construction:
 * demands are the steps of a random walk within [0, Q].
 */
static struct brp_instance *walk_instance(struct rng *r, size_t n, int32_t cap)
{
    int32_t *q = xcalloc(n, sizeof(*q));
    int64_t *c = xcalloc(n * n, sizeof(*c));
    int32_t load = (int32_t)rng_below(r, (uint64_t)cap + 1);
    for (size_t i = 1; i < n; i++) {
        int32_t next = (int32_t)rng_below(r, (uint64_t)cap + 1);
        q[i] = next - load;
        load = next;
    }
    /* Shuffle the stations' demands so the walk order is hidden. */
    for (size_t i = n - 1; i > 1; i--) {
        size_t j = 1 + (size_t)rng_below(r, i);
        int32_t t = q[i];
        q[i] = q[j];
        q[j] = t;
    }
    for (size_t i = 0; i < n * n; i++)
        c[i] = 1 + (int64_t)rng_below(r, 100);
    struct brp_instance *in = make(n, cap, q, c, 1);
    xfree(q);
    xfree(c);
    return in;
}

TEST(brp_solve_single_route)
{
    struct rng r;
    rng_seed(&r, 5);
    for (int k = 0; k < 25; k++) {
        size_t n = 2 + (size_t)rng_below(&r, 30);
        int32_t cap = 1 + (int32_t)rng_below(&r, 10);
        struct brp_instance *in = walk_instance(&r, n, cap);
        struct brp_solution s = solve_iters(in, (uint64_t)k, 100);
        check_feasible(in, &s);
        CHECK(s.n_routes <= 1);
        brp_solution_release(&s);
        brp_instance_free(in);
    }
}

TEST(brp_solve_single_route_infeasible)
{
    /* +6 +6 +6 -9 -9 with Q = 10: every order spans 12 or more. */
    int32_t q[6] = {0, 6, 6, 6, -9, -9};
    int64_t c[36];
    for (size_t i = 0; i < 36; i++)
        c[i] = 1;
    struct brp_instance *in = make(6, 10, q, c, 1);
    struct brp_params p = {.seed = 1, .max_iters = 100};
    struct brp_solution s;
    brp_solution_init(&s);
    struct err_detail d;
    CHECK_ERR(brp_solve(in, &p, &s, NULL, &d), ERR_NOT_FOUND);
    CHECK_EQ(s.n_routes, 0);
    brp_instance_free(in);
    /* With any number of routes it is easy. */
    in = make(6, 10, q, c, 0);
    s = solve_iters(in, 1, 100);
    check_feasible(in, &s);
    CHECK_EQ(s.cost, dp_optimum(in));
    brp_solution_release(&s);
    brp_instance_free(in);
}

/*
 * As the Hernandez-Perez generator: Euclidean costs, q uniform in [-Q, Q]
 * and nudged toward 0 until the depot's share |sum q| is at most Q (more
 * and no single route can exist).
 */
static struct brp_instance *hp_instance(struct rng *r, size_t n, int32_t cap)
{
    int32_t *q = xcalloc(n, sizeof(*q));
    int64_t *c = xcalloc(n * n, sizeof(*c));
    double *xs = xcalloc(n, sizeof(*xs)), *ys = xcalloc(n, sizeof(*ys));
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        xs[i] = rng_range(r, -500, 500);
        ys[i] = rng_range(r, -500, 500);
        if (i)
            q[i] = (int32_t)rng_below(r, 2 * (uint64_t)cap + 1) - cap;
        sum += q[i];
    }
    while (sum > cap || sum < -cap) {
        size_t i = 1 + (size_t)rng_below(r, n - 1);
        int32_t step = sum > 0 ? -1 : 1;
        if (q[i] + step >= -cap && q[i] + step <= cap) {
            q[i] += step;
            sum += step;
        }
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            double dx = xs[i] - xs[j], dy = ys[i] - ys[j];
            c[i * n + j] = (int64_t)floor(sqrt(dx * dx + dy * dy) + 0.5);
        }
    }
    struct brp_instance *in = make(n, cap, q, c, 1);
    xfree(q);
    xfree(c);
    xfree(xs);
    xfree(ys);
    return in;
}

TEST(brp_solve_single_route_tight)
{
    /*
     * The generator's hard corner: 100 nodes, Q = 10, one route. The
     * insertion greedy leaves excess here; the load-aware construction and
     * the returns to the best find tours.
     */
    struct rng r;
    rng_seed(&r, 11);
    for (int k = 0; k < 3; k++) {
        struct brp_instance *in = hp_instance(&r, 100, 10);
        struct brp_params p = {.seed = (uint64_t)k, .max_iters = 200};
        struct brp_solution s;
        struct brp_stats st;
        brp_solution_init(&s);
        CHECK_OK(brp_solve(in, &p, &s, &st, NULL));
        check_feasible(in, &s);
        CHECK_EQ(s.n_routes, 1);
        CHECK(st.load_greedy_tries >= 1);
        brp_solution_release(&s);
        brp_instance_free(in);
    }
}

TEST(brp_solve_tiny_optimal)
{
    struct rng r;
    rng_seed(&r, 3);
    for (int k = 0; k < 60; k++) {
        size_t n = 2 + (size_t)rng_below(&r, 8); /* up to 8 stations */
        int32_t cap = 1 + (int32_t)rng_below(&r, 8);
        bool one = k % 3 == 2;
        struct brp_instance *in =
            one ? walk_instance(&r, n, cap) : random_instance(&r, n, cap, 0);
        int64_t opt = dp_optimum(in);
        struct brp_solution s = solve_iters(in, (uint64_t)k, 300);
        check_feasible(in, &s);
        if (s.cost != opt)
            test_fail(__FILE__, __LINE__,
                      "case %d (n %zu, Q %d, %s): cost %" PRId64
                      ", optimum %" PRId64,
                      k, n, cap, one ? "one route" : "any routes", s.cost, opt);
        brp_solution_release(&s);
        brp_instance_free(in);
    }
}

/* ---- the benchmark data, when present ---------------------------------- */

static const char *data_dir(void)
{
    const char *d = getenv("SPOKE_BRP_DATA");
    return d ? d : "/work/shared/data/brp-dellamico2014";
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 20;
    char *buf = xmalloc(cap);
    *len = fread(buf, 1, cap, f);
    fclose(f);
    return buf;
}

static struct brp_instance *load_file(const char *path)
{
    size_t len = 0;
    char *text = slurp(path, &len);
    if (!text)
        test_fail(__FILE__, __LINE__, "cannot read %s", path);
    struct brp_instance *in = NULL;
    struct err_detail d;
    err_clear(&d);
    enum err e =
        brp_instance_parse((struct str){text, len}, BRP_FORMAT_AUTO, &in, &d);
    xfree(text);
    if (e != ERR_OK)
        test_fail(__FILE__, __LINE__, "%s: %s", path, d.msg);
    return in;
}

static bool have_data(void)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/best_known.csv", data_dir());
    if (access(path, R_OK) == 0)
        return true;
    printf("  skipped: no BRP data at %s (set SPOKE_BRP_DATA)\n", data_dir());
    return false;
}

TEST(brp_data_formats_agree)
{
    if (!have_data())
        return;
    static const char *const pairs[][2] = {
        {"01-Bari30_RBRP.txt", "1Bari30.txt"},
        {"20-BuenosAires20_RBRP.txt", "20BuenosAires20.txt"},
        {"50-Boston16_RBRP.txt", "50Boston16.txt"},
    };
    for (size_t i = 0; i < ARRAY_LEN(pairs); i++) {
        char pa[512], pb[512];
        snprintf(pa, sizeof(pa), "%s/instances_rbrp_format/%s", data_dir(),
                 pairs[i][0]);
        snprintf(pb, sizeof(pb), "%s/instances_original_format/%s", data_dir(),
                 pairs[i][1]);
        struct brp_instance *a = load_file(pa), *b = load_file(pb);
        size_t n = brp_instance_nodes(a);
        CHECK_EQ(brp_instance_nodes(b), n);
        CHECK_EQ(brp_instance_capacity(a), brp_instance_capacity(b));
        for (size_t u = 0; u < n; u++) {
            CHECK_EQ(brp_instance_demand(a, u), brp_instance_demand(b, u));
            for (size_t v = 0; v < n; v++)
                CHECK_EQ(brp_instance_cost(a, u, v),
                         brp_instance_cost(b, u, v));
        }
        brp_instance_free(a);
        brp_instance_free(b);
    }
}

TEST(brp_data_proven_optima)
{
    if (!have_data())
        return;
    static const struct {
        const char *file;
        int64_t opt;
    } cases[] = {
        {"01-Bari30_RBRP.txt", 14600},
        {"02-Bari20_RBRP.txt", 15700},
        {"03-Bari10_RBRP.txt", 20600},
        {"04-ReggioEmilia30_RBRP.txt", 16900},
        {"05-ReggioEmilia20_RBRP.txt", 23200},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char path[512];
        snprintf(path, sizeof(path), "%s/instances_rbrp_format/%s", data_dir(),
                 cases[i].file);
        struct brp_instance *in = load_file(path);
        struct brp_solution s = solve_iters(in, 1, 500);
        check_feasible(in, &s);
        if (s.cost != cases[i].opt)
            test_fail(__FILE__, __LINE__, "%s: %" PRId64 ", optimum %" PRId64,
                      cases[i].file, s.cost, cases[i].opt);
        /* The exact DP agrees on the smallest one. */
        if (i == 0)
            CHECK_EQ(dp_optimum(in), cases[i].opt);
        brp_solution_release(&s);
        brp_instance_free(in);
    }
}

const struct test_case test_suite_brp[] = {
    CASE(brp_parse_rbrp),
    CASE(brp_parse_original),
    CASE(brp_parse_1pdtsp),
    CASE(brp_parse_rbrp_errors),
    CASE(brp_parse_original_errors),
    CASE(brp_parse_1pdtsp_errors),
    CASE(brp_instance_new_errors),
    CASE(brp_check_catches_everything),
    CASE(brp_solve_params_and_trivial),
    CASE(brp_solve_budget_callback),
    CASE(brp_solve_random_invariants),
    CASE(brp_solve_single_route),
    CASE(brp_solve_single_route_infeasible),
    CASE(brp_solve_single_route_tight),
    CASE(brp_solve_tiny_optimal),
    CASE(brp_data_formats_agree),
    CASE(brp_data_proven_optima),
    {0},
};
