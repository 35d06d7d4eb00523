/* SPDX-License-Identifier: MIT */
/*
 * Tests for geo/: distances, offsets and polygons (geo.c), and the live
 * spatial index (index.c), whose every answer is checked against a
 * brute-force scan of a model of its contents.
 */
#include "base/sys.h"
#include "base/rng.h"
#include "geo/geo.h"
#include "geo/index.h"
#include "tests/unit/harness.h"

#include <math.h>

/* ---- geo.c ------------------------------------------------------------ */

TEST(geo_latlng_is_valid)
{
    CHECK(geo_latlng_is_valid((struct geo_latlng){0, 0}));
    CHECK(geo_latlng_is_valid((struct geo_latlng){90, 180}));
    CHECK(geo_latlng_is_valid((struct geo_latlng){-90, -180}));
    CHECK(!geo_latlng_is_valid((struct geo_latlng){90.000001, 0}));
    CHECK(!geo_latlng_is_valid((struct geo_latlng){-90.000001, 0}));
    CHECK(!geo_latlng_is_valid((struct geo_latlng){0, 180.000001}));
    CHECK(!geo_latlng_is_valid((struct geo_latlng){0, -180.000001}));
    CHECK(!geo_latlng_is_valid((struct geo_latlng){NAN, 0}));
    CHECK(!geo_latlng_is_valid((struct geo_latlng){0, INFINITY}));
}

TEST(geo_distance_known)
{
    struct geo_latlng paris = {48.8566, 2.3522};
    struct geo_latlng london = {51.5074, -0.1278};
    CHECK_NEAR(geo_distance_m(paris, london), 343.5e3, 0.5e3);
    CHECK_NEAR(geo_distance_m(london, paris), geo_distance_m(paris, london),
               1e-6);
    CHECK_EQ(geo_distance_m(paris, paris), 0);
    /* One degree of latitude, and half the globe. */
    CHECK_NEAR(
        geo_distance_m((struct geo_latlng){0, 0}, (struct geo_latlng){1, 0}),
        GEO_EARTH_RADIUS_M * M_PI / 180, 1e-6);
    CHECK_NEAR(
        geo_distance_m((struct geo_latlng){0, 0}, (struct geo_latlng){0, 180}),
        GEO_EARTH_RADIUS_M * M_PI, 1e-3);
    /* Antipodes, where rounding can push the haversine past 1. */
    CHECK_NEAR(geo_distance_m((struct geo_latlng){-88.91278, 10},
                              (struct geo_latlng){88.91278, -170}),
               GEO_EARTH_RADIUS_M * M_PI, 1e-3);
    /* Across the antimeridian. */
    CHECK_NEAR(geo_distance_m((struct geo_latlng){0, 179.9},
                              (struct geo_latlng){0, -179.9}),
               GEO_EARTH_RADIUS_M * M_PI / 180 * 0.2, 1e-3);
}

TEST(geo_offset_round_trip)
{
    struct rng r;
    rng_seed(&r, 1);
    for (int i = 0; i < 2000; i++) {
        struct geo_latlng p = {rng_range(&r, -80, 80),
                               rng_range(&r, -180, 180)};
        double bearing = rng_range(&r, 0, 360);
        double dist = rng_range(&r, 0, 100e3);
        struct geo_latlng q = geo_offset(p, bearing, dist);
        CHECK(geo_latlng_is_valid(q));
        CHECK_NEAR(geo_distance_m(p, q), dist, 1e-6 * dist + 1e-6);
    }
    struct geo_latlng o = geo_offset((struct geo_latlng){10, 20}, 123, 0);
    CHECK_NEAR(o.lat_deg, 10, 1e-12);
    CHECK_NEAR(o.lon_deg, 20, 1e-12);
    /* North one degree of arc; east across the antimeridian. */
    struct geo_latlng n = geo_offset((struct geo_latlng){0, 0}, 0,
                                     GEO_EARTH_RADIUS_M * M_PI / 180);
    CHECK_NEAR(n.lat_deg, 1, 1e-9);
    CHECK_NEAR(n.lon_deg, 0, 1e-9);
    struct geo_latlng e = geo_offset((struct geo_latlng){0, 179.9}, 90,
                                     GEO_EARTH_RADIUS_M * M_PI / 180 * 0.2);
    CHECK_NEAR(e.lat_deg, 0, 1e-9);
    CHECK_NEAR(e.lon_deg, -179.9, 1e-9);
}

/* Regression: rounding put asin's argument above 1 and the result was NaN. */
TEST(geo_offset_to_pole_is_finite)
{
    struct geo_latlng p =
        geo_offset((struct geo_latlng){2.5, 0}, 0, 9729569.52043413);
    CHECK(geo_latlng_is_valid(p));
    CHECK_NEAR(p.lat_deg, 90, 1e-6);
    p = geo_offset((struct geo_latlng){-2.5, 0}, 180, 9729569.52043413);
    CHECK(geo_latlng_is_valid(p));
    CHECK_NEAR(p.lat_deg, -90, 1e-6);
}

TEST(geo_polygon_init_errors)
{
    struct geo_polygon poly = {0};
    struct err_detail d;
    struct geo_latlng two[] = {{0, 0}, {1, 1}};
    CHECK_ERR(geo_polygon_init(&poly, two, 2, &d), ERR_INVALID);
    CHECK_STR(d.field, "service_area");
    CHECK_ERR(geo_polygon_init(&poly, NULL, 0, NULL), ERR_INVALID);
    /* Three vertices where the last repeats the first: only two remain. */
    struct geo_latlng closed2[] = {{0, 0}, {1, 1}, {0, 0}};
    CHECK_ERR(geo_polygon_init(&poly, closed2, 3, NULL), ERR_INVALID);
    struct geo_latlng bad[] = {{0, 0}, {1, 1}, {91, 0}};
    CHECK_ERR(geo_polygon_init(&poly, bad, 3, &d), ERR_INVALID);
    struct geo_latlng nan[] = {{0, 0}, {1, NAN}, {1, 0}};
    CHECK_ERR(geo_polygon_init(&poly, nan, 3, NULL), ERR_INVALID);
    size_t n = GEO_POLYGON_MAX_VERTICES + 1;
    struct geo_latlng *many = xcalloc(n, sizeof(*many));
    for (size_t i = 0; i < n; i++) {
        double a = 2 * M_PI * (double)i / (double)n;
        many[i] = (struct geo_latlng){sin(a), cos(a)};
    }
    CHECK_ERR(geo_polygon_init(&poly, many, n, &d), ERR_TOO_BIG);
    CHECK(poly.v == NULL);
    /* Exactly the maximum is fine. */
    CHECK_OK(geo_polygon_init(&poly, many, n - 1, NULL));
    CHECK_EQ(poly.n, n - 1);
    geo_polygon_release(&poly);
    xfree(many);
}

TEST(geo_polygon_contains_square)
{
    struct geo_latlng sq[] = {{0, 0}, {0, 2}, {2, 2}, {2, 0}, {0, 0}};
    struct geo_polygon poly;
    CHECK_OK(geo_polygon_init(&poly, sq, ARRAY_LEN(sq), NULL));
    CHECK_EQ(poly.n, 4); /* the closing repeat is dropped */
    CHECK_EQ(poly.bbox.min_lat_deg, 0);
    CHECK_EQ(poly.bbox.max_lon_deg, 2);
    CHECK(geo_polygon_contains(&poly, (struct geo_latlng){1, 1}));
    /* Boundary: edges and vertices count as inside. */
    CHECK(geo_polygon_contains(&poly, (struct geo_latlng){0, 1}));
    CHECK(geo_polygon_contains(&poly, (struct geo_latlng){1, 2}));
    CHECK(geo_polygon_contains(&poly, (struct geo_latlng){2, 2}));
    CHECK(geo_polygon_contains(&poly, (struct geo_latlng){0, 0}));
    /* Outside, inside the bbox's extent on one axis and not the other. */
    CHECK(!geo_polygon_contains(&poly, (struct geo_latlng){3, 1}));
    CHECK(!geo_polygon_contains(&poly, (struct geo_latlng){1, -0.001}));
    CHECK(!geo_polygon_contains(&poly, (struct geo_latlng){-5, -5}));
    CHECK(!geo_polygon_contains(&poly, (struct geo_latlng){1, 2.001}));
    CHECK(!geo_polygon_contains(&poly, (struct geo_latlng){-0.001, 1}));
    geo_polygon_release(&poly);
    CHECK(poly.v == NULL);
    CHECK_EQ(poly.n, 0);
    CHECK(!geo_polygon_contains(&poly, (struct geo_latlng){1, 1}));
}

