/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for geo/index: the input is a region choice followed by
 * a sequence of put, move, remove, burst (many puts around one spot, to
 * split cells), drain and query operations on a small index. Every result
 * and error code is checked against a brute-force model; a mismatch
 * aborts.
 */
#include "base/sys.h"
#include "geo/geo.h"
#include "geo/index.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define NSLOTS 256
#define MAX_OPS 4096

struct input {
    const uint8_t *p;
    size_t left;
};

static bool take(struct input *in, uint8_t *b)
{
    if (!in->left)
        return false;
    *b = *in->p++;
    in->left--;
    return true;
}

static unsigned take_u8(struct input *in)
{
    uint8_t b = 0;
    take(in, &b);
    return b;
}

static unsigned take_u16(struct input *in)
{
    unsigned hi = take_u8(in);
    return hi << 8 | take_u8(in);
}

static const struct {
    struct geo_bbox box;
    double cell_m;
} regions[] = {
    {{31.200, 121.400, 31.210, 121.412}, 50},  /* a city block */
    {{31.200, 121.400, 31.210, 121.412}, 10},  /* tiny cells */
    {{31.200, 121.400, 31.230, 121.440}, 250}, /* large cells */
    {{-16.80, 179.990, -16.79, 180.000}, 25},  /* on the antimeridian */
    {{-16.80, -180.00, -16.79, -179.99}, 25},  /* and on its other side */
    {{69.640, 18.950, 69.650, 18.980}, 50},    /* high latitude */
    {{-0.005, -0.005, 0.005, 0.005}, 20},      /* equator, prime meridian */
};

struct model {
    bool present[NSLOTS];
    struct geo_latlng pos[NSLOTS]; /* quantized */
    struct geo_index_attrs attrs[NSLOTS];
};

static void model_put(struct model *m, uint32_t s, struct geo_latlng p,
                      struct geo_index_attrs a)
{
    m->present[s] = true;
    m->pos[s] = geo_index_quantize(p);
    m->attrs[s] = a;
}

