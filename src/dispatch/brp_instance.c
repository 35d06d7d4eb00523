/* SPDX-License-Identifier: MIT */
/*
 * BRP instances: construction from arrays, accessors, and the strict
 * parsers of the three text formats (RBRP, the original unimore layout and
 * TSPLIB 1-PDTSP). Every parse error names its line and section.
 */
#include "base/sys.h"
#include "dispatch/brp.h"
#include "dispatch/dispatch_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>

/* ---- construction ------------------------------------------------------ */

static struct brp_instance *instance_alloc(size_t n)
{
    struct brp_instance *in = xcalloc(1, sizeof(*in));
    in->n = n;
    in->q = xcalloc(n, sizeof(*in->q));
    in->cost = xreallocarray(NULL, n * n, sizeof(*in->cost));
    return in;
}

void brp_instance_free(struct brp_instance *inst)
{
    if (!inst)
        return;
    xfree(inst->q);
    xfree(inst->cost);
    xfree(inst);
}

enum err brp_instance_new(size_t n, int32_t capacity, const int32_t *q,
                          const int64_t *cost, size_t max_routes,
                          struct brp_instance **out, struct err_detail *d)
{
    if (n == 0)
        return err_set(d, ERR_INVALID, "n", "an instance needs a depot");
    if (n > BRP_MAX_NODES)
        return err_set(d, ERR_TOO_BIG, "n", "%zu nodes is over the cap of %u",
                       n, BRP_MAX_NODES);
    if (capacity < 1 || capacity > BRP_MAX_CAPACITY)
        return err_set(d, ERR_INVALID, "capacity",
                       "capacity %" PRId32 " is not in 1..%d", capacity,
                       BRP_MAX_CAPACITY);
    if (q[0] != 0)
        return err_set(d, ERR_INVALID, "q", "the depot's demand must be 0");
    for (size_t i = 1; i < n; i++) {
        if (q[i] < -capacity || q[i] > capacity)
            return err_set(d, ERR_INVALID, "q",
                           "station %zu demand %" PRId32
                           " exceeds capacity %" PRId32,
                           i, q[i], capacity);
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            int64_t c = cost[i * n + j];
            if (i != j && (c < 0 || c > BRP_MAX_COST))
                return err_set(d, ERR_INVALID, "cost",
                               "cost %zu->%zu = %" PRId64 " is not in 0..%d", i,
                               j, c, BRP_MAX_COST);
        }
    }
    struct brp_instance *in = instance_alloc(n);
    in->capacity = capacity;
    in->max_routes = max_routes;
    memcpy(in->q, q, n * sizeof(*q));
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++)
            in->cost[i * n + j] = i == j ? 0 : (int32_t)cost[i * n + j];
    }
    *out = in;
    return ERR_OK;
}

size_t brp_instance_nodes(const struct brp_instance *inst)
{
    return inst->n;
}

int32_t brp_instance_capacity(const struct brp_instance *inst)
{
    return inst->capacity;
}

int32_t brp_instance_demand(const struct brp_instance *inst, size_t i)
{
    ASSERT(i < inst->n);
    return inst->q[i];
}

int64_t brp_instance_cost(const struct brp_instance *inst, size_t i, size_t j)
{
    ASSERT(i < inst->n && j < inst->n);
    return brp__c(inst, i, j);
}

size_t brp_instance_max_routes(const struct brp_instance *inst)
{
    return inst->max_routes;
}

const char *brp_instance_name(const struct brp_instance *inst)
{
    return inst->name;
}

/* ---- lexing ------------------------------------------------------------ */

/* A cursor over the text that hands out non-blank lines. */
struct lexer {
    const char *p, *end;
    size_t line;         /* number of the line last returned (1-based) */
    const char *section; /* for err_detail.field */
    struct err_detail *d;
    bool ended; /* the end was reached: line is one past the last */
};

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

static struct str trim(struct str s)
{
    while (s.len && is_space(s.ptr[0])) {
        s.ptr++;
        s.len--;
    }
    while (s.len && is_space(s.ptr[s.len - 1]))
        s.len--;
    return s;
}