TEST(geo_polygon_contains_concave)
{
    /* A U shape: the notch between the arms is outside. */
    struct geo_latlng u[] = {{0, 0}, {0, 3}, {3, 3}, {3, 2},
                             {1, 2}, {1, 1}, {3, 1}, {3, 0}};
    struct geo_polygon poly;
    CHECK_OK(geo_polygon_init(&poly, u, ARRAY_LEN(u), NULL));
    CHECK(geo_polygon_contains(&poly, (struct geo_latlng){0.5, 1.5}));
    CHECK(geo_polygon_contains(&poly, (struct geo_latlng){2, 0.5}));
    CHECK(geo_polygon_contains(&poly, (struct geo_latlng){2, 2.5}));
    CHECK(!geo_polygon_contains(&poly, (struct geo_latlng){2, 1.5}));
    CHECK(!geo_polygon_contains(&poly, (struct geo_latlng){2.9, 1.5}));
    /* The notch's edges are boundary. */
    CHECK(geo_polygon_contains(&poly, (struct geo_latlng){1, 1.5}));
    CHECK(geo_polygon_contains(&poly, (struct geo_latlng){2, 1}));
    /* On the line of a notch edge, past its ends: decided by the ray. */
    CHECK(geo_polygon_contains(&poly, (struct geo_latlng){1, 0.5}));
    CHECK(geo_polygon_contains(&poly, (struct geo_latlng){1, 2.5}));
    CHECK(geo_polygon_contains(&poly, (struct geo_latlng){0.5, 2}));
    struct geo_latlng n[] = {{3, 0}, {3, 3}, {0, 3}, {0, 2},
                             {2, 2}, {2, 1}, {0, 1}, {0, 0}};
    struct geo_polygon flipped;
    CHECK_OK(geo_polygon_init(&flipped, n, ARRAY_LEN(n), NULL));
    CHECK(!geo_polygon_contains(&flipped, (struct geo_latlng){1, 1.5}));
    CHECK(geo_polygon_contains(&flipped, (struct geo_latlng){2.5, 2}));
    CHECK(geo_polygon_contains(&flipped, (struct geo_latlng){2.5, 1}));
    CHECK(geo_polygon_contains(&flipped, (struct geo_latlng){1, 2}));
    geo_polygon_release(&flipped);
    /* A diagonal edge. */
    struct geo_latlng tri[] = {{0, 0}, {4, 4}, {0, 4}};
    struct geo_polygon t;
    CHECK_OK(geo_polygon_init(&t, tri, ARRAY_LEN(tri), NULL));
    CHECK(geo_polygon_contains(&t, (struct geo_latlng){1, 3}));
    CHECK(geo_polygon_contains(&t, (struct geo_latlng){2, 2}));
    CHECK(!geo_polygon_contains(&t, (struct geo_latlng){3, 1}));
    geo_polygon_release(&t);
    /*
     * A diamond listed both ways round: points on each edge, and points on
     * an edge's line but past its end (outside).
     */
    struct geo_latlng dia[] = {{0, 2}, {2, 4}, {4, 2}, {2, 0}};
    struct geo_latlng rev[] = {{2, 0}, {4, 2}, {2, 4}, {0, 2}};
    struct geo_latlng on[] = {{1, 3}, {3, 3}, {3, 1}, {1, 1}};
    struct geo_latlng past[] = {{-1, 1}, {-1, 3}, {5, 3}, {5, 1}};
    for (int way = 0; way < 2; way++) {
        CHECK_OK(geo_polygon_init(&t, way ? rev : dia, 4, NULL));
        for (size_t i = 0; i < ARRAY_LEN(on); i++) {
            CHECK(geo_polygon_contains(&t, on[i]));
            CHECK(!geo_polygon_contains(&t, past[i]));
        }
        geo_polygon_release(&t);
    }
    geo_polygon_release(&poly);
}

/* ---- index: helpers --------------------------------------------------- */

static const struct geo_bbox shanghai = {31.10, 121.30, 31.35, 121.65};

static const struct geo_index_attrs plain = {0, 0, 80};

static const struct geo_index_filter any = {GEO_INDEX_ALL_STATES,
                                            GEO_INDEX_ALL_TYPES, -1};

static struct geo_index *new_index(struct geo_bbox region, double cell_m)
{
    struct geo_index *ix = NULL;
    CHECK_OK(geo_index_new(region, cell_m, &ix, NULL));
    CHECK(ix != NULL);
    return ix;
}

/* What the index should hold, by slot. */
struct model {
    size_t n; /* slots */
    bool *present;
    struct geo_latlng *pos; /* quantized */
    struct geo_index_attrs *attrs;
};

static void model_init(struct model *m, size_t n)
{
    m->n = n;
    m->present = xcalloc(n, sizeof(*m->present));
    m->pos = xcalloc(n, sizeof(*m->pos));
    m->attrs = xcalloc(n, sizeof(*m->attrs));
}

static void model_release(struct model *m)
{
    xfree(m->present);
    xfree(m->pos);
    xfree(m->attrs);
}

static void put_both(struct geo_index *ix, struct model *m, uint32_t slot,
                     struct geo_latlng p, struct geo_index_attrs a)
{
    CHECK_OK(geo_index_put(ix, slot, p, a, NULL));
    m->present[slot] = true;
    m->pos[slot] = geo_index_quantize(p);
    m->attrs[slot] = a;
}

static void remove_both(struct geo_index *ix, struct model *m, uint32_t slot)
{
    CHECK_ERR(geo_index_remove(ix, slot),
              m->present[slot] ? ERR_OK : ERR_NOT_FOUND);
    m->present[slot] = false;
}

static bool filter_admits(struct geo_index_filter f, struct geo_index_attrs a)
{
    if (!((f.state_mask >> a.state) & 1u) || !((f.type_mask >> a.type) & 1u))
        return false;
    if (a.battery_pct < 0)
        return f.min_battery_pct <= 0;
    return a.battery_pct >= f.min_battery_pct;
}

static int hit_cmp(const void *pa, const void *pb)
{
    const struct geo_index_hit *a = pa, *b = pb;
    if (a->distance_m != b->distance_m)
        return a->distance_m < b->distance_m ? -1 : 1;
    return a->slot < b->slot ? -1 : a->slot > b->slot;
}

/* Brute force: returns the number of hits written to out (cap m->n). */
static size_t brute_force(const struct model *m,
                          const struct geo_index_query *q,
                          struct geo_index_hit *out)
{
    size_t n = 0;
    for (size_t s = 0; s < m->n; s++) {
        if (!m->present[s] || !filter_admits(q->filter, m->attrs[s]))
            continue;
        double dist = geo_index_distance_m(q->center, m->pos[s]);
        if (dist <= q->radius_m)
            out[n++] = (struct geo_index_hit){(uint32_t)s, dist};
    }
    qsort(out, n, sizeof(*out), hit_cmp);
    return MIN(n, q->k);
}

/* Runs q on the index and checks it equals brute force, bit for bit. */
static size_t check_query(const struct geo_index *ix, const struct model *m,
                          const struct geo_index_query *q)
{
    struct geo_index_hit *got = xcalloc(q->k, sizeof(*got));
    struct geo_index_hit *want = xcalloc(m->n + 1, sizeof(*want));
    size_t n = SIZE_MAX;
    CHECK_OK(geo_index_query(ix, q, got, q->k, &n, NULL));
    size_t wn = brute_force(m, q, want);
    if (n != wn)
        test_fail(__FILE__, __LINE__,
                  "query (%.9f, %.9f) r=%g k=%zu: %zu hits, expected %zu",
                  q->center.lat_deg, q->center.lon_deg, q->radius_m, q->k, n,
                  wn);
    for (size_t i = 0; i < n; i++) {
        if (got[i].slot != want[i].slot ||
            got[i].distance_m != want[i].distance_m)
            test_fail(__FILE__, __LINE__,
                      "query (%.9f, %.9f) r=%g k=%zu: hit %zu is %u at "
                      "%.17g, expected %u at %.17g",
                      q->center.lat_deg, q->center.lon_deg, q->radius_m, q->k,
                      i, got[i].slot, got[i].distance_m, want[i].slot,
                      want[i].distance_m);
    }
    xfree(got);
    xfree(want);
    return n;
}

static struct geo_index_query make_query(struct geo_latlng c, double r,
                                         size_t k)
{
    return (struct geo_index_query){c, r, k, any};
}

static struct geo_index_attrs random_attrs(struct rng *r)
{
    return (struct geo_index_attrs){
        .state = (unsigned)rng_below(r, GEO_INDEX_STATES),
        .type = (unsigned)rng_below(r, GEO_INDEX_TYPES),
        .battery_pct = (int)rng_below(r, 102) - 1,
    };
}

