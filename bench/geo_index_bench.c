/* SPDX-License-Identifier: MIT */
/*
 * Timing for geo/index at city scale: 2,000,000 bikes over a Shanghai-sized
 * box (uniform plus hotspots, bench/common.h), then kNN queries (k = 10,
 * r = 500 m) with three filters and position updates. Prints queries/s,
 * updates/s and bytes per bike: a tool for working on the index (scenarios,
 * cell sizes); `make bench` compares systems with bench/spoke_index.c.
 * Not part of the tests. Run it with `make bench-index`, or:
 *   build/release/bench/geo_index_bench [scenario] [bikes] [cell_m]
 * Scenarios: 0 uniform, 1 city with hotspots (default), 2 extreme hotspots.
 */
#include "base/sys.h"
#include "bench/common.h"
#include "base/clock.h"
#include "base/rng.h"
#include "geo/index.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* Resident set size from /proc (Linux), or 0. */
static size_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0, resident = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%lu %lu", &pages, &resident) != 2)
        resident = 0;
    fclose(f);
    return (size_t)resident * 4096;
}

static double secs(int64_t t0)
{
    return (double)(clock_mono_ns() - t0) * 1e-9;
}

int main(int argc, char **argv)
{
    size_t which = argc > 1 ? strtoul(argv[1], NULL, 10) : 1;
    size_t nbikes = argc > 2 ? strtoul(argv[2], NULL, 10) : 2000000;
    double cell_m = argc > 3 ? strtod(argv[3], NULL) : 0;
    if (which >= BENCH_SCENARIO_COUNT || nbikes == 0)
        return 2;
    struct rng r;
    rng_seed(&r, 42);
    struct bench_city city;
    bench_city_init(&city, (enum bench_scenario)which, &r);

    struct geo_bbox region = {
        BENCH_MIN_LAT_DEG - 0.02, BENCH_MIN_LON_DEG - 0.02,
        BENCH_MAX_LAT_DEG + 0.02, BENCH_MAX_LON_DEG + 0.02};
    struct geo_index *ix = NULL;
    if (geo_index_new(region, cell_m, &ix, NULL) != ERR_OK)
        return 1;

    struct geo_latlng *pos = xcalloc(nbikes, sizeof(*pos));
    struct geo_index_attrs *attrs = xcalloc(nbikes, sizeof(*attrs));
    for (size_t i = 0; i < nbikes; i++) {
        pos[i] = bench_city_point(&city, &r);
        attrs[i] = (struct geo_index_attrs){
            .state = rng_below(&r, 10) < 8 ? 0 : (unsigned)rng_below(&r, 6),
            .type = (unsigned)rng_below(&r, 2),
            .battery_pct = (int)rng_below(&r, 101),
        };
    }
    size_t rss0 = rss_bytes();
    int64_t t0 = clock_mono_ns();
    for (size_t i = 0; i < nbikes; i++) {
        if (geo_index_put(ix, (uint32_t)i, pos[i], attrs[i], NULL) != ERR_OK)
            return 1;
    }
    double t_load = secs(t0);
    size_t rss1 = rss_bytes();
    printf("%s\n", bench_scenario_name(city.scenario));
    printf("bikes %zu  cell %.0f m  load %.2f s (%.2f M puts/s)\n", nbikes,
           cell_m ? cell_m : GEO_INDEX_DEFAULT_CELL_M, t_load,
           (double)nbikes / t_load * 1e-6);
    printf("memory %.1f MB  %.1f bytes/bike (without malloc headers); "
           "resident growth %.1f bytes/bike\n",
           (double)geo_index_memory_bytes(ix) / 1e6,
           (double)geo_index_memory_bytes(ix) / (double)nbikes,
           (double)(rss1 - rss0) / (double)nbikes);

    /* Query centers where riders are: the same mix as the bikes. */
    size_t nq = 1000000;
    struct geo_latlng *qc = xcalloc(nq, sizeof(*qc));
    for (size_t i = 0; i < nq; i++)
        qc[i] = bench_city_point(&city, &r);
    struct geo_index_hit out[10];
    static const struct {
        const char *name;
        struct geo_index_filter f;
    } filters[] = {
        {"any", {GEO_INDEX_ALL_STATES, GEO_INDEX_ALL_TYPES, -1}},
        {"available", {0x01, GEO_INDEX_ALL_TYPES, -1}},
        {"available e-bike >= 30%", {0x01, 0x02, 30}},
    };
    for (size_t f = 0; f < ARRAY_LEN(filters); f++) {
        size_t hits = 0;
        t0 = clock_mono_ns();
        for (size_t i = 0; i < nq; i++) {
            struct geo_index_query q = {qc[i], 500, 10, filters[f].f};
            size_t n = 0;
            if (geo_index_query(ix, &q, out, 10, &n, NULL) != ERR_OK)
                return 1;
            hits += n;
        }
        double t = secs(t0);
        printf("query k=10 r=500 m, %-24s %.2f M queries/s (%.0f ns, "
               "%.2f hits)\n",
               filters[f].name, (double)nq / t * 1e-6, t / (double)nq * 1e9,
               (double)hits / (double)nq);
    }

    /* Updates: random bikes move 0-30 m, as lock reports arrive. */
    size_t nu = 4000000;
    uint32_t *who = xcalloc(nu, sizeof(*who));
    struct geo_latlng *to = xcalloc(nu, sizeof(*to));
    for (size_t i = 0; i < nu; i++) {
        who[i] = (uint32_t)rng_below(&r, nbikes);
        to[i] = geo_offset(pos[who[i]], rng_range(&r, 0, 360),
                           rng_range(&r, 0, 30));
        pos[who[i]] = to[i];
    }
    struct geo_index_attrs a = {0, 0, 80};
    t0 = clock_mono_ns();
    for (size_t i = 0; i < nu; i++) {
        if (geo_index_put(ix, who[i], to[i], a, NULL) != ERR_OK)
            return 1;
    }
    double t = secs(t0);
    printf("update (move 0-30 m)  %.2f M updates/s (%.0f ns)\n",
           (double)nu / t * 1e-6, t / (double)nu * 1e9);
    printf("memory after updates %.1f bytes/bike\n",
           (double)geo_index_memory_bytes(ix) / (double)nbikes);

    xfree(who);
    xfree(to);
    xfree(attrs);
    xfree(qc);
    xfree(pos);
    geo_index_free(ix);
    return 0;
}