/* The next non-blank line, trimmed; false at the end of the text. */
static bool lex_line(struct lexer *lx, struct str *out)
{
    while (lx->p < lx->end) {
        const char *nl = memchr(lx->p, '\n', (size_t)(lx->end - lx->p));
        const char *stop = nl ? nl : lx->end;
        struct str s = trim((struct str){lx->p, (size_t)(stop - lx->p)});
        lx->p = nl ? nl + 1 : lx->end;
        lx->line++;
        if (s.len) {
            *out = s;
            return true;
        }
    }
    if (!lx->ended)
        lx->line++;
    lx->ended = true;
    return false;
}

/* Splits the next whitespace-separated token off *s; false if none. */
static bool tok_next(struct str *s, struct str *tok)
{
    *s = trim(*s);
    if (!s->len)
        return false;
    size_t i = 0;
    while (i < s->len && !is_space(s->ptr[i]))
        i++;
    *tok = (struct str){s->ptr, i};
    *s = (struct str){s->ptr + i, s->len - i};
    return true;
}

static size_t tok_count(struct str s)
{
    size_t n = 0;
    struct str t;
    while (tok_next(&s, &t))
        n++;
    return n;
}

static enum err lex_err(struct lexer *lx, enum err code, const char *fmt, ...)
    SYS_PRINTF(3, 4);