static struct geo_index_filter random_filter(struct rng *r)
{
    struct geo_index_filter f = any;
    if (rng_below(r, 2))
        f.state_mask = (uint32_t)rng_below(r, 256);
    if (rng_below(r, 3) == 0)
        f.type_mask = (uint32_t)rng_below(r, 16);
    if (rng_below(r, 3) == 0)
        f.min_battery_pct = (int32_t)rng_below(r, 102) - 1;
    return f;
}

static double random_radius(struct rng *r)
{
    /* Log-uniform over 10 m .. 5 km. */
    return 10.0 * pow(500.0, rng_unit(r));
}

static size_t random_k(struct rng *r)
{
    static const size_t ks[] = {1, 10, 100};
    return ks[rng_below(r, ARRAY_LEN(ks))];
}

/* A point in b, or beyond it by up to margin_deg. */
static struct geo_latlng random_point(struct rng *r, struct geo_bbox b,
                                      double margin_deg)
{
    return (struct geo_latlng){
        rng_range(r, b.min_lat_deg - margin_deg, b.max_lat_deg + margin_deg),
        rng_range(r, b.min_lon_deg - margin_deg, b.max_lon_deg + margin_deg),
    };
}

/* ---- index: API contract ---------------------------------------------- */

TEST(geo_index_new_ok)
{
    struct geo_index *ix = new_index(shanghai, 0);
    CHECK_EQ(geo_index_count(ix), 0);
    CHECK(geo_index_memory_bytes(ix) > 0);
    struct geo_bbox cell;
    CHECK_OK(geo_index_cell_bbox(ix, (struct geo_latlng){31.2, 121.4}, &cell));
    /* The default cell is about 50 m on a side. */
    CHECK_NEAR(
        geo_distance_m((struct geo_latlng){cell.min_lat_deg, cell.min_lon_deg},
                       (struct geo_latlng){cell.max_lat_deg, cell.min_lon_deg}),
        GEO_INDEX_DEFAULT_CELL_M, 0.1);
    CHECK_NEAR(
        geo_distance_m((struct geo_latlng){cell.min_lat_deg, cell.min_lon_deg},
                       (struct geo_latlng){cell.min_lat_deg, cell.max_lon_deg}),
        GEO_INDEX_DEFAULT_CELL_M, 0.5);
    geo_index_free(ix);
    ix = new_index(shanghai, 250);
    geo_index_free(ix);
    geo_index_free(NULL);
}

TEST(geo_index_new_errors)
{
    struct geo_index *ix = NULL;
    struct err_detail d;
    struct geo_bbox b = shanghai;
    b.min_lat_deg = NAN;
    CHECK_ERR(geo_index_new(b, 0, &ix, &d), ERR_INVALID);
    CHECK_STR(d.field, "region");
    b = shanghai;
    b.max_lon_deg = 181;
    CHECK_ERR(geo_index_new(b, 0, &ix, NULL), ERR_INVALID);
    b = shanghai;
    b.max_lat_deg = b.min_lat_deg;
    CHECK_ERR(geo_index_new(b, 0, &ix, NULL), ERR_INVALID);
    b = shanghai;
    b.min_lon_deg = 122;
    CHECK_ERR(geo_index_new(b, 0, &ix, NULL), ERR_INVALID);
    CHECK_ERR(geo_index_new(shanghai, 9.99, &ix, &d), ERR_INVALID);
    CHECK_STR(d.field, "cell_m");
    CHECK_ERR(geo_index_new(shanghai, 1000.01, &ix, NULL), ERR_INVALID);
    CHECK_ERR(geo_index_new(shanghai, -50, &ix, NULL), ERR_INVALID);
    CHECK_ERR(geo_index_new(shanghai, NAN, &ix, NULL), ERR_INVALID);
    CHECK_ERR(geo_index_new((struct geo_bbox){-60, -180, 60, 180}, 10, &ix, &d),
              ERR_TOO_BIG);
    CHECK_STR(d.field, "region");
    CHECK(ix == NULL);
}

TEST(geo_index_put_get_remove)
{
    struct geo_index *ix = new_index(shanghai, 0);
    struct geo_latlng p = {31.2304, 121.4737};
    struct geo_index_attrs a = {3, 2, 57};
    CHECK_OK(geo_index_put(ix, 7, p, a, NULL));
    CHECK_EQ(geo_index_count(ix), 1);
    struct geo_latlng got;
    struct geo_index_attrs ga;
    CHECK_OK(geo_index_get(ix, 7, &got, &ga));
    CHECK_NEAR(got.lat_deg, p.lat_deg, 0.5e-7);
    CHECK_NEAR(got.lon_deg, p.lon_deg, 0.5e-7);
    CHECK_EQ(ga.state, 3);
    CHECK_EQ(ga.type, 2);
    CHECK_EQ(ga.battery_pct, 57);
    CHECK_OK(geo_index_get(ix, 7, NULL, NULL));

    /* Update in place: same cell, new attributes, unknown battery. */
    struct geo_index_attrs b = {7, 3, GEO_INDEX_BATTERY_UNKNOWN};
    CHECK_OK(geo_index_put(ix, 7, p, b, NULL));
    CHECK_EQ(geo_index_count(ix), 1);
    CHECK_OK(geo_index_get(ix, 7, NULL, &ga));
    CHECK_EQ(ga.state, 7);
    CHECK_EQ(ga.type, 3);
    CHECK_EQ(ga.battery_pct, -1);

    /* Move across cells, out of the region, and back. */
    struct geo_latlng far = {31.3, 121.6};
    struct geo_latlng out = {30.0, 120.0};
    CHECK_OK(geo_index_put(ix, 7, far, a, NULL));
    CHECK_OK(geo_index_get(ix, 7, &got, NULL));
    CHECK_NEAR(got.lat_deg, far.lat_deg, 0.5e-7);
    CHECK_OK(geo_index_put(ix, 7, out, a, NULL));
    CHECK_OK(geo_index_get(ix, 7, &got, NULL));
    CHECK_NEAR(got.lon_deg, out.lon_deg, 0.5e-7);
    CHECK_OK(geo_index_put(ix, 7, p, a, NULL));
    CHECK_EQ(geo_index_count(ix), 1);

    /* A second slot, then removals. */
    CHECK_OK(geo_index_put(ix, 3000000, p, a, NULL));
    CHECK_EQ(geo_index_count(ix), 2);
    CHECK_OK(geo_index_remove(ix, 7));
    CHECK_EQ(geo_index_count(ix), 1);
    CHECK_ERR(geo_index_get(ix, 7, &got, NULL), ERR_NOT_FOUND);
    CHECK_OK(geo_index_get(ix, 3000000, &got, NULL));
    CHECK_OK(geo_index_remove(ix, 3000000));
    CHECK_EQ(geo_index_count(ix), 0);
    geo_index_free(ix);
}

TEST(geo_index_put_errors)
{
    struct geo_index *ix = new_index(shanghai, 0);
    struct geo_latlng p = {31.2, 121.4};
    struct err_detail d;
    CHECK_OK(geo_index_put(ix, 1, p, plain, NULL));
    CHECK_ERR(geo_index_put(ix, GEO_INDEX_MAX_SLOTS, p, plain, &d),
              ERR_TOO_BIG);
    CHECK_STR(d.field, "slot");
    CHECK_ERR(geo_index_put(ix, UINT32_MAX, p, plain, NULL), ERR_TOO_BIG);
    /* The largest slot is fine (its locator array is 128 MB). */
    CHECK_OK(geo_index_put(ix, GEO_INDEX_MAX_SLOTS - 1, p, plain, NULL));
    CHECK_OK(geo_index_remove(ix, GEO_INDEX_MAX_SLOTS - 1));
    CHECK_ERR(geo_index_put(ix, 1, (struct geo_latlng){NAN, 121}, plain, &d),
              ERR_INVALID);
    CHECK_STR(d.field, "position");
    CHECK_ERR(geo_index_put(ix, 1, (struct geo_latlng){31, 180.5}, plain, NULL),
              ERR_INVALID);
    struct geo_index_attrs bad[] = {
        {8, 0, 50}, {0, 4, 50}, {0, 0, -2}, {0, 0, 101}};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        CHECK_ERR(geo_index_put(ix, 1, p, bad[i], &d), ERR_INVALID);
        CHECK_STR(d.field, "attrs");
    }
    /* Nothing changed. */
    CHECK_EQ(geo_index_count(ix), 1);
    struct geo_index_attrs ga;
    CHECK_OK(geo_index_get(ix, 1, NULL, &ga));
    CHECK_EQ(ga.battery_pct, plain.battery_pct);
    CHECK_ERR(geo_index_get(ix, 2, NULL, NULL), ERR_NOT_FOUND);
    geo_index_free(ix);
}

