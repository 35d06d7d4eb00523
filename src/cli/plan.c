/* SPDX-License-Identifier: MIT */
/*
 * `spoke plan --instance FILE`: solves one truck-routing (BRP or 1-PDTSP)
 * instance with dispatch/brp.h under a time or iteration budget, checks
 * the solution with brp_check, prints the routes and one summary line
 * (with the best-known value from a best_known.csv beside the instance).
 */
#include "base/sys.h"
#include "cli/cli.h"
#include "base/clock.h"
#include "base/str.h"
#include "dispatch/brp.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <time.h>

/* ---- input ------------------------------------------------------------- */

/* Reads all of path (at most cap + 1 bytes, to notice a bigger file). */
static char *read_file(const char *path, size_t cap, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "spoke: cannot open '%s': %s\n", path, strerror(errno));
        return NULL;
    }
    size_t size = 0, room = 1 << 16;
    char *buf = xmalloc(room);
    for (;;) {
        if (size == room) {
            room = MIN(room * 2, cap + 1);
            buf = xrealloc(buf, room);
        }
        size_t got = fread(buf + size, 1, room - size, f);
        size += got;
        if (got == 0 || size > cap)
            break;
    }
    bool bad = ferror(f) != 0;
    fclose(f);
    if (bad) {
        fprintf(stderr, "spoke: cannot read '%s'\n", path);
        xfree(buf);
        return NULL;
    }
    *len = size;
    return buf;
}

/* ---- best-known values ------------------------------------------------- */

/* The next comma-separated cell of *line (no quoting in these files). */
static struct str csv_cell(struct str *line)
{
    struct str cell;
    *line = str_cut(*line, ',', &cell);
    while (cell.len && (cell.ptr[cell.len - 1] == '\r'))
        cell.len--;
    return cell;
}

/*
 * Looks for the row naming file (or its stem) in the CSV at path and
 * returns its value in the column "best_known" or "optimum*".
 */
static bool csv_lookup(const char *path, const char *file, int64_t *out)
{
    size_t len = 0;
    FILE *probe = fopen(path, "rb");
    if (!probe)
        return false;
    fclose(probe);
    char *text = read_file(path, 1 << 22, &len);
    if (!text)
        return false;
    struct str rest = {text, len}, line;
    size_t stem = strcspn(file, ".");
    struct str f_full = str_from_cstr(file), f_stem = {file, stem};
    rest = str_cut(rest, '\n', &line);
    size_t col = SIZE_MAX, i = 0;
    while (line.ptr) {
        struct str cell = csv_cell(&line);
        if (str_eq_cstr(cell, "best_known") || str_has_prefix(cell, "optimum"))
            col = col == SIZE_MAX ? i : col;
        i++;
    }
    bool found = false;
    while (col != SIZE_MAX && rest.ptr && !found) {
        rest = str_cut(rest, '\n', &line);
        bool named = false;
        struct str value = {NULL, 0};
        for (i = 0; line.ptr; i++) {
            struct str cell = csv_cell(&line);
            named = named || str_eq(cell, f_full) || str_eq(cell, f_stem);
            if (i == col)
                value = cell;
        }
        if (named && value.len && str_to_i64(value, out) == ERR_OK)
            found = true;
    }
    xfree(text);
    return found;
}

/* best_known.csv, or a CSV with an "optimum" column, next to the file. */
static bool best_known(const char *instance, int64_t *out)
{
    char dir[4096], path[4096 + 512];
    const char *slash = strrchr(instance, '/');
    const char *file = slash ? slash + 1 : instance;
    int dlen = slash ? (int)(slash - instance) : 1;
    snprintf(dir, sizeof(dir), "%.*s", dlen, slash ? instance : ".");
    for (int up = 0; up < 2; up++) {
        DIR *dh = opendir(dir);
        struct dirent *e;
        bool found = false;
        while (dh && !found && (e = readdir(dh)) != NULL) {
            size_t n = strlen(e->d_name);
            if (n < 4 || strcmp(e->d_name + n - 4, ".csv") != 0)
                continue;
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            found = csv_lookup(path, file, out);
        }
        if (dh)
            closedir(dh);
        if (found)
            return true;
        size_t dl = strlen(dir);
        if (dl + 3 >= sizeof(dir))
            break;
        memcpy(dir + dl, "/..", 4);
    }
    return false;
}