#define CHECK(c)                                                               \
    do {                                                                       \
        if (!(c)) {                                                            \
            fprintf(stderr, "fuzz_geo_index: %s:%d: %s\n", __FILE__, __LINE__, \
                    #c);                                                       \
            abort();                                                           \
        }                                                                      \
    } while (0)

/*
 * A position from the input: inside the region or beyond it, on a cell
 * corner, on another bike, or anywhere on the globe.
 */
static struct geo_latlng take_pos(struct input *in, const struct geo_index *ix,
                                  struct geo_bbox b, const struct model *m)
{
    unsigned mode = take_u8(in);
    double h = b.max_lat_deg - b.min_lat_deg;
    double w = b.max_lon_deg - b.min_lon_deg;
    struct geo_latlng p;
    if (mode >= 248) {
        /*
         * k (a, b) from the region's centre, a^2 + b^2 = c^2, or k (c, 0):
         * at (0, 0), where the cosine is exactly 1, these lie at equal true
         * distances from the centre and tie or nearly tie after rounding.
         */
        static const int trip[][3] = {{3, 4, 5},    {5, 12, 13},  {8, 15, 17},
                                      {7, 24, 25},  {20, 21, 29}, {9, 40, 41},
                                      {33, 56, 65}, {16, 63, 65}};
        const int *t = trip[take_u8(in) % ARRAY_LEN(trip)];
        int k = (int)(take_u8(in) % 65);
        unsigned o = take_u8(in);
        int xy[4][2] = {{t[0], t[1]}, {t[1], t[0]}, {t[2], 0}, {0, t[2]}};
        int dy = xy[o & 3][0] * (o & 4 ? -1 : 1);
        int dx = xy[o & 3][1] * (o & 8 ? -1 : 1);
        p.lat_deg = (b.min_lat_deg + b.max_lat_deg) / 2 + dy * k * 1e-7;
        p.lon_deg = (b.min_lon_deg + b.max_lon_deg) / 2 + dx * k * 1e-7;
        return p;
    }
    switch (mode % 8) {
    case 0:
    case 1:
    case 2: /* inside, or up to half the size beyond */
        p.lat_deg = b.min_lat_deg - h / 2 + 2 * h * take_u16(in) / 65535.0;
        p.lon_deg = b.min_lon_deg - w / 2 + 2 * w * take_u16(in) / 65535.0;
        break;
    case 3: { /* a coarse lattice: many exact ties */
        unsigned v = take_u8(in);
        p.lat_deg = b.min_lat_deg + h * (v & 15) / 15.0;
        p.lon_deg = b.min_lon_deg + w * (v >> 4) / 15.0;
        break;
    }
    case 4: { /* another bike's spot */
        unsigned s = take_u8(in) % NSLOTS;
        p = m->present[s] ? m->pos[s]
                          : (struct geo_latlng){b.min_lat_deg, b.min_lon_deg};
        break;
    }
    case 5: { /* a cell corner or edge */
        unsigned v = take_u8(in);
        p.lat_deg = b.min_lat_deg + h * take_u8(in) / 255.0;
        p.lon_deg = b.min_lon_deg + w * take_u8(in) / 255.0;
        struct geo_bbox cell;
        if (geo_index_cell_bbox(ix, p, &cell) == ERR_OK) {
            if (v & 1)
                p.lat_deg = v & 2 ? cell.min_lat_deg : cell.max_lat_deg;
            if (v & 4)
                p.lon_deg = v & 8 ? cell.min_lon_deg : cell.max_lon_deg;
        }
        break;
    }
    case 6: /* anywhere on the globe, poles included */
        p.lat_deg = -90.0 + 180.0 * take_u16(in) / 65535.0;
        p.lon_deg = -180.0 + 360.0 * take_u16(in) / 65535.0;
        break;
    default: { /* near another bike */
        unsigned s = take_u8(in) % NSLOTS;
        struct geo_latlng base =
            m->present[s] ? m->pos[s]
                          : (struct geo_latlng){b.min_lat_deg, b.min_lon_deg};
        p = geo_offset(base, take_u8(in) * (360.0 / 256), take_u8(in) * 2.0);
        break;
    }
    }
    if (p.lon_deg > 180.0)
        p.lon_deg -= 360.0;
    else if (p.lon_deg < -180.0)
        p.lon_deg += 360.0;
    return p;
}

static bool admits(struct geo_index_filter f, struct geo_index_attrs a)
{
    if (!((f.state_mask >> a.state) & 1u) || !((f.type_mask >> a.type) & 1u))
        return false;
    return a.battery_pct < 0 ? f.min_battery_pct <= 0
                             : a.battery_pct >= f.min_battery_pct;
}

static int hit_cmp(const void *pa, const void *pb)
{
    const struct geo_index_hit *a = pa, *b = pb;
    if (a->distance_m != b->distance_m)
        return a->distance_m < b->distance_m ? -1 : 1;
    return a->slot < b->slot ? -1 : a->slot > b->slot;
}

static enum err expected_query_err(const struct geo_index_query *q, size_t cap)
{
    if (!geo_latlng_is_valid(q->center) || !(q->radius_m > 0) ||
        !(q->radius_m <= GEO_INDEX_MAX_RADIUS_M) || q->k == 0)
        return ERR_INVALID;
    if (q->k > GEO_INDEX_MAX_K)
        return ERR_TOO_BIG;
    if (q->filter.state_mask > 0xff || q->filter.type_mask > 0xf ||
        q->filter.min_battery_pct < -1 || q->filter.min_battery_pct > 100 ||
        cap < q->k)
        return ERR_INVALID;
    return ERR_OK;
}

static void do_query(struct input *in, const struct geo_index *ix,
                     struct geo_bbox b, const struct model *m)
{
    static const double radii[] = {0.5, 5, 20, 50, 100, 400, 1500, 5000, 50000};
    struct geo_index_query q;
    q.center = take_pos(in, ix, b, m);
    unsigned r = take_u8(in);
    if (r < 200)
        q.radius_m = radii[r % ARRAY_LEN(radii)] * (1.0 + (r / 9) / 22.0);
    else if (r < 250)
        q.radius_m = 1.0 + (r - 200) * 97.0;
    else
        q.radius_m =
            (double[]){0.0, -1.0, NAN, INFINITY, 50000.5, 1e-300}[r - 250];
    unsigned k = take_u8(in);
    q.k = k == 255 ? GEO_INDEX_MAX_K + 1 : k == 254 ? GEO_INDEX_MAX_K : k % 70;
    unsigned f = take_u8(in);
    q.filter.state_mask = f & 1 ? take_u8(in) : GEO_INDEX_ALL_STATES;
    q.filter.type_mask = f & 2 ? take_u8(in) % 20 : GEO_INDEX_ALL_TYPES;
    q.filter.min_battery_pct = f & 4 ? (int32_t)(take_u8(in) % 104) - 2 : -1;
    if (f & 8)
        q.filter.state_mask |= 0x100;
    if (f & 32)
        q.center.lat_deg = f & 64 ? NAN : 90.5;
    size_t cap = f & 16 ? q.k / 2 : q.k;

    struct geo_index_hit got[GEO_INDEX_MAX_K + 1];
    struct geo_index_hit want[NSLOTS];
    size_t n = 12345;
    enum err rc = geo_index_query(ix, &q, got, cap, &n, NULL);
    CHECK(rc == expected_query_err(&q, cap));
    if (rc != ERR_OK) {
        CHECK(n == 12345);
        return;
    }
    size_t wn = 0;
    for (size_t s = 0; s < NSLOTS; s++) {
        if (!m->present[s] || !admits(q.filter, m->attrs[s]))
            continue;
        double d = geo_index_distance_m(q.center, m->pos[s]);
        if (d <= q.radius_m)
            want[wn++] = (struct geo_index_hit){(uint32_t)s, d};
    }
    qsort(want, wn, sizeof(*want), hit_cmp);
    wn = MIN(wn, q.k);
    if (n != wn) {
        fprintf(stderr, "query (%.9f, %.9f) r=%g k=%zu: %zu hits, want %zu\n",
                q.center.lat_deg, q.center.lon_deg, q.radius_m, q.k, n, wn);
        abort();
    }
    for (size_t i = 0; i < n; i++) {
        CHECK(got[i].slot == want[i].slot);
        CHECK(got[i].distance_m == want[i].distance_m);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = {data, size};
    unsigned rsel = take_u8(&in) % ARRAY_LEN(regions);
    struct geo_bbox b = regions[rsel].box;
    struct geo_index *ix = NULL;
    CHECK(geo_index_new(b, regions[rsel].cell_m, &ix, NULL) == ERR_OK);
    static struct model m;
    memset(&m, 0, sizeof(m));

    for (size_t op = 0; op < MAX_OPS && in.left; op++) {
        unsigned code = take_u8(&in);
        unsigned s = take_u8(&in) % NSLOTS;
        switch (code % 8) {
        case 0:
        case 1: { /* put */
            struct geo_latlng p = take_pos(&in, ix, b, &m);
            unsigned a = take_u8(&in);
            struct geo_index_attrs at = {a & 7, (a >> 3) & 3,
                                         (int)(take_u8(&in) % 103) - 1};
            uint32_t slot = a & 0x80 && code & 0x80 ? GEO_INDEX_MAX_SLOTS : s;
            enum err want = slot >= GEO_INDEX_MAX_SLOTS ? ERR_TOO_BIG
                            : at.battery_pct > 100      ? ERR_INVALID
                                                        : ERR_OK;
            CHECK(geo_index_put(ix, slot, p, at, NULL) == want);
            if (want == ERR_OK)
                model_put(&m, s, p, at);
            break;
        }
        case 2: /* move a little, keeping the attributes */
            if (m.present[s]) {
                struct geo_latlng p = geo_offset(
                    m.pos[s], take_u8(&in) * (360.0 / 256), take_u8(&in));
                CHECK(geo_index_put(ix, s, p, m.attrs[s], NULL) == ERR_OK);
                model_put(&m, s, p, m.attrs[s]);
            }
            break;
        case 3: /* remove */
            CHECK(geo_index_remove(ix, s) ==
                  (m.present[s] ? ERR_OK : ERR_NOT_FOUND));
            m.present[s] = false;
            break;
        case 4: { /* burst: up to 160 bikes within a few metres of a spot */
            struct geo_latlng p = take_pos(&in, ix, b, &m);
            unsigned n = take_u8(&in) % 161, spread = take_u8(&in) % 64;
            for (unsigned i = 0; i < n; i++) {
                uint32_t t = (s + i) % NSLOTS;
                struct geo_latlng q =
                    geo_offset(p, i * 37.0, spread ? i * 13 % spread : 0);
                struct geo_index_attrs at = {i & 7, (i >> 3) & 3,
                                             (int)(i * 7 % 102) - 1};
                CHECK(geo_index_put(ix, t, q, at, NULL) == ERR_OK);
                model_put(&m, t, q, at);
            }
            break;
        }
        case 5: { /* drain: remove a run of slots */
            unsigned n = take_u8(&in);
            for (unsigned i = 0; i < n; i++) {
                uint32_t t = (s + i) % NSLOTS;
                CHECK(geo_index_remove(ix, t) ==
                      (m.present[t] ? ERR_OK : ERR_NOT_FOUND));
                m.present[t] = false;
            }
            break;
        }
        default:
            do_query(&in, ix, b, &m);
            break;
        }
    }

    size_t count = 0;
    for (uint32_t s = 0; s < NSLOTS; s++) {
        struct geo_latlng p;
        struct geo_index_attrs a;
        enum err rc = geo_index_get(ix, s, &p, &a);
        CHECK(rc == (m.present[s] ? ERR_OK : ERR_NOT_FOUND));
        if (rc == ERR_OK) {
            CHECK(p.lat_deg == m.pos[s].lat_deg);
            CHECK(p.lon_deg == m.pos[s].lon_deg);
            CHECK(a.state == m.attrs[s].state && a.type == m.attrs[s].type);
            CHECK(a.battery_pct == m.attrs[s].battery_pct);
        }
        count += m.present[s];
    }
    CHECK(geo_index_count(ix) == count);
    geo_index_free(ix);
    return 0;
}