TEST(geo_index_remove_errors)
{
    struct geo_index *ix = new_index(shanghai, 0);
    CHECK_ERR(geo_index_remove(ix, 0), ERR_NOT_FOUND);
    CHECK_ERR(geo_index_remove(ix, UINT32_MAX), ERR_NOT_FOUND);
    CHECK_OK(
        geo_index_put(ix, 5, (struct geo_latlng){31.2, 121.4}, plain, NULL));
    CHECK_ERR(geo_index_remove(ix, 4), ERR_NOT_FOUND);
    CHECK_OK(geo_index_remove(ix, 5));
    CHECK_ERR(geo_index_remove(ix, 5), ERR_NOT_FOUND);
    CHECK_ERR(geo_index_get(ix, UINT32_MAX, NULL, NULL), ERR_NOT_FOUND);
    geo_index_free(ix);
}

TEST(geo_index_query_errors)
{
    struct geo_index *ix = new_index(shanghai, 0);
    struct geo_latlng c = {31.2, 121.4};
    CHECK_OK(geo_index_put(ix, 1, c, plain, NULL));
    struct geo_index_hit out[4] = {{99, 9.0}};
    size_t n = 77;
    struct err_detail d;
    struct {
        struct geo_index_query q;
        size_t cap;
        enum err want;
        const char *field;
    } cases[] = {
        {{{NAN, 121.4}, 100, 1, any}, 4, ERR_INVALID, "center"},
        {{{31.2, 200}, 100, 1, any}, 4, ERR_INVALID, "center"},
        {{c, 0, 1, any}, 4, ERR_INVALID, "radius_m"},
        {{c, -1, 1, any}, 4, ERR_INVALID, "radius_m"},
        {{c, NAN, 1, any}, 4, ERR_INVALID, "radius_m"},
        {{c, INFINITY, 1, any}, 4, ERR_INVALID, "radius_m"},
        {{c, 50000.001, 1, any}, 4, ERR_INVALID, "radius_m"},
        {{c, 100, 0, any}, 4, ERR_INVALID, "k"},
        {{c, 100, GEO_INDEX_MAX_K + 1, any}, 2000, ERR_TOO_BIG, "k"},
        {{c, 100, 1, {0x100, 0xf, -1}}, 4, ERR_INVALID, "state_mask"},
        {{c, 100, 1, {0xff, 0x10, -1}}, 4, ERR_INVALID, "type_mask"},
        {{c, 100, 1, {0xff, 0xf, -2}}, 4, ERR_INVALID, "min_battery_pct"},
        {{c, 100, 1, {0xff, 0xf, 101}}, 4, ERR_INVALID, "min_battery_pct"},
        {{c, 100, 5, any}, 4, ERR_INVALID, "cap"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        CHECK_ERR(geo_index_query(ix, &cases[i].q, out, cases[i].cap, &n, &d),
                  cases[i].want);
        CHECK_STR(d.field, cases[i].field);
        /* Out-pointers untouched on error. */
        CHECK_EQ(n, 77);
        CHECK_EQ(out[0].slot, 99);
    }
    /* The limits themselves are accepted. */
    struct geo_index_query q = {c, GEO_INDEX_MAX_RADIUS_M, 4, any};
    CHECK_OK(geo_index_query(ix, &q, out, 4, &n, NULL));
    CHECK_EQ(n, 1);
    struct geo_index_hit *big = xcalloc(GEO_INDEX_MAX_K, sizeof(*big));
    q.k = GEO_INDEX_MAX_K;
    q.filter.min_battery_pct = 100;
    CHECK_OK(geo_index_query(ix, &q, big, GEO_INDEX_MAX_K, &n, NULL));
    CHECK_EQ(n, 0);
    xfree(big);
    geo_index_free(ix);
}

TEST(geo_index_query_basic)
{
    struct geo_index *ix = new_index(shanghai, 0);
    struct geo_latlng c = {31.2, 121.4};
    /* Slots 10..14 at 100, 200, ... 500 m north. */
    for (uint32_t i = 0; i < 5; i++)
        CHECK_OK(geo_index_put(ix, 10 + i, geo_offset(c, 0, 100.0 * (i + 1)),
                               plain, NULL));
    struct geo_index_hit out[8] = {{0}};
    size_t n = 0;
    struct geo_index_query q = make_query(c, 1000, 3);
    CHECK_OK(geo_index_query(ix, &q, out, 8, &n, NULL));
    CHECK_EQ(n, 3);
    CHECK_EQ(out[0].slot, 10);
    CHECK_EQ(out[1].slot, 11);
    CHECK_EQ(out[2].slot, 12);
    CHECK_NEAR(out[0].distance_m, 100, 0.05);
    CHECK_NEAR(out[2].distance_m, 300, 0.05);
    CHECK(out[3].slot == 0 && out[3].distance_m == 0); /* untouched */
    q.radius_m = 250;
    q.k = 8;
    CHECK_OK(geo_index_query(ix, &q, out, 8, &n, NULL));
    CHECK_EQ(n, 2);
    /* The radius is inclusive, to the bit. */
    struct geo_latlng p13;
    CHECK_OK(geo_index_get(ix, 13, &p13, NULL));
    q.radius_m = geo_index_distance_m(c, p13);
    CHECK_OK(geo_index_query(ix, &q, out, 8, &n, NULL));
    CHECK_EQ(n, 4);
    CHECK_EQ(out[3].slot, 13);
    CHECK(out[3].distance_m == q.radius_m);
    q.radius_m = nextafter(q.radius_m, 0);
    CHECK_OK(geo_index_query(ix, &q, out, 8, &n, NULL));
    CHECK_EQ(n, 3);
    /* Empty index, and a query far from the region. */
    struct geo_index *empty = new_index(shanghai, 0);
    CHECK_OK(geo_index_query(empty, &q, out, 8, &n, NULL));
    CHECK_EQ(n, 0);
    geo_index_free(empty);
    q = make_query((struct geo_latlng){-33.9, 151.2}, 50000, 8);
    CHECK_OK(geo_index_query(ix, &q, out, 8, &n, NULL));
    CHECK_EQ(n, 0);
    geo_index_free(ix);
}

TEST(geo_index_query_ties)
{
    struct geo_index *ix = new_index(shanghai, 0);
    struct geo_latlng c = {31.2, 121.4};
    /* Ten bikes on one spot, inserted in a scrambled slot order. */
    struct geo_latlng spot = geo_offset(c, 45, 30);
    uint32_t slots[] = {9, 3, 7, 1, 8, 0, 6, 2, 5, 4};
    for (size_t i = 0; i < ARRAY_LEN(slots); i++)
        CHECK_OK(geo_index_put(ix, slots[i], spot, plain, NULL));
    /*
     * Equal distances east and west, in two different cells: search for an
     * offset whose rounding is the same on both sides.
     */
    struct geo_latlng e = c, w = c;
    bool found = false;
    for (int i = 0; i < 1000 && !found; i++) {
        c.lon_deg = 121.4 + (i % 10) * 1e-7;
        c = geo_index_quantize(c);
        e.lon_deg = c.lon_deg + 0.001 + (i / 10) * 1e-7;
        w.lon_deg = c.lon_deg - 0.001 - (i / 10) * 1e-7;
        e = geo_index_quantize(e);
        w = geo_index_quantize(w);
        found = geo_index_distance_m(c, e) == geo_index_distance_m(c, w);
    }
    CHECK(found);
    struct geo_bbox ce, cw;
    CHECK_OK(geo_index_cell_bbox(ix, e, &ce));
    CHECK_OK(geo_index_cell_bbox(ix, w, &cw));
    CHECK(ce.min_lon_deg != cw.min_lon_deg);
    CHECK_OK(geo_index_put(ix, 21, e, plain, NULL));
    CHECK_OK(geo_index_put(ix, 20, w, plain, NULL));
    struct geo_index_hit out[12];
    size_t n = 0;
    struct geo_index_query q = make_query(c, 500, 4);
    CHECK_OK(geo_index_query(ix, &q, out, 12, &n, NULL));
    CHECK_EQ(n, 4);
    for (uint32_t i = 0; i < 4; i++)
        CHECK_EQ(out[i].slot, i);
    q.center = spot;
    q.k = 12;
    CHECK_OK(geo_index_query(ix, &q, out, 12, &n, NULL));
    CHECK_EQ(n, 12);
    for (uint32_t i = 0; i < 10; i++) {
        CHECK_EQ(out[i].slot, i);
        CHECK(out[i].distance_m == out[0].distance_m);
    }
    q.center = c;
    q.radius_m = 200;
    q.k = 11;
    CHECK_OK(geo_index_query(ix, &q, out, 12, &n, NULL));
    CHECK_EQ(n, 11);
    CHECK_EQ(out[10].slot, 20); /* of the east-west pair, the lower slot */
    geo_index_free(ix);
}

TEST(geo_index_query_filter)
{
    struct geo_index *ix = new_index(shanghai, 0);
    struct geo_latlng c = {31.2, 121.4};
    struct geo_index_attrs a[] = {
        {0, 0, 90}, {1, 0, 90}, {0, 1, 90}, {0, 0, 0}, {0, 0, -1}, {7, 3, 100},
    };
    for (uint32_t i = 0; i < ARRAY_LEN(a); i++)
        CHECK_OK(geo_index_put(ix, i, geo_offset(c, 60.0 * i, 10.0 + i), a[i],
                               NULL));
    struct {
        struct geo_index_filter f;
        uint32_t want; /* bitmask of slots */
    } cases[] = {
        {any, 0x3f},
        {{0x01, 0xf, -1}, 0x1d},
        {{0x02, 0xf, -1}, 0x02},
        {{0xff, 0x2, -1}, 0x04},
        {{0xff, 0x8, -1}, 0x20},
        {{0x80, 0x8, 100}, 0x20},
        {{0xff, 0xf, 0}, 0x3f}, /* unknown passes at <= 0 */
        {{0xff, 0xf, 1}, 0x27}, /* 0% and unknown fail */
        {{0xff, 0xf, 91}, 0x20},
        {{0, 0xf, -1}, 0},
        {{0xff, 0, -1}, 0},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct geo_index_query q = {c, 100, 10, cases[i].f};
        struct geo_index_hit out[10];
        size_t n = 0;
        CHECK_OK(geo_index_query(ix, &q, out, 10, &n, NULL));
        uint32_t got = 0;
        for (size_t j = 0; j < n; j++)
            got |= 1u << out[j].slot;
        if (got != cases[i].want)
            test_fail(__FILE__, __LINE__, "filter case %zu: got %#x want %#x",
                      i, got, cases[i].want);
    }
    geo_index_free(ix);
}

TEST(geo_index_distance_accuracy)
{
    struct rng r;
    rng_seed(&r, 2);
    double worst = 0;
    for (int i = 0; i < 200000; i++) {
        struct geo_latlng a = {rng_range(&r, -70, 70),
                               rng_range(&r, -180, 180)};
        double dist = i % 2 ? rng_range(&r, 0, 50e3)
                            : pow(10, rng_range(&r, -2, log10(50e3)));
        struct geo_latlng b = geo_offset(a, rng_range(&r, 0, 360), dist);
        if (fabs(b.lat_deg) > 70)
            continue;
        double h = geo_distance_m(a, b);
        double f = geo_index_distance_m(a, b);
        double rel = h > 0 ? fabs(f - h) / h : fabs(f);
        worst = MAX(worst, rel);
        CHECK(f >= 0);
        CHECK(fabs(f - h) <= 0.005 * h + 1e-9);
    }
    /* The approximation is in fact far better than the 0.5% promised. */
    CHECK(worst < 1e-3);
    /* Across the antimeridian. */
    struct geo_latlng a = {60, 179.95}, b = {60.01, -179.95};
    CHECK_NEAR(geo_index_distance_m(a, b), geo_distance_m(a, b),
               0.005 * geo_distance_m(a, b));
    CHECK_NEAR(geo_index_distance_m(b, a), geo_distance_m(a, b),
               0.005 * geo_distance_m(a, b));
    CHECK_EQ(geo_index_distance_m(a, a), 0);
}

TEST(geo_index_quantize_and_cells)
{
    struct geo_index *ix = new_index(shanghai, 100);
    struct geo_latlng p = {31.123456789, 121.44444444};
    struct geo_latlng qp = geo_index_quantize(p);
    CHECK_NEAR(qp.lat_deg, p.lat_deg, 0.5e-7);
    CHECK_NEAR(qp.lon_deg, p.lon_deg, 0.5e-7);
    struct geo_latlng qq = geo_index_quantize(qp);
    CHECK(qq.lat_deg == qp.lat_deg && qq.lon_deg == qp.lon_deg);

    struct geo_bbox cell;
    CHECK_OK(geo_index_cell_bbox(ix, p, &cell));
    CHECK(cell.min_lat_deg <= qp.lat_deg && qp.lat_deg < cell.max_lat_deg);
    CHECK(cell.min_lon_deg <= qp.lon_deg && qp.lon_deg < cell.max_lon_deg);
    /* A cell's min corner belongs to it; its max corner to the next. */
    struct geo_bbox c2;
    CHECK_OK(geo_index_cell_bbox(
        ix, (struct geo_latlng){cell.min_lat_deg, cell.min_lon_deg}, &c2));
    CHECK(c2.min_lat_deg == cell.min_lat_deg);
    CHECK_OK(geo_index_cell_bbox(
        ix, (struct geo_latlng){cell.max_lat_deg, cell.max_lon_deg}, &c2));
    CHECK(c2.min_lat_deg == cell.max_lat_deg);
    CHECK(c2.min_lon_deg == cell.max_lon_deg);
    CHECK_ERR(geo_index_cell_bbox(ix, (struct geo_latlng){30, 121.4}, &c2),
              ERR_NOT_FOUND);
    CHECK_ERR(geo_index_cell_bbox(ix, (struct geo_latlng){NAN, 121.4}, &c2),
              ERR_INVALID);
    geo_index_free(ix);
}

TEST(geo_index_memory)
{
    struct geo_index *ix = new_index(shanghai, 0);
    size_t n = 200000;
    /* Reserve the slot locators first, so they are in the baseline. */
    CHECK_OK(geo_index_put(ix, (uint32_t)n - 1,
                           (struct geo_latlng){31.2, 121.4}, plain, NULL));
    CHECK_OK(geo_index_remove(ix, (uint32_t)n - 1));
    size_t empty = geo_index_memory_bytes(ix);
    struct rng r;
    rng_seed(&r, 3);
    for (uint32_t i = 0; i < n; i++)
        CHECK_OK(geo_index_put(ix, i, random_point(&r, shanghai, 0),
                               random_attrs(&r), NULL));
    size_t full = geo_index_memory_bytes(ix);
    /* Entries and locators alone, without the fixed cell headers. */
    CHECK((full - empty) / n < 64);
    for (uint32_t i = 0; i < n; i++)
        CHECK_OK(geo_index_remove(ix, i));
    /* Emptied cells give their blocks back. */
    CHECK_EQ(geo_index_memory_bytes(ix), empty);
    geo_index_free(ix);
}

/* ---- index: exactness against brute force ------------------------------ */

/* Hotspot centers and spreads, in the spirit of a real city. */
static struct geo_latlng hotspot_point(struct rng *r, struct geo_bbox b,
                                       const struct geo_latlng *hot,
                                       size_t nhot)
{
    uint64_t pick = rng_below(r, 10);
    if (pick < 4)
        return random_point(r, b, 0);
    if (pick == 4)
        return random_point(r, b, 0.05); /* some land outside */
    struct geo_latlng h = hot[rng_below(r, nhot)];
    double spread_m = pick < 8 ? 150 : 15;
    return geo_offset(h, rng_range(r, 0, 360), fabs(rng_normal(r)) * spread_m);
}

/* Queries of every kind, each checked against brute force. */
static void random_queries(struct rng *r, const struct geo_index *ix,
                           const struct model *m, struct geo_bbox b,
                           const struct geo_latlng *hot, size_t nhot, int count)
{
    size_t hits = 0, empty = 0;
    for (int i = 0; i < count; i++) {
        struct geo_latlng c;
        uint64_t pick = rng_below(r, 4);
        if (pick == 0) {
            c = hot[rng_below(r, nhot)];
        } else if (pick == 1) {
            /* On a cell edge or corner. */
            struct geo_latlng p = random_point(r, b, 0);
            struct geo_bbox cell;
            if (geo_index_cell_bbox(ix, p, &cell) == ERR_OK) {
                c.lat_deg = rng_below(r, 2) ? cell.min_lat_deg : p.lat_deg;
                c.lon_deg = rng_below(r, 2) ? cell.max_lon_deg : p.lon_deg;
            } else {
                c = p;
            }
        } else if (pick == 2) {
            /* Exactly on a stored entry. */
            size_t s = rng_below(r, m->n);
            c = m->present[s] ? m->pos[s] : random_point(r, b, 0.05);
        } else {
            c = random_point(r, b, 0.06);
        }
        struct geo_index_query q = {c, random_radius(r), random_k(r),
                                    random_filter(r)};
        size_t n = check_query(ix, m, &q);
        hits += n;
        empty += n == 0;
    }
    /* The queries must exercise something: most find hits. */
    CHECK(hits > (size_t)count);
    CHECK(empty < (size_t)count / 2);
}

static void exactness_scenario(struct geo_bbox b, double cell_m, size_t n,
                               uint64_t seed, int nqueries)
{
    struct rng r;
    rng_seed(&r, seed);
    struct geo_index *ix = new_index(b, cell_m);
    struct model m;
    model_init(&m, n);
    struct geo_latlng hot[6];
    for (size_t i = 0; i < ARRAY_LEN(hot); i++)
        hot[i] = random_point(&r, b, 0);

    for (uint32_t s = 0; s < n; s++)
        put_both(ix, &m, s, hotspot_point(&r, b, hot, ARRAY_LEN(hot)),
                 random_attrs(&r));
    /* Entries on cell corners and edges. */
    for (uint32_t s = 0; s < n / 20; s++) {
        struct geo_bbox cell;
        struct geo_latlng p = random_point(&r, b, 0);
        if (geo_index_cell_bbox(ix, p, &cell) != ERR_OK)
            continue;
        struct geo_latlng corner = {cell.min_lat_deg, cell.min_lon_deg};
        if (s % 3 == 1)
            corner.lon_deg = p.lon_deg;
        else if (s % 3 == 2)
            corner.lat_deg = p.lat_deg;
        put_both(ix, &m, (uint32_t)rng_below(&r, n), corner, random_attrs(&r));
    }
    size_t count = 0;
    for (size_t s = 0; s < n; s++)
        count += m.present[s];
    CHECK_EQ(geo_index_count(ix), count);
    random_queries(&r, ix, &m, b, hot, ARRAY_LEN(hot), nqueries);

    /* Churn: small moves, jumps, trips out of town, removals, returns. */
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < n; i++) {
            uint32_t s = (uint32_t)rng_below(&r, n);
            uint64_t op = rng_below(&r, 10);
            if (op < 5 && m.present[s]) {
                put_both(ix, &m, s,
                         geo_offset(m.pos[s], rng_range(&r, 0, 360),
                                    rng_range(&r, 0, 80)),
                         m.attrs[s]);
            } else if (op < 7) {
                put_both(ix, &m, s, hotspot_point(&r, b, hot, ARRAY_LEN(hot)),
                         random_attrs(&r));
            } else if (op < 8) {
                put_both(ix, &m, s, random_point(&r, b, 0.3), random_attrs(&r));
            } else {
                remove_both(ix, &m, s);
            }
        }
        count = 0;
        for (size_t s = 0; s < n; s++) {
            count += m.present[s];
            struct geo_latlng p;
            if (m.present[s]) {
                CHECK_OK(geo_index_get(ix, (uint32_t)s, &p, NULL));
                CHECK(p.lat_deg == m.pos[s].lat_deg);
                CHECK(p.lon_deg == m.pos[s].lon_deg);
            } else {
                CHECK_ERR(geo_index_get(ix, (uint32_t)s, &p, NULL),
                          ERR_NOT_FOUND);
            }
        }
        CHECK_EQ(geo_index_count(ix), count);
        random_queries(&r, ix, &m, b, hot, ARRAY_LEN(hot), nqueries);
    }
    model_release(&m);
    geo_index_free(ix);
}