/* ---- budget ------------------------------------------------------------ */

struct budget {
    bool cpu;
    int64_t start_ns;
    int64_t limit_ns; /* 0: none */
};

static int64_t now_ns(bool cpu)
{
    if (!cpu)
        return clock_mono_ns();
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
        return clock_mono_ns();
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double budget_used(void *ctx)
{
    const struct budget *b = ctx;
    return (double)(now_ns(b->cpu) - b->start_ns) / (double)b->limit_ns;
}

struct progress {
    const struct budget *b;
    bool verbose;
};

static void on_improve(void *ctx, int64_t cost, uint64_t iter)
{
    const struct progress *p = ctx;
    if (p->verbose)
        fprintf(stderr, "# best %" PRId64 " at iteration %" PRIu64 " %.3f s\n",
                cost, iter,
                (double)(now_ns(p->b->cpu) - p->b->start_ns) * 1e-9);
}

/* ---- the command ------------------------------------------------------- */

static bool parse_format(const char *s, enum brp_format *f)
{
    static const struct {
        const char *name;
        enum brp_format f;
    } names[] = {{"auto", BRP_FORMAT_AUTO},
                 {"rbrp", BRP_FORMAT_RBRP},
                 {"original", BRP_FORMAT_ORIGINAL},
                 {"1pdtsp", BRP_FORMAT_1PDTSP}};
    for (size_t i = 0; i < ARRAY_LEN(names); i++) {
        if (strcmp(s, names[i].name) == 0) {
            *f = names[i].f;
            return true;
        }
    }
    fprintf(stderr,
            "spoke: --format is auto, rbrp, original or 1pdtsp, not "
            "'%s'\n",
            s);
    return false;
}

static void print_routes(const struct brp_solution *sol)
{
    for (size_t r = 0; r < sol->n_routes; r++) {
        const struct brp_route *rt = &sol->routes[r];
        printf("route %zu: load %" PRId32 " cost %" PRId64 ": 0", r + 1,
               rt->start_load, rt->cost);
        for (size_t k = 0; k < rt->len; k++)
            printf(" %zu", rt->stations[k]);
        printf(" 0\n");
    }
}

int cmd_plan(int argc, char **argv)
{
    const char *path = NULL, *limit_s = NULL, *seed_s = NULL, *iters_s = NULL;
    const char *format_s = NULL, *clock_s = NULL;
    bool quiet = false, verbose = false;
    const struct cli_opt opts[] = {
        {"--instance", "FILE", "the instance to solve", &path, NULL},
        {"--time-limit", "S", "seconds to search (default 10 unless --iters)",
         &limit_s, NULL},
        {"--iters", "N", "iterations to search (deterministic per seed)",
         &iters_s, NULL},
        {"--seed", "N", "random seed (default 1)", &seed_s, NULL},
        {"--format", "F", "auto (default), rbrp, original or 1pdtsp", &format_s,
         NULL},
        {"--clock", "C", "wall (default) or cpu: what --time-limit counts",
         &clock_s, NULL},
        {"--quiet", NULL, "print only the summary line", NULL, &quiet},
        {"--verbose", NULL, "report each improvement on stderr", NULL,
         &verbose},
    };
    const char *usage = "spoke plan --instance FILE [--time-limit S] "
                        "[--seed N] [--format F]";
    const char *summary =
        "Plans rebalancing truck routes for a BRP instance (Dell'Amico et "
        "al.\n2014 RBRP or original layout) or a 1-PDTSP instance (TSPLIB), "
        "checks the\nsolution, prints its routes and the line\n"
        "`instance cost best_known gap_% time_s feasible`.";
    int rc = cli_parse(usage, summary, argc, argv, 2, opts, ARRAY_LEN(opts));
    if (rc)
        return rc == 2 ? 0 : 2;
    if (!path) {
        fprintf(stderr, "spoke: --instance FILE is required\n");
        return 2;
    }
    enum brp_format format = BRP_FORMAT_AUTO;
    int64_t seed = 1, iters = 0;
    double limit = 0;
    if (format_s && !parse_format(format_s, &format))
        return 2;
    if (seed_s && !cli_i64("--seed", seed_s, 0, INT64_MAX, &seed))
        return 2;
    if (iters_s && !cli_i64("--iters", iters_s, 1, INT64_MAX, &iters))
        return 2;
    if (limit_s && (str_to_f64(str_from_cstr(limit_s), &limit) != ERR_OK ||
                    limit <= 0 || limit > 1e6)) {
        fprintf(stderr,
                "spoke: --time-limit must be a number of seconds "
                "above 0, not '%s'\n",
                limit_s);
        return 2;
    }
    if (!limit_s && !iters_s)
        limit = 10;
    bool cpu = false;
    if (clock_s && strcmp(clock_s, "cpu") != 0 && strcmp(clock_s, "wall")) {
        fprintf(stderr, "spoke: --clock is wall or cpu, not '%s'\n", clock_s);
        return 2;
    }
    cpu = clock_s && strcmp(clock_s, "cpu") == 0;

    size_t len = 0;
    char *text = read_file(path, BRP_MAX_TEXT_BYTES, &len);
    if (!text)
        return 1;
    struct brp_instance *in = NULL;
    struct err_detail d;
    err_clear(&d);
    enum err e = brp_instance_parse((struct str){text, len}, format, &in, &d);
    xfree(text);
    if (e != ERR_OK) {
        fprintf(stderr, "spoke: cannot load '%s': %s%s%s%s\n", path,
                d.msg[0] ? d.msg : err_name(e), d.field[0] ? " (in " : "",
                d.field, d.field[0] ? ")" : "");
        return 1;
    }

    struct budget b = {cpu, now_ns(cpu), (int64_t)(limit * 1e9)};
    struct progress pr = {&b, verbose};
    struct brp_params prm = {
        .seed = (uint64_t)seed,
        .max_iters = (uint64_t)iters,
        .budget = limit > 0 ? budget_used : NULL,
        .budget_ctx = &b,
        .on_improve = on_improve,
        .improve_ctx = &pr,
    };
    struct brp_solution sol;
    struct brp_stats st;
    brp_solution_init(&sol);
    e = brp_solve(in, &prm, &sol, &st, &d);
    double secs = (double)(now_ns(cpu) - b.start_ns) * 1e-9;
    if (e != ERR_OK) {
        fprintf(stderr, "spoke: cannot solve '%s': %s\n", path,
                d.msg[0] ? d.msg : err_name(e));
        brp_instance_free(in);
        return 1;
    }
    err_clear(&d);
    enum err ce = brp_check(in, &sol, &d);
    if (ce != ERR_OK)
        fprintf(stderr, "spoke: the solution is infeasible: %s\n", d.msg);
    if (!quiet)
        print_routes(&sol);

    /* The file name without its extension: one word, unlike some names. */
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    int base_len = (int)strcspn(base, ".");
    int64_t bk = 0;
    bool has_bk = best_known(path, &bk);
    char bk_s[32] = "-", gap_s[32] = "-";
    if (has_bk) {
        snprintf(bk_s, sizeof(bk_s), "%" PRId64, bk);
        snprintf(gap_s, sizeof(gap_s), "%.2f",
                 bk ? 100.0 * (double)(sol.cost - bk) / (double)bk : 0.0);
    }
    printf("# n %zu Q %" PRId32 " routes %zu iterations %" PRIu64
           " best_at %" PRIu64 " local_searches %" PRIu64
           " load_greedy_tries %" PRIu64 " restarts %" PRIu64 " clock %s\n",
           brp_instance_nodes(in), brp_instance_capacity(in), sol.n_routes,
           st.iters, st.best_iter, st.ls_runs, st.load_greedy_tries,
           st.restarts, cpu ? "cpu" : "wall");
    printf("# instance cost best_known gap_%% time_s feasible\n");
    printf("%.*s %" PRId64 " %s %s %.2f %s\n", base_len, base, sol.cost, bk_s,
           gap_s, secs, ce == ERR_OK ? "yes" : "no");
    brp_solution_release(&sol);
    brp_instance_free(in);
    return ce == ERR_OK ? 0 : 1;
}
