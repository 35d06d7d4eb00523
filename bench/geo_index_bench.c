/* SPDX-License-Identifier: MIT */
/*
 * Timing for geo/index at city scale: 2,000,000 bikes over a Shanghai-sized
 * box (uniform plus hotspots), then kNN queries (k = 10, r = 500 m) and
 * position updates. Prints queries/s, updates/s and bytes per bike. Not
 * part of the tests. Run it with `make bench-index`, or:
 *   build/release/bench/geo_index_bench [scenario] [bikes] [cell_m]
 * Scenarios: 0 uniform, 1 city with hotspots (default), 2 extreme hotspots.
 */
#include "base/sys.h"
#include "base/clock.h"
#include "base/rng.h"
#include "geo/index.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_HOT 400

static const struct geo_bbox box = {31.10, 121.30, 31.35, 121.65};

/*
 * The city: a share of the bikes spread uniformly, the rest around hotspots
 * (metro exits, campuses, malls) with spreads from min_m to max_m.
 */
struct scenario {
    const char *name;
    double hot_share;
    size_t nhot;
    double min_m, max_m;
};

static const struct scenario scenarios[] = {
    {"uniform", 0.0, 1, 0, 0},
    {"city: 50% in 400 hotspots of 50-300 m", 0.5, 400, 50, 300},
    {"extreme: 50% in 40 hotspots of 100-600 m", 0.5, 40, 100, 600},
};

static const struct scenario *sc;
static struct geo_latlng hot[MAX_HOT];

static struct geo_latlng city_point(struct rng *r)
{
    if (rng_unit(r) >= sc->hot_share)
        return (struct geo_latlng){
            rng_range(r, box.min_lat_deg, box.max_lat_deg),
            rng_range(r, box.min_lon_deg, box.max_lon_deg)};
    size_t h = rng_below(r, sc->nhot);
    double spread =
        sc->min_m + (sc->max_m - sc->min_m) * (double)h / (double)sc->nhot;
    return geo_offset(hot[h], rng_range(r, 0, 360),
                      fabs(rng_normal(r)) * spread);
}

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
    if (which >= ARRAY_LEN(scenarios) || nbikes == 0)
        return 2;
    sc = &scenarios[which];
    struct rng r;
    rng_seed(&r, 42);
    for (size_t i = 0; i < MAX_HOT; i++)
        hot[i] = (struct geo_latlng){
            rng_range(&r, box.min_lat_deg, box.max_lat_deg),
            rng_range(&r, box.min_lon_deg, box.max_lon_deg)};

    struct geo_bbox region = {box.min_lat_deg - 0.02, box.min_lon_deg - 0.02,
                              box.max_lat_deg + 0.02, box.max_lon_deg + 0.02};
    struct geo_index *ix = NULL;
    if (geo_index_new(region, cell_m, &ix, NULL) != ERR_OK)
        return 1;

    struct geo_latlng *pos = xcalloc(nbikes, sizeof(*pos));
    struct geo_index_attrs *attrs = xcalloc(nbikes, sizeof(*attrs));
    for (size_t i = 0; i < nbikes; i++) {
        pos[i] = city_point(&r);
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
    printf("%s\n", sc->name);
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
        qc[i] = city_point(&r);
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