TEST(geo_index_exact_city)
{
    exactness_scenario(shanghai, 0, 20000, 11, 300);
}

TEST(geo_index_exact_large_cells)
{
    exactness_scenario(shanghai, 250, 10000, 12, 200);
}

TEST(geo_index_exact_small_cells_sparse)
{
    /* Few bikes in tiny cells: queries walk many empty rings. */
    struct geo_bbox b = {31.20, 121.40, 31.25, 121.45};
    exactness_scenario(b, 10, 300, 13, 200);
}

TEST(geo_index_exact_high_latitude)
{
    struct geo_bbox tromso = {69.60, 18.80, 69.72, 19.10};
    exactness_scenario(tromso, 0, 5000, 14, 200);
}

TEST(geo_index_exact_antimeridian)
{
    /* Fiji-like: the region touches 180 and bikes lie on both sides. */
    struct geo_bbox b = {-16.85, 179.80, -16.70, 180.0};
    struct rng r;
    rng_seed(&r, 15);
    struct geo_index *ix = new_index(b, 0);
    struct model m;
    model_init(&m, 3000);
    for (uint32_t s = 0; s < 3000; s++) {
        struct geo_latlng p = {rng_range(&r, -16.85, -16.70),
                               rng_range(&r, 179.8, 180.2)};
        if (p.lon_deg > 180)
            p.lon_deg -= 360;
        put_both(ix, &m, s, p, random_attrs(&r));
    }
    for (int i = 0; i < 300; i++) {
        struct geo_latlng c = {rng_range(&r, -16.9, -16.65),
                               rng_range(&r, 179.7, 180.3)};
        if (c.lon_deg > 180)
            c.lon_deg -= 360;
        if (i % 10 == 0)
            c.lon_deg = i % 20 ? 180.0 : -180.0;
        struct geo_index_query q = {c, random_radius(&r), random_k(&r),
                                    random_filter(&r)};
        check_query(ix, &m, &q);
    }
    model_release(&m);
    geo_index_free(ix);

    /* The mirror image: the region starts at -180, queries from the east. */
    b = (struct geo_bbox){-16.85, -180.0, -16.70, -179.80};
    ix = new_index(b, 0);
    model_init(&m, 3000);
    for (uint32_t s = 0; s < 3000; s++) {
        struct geo_latlng p = {rng_range(&r, -16.85, -16.70),
                               rng_range(&r, -180.2, -179.8)};
        if (p.lon_deg < -180)
            p.lon_deg += 360;
        put_both(ix, &m, s, p, random_attrs(&r));
    }
    for (int i = 0; i < 300; i++) {
        struct geo_latlng c = {rng_range(&r, -16.9, -16.65),
                               rng_range(&r, -180.3, -179.7)};
        if (c.lon_deg < -180)
            c.lon_deg += 360;
        struct geo_index_query q = {c, random_radius(&r), random_k(&r),
                                    random_filter(&r)};
        check_query(ix, &m, &q);
    }
    model_release(&m);
    geo_index_free(ix);
}

