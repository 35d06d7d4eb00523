/* SPDX-License-Identifier: MIT */
/*
 * The in-process rows of `make bench`: the standard fleet in a geo_index laid
 * out as `spoke serve` lays it out (the service area plus its margin, 50 m
 * cells), then kNN queries (k = 10, r = 500 m, available bikes, as
 * GET /v1/bikes asks) on one thread and on two threads at once, and position
 * updates (moves of 0-30 m) on one thread. Prints RESULT lines.
 *   spoke_index [--bikes N] [--seconds S]
 */
#include "base/sys.h"
#include "bench/common.h"
#include "core/vehicle.h"
#include "geo/index.h"

#include <pthread.h>
#include <stdio.h>

/* svc.c's margin around the service area (INDEX_MARGIN_DEG). */
#define REGION_MARGIN_DEG 0.05
/* Between two looks at the clock. */
#define CHUNK 1024u

struct reader {
    const struct geo_index *ix;
    const struct geo_latlng *centres;
    size_t first; /* where in centres this thread starts */
    double seconds;
    pthread_barrier_t *start;
    uint64_t queries;
    uint64_t hits;
    double elapsed_s;
};

static void *reader_run(void *p)
{
    struct reader *rd = p;
    struct geo_index_hit out[BENCH_K];
    struct geo_index_query q = {
        .radius_m = BENCH_RADIUS_M,
        .k = BENCH_K,
        .filter = {1u << CORE_VS_AVAILABLE, GEO_INDEX_ALL_TYPES, -1},
    };
    if (rd->start)
        pthread_barrier_wait(rd->start);
    double t0 = bench_now_s(), t = t0;
    size_t i = rd->first;
    while (t - t0 < rd->seconds) {
        for (size_t j = 0; j < CHUNK; j++) {
            q.center = rd->centres[i];
            i = (i + 1) % BENCH_NCENTRES;
            size_t n = 0;
            if (geo_index_query(rd->ix, &q, out, BENCH_K, &n, NULL) != ERR_OK)
                bench_die("geo_index_query failed");
            rd->hits += n;
        }
        rd->queries += CHUNK;
        t = bench_now_s();
    }
    rd->elapsed_s = t - t0;
    return NULL;
}

/* Runs nthreads readers at once; returns queries/s over all of them. */
static double query_rate(const struct geo_index *ix,
                         const struct geo_latlng *centres, size_t nthreads,
                         double seconds, double *hits_avg)
{
    struct reader rd[2] = {0};
    pthread_t th[2];
    pthread_barrier_t start;
    ASSERT(nthreads >= 1 && nthreads <= ARRAY_LEN(rd));
    pthread_barrier_init(&start, NULL, (unsigned)nthreads);
    for (size_t t = 0; t < nthreads; t++) {
        rd[t] = (struct reader){
            ix, centres, t * (BENCH_NCENTRES / 2), seconds, &start, 0, 0, 0};
        if (pthread_create(&th[t], NULL, reader_run, &rd[t]) != 0)
            bench_die("cannot start a thread");
    }
    double rate = 0;
    uint64_t queries = 0, hits = 0;
    for (size_t t = 0; t < nthreads; t++) {
        pthread_join(th[t], NULL);
        rate += (double)rd[t].queries / rd[t].elapsed_s;
        queries += rd[t].queries;
        hits += rd[t].hits;
    }
    pthread_barrier_destroy(&start);
    *hits_avg = (double)hits / (double)queries;
    return rate;
}

static struct geo_index_attrs bike_attrs(int64_t id)
{
    return (struct geo_index_attrs){
        .state = CORE_VS_AVAILABLE,
        .type = bench_bike_is_ebike(id) ? CORE_VT_EBIKE : CORE_VT_BICYCLE,
        .battery_pct = 80,
    };
}

int main(int argc, char **argv)
{
    const char *bikes_s = NULL, *seconds_s = NULL;
    const struct bench_opt opts[] = {{"--bikes", &bikes_s},
                                     {"--seconds", &seconds_s}};
    bench_parse(argc, argv, 1, opts, ARRAY_LEN(opts),
                "spoke_index [--bikes N] [--seconds S]");
    size_t nbikes =
        bench_u64("--bikes", bikes_s, 2000000, 1, GEO_INDEX_MAX_SLOTS - 1);
    double seconds = bench_f64("--seconds", seconds_s, 5, 0.1, 600);

    struct geo_latlng *fleet = bench_fleet_new(nbikes);
    struct geo_latlng *centres = bench_centres_new(BENCH_NCENTRES);
    struct bench_move *moves = bench_moves_new(fleet, nbikes, BENCH_NMOVES);

    struct geo_bbox region = {BENCH_MIN_LAT_DEG - REGION_MARGIN_DEG,
                              BENCH_MIN_LON_DEG - REGION_MARGIN_DEG,
                              BENCH_MAX_LAT_DEG + REGION_MARGIN_DEG,
                              BENCH_MAX_LON_DEG + REGION_MARGIN_DEG};
    struct geo_index *ix = NULL;
    struct err_detail d;
    if (geo_index_new(region, 0, &ix, &d) != ERR_OK)
        bench_die("geo_index_new: %s", d.msg);
    double t0 = bench_now_s();
    for (size_t i = 0; i < nbikes; i++) {
        int64_t id = (int64_t)i + 1;
        if (geo_index_put(ix, (uint32_t)id, fleet[i], bike_attrs(id), &d) !=
            ERR_OK)
            bench_die("geo_index_put: %s", d.msg);
    }
    double load_s = bench_now_s() - t0;
    bench_note("index: %zu bikes loaded in %.2f s", nbikes, load_s);
    bench_result("index_load_s", load_s);
    bench_result("index_bytes_per_bike",
                 (double)geo_index_memory_bytes(ix) / (double)nbikes);

    double hits1 = 0, hits2 = 0;
    double q1 = query_rate(ix, centres, 1, seconds, &hits1);
    bench_note("index: kNN 1 thread %.0f queries/s, %.2f hits", q1, hits1);
    bench_result("knn_1t_qps", q1);
    bench_result("knn_hits_avg", hits1);
    double q2 = query_rate(ix, centres, 2, seconds, &hits2);
    bench_note("index: kNN 2 threads %.0f queries/s, %.2f hits", q2, hits2);
    bench_result("knn_2t_qps", q2);

    /* Moves on one thread; the index has one writer. */
    uint64_t nputs = 0;
    size_t m = 0;
    t0 = bench_now_s();
    double t = t0;
    while (t - t0 < seconds) {
        for (size_t j = 0; j < CHUNK; j++) {
            const struct bench_move *mv = &moves[m];
            m = (m + 1) % BENCH_NMOVES;
            if (geo_index_put(ix, mv->id, mv->pos, bike_attrs(mv->id), &d) !=
                ERR_OK)
                bench_die("geo_index_put: %s", d.msg);
        }
        nputs += CHUNK;
        t = bench_now_s();
    }
    bench_note("index: %.0f updates/s", (double)nputs / (t - t0));
    bench_result("put_1t_ups", (double)nputs / (t - t0));
    bench_result("index_bytes_per_bike_after_moves",
                 (double)geo_index_memory_bytes(ix) / (double)nbikes);

    geo_index_free(ix);
    xfree(moves);
    xfree(centres);
    xfree(fleet);
    return 0;
}