static enum err lex_err(struct lexer *lx, enum err code, const char *fmt, ...)
{
    char msg[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return err_set(lx->d, code, lx->section, "line %zu: %s", lx->line, msg);
}

/* Quotes at most 24 bytes of t for a message. */
static int quote_len(struct str t)
{
    return (int)MIN(t.len, (size_t)24);
}

/* Reads the next line and requires it to be exactly `want`. */
static enum err expect_line(struct lexer *lx, const char *want)
{
    struct str s;
    if (!lex_line(lx, &s))
        return lex_err(lx, ERR_INVALID, "expected '%s', got the end", want);
    if (!str_eq_cstr(s, want))
        return lex_err(lx, ERR_INVALID, "expected '%s', got '%.*s'", want,
                       quote_len(s), s.ptr);
    return ERR_OK;
}

/* Reads the next line and requires exactly `count` tokens on it. */
static enum err expect_tokens(struct lexer *lx, size_t count, struct str *line,
                              const char *what)
{
    if (!lex_line(lx, line))
        return lex_err(lx, ERR_INVALID, "expected %s, got the end", what);
    size_t got = tok_count(*line);
    if (got != count)
        return lex_err(lx, ERR_INVALID, "expected %zu values (%s), got %zu",
                       count, what, got);
    return ERR_OK;
}

/* The next token of a line already counted, as an integer in [lo, hi]. */
static enum err tok_i64(struct lexer *lx, struct str *line, int64_t lo,
                        int64_t hi, const char *what, int64_t *out)
{
    struct str t;
    int64_t v;
    bool has = tok_next(line, &t);
    ASSERT(has);
    if (str_to_i64(t, &v) != ERR_OK)
        return lex_err(lx, ERR_INVALID, "%s '%.*s' is not an integer", what,
                       quote_len(t), t.ptr);
    if (v < lo || v > hi)
        return lex_err(lx, ERR_INVALID,
                       "%s %" PRId64 " is not in %" PRId64 "..%" PRId64, what,
                       v, lo, hi);
    *out = v;
    return ERR_OK;
}

/* A line holding one integer: the node count, capped at BRP_MAX_NODES. */
static enum err read_count(struct lexer *lx, size_t *n)
{
    struct str line;
    int64_t v;
    enum err e = expect_tokens(lx, 1, &line, "the number of nodes");
    if (e == ERR_OK)
        e = tok_i64(lx, &line, 1, INT64_MAX, "the number of nodes", &v);
    if (e != ERR_OK)
        return e;
    if (v > (int64_t)BRP_MAX_NODES)
        return lex_err(lx, ERR_TOO_BIG,
                       "%" PRId64 " nodes is over the cap of %u", v,
                       BRP_MAX_NODES);
    *n = (size_t)v;
    return ERR_OK;
}

static enum err read_capacity(struct lexer *lx, int32_t *cap)
{
    struct str line;
    int64_t v;
    enum err e = expect_tokens(lx, 1, &line, "the capacity");
    if (e == ERR_OK)
        e = tok_i64(lx, &line, 1, BRP_MAX_CAPACITY, "capacity", &v);
    if (e == ERR_OK)
        *cap = (int32_t)v;
    return e;
}

static enum err check_demands(struct lexer *lx, const struct brp_instance *in,
                              const size_t *lines)
{
    for (size_t i = 1; i < in->n; i++) {
        if (in->q[i] < -in->capacity || in->q[i] > in->capacity) {
            lx->line = lines[i];
            return lex_err(lx, ERR_INVALID,
                           "station %zu demand %" PRId32
                           " exceeds capacity %" PRId32,
                           i, in->q[i], in->capacity);
        }
    }
    return ERR_OK;
}

static enum err expect_end(struct lexer *lx)
{
    struct str s;
    if (lex_line(lx, &s))
        return lex_err(lx, ERR_INVALID, "unexpected '%.*s' after the end",
                       quote_len(s), s.ptr);
    return ERR_OK;
}

/* ---- RBRP -------------------------------------------------------------- */

static enum err parse_rbrp(struct lexer *lx, struct brp_instance **out)
{
    struct brp_instance *in = NULL;
    size_t *lines = NULL;
    struct str line;
    size_t n = 0;
    int32_t cap = 0;
    int64_t v;
    lx->section = "name";
    enum err e = expect_line(lx, "#name");
    if (e != ERR_OK)
        goto out;
    if (!lex_line(lx, &line)) {
        e = lex_err(lx, ERR_INVALID, "expected the name, got the end");
        goto out;
    }
    if (line.len > BRP_MAX_NAME_BYTES) {
        e = lex_err(lx, ERR_TOO_BIG, "the name is over %u bytes",
                    BRP_MAX_NAME_BYTES);
        goto out;
    }
    char name[BRP_MAX_NAME_BYTES + 1];
    memcpy(name, line.ptr, line.len);
    name[line.len] = '\0';
    lx->section = "numVertices";
    e = expect_line(lx, "#numVertices");
    if (e == ERR_OK)
        e = read_count(lx, &n);
    if (e != ERR_OK)
        goto out;
    lx->section = "capacity";
    e = expect_line(lx, "#capacity");
    if (e == ERR_OK)
        e = read_capacity(lx, &cap);
    if (e != ERR_OK)
        goto out;
    lx->section = "d/p/q";
    e = expect_line(lx, "#d/p/q");
    if (e != ERR_OK)
        goto out;
    in = instance_alloc(n);
    in->capacity = cap;
    memcpy(in->name, name, sizeof(name));
    lines = xcalloc(n, sizeof(*lines));
    for (size_t i = 0; i < n; i++) {
        int64_t dq, p, a;
        e = expect_tokens(lx, 4, &line, "i d p q");
        if (e == ERR_OK)
            e = tok_i64(lx, &line, (int64_t)i, (int64_t)i, "row index", &v);
        if (e == ERR_OK)
            e = tok_i64(lx, &line, -BRP_MAX_CAPACITY, BRP_MAX_CAPACITY,
                        "demand", &dq);
        if (e == ERR_OK)
            e = tok_i64(lx, &line, MAX(dq, (int64_t)0), MAX(dq, (int64_t)0),
                        "pickup", &p);
        if (e == ERR_OK)
            e = tok_i64(lx, &line, dq < 0 ? -dq : dq, dq < 0 ? -dq : dq,
                        "absolute demand", &a);
        if (e == ERR_OK && i == 0 && dq != 0)
            e = lex_err(lx, ERR_INVALID, "the depot's demand must be 0");
        if (e != ERR_OK)
            goto out;
        in->q[i] = (int32_t)dq;
        lines[i] = lx->line;
    }
    e = check_demands(lx, in, lines);
    if (e != ERR_OK)
        goto out;
    lx->section = "distances";
    e = expect_line(lx, "#distances");
    if (e == ERR_OK)
        e = expect_tokens(lx, n, &line, "column indices");
    for (size_t j = 0; e == ERR_OK && j < n; j++)
        e = tok_i64(lx, &line, (int64_t)j, (int64_t)j, "column index", &v);
    for (size_t i = 0; e == ERR_OK && i < n; i++) {
        e = expect_tokens(lx, n + 1, &line, "a row index and costs");
        if (e == ERR_OK)
            e = tok_i64(lx, &line, (int64_t)i, (int64_t)i, "row index", &v);
        for (size_t j = 0; e == ERR_OK && j < n; j++) {
            e = tok_i64(lx, &line, 0, BRP_MAX_COST, "cost", &v);
            in->cost[i * n + j] = i == j ? 0 : (int32_t)v;
        }
    }
    if (e == ERR_OK)
        e = expect_end(lx);
    if (e != ERR_OK)
        goto out;
    *out = in;
    in = NULL;
out:
    brp_instance_free(in);
    xfree(lines);
    return e;
}

/* ---- original (unimore) layout ------------------------------------------ */

static enum err parse_original(struct lexer *lx, struct brp_instance **out)
{
    struct brp_instance *in = NULL;
    size_t *lines = NULL;
    struct str line, t;
    size_t n = 0;
    int32_t cap = 0;
    int64_t v;
    lx->section = "n";
    enum err e = read_count(lx, &n);
    if (e != ERR_OK)
        goto out;
    in = instance_alloc(n);
    lines = xcalloc(n, sizeof(*lines));
    lx->section = "q";
    e = expect_tokens(lx, n, &line, "one demand per node");
    for (size_t i = 0; e == ERR_OK && i < n; i++) {
        e = tok_i64(lx, &line, i ? -BRP_MAX_CAPACITY : 0,
                    i ? BRP_MAX_CAPACITY : 0, i ? "demand" : "depot demand",
                    &v);
        in->q[i] = (int32_t)v;
        lines[i] = lx->line;
    }
    if (e != ERR_OK)
        goto out;
    lx->section = "Q";
    e = read_capacity(lx, &cap);
    if (e != ERR_OK)
        goto out;
    in->capacity = cap;
    lx->section = "q";
    e = check_demands(lx, in, lines);
    lx->section = "costs";
    for (size_t i = 0; e == ERR_OK && i < n; i++) {
        e = expect_tokens(lx, n, &line, "one cost per node");
        for (size_t j = 0; e == ERR_OK && j < n; j++) {
            if (j != i) {
                e = tok_i64(lx, &line, 0, BRP_MAX_COST, "cost", &v);
                in->cost[i * n + j] = (int32_t)v;
                continue;
            }
            /* The diagonal is unused: 0, 1e+009 or 9.99999e+008. */
            double dv;
            bool has = tok_next(&line, &t);
            ASSERT(has);
            if (str_to_f64(t, &dv) != ERR_OK || dv < 0)
                e = lex_err(lx, ERR_INVALID,
                            "diagonal '%.*s' is not a non-negative number",
                            quote_len(t), t.ptr);
            in->cost[i * n + j] = 0;
        }
    }
    if (e == ERR_OK)
        e = expect_end(lx);
    if (e != ERR_OK)
        goto out;
    *out = in;
    in = NULL;
out:
    brp_instance_free(in);
    xfree(lines);
    return e;
}

/* ---- TSPLIB 1-PDTSP ----------------------------------------------------- */

/* Splits "KEY: value" / "KEY : value" / "KEY" into key and value. */
static void tsp_key(struct str line, struct str *key, struct str *val)
{
    size_t i = 0;
    while (i < line.len && line.ptr[i] != ':' && !is_space(line.ptr[i]))
        i++;
    *key = (struct str){line.ptr, i};
    struct str rest = trim((struct str){line.ptr + i, line.len - i});
    if (rest.len && rest.ptr[0] == ':')
        rest = trim((struct str){rest.ptr + 1, rest.len - 1});
    *val = rest;
}

/* A single integer value of a header keyword. */
static enum err tsp_int(struct lexer *lx, struct str val, int64_t lo,
                        int64_t hi, const char *what, int64_t *out)
{
    if (tok_count(val) != 1)
        return lex_err(lx, ERR_INVALID, "%s needs one value", what);
    return tok_i64(lx, &val, lo, hi, what, out);
}

/* n rows "id a b" with ids 1..n; a and b go to xs/ys when not NULL. */
static enum err tsp_rows(struct lexer *lx, size_t n, size_t ncols, double *xs,
                         double *ys, int64_t qcap, int32_t *q, size_t *lines)
{
    struct str line, t;
    int64_t v;
    for (size_t i = 0; i < n; i++) {
        enum err e = expect_tokens(lx, ncols, &line, "a node row");
        if (e == ERR_OK)
            e = tok_i64(lx, &line, (int64_t)i + 1, (int64_t)i + 1, "node id",
                        &v);
        if (e != ERR_OK)
            return e;
        if (q) {
            e = tok_i64(lx, &line, -qcap, qcap, "demand", &v);
            if (e != ERR_OK)
                return e;
            q[i] = (int32_t)v;
            lines[i] = lx->line;
            continue;
        }
        for (size_t k = 0; k < 2; k++) {
            double dv;
            bool has = tok_next(&line, &t);
            ASSERT(has);
            if (str_to_f64(t, &dv) != ERR_OK || fabs(dv) > BRP_MAX_COORD)
                return lex_err(lx, ERR_INVALID,
                               "coordinate '%.*s' is not a number within "
                               "+-1e7",
                               quote_len(t), t.ptr);
            if (xs)
                (k ? ys : xs)[i] = dv;
        }
    }
    return ERR_OK;
}

static enum err parse_1pdtsp(struct lexer *lx, struct brp_instance **out)
{
    struct brp_instance *in = NULL;
    double *xs = NULL, *ys = NULL;
    size_t *lines = NULL;
    struct str line, key, val;
    int64_t n = 0, cap = 0, depot_q = 0;
    bool euc = false, coords = false, display = false, demand = false;
    char name[BRP_MAX_NAME_BYTES + 1] = "";
    enum err e = ERR_OK;
    lx->section = "header";
    while (e == ERR_OK && lex_line(lx, &line)) {
        tsp_key(line, &key, &val);
        bool is_section = str_eq_cstr(key, "NODE_COORD_SECTION") ||
                          str_eq_cstr(key, "DISPLAY_DATA_SECTION") ||
                          str_eq_cstr(key, "DEMAND_SECTION");
        if (is_section && val.len) {
            e = lex_err(lx, ERR_INVALID, "'%.*s' takes no value",
                        quote_len(key), key.ptr);
        } else if (is_section && (!n || !cap || !euc)) {
            e = lex_err(lx, ERR_INVALID,
                        "DIMENSION, CAPACITY and EDGE_WEIGHT_TYPE must come "
                        "before the sections");
        } else if (str_eq_cstr(key, "NAME")) {
            if (val.len > BRP_MAX_NAME_BYTES)
                e = lex_err(lx, ERR_TOO_BIG, "the name is over %u bytes",
                            BRP_MAX_NAME_BYTES);
            else
                snprintf(name, sizeof(name), "%.*s", (int)val.len, val.ptr);
        } else if (str_eq_cstr(key, "COMMENT") || str_eq_cstr(key, "TYPE")) {
            /* Free text. */
        } else if (str_eq_cstr(key, "DIMENSION") && !in && !n) {
            e = tsp_int(lx, val, 1, INT64_MAX, "DIMENSION", &n);
            if (e == ERR_OK && n > (int64_t)BRP_MAX_NODES)
                e = lex_err(lx, ERR_TOO_BIG,
                            "%" PRId64 " nodes is over the cap of %u", n,
                            BRP_MAX_NODES);
        } else if (str_eq_cstr(key, "CAPACITY") && !cap) {
            e = tsp_int(lx, val, 1, BRP_MAX_CAPACITY, "CAPACITY", &cap);
        } else if (str_eq_cstr(key, "EDGE_WEIGHT_TYPE") && !euc) {
            euc = str_eq_cstr(val, "EUC_2D");
            if (!euc)
                e = lex_err(lx, ERR_INVALID,
                            "EDGE_WEIGHT_TYPE '%.*s' is not supported (only "
                            "EUC_2D)",
                            quote_len(val), val.ptr);
        } else if (str_eq_cstr(key, "NODE_COORD_SECTION") && !coords) {
            coords = true;
            lx->section = "NODE_COORD_SECTION";
            xs = xcalloc((size_t)n, sizeof(*xs));
            ys = xcalloc((size_t)n, sizeof(*ys));
            e = tsp_rows(lx, (size_t)n, 3, xs, ys, 0, NULL, NULL);
        } else if (str_eq_cstr(key, "DISPLAY_DATA_SECTION") && !display) {
            display = true;
            lx->section = "DISPLAY_DATA_SECTION";
            e = tsp_rows(lx, (size_t)n, 3, NULL, NULL, 0, NULL, NULL);
        } else if (str_eq_cstr(key, "DEMAND_SECTION") && !demand) {
            demand = true;
            lx->section = "DEMAND_SECTION";
            in = instance_alloc((size_t)n);
            in->capacity = (int32_t)cap;
            lines = xcalloc((size_t)n, sizeof(*lines));
            /* The depot's demand balances the others and may exceed Q. */
            e = tsp_rows(lx, (size_t)n, 2, NULL, NULL,
                         (int64_t)BRP_MAX_NODES * BRP_MAX_CAPACITY, in->q,
                         lines);
            depot_q = in->q[0];
            in->q[0] = 0;
            if (e == ERR_OK)
                e = check_demands(lx, in, lines);
        } else if (str_eq_cstr(key, "EOF") && !val.len) {
            break;
        } else {
            e = lex_err(lx, ERR_INVALID, "unexpected or repeated '%.*s'",
                        quote_len(key), key.ptr);
        }
    }
    if (e != ERR_OK)
        goto out;
    e = expect_end(lx);
    if (e == ERR_OK && (!coords || !demand))
        e = lex_err(lx, ERR_INVALID,
                    "NODE_COORD_SECTION and DEMAND_SECTION are required");
    if (e != ERR_OK)
        goto out;
    int64_t sum = 0;
    for (size_t i = 1; i < (size_t)n; i++)
        sum += in->q[i];
    lx->line = lines[0];
    lx->section = "DEMAND_SECTION";
    if (sum + depot_q != 0) {
        e = lex_err(lx, ERR_INVALID, "the demands sum to %" PRId64 ", not 0",
                    sum + depot_q);
        goto out;
    }
    if (sum < -cap || sum > cap) {
        e = lex_err(lx, ERR_INVALID,
                    "the stations' net demand %" PRId64
                    " exceeds capacity %" PRId64 " (no single route exists)",
                    sum, cap);
        goto out;
    }
    for (size_t i = 0; i < (size_t)n; i++) {
        for (size_t j = 0; j < (size_t)n; j++) {
            double dx = xs[i] - xs[j], dy = ys[i] - ys[j];
            double dist = floor(sqrt(dx * dx + dy * dy) + 0.5);
            in->cost[i * (size_t)n + j] = i == j ? 0 : (int32_t)dist;
        }
    }
    memcpy(in->name, name, sizeof(name));
    in->max_routes = 1;
    *out = in;
    in = NULL;
out:
    brp_instance_free(in);
    xfree(xs);
    xfree(ys);
    xfree(lines);
    return e;
}

/* ---- entry point -------------------------------------------------------- */

static enum brp_format guess_format(struct str text)
{
    struct lexer lx = {text.ptr, text.ptr + text.len, 0, "", NULL, false};
    struct str line, key, val;
    if (!lex_line(&lx, &line))
        return BRP_FORMAT_ORIGINAL;
    if (str_has_prefix(line, "#"))
        return BRP_FORMAT_RBRP;
    tsp_key(line, &key, &val);
    if (str_eq_cstr(key, "NAME") || str_eq_cstr(key, "DIMENSION") ||
        str_eq_cstr(key, "TYPE") || str_eq_cstr(key, "COMMENT"))
        return BRP_FORMAT_1PDTSP;
    return BRP_FORMAT_ORIGINAL;
}

enum err brp_instance_parse(struct str text, enum brp_format format,
                            struct brp_instance **out, struct err_detail *d)
{
    if (text.len > BRP_MAX_TEXT_BYTES)
        return err_set(d, ERR_TOO_BIG, "", "the instance text is over %u bytes",
                       BRP_MAX_TEXT_BYTES);
    if (format == BRP_FORMAT_AUTO)
        format = guess_format(text);
    struct lexer lx = {text.ptr, text.ptr + text.len, 0, "", d, false};
    switch (format) {
    case BRP_FORMAT_RBRP:
        return parse_rbrp(&lx, out);
    case BRP_FORMAT_ORIGINAL:
        return parse_original(&lx, out);
    case BRP_FORMAT_1PDTSP:
        return parse_1pdtsp(&lx, out);
    case BRP_FORMAT_AUTO:
        break;
    }
    return err_set(d, ERR_INVALID, "format", "unknown format %d", (int)format);
}
