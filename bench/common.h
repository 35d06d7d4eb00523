/* SPDX-License-Identifier: MIT */
/*
 * What the bench programs share: the synthetic city that every system is
 * loaded with (the same bikes, query centres and moves for spoke, Redis and
 * PostGIS), option parsing, time, percentiles, and the result lines that
 * bench/run.py reads. Not part of the server.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include "base/sys.h"
#include "base/rng.h"
#include "geo/geo.h"

#include <pthread.h>

/* The city box: 121.30-121.65 E, 31.10-31.35 N (Shanghai-sized). */
#define BENCH_MIN_LAT_DEG 31.10
#define BENCH_MAX_LAT_DEG 31.35
#define BENCH_MIN_LON_DEG 121.30
#define BENCH_MAX_LON_DEG 121.65

#define BENCH_MAX_HOT 400

/* The query of every kNN row: k nearest within r metres. */
#define BENCH_K 10
#define BENCH_RADIUS_M 500.0

/* Seeds of the standard data set. */
#define BENCH_SEED_FLEET 42u
#define BENCH_SEED_CENTRES 43u
#define BENCH_SEED_MOVES 44u

/* How many query centres and moves the programs cycle through. */
#define BENCH_NCENTRES (1u << 20)
#define BENCH_NMOVES (1u << 22)

/* Lock IMEIs are BENCH_IMEI_BASE + bike id (15 digits). */
#define BENCH_IMEI_BASE 860000000000000ull

enum bench_scenario {
    BENCH_UNIFORM,
    BENCH_CITY, /* the standard one */
    BENCH_EXTREME,
    BENCH_SCENARIO_COUNT
};

/*
 * A city: a share of the points spread uniformly over the box, the rest
 * around hotspots (metro exits, campuses, malls) with normal spreads.
 */
struct bench_city {
    enum bench_scenario scenario;
    struct geo_latlng hot[BENCH_MAX_HOT];
};

/* A human description of a scenario ("city: 50% in 400 hotspots ..."). */
const char *bench_scenario_name(enum bench_scenario s);

/* Places the hotspots of scenario s with randomness from r. */
void bench_city_init(struct bench_city *c, enum bench_scenario s,
                     struct rng *r);

/* One point of the city's distribution, drawn from r. */
struct geo_latlng bench_city_point(const struct bench_city *c, struct rng *r);

/*
 * The standard fleet: bike id i + 1 is at out[i], for n bikes of the
 * BENCH_CITY scenario seeded with BENCH_SEED_FLEET. Fleets of different
 * sizes share their prefix. The caller frees the result with xfree.
 */
struct geo_latlng *bench_fleet_new(size_t n);

/*
 * n query centres from the same distribution as the bikes (riders are where
 * bikes are), seeded with BENCH_SEED_CENTRES. Free with xfree.
 */
struct geo_latlng *bench_centres_new(size_t n);

/* One position update: bike id moves to pos. */
struct bench_move {
    uint32_t id; /* 1..nbikes */
    struct geo_latlng pos;
};

/*
 * n moves of random bikes of fleet (nbikes positions), each 0-30 m from the
 * bike's starting place, as lock reports arrive. Seeded with
 * BENCH_SEED_MOVES. Free with xfree.
 */
struct bench_move *bench_moves_new(const struct geo_latlng *fleet,
                                   size_t nbikes, size_t n);

/* The bike's QR code ("SB0000001") into out[16]. */
void bench_bike_qr(int64_t id, char out[16]);

/* One bike in five is an e-bike. */
bool bench_bike_is_ebike(int64_t id);

/* Seconds on the monotonic clock. */
double bench_now_s(void);

/* Sorts v[0..n) and returns its p-th percentile (0..100); 0 if n is 0. */
double bench_percentile(uint64_t *v, size_t n, double p);

/*
 * The client threads of a peer bench (redis_bench.c, pg_bench.c): each
 * runs kNN queries (centres) or moves (moves) on its own connection,
 * depth deep, for seconds, starting at next, after the start barrier.
 */
#define BENCH_CONNS_MAX 16u
enum bench_job { BENCH_JOB_KNN, BENCH_JOB_MOVE };
struct bench_worker {
    enum bench_job job;
    size_t tid, nthreads, depth;
    double seconds;
    const struct geo_latlng *centres;
    const struct bench_move *moves;
    pthread_barrier_t *start;
    size_t next; /* next centre or move */
    uint64_t ops, hits;
    double elapsed_s;
};

/*
 * Runs run(&worker) on nconns (1..BENCH_CONNS_MAX) threads at once;
 * returns the sum of their operations/s, and in *hits_avg (if not NULL)
 * the hits per operation.
 */
double bench_run_workers(void *(*run)(void *), enum bench_job job,
                         size_t nconns, size_t depth, double seconds,
                         const struct geo_latlng *centres,
                         const struct bench_move *moves, double *hits_avg);

/* Prints "RESULT key value" on stdout, the line run.py collects. */
void bench_result(const char *key, double value);

/* Prints "INFO key text" on stdout (versions, settings) for run.py. */
void bench_info(const char *key, const char *text);

/* Prints a progress note to stderr ("bench: ..."). */
void bench_note(const char *fmt, ...) SYS_PRINTF(1, 2);

/* Prints "name: message" to stderr and exits 1. */
SYS_NORETURN void bench_die(const char *fmt, ...) SYS_PRINTF(1, 2);

/* One "--name VALUE" option; *value is set when it is given. */
struct bench_opt {
    const char *name;
    const char **value;
};

/*
 * Parses argv[first..argc) as "--name VALUE" pairs of opts; exits 2 with
 * usage on an unknown option or a missing value.
 */
void bench_parse(int argc, char **argv, int first, const struct bench_opt *opts,
                 size_t nopts, const char *usage);

/* A decimal option in [min, max], or def if s is NULL; exits 2 if bad. */
uint64_t bench_u64(const char *name, const char *s, uint64_t def, uint64_t min,
                   uint64_t max);
double bench_f64(const char *name, const char *s, double def, double min,
                 double max);

#endif
