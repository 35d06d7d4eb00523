/* SPDX-License-Identifier: MIT */
/*
 * The synthetic city and the small helpers every bench program uses (see
 * common.h). Linked into each bench program; not a program itself.
 */
#include "base/sys.h"
#include "bench/common.h"
#include "base/clock.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

struct scenario {
    const char *name;
    double hot_share;
    size_t nhot;
    double min_m, max_m;
};

static const struct scenario scenarios[BENCH_SCENARIO_COUNT] = {
    [BENCH_UNIFORM] = {"uniform", 0.0, 1, 0, 0},
    [BENCH_CITY] = {"city: 50% uniform, 50% in 400 hotspots of 50-300 m", 0.5,
                    400, 50, 300},
    [BENCH_EXTREME] = {"extreme: 50% in 40 hotspots of 100-600 m", 0.5, 40, 100,
                       600},
};

const char *bench_scenario_name(enum bench_scenario s)
{
    return scenarios[s].name;
}

void bench_city_init(struct bench_city *c, enum bench_scenario s, struct rng *r)
{
    c->scenario = s;
    for (size_t i = 0; i < BENCH_MAX_HOT; i++)
        c->hot[i] = (struct geo_latlng){
            rng_range(r, BENCH_MIN_LAT_DEG, BENCH_MAX_LAT_DEG),
            rng_range(r, BENCH_MIN_LON_DEG, BENCH_MAX_LON_DEG)};
}

static bool in_box(struct geo_latlng p)
{
    return p.lat_deg >= BENCH_MIN_LAT_DEG && p.lat_deg <= BENCH_MAX_LAT_DEG &&
           p.lon_deg >= BENCH_MIN_LON_DEG && p.lon_deg <= BENCH_MAX_LON_DEG;
}

/*
 * A point near a hotspot falls outside the box now and then; it is drawn
 * again, so that every bike lies in the box (and in the service area).
 */
struct geo_latlng bench_city_point(const struct bench_city *c, struct rng *r)
{
    const struct scenario *sc = &scenarios[c->scenario];
    if (rng_unit(r) >= sc->hot_share)
        return (struct geo_latlng){
            rng_range(r, BENCH_MIN_LAT_DEG, BENCH_MAX_LAT_DEG),
            rng_range(r, BENCH_MIN_LON_DEG, BENCH_MAX_LON_DEG)};
    size_t h = rng_below(r, sc->nhot);
    double spread =
        sc->min_m + (sc->max_m - sc->min_m) * (double)h / (double)sc->nhot;
    for (;;) {
        struct geo_latlng p = geo_offset(c->hot[h], rng_range(r, 0, 360),
                                         fabs(rng_normal(r)) * spread);
        if (in_box(p))
            return p;
    }
}

/* The standard city: its hotspots come first from the fleet's seed. */
static void standard_city(struct bench_city *c)
{
    struct rng r;
    rng_seed(&r, BENCH_SEED_FLEET);
    bench_city_init(c, BENCH_CITY, &r);
}

static struct geo_latlng *points_new(size_t n, uint64_t seed)
{
    struct bench_city c;
    standard_city(&c);
    struct rng r;
    rng_seed(&r, seed);
    struct geo_latlng *out = xcalloc(n ? n : 1, sizeof(*out));
    for (size_t i = 0; i < n; i++)
        out[i] = bench_city_point(&c, &r);
    return out;
}

struct geo_latlng *bench_fleet_new(size_t n)
{
    /* Not the hotspots' seed itself, so bikes are not placed on them. */
    return points_new(n, BENCH_SEED_FLEET * 1000003u);
}

struct geo_latlng *bench_centres_new(size_t n)
{
    return points_new(n, BENCH_SEED_CENTRES);
}