TEST(geo_index_exact_equator_and_pole)
{
    /* Overflow entries near a pole and on the equator, queried there. */
    struct geo_bbox b = {-0.05, -0.05, 0.05, 0.05};
    struct rng r;
    rng_seed(&r, 16);
    struct geo_index *ix = new_index(b, 25);
    struct model m;
    model_init(&m, 2000);
    for (uint32_t s = 0; s < 2000; s++) {
        struct geo_latlng p = random_point(&r, b, 0.02);
        if (s % 10 == 0)
            p = (struct geo_latlng){rng_range(&r, 89.98, 90),
                                    rng_range(&r, -180, 180)};
        put_both(ix, &m, s, p, random_attrs(&r));
    }
    for (int i = 0; i < 300; i++) {
        struct geo_latlng c = random_point(&r, b, 0.03);
        if (i % 5 == 0)
            c = (struct geo_latlng){rng_range(&r, 89.97, 90),
                                    rng_range(&r, -180, 180)};
        struct geo_index_query q = {c, random_radius(&r), random_k(&r),
                                    random_filter(&r)};
        check_query(ix, &m, &q);
    }
    model_release(&m);
    geo_index_free(ix);
}

TEST(geo_index_exact_polar)
{
    /* Grids around the north pole, the last one within 0.06 degrees. */
    static const struct geo_bbox boxes[] = {{85, -180, 90, 180},
                                            {89.95, -180, 90, 180}};
    struct rng r;
    rng_seed(&r, 23);
    for (size_t bi = 0; bi < ARRAY_LEN(boxes); bi++) {
        struct geo_bbox b = boxes[bi];
        struct geo_index *ix = new_index(b, 1000);
        struct model m;
        model_init(&m, 2000);
        for (uint32_t s = 0; s < 2000; s++) {
            struct geo_latlng p = {rng_range(&r, 89.9, 90),
                                   rng_range(&r, -180, 180)};
            put_both(ix, &m, s, p, random_attrs(&r));
        }
        for (int i = 0; i < 100; i++) {
            struct geo_latlng c = {rng_range(&r, 89.8, 90),
                                   rng_range(&r, -180, 180)};
            if (i % 10 == 0)
                c.lat_deg = 90;
            struct geo_index_query q = {c, 10.0 * pow(2000.0, rng_unit(&r)),
                                        random_k(&r), random_filter(&r)};
            check_query(ix, &m, &q);
        }
        model_release(&m);
        geo_index_free(ix);
    }
}