struct bench_move *bench_moves_new(const struct geo_latlng *fleet,
                                   size_t nbikes, size_t n)
{
    struct rng r;
    rng_seed(&r, BENCH_SEED_MOVES);
    struct bench_move *out = xcalloc(n ? n : 1, sizeof(*out));
    for (size_t i = 0; i < n; i++) {
        uint64_t k = rng_below(&r, nbikes);
        out[i].id = (uint32_t)(k + 1);
        do {
            out[i].pos = geo_offset(fleet[k], rng_range(&r, 0, 360),
                                    rng_range(&r, 0, 30));
        } while (!in_box(out[i].pos));
    }
    return out;
}

void bench_bike_qr(int64_t id, char out[16])
{
    snprintf(out, 16, "SB%07" PRId64, id);
}

bool bench_bike_is_ebike(int64_t id)
{
    return id % 5 == 0;
}

double bench_now_s(void)
{
    return (double)clock_mono_ns() * 1e-9;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

double bench_percentile(uint64_t *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof(*v), cmp_u64);
    double rank = p / 100.0 * (double)(n - 1);
    size_t lo = (size_t)rank;
    size_t hi = MIN(lo + 1, n - 1);
    double f = rank - (double)lo;
    return (double)v[lo] * (1 - f) + (double)v[hi] * f;
}

void bench_result(const char *key, double value)
{
    printf("RESULT %s %.6g\n", key, value);
    fflush(stdout);
}

void bench_info(const char *key, const char *text)
{
    printf("INFO %s %s\n", key, text);
    fflush(stdout);
}

static void vnote(const char *fmt, va_list ap)
{
    fputs("bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void bench_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vnote(fmt, ap);
    va_end(ap);
}

void bench_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vnote(fmt, ap);
    va_end(ap);
    exit(1);
}

void bench_parse(int argc, char **argv, int first, const struct bench_opt *opts,
                 size_t nopts, const char *usage)
{
    for (int i = first; i < argc; i += 2) {
        size_t k = 0;
        while (k < nopts && strcmp(argv[i], opts[k].name) != 0)
            k++;
        if (k == nopts || i + 1 >= argc) {
            fprintf(stderr, "usage: %s\n", usage);
            exit(2);
        }
        *opts[k].value = argv[i + 1];
    }
}

uint64_t bench_u64(const char *name, const char *s, uint64_t def, uint64_t min,
                   uint64_t max)
{
    if (!s)
        return def;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        fprintf(stderr,
                "bench: %s must be an integer from %" PRIu64 " to %" PRIu64
                "\n",
                name, min, max);
        exit(2);
    }
    return (uint64_t)v;
}

double bench_f64(const char *name, const char *s, double def, double min,
                 double max)
{
    if (!s)
        return def;
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= min && v <= max)) {
        fprintf(stderr, "bench: %s must be a number from %g to %g\n", name, min,
                max);
        exit(2);
    }
    return v;
}

double bench_run_workers(void *(*run)(void *), enum bench_job job,
                         size_t nconns, size_t depth, double seconds,
                         const struct geo_latlng *centres,
                         const struct bench_move *moves, double *hits_avg)
{
    struct bench_worker w[BENCH_CONNS_MAX];
    pthread_t th[BENCH_CONNS_MAX];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)nconns);
    for (size_t t = 0; t < nconns; t++) {
        w[t] = (struct bench_worker){
            .job = job,
            .tid = t,
            .nthreads = nconns,
            .depth = depth,
            .seconds = seconds,
            .centres = centres,
            .moves = moves,
            .start = &start,
            .next = t * (BENCH_NCENTRES / nconns),
        };
        if (pthread_create(&th[t], NULL, run, &w[t]) != 0)
            bench_die("cannot start a thread");
    }
    double rate = 0;
    uint64_t ops = 0, hits = 0;
    for (size_t t = 0; t < nconns; t++) {
        pthread_join(th[t], NULL);
        rate += (double)w[t].ops / w[t].elapsed_s;
        ops += w[t].ops;
        hits += w[t].hits;
    }
    pthread_barrier_destroy(&start);
    if (hits_avg)
        *hits_avg = ops ? (double)hits / (double)ops : 0;
    return rate;
}