TEST(geo_index_exact_big_radius)
{
    /* Radii up to the cap with k large: whole-grid walks. */
    struct rng r;
    rng_seed(&r, 17);
    struct geo_index *ix = new_index(shanghai, 100);
    struct model m;
    model_init(&m, 3000);
    for (uint32_t s = 0; s < 3000; s++)
        put_both(ix, &m, s, random_point(&r, shanghai, 0.1), random_attrs(&r));
    for (int i = 0; i < 20; i++) {
        struct geo_index_query q = {random_point(&r, shanghai, 0.2),
                                    rng_range(&r, 5000, 50000),
                                    i % 2 ? 1000 : 37, random_filter(&r)};
        check_query(ix, &m, &q);
    }
    model_release(&m);
    geo_index_free(ix);
}

TEST(geo_index_ties_heap)
{
    /* Past the sorted-array size the hits live in a heap: same contract. */
    struct geo_index *ix = new_index(shanghai, 0);
    struct model m;
    model_init(&m, 200);
    struct geo_latlng c = {31.2, 121.4};
    struct geo_latlng spot = geo_offset(c, 200, 40);
    for (uint32_t i = 0; i < 200; i++)
        put_both(ix, &m, (i * 7919) % 200, i < 150 ? spot : c, plain);
    for (size_t k = 30; k <= 200; k += 17) {
        struct geo_index_query q = make_query(c, 100, k);
        check_query(ix, &m, &q);
        q.center = spot;
        check_query(ix, &m, &q);
    }
    model_release(&m);
    geo_index_free(ix);
}

/* Fills one grid cell past the split threshold and drains it again. */
TEST(geo_index_split_merge)
{
    struct geo_index *ix = new_index(shanghai, 0);
    struct rng r;
    rng_seed(&r, 21);
    struct model m;
    model_init(&m, 400);
    /* Reserve the locators so the baseline includes them. */
    CHECK_OK(
        geo_index_put(ix, 399, (struct geo_latlng){31.2, 121.4}, plain, NULL));
    CHECK_OK(geo_index_remove(ix, 399));
    size_t empty = geo_index_memory_bytes(ix);
    struct geo_bbox cell;
    CHECK_OK(geo_index_cell_bbox(ix, (struct geo_latlng){31.2, 121.4}, &cell));
    struct geo_latlng c = {(cell.min_lat_deg + cell.max_lat_deg) / 2,
                           (cell.min_lon_deg + cell.max_lon_deg) / 2};
    for (int round = 0; round < 4; round++) {
        /* Up to 300 bikes in the cell, some on sub-cell edges. */
        for (uint32_t s = 0; s < 300; s++) {
            struct geo_latlng p = {
                rng_range(&r, cell.min_lat_deg, cell.max_lat_deg),
                rng_range(&r, cell.min_lon_deg, cell.max_lon_deg)};
            if (s % 5 == 0)
                p.lat_deg =
                    cell.min_lat_deg + (cell.max_lat_deg - cell.min_lat_deg) *
                                           (double)rng_below(&r, 4) / 4;
            put_both(ix, &m, s, p, random_attrs(&r));
            if (s % 37 == 0) {
                struct geo_index_query q = {c, random_radius(&r), random_k(&r),
                                            random_filter(&r)};
                check_query(ix, &m, &q);
            }
        }
        /* Move them about inside the cell, then drain to a few. */
        for (uint32_t s = 0; s < 300; s += 3)
            put_both(ix, &m, s,
                     (struct geo_latlng){
                         rng_range(&r, cell.min_lat_deg, cell.max_lat_deg),
                         rng_range(&r, cell.min_lon_deg, cell.max_lon_deg)},
                     m.attrs[s]);
        for (uint32_t s = 0; s < 300; s++) {
            if (s % 13 == (uint32_t)round)
                continue;
            remove_both(ix, &m, s);
            if (s % 29 == 0) {
                struct geo_index_query q = {c, random_radius(&r), 100, any};
                check_query(ix, &m, &q);
            }
        }
        CHECK(geo_index_count(ix) > 0);
        CHECK(geo_index_count(ix) < 32);
        struct geo_index_query q = make_query(c, 100, 10);
        check_query(ix, &m, &q);
    }
    for (uint32_t s = 0; s < 300; s++)
        remove_both(ix, &m, s);
    CHECK_EQ(geo_index_count(ix), 0);
    CHECK_EQ(geo_index_memory_bytes(ix), empty);
    model_release(&m);
    geo_index_free(ix);
}

TEST(geo_index_exact_dense_wide)
{
    /* Many non-empty cells per ring: large k and radius over small cells. */
    struct geo_bbox b = {31.20, 121.40, 31.22, 121.42};
    struct rng r;
    rng_seed(&r, 22);
    struct geo_index *ix = new_index(b, 10);
    struct model m;
    model_init(&m, 20000);
    for (uint32_t s = 0; s < 20000; s++)
        put_both(ix, &m, s, random_point(&r, b, 0.002), random_attrs(&r));
    for (int i = 0; i < 12; i++) {
        struct geo_index_query q = {
            random_point(&r, b, 0.005), rng_range(&r, 200, 3000),
            i % 3 ? GEO_INDEX_MAX_K : 200, i % 2 ? any : random_filter(&r)};
        check_query(ix, &m, &q);
    }
    model_release(&m);
    geo_index_free(ix);
}

/*
 * Every k around the edges of the hit structures (appended unordered until
 * the k-th arrives, then a sorted array up to 32, a heap above), in a dense
 * city with exact duplicates and selective filters: brute force's answer.
 */
TEST(geo_index_k_boundaries)
{
    static const size_t ks[] = {1, 2, 3, 9, 10, 11, 31, 32, 33, 64};
    struct geo_bbox b = {31.20, 121.40, 31.22, 121.42};
    struct rng r;
    rng_seed(&r, 31);
    struct geo_index *ix = new_index(b, 0);
    struct model m;
    model_init(&m, 6000);
    struct geo_latlng hot[5];
    for (size_t i = 0; i < ARRAY_LEN(hot); i++)
        hot[i] = random_point(&r, b, 0);
    for (uint32_t s = 0; s < 6000; s++) {
        struct geo_latlng p = hotspot_point(&r, b, hot, ARRAY_LEN(hot));
        if (s > 0 && s % 7 == 0)
            p = m.pos[rng_below(&r, s)]; /* on an earlier bike */
        put_both(ix, &m, s, p, random_attrs(&r));
    }
    for (int i = 0; i < 600; i++) {
        struct geo_latlng c =
            i % 3 ? random_point(&r, b, 0.002) : m.pos[rng_below(&r, m.n)];
        struct geo_index_query q = {c, random_radius(&r), ks[i % ARRAY_LEN(ks)],
                                    random_filter(&r)};
        check_query(ix, &m, &q);
    }
    model_release(&m);
    geo_index_free(ix);
}

/*
 * Hits right at the radius: with the radius set to a bike's exact distance
 * it is found, with the next smaller double it is not, also among many
 * bikes within centimetres of the radius and with fewer than k inside.
 */
TEST(geo_index_radius_shell)
{
    static const size_t ks[] = {1, 10, 33};
    struct rng r;
    rng_seed(&r, 32);
    struct geo_index *ix = new_index(shanghai, 0);
    struct model m;
    model_init(&m, 300);
    struct geo_latlng c = {31.2000000333, 121.4000000777};
    for (uint32_t s = 0; s < 300; s++)
        put_both(ix, &m, s,
                 geo_offset(c, rng_range(&r, 0, 360),
                            300 + rng_range(&r, -0.05, 0.05)),
                 plain);
    for (uint32_t s = 0; s < 300; s += 3) {
        double d = geo_index_distance_m(c, m.pos[s]);
        for (size_t i = 0; i < ARRAY_LEN(ks); i++) {
            struct geo_index_query q = make_query(c, d, ks[i]);
            size_t n = check_query(ix, &m, &q);
            CHECK(n > 0);
            q.radius_m = nextafter(d, 0);
            check_query(ix, &m, &q);
        }
    }
    model_release(&m);
    geo_index_free(ix);

    /* More bikes on one spot right at the radius than k. */
    ix = new_index(shanghai, 0);
    model_init(&m, 60);
    struct geo_latlng spot = geo_offset(c, 30, 200);
    for (uint32_t s = 0; s < 60; s++)
        put_both(ix, &m, (s * 37) % 60, s < 40 ? spot : geo_offset(c, s, 150),
                 plain);
    for (size_t i = 0; i < ARRAY_LEN(ks); i++) {
        struct geo_index_query q =
            make_query(c, geo_index_distance_m(c, m.pos[0]), ks[i]);
        check_query(ix, &m, &q);
    }
    model_release(&m);
    geo_index_free(ix);
}

static int double_cmp(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

/*
 * Near ties. At (0, 0) the cosine is exactly 1, so lattice points k(a, b)
 * with a^2 + b^2 = c^2 lie at the same true distance as k(c, 0), and their
 * squared distances differ only by rounding: some round to equal metres
 * (the slot must decide) and some, within 1e-12 of each other, to
 * different metres. The index ranks by squared distance and must settle
 * both in metres, exactly as brute force does.
 */
TEST(geo_index_near_ties)
{
    static const int trip[][3] = {{3, 4, 5},    {5, 12, 13},  {8, 15, 17},
                                  {7, 24, 25},  {20, 21, 29}, {12, 35, 37},
                                  {9, 40, 41},  {28, 45, 53}, {11, 60, 61},
                                  {33, 56, 65}, {16, 63, 65}};
    struct geo_bbox b = {-0.05, -0.05, 0.05, 0.05};
    struct geo_latlng c = {0, 0};
    struct rng r;
    rng_seed(&r, 33);
    struct geo_index *ix = new_index(b, 25);
    size_t cap = 40 * ARRAY_LEN(trip) * 16;
    struct model m;
    model_init(&m, cap);
    double *s = xcalloc(cap, sizeof(*s));
    size_t n = 0;
    for (int k = 1; k <= 40; k++) {
        for (size_t t = 0; t < ARRAY_LEN(trip); t++) {
            int xy[4][2] = {{trip[t][0], trip[t][1]},
                            {trip[t][1], trip[t][0]},
                            {trip[t][2], 0},
                            {0, trip[t][2]}};
            for (int i = 0; i < 16; i++) {
                int sy = i & 4 ? -1 : 1, sx = i & 8 ? -1 : 1;
                struct geo_latlng p = {sy * xy[i & 3][0] * k * 1e-7,
                                       sx * xy[i & 3][1] * k * 1e-7};
                /* A scrambled slot order, so slots disagree with s. */
                put_both(ix, &m, (uint32_t)((n * 7919) % cap), p, plain);
                p = geo_index_quantize(p);
                s[n++] = p.lat_deg * p.lat_deg + p.lon_deg * p.lon_deg;
                CHECK(GEO_EARTH_RADIUS_M * (M_PI / 180) * sqrt(s[n - 1]) ==
                      geo_index_distance_m(c, p));
            }
        }
    }
    /* The construction does produce both kinds of near tie. */
    qsort(s, n, sizeof(*s), double_cmp);
    size_t same_m = 0, apart_m = 0;
    for (size_t i = 1; i < n; i++) {
        double d0 = GEO_EARTH_RADIUS_M * (M_PI / 180) * sqrt(s[i - 1]);
        double d1 = GEO_EARTH_RADIUS_M * (M_PI / 180) * sqrt(s[i]);
        same_m += s[i] != s[i - 1] && d1 == d0;
        apart_m += s[i] <= s[i - 1] * (1 + 1e-12) && d1 != d0;
    }
    CHECK(same_m > 10);
    CHECK(apart_m > 10);
    for (size_t k = 1; k <= 400; k += 1 + k / 8) {
        struct geo_index_query q = make_query(c, 100, k);
        check_query(ix, &m, &q);
        q.filter.state_mask = 1;
        check_query(ix, &m, &q);
    }
    xfree(s);
    model_release(&m);
    geo_index_free(ix);

    /*
     * A tie that must go to the front: four bikes on a spot, a fifth a
     * metre farther, then (stored last) one more on the spot with the
     * lowest slot; k = 5.
     */
    ix = new_index(shanghai, 0);
    model_init(&m, 30);
    c = (struct geo_latlng){31.2, 121.4};
    struct geo_latlng spot = geo_offset(c, 90, 10);
    for (uint32_t slot = 10; slot < 14; slot++)
        put_both(ix, &m, slot, spot, plain);
    put_both(ix, &m, 20, geo_offset(c, 90, 11), plain);
    put_both(ix, &m, 1, spot, plain);
    struct geo_index_query q5 = make_query(c, 100, 5);
    CHECK_EQ(check_query(ix, &m, &q5), 5);
    model_release(&m);
    geo_index_free(ix);
}

/*
 * The ring search stops when every unvisited column is provably too far.
 * At high latitude the cosine that scales longitude shrinks towards the
 * pole, so a bike in the next column but slightly poleward can be nearer
 * than the column gap times the center's cosine. Here it is about 10 um
 * nearer; only a bound that uses the least cosine within the radius finds
 * it (k = 1 must return B, not A).
 */
TEST(geo_index_exact_cos_bound)
{
    struct geo_bbox b = {69.5, 18.5, 69.8, 19.5};
    struct geo_index *ix = new_index(b, 0);
    struct geo_bbox cell;
    CHECK_OK(geo_index_cell_bbox(ix, (struct geo_latlng){69.65, 19.0}, &cell));
    double h = cell.max_lat_deg - cell.min_lat_deg;
    double w = cell.max_lon_deg - cell.min_lon_deg;
    struct geo_latlng q = geo_index_quantize((struct geo_latlng){
        cell.min_lat_deg + 0.5 * h, cell.min_lon_deg + 0.7 * w});
    /* The west edge of the 21st column east of q's, about 1,015 m away. */
    double edge = cell.max_lon_deg + 20 * w;
    double d0 = geo_index_distance_m(q, (struct geo_latlng){q.lat_deg, edge});

    struct geo_latlng bb = {0};
    double d_b = INFINITY;
    for (int m = 1; m <= 60; m++) {
        struct geo_latlng p =
            geo_index_quantize((struct geo_latlng){q.lat_deg + m * 1e-7, edge});
        double dist = geo_index_distance_m(q, p);
        if (dist < d_b) {
            d_b = dist;
            bb = p;
        }
    }
    CHECK(d_b < d0 - 1e-5);

    /* A, due west and within the visited rings, between the two. */
    double lo = d_b, hi = d0 * (1 - 1e-9) - 1e-6;
    double m_per_e7 = GEO_EARTH_RADIUS_M * M_PI / 180 * 1e-7;
    struct geo_latlng a = {0};
    bool found = false;
    for (int j = 0; j <= 400 && !found; j++) {
        double y = j * m_per_e7;
        double x = sqrt((lo + hi) * (lo + hi) / 4 - y * y);
        double dlon = x / (m_per_e7 * 1e7 * cos(q.lat_deg * M_PI / 180));
        for (int t = -2; t <= 2 && !found; t++) {
            a = geo_index_quantize((struct geo_latlng){
                q.lat_deg + j * 1e-7, q.lon_deg - dlon + t * 1e-7});
            double dist = geo_index_distance_m(q, a);
            found = dist > lo && dist < hi;
        }
    }
    CHECK(found);

    struct model m;
    model_init(&m, 3);
    put_both(ix, &m, 1, a, plain);
    put_both(ix, &m, 2, bb, plain);
    struct geo_index_query qq = make_query(q, 1100, 1);
    struct geo_index_hit out[1];
    size_t n = 0;
    CHECK_OK(geo_index_query(ix, &qq, out, 1, &n, NULL));
    CHECK_EQ(n, 1);
    CHECK_EQ(out[0].slot, 2);
    check_query(ix, &m, &qq);
    model_release(&m);
    geo_index_free(ix);
}

const struct test_case test_suite_geo[] = {
    CASE(geo_latlng_is_valid),
    CASE(geo_distance_known),
    CASE(geo_offset_round_trip),
    CASE(geo_offset_to_pole_is_finite),
    CASE(geo_polygon_init_errors),
    CASE(geo_polygon_contains_square),
    CASE(geo_polygon_contains_concave),
    CASE(geo_index_new_ok),
    CASE(geo_index_new_errors),
    CASE(geo_index_put_get_remove),
    CASE(geo_index_put_errors),
    CASE(geo_index_remove_errors),
    CASE(geo_index_query_errors),
    CASE(geo_index_query_basic),
    CASE(geo_index_query_ties),
    CASE(geo_index_query_filter),
    CASE(geo_index_distance_accuracy),
    CASE(geo_index_quantize_and_cells),
    CASE(geo_index_memory),
    CASE(geo_index_exact_city),
    CASE(geo_index_exact_large_cells),
    CASE(geo_index_exact_small_cells_sparse),
    CASE(geo_index_exact_high_latitude),
    CASE(geo_index_exact_antimeridian),
    CASE(geo_index_exact_equator_and_pole),
    CASE(geo_index_exact_polar),
    CASE(geo_index_exact_big_radius),
    CASE(geo_index_exact_cos_bound),
    CASE(geo_index_ties_heap),
    CASE(geo_index_split_merge),
    CASE(geo_index_exact_dense_wide),
    CASE(geo_index_k_boundaries),
    CASE(geo_index_radius_shell),
    CASE(geo_index_near_ties),
    {0},
};
