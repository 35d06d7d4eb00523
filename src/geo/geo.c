/* SPDX-License-Identifier: MIT */
/* Distances, offsets and point-in-polygon tests. */
#include "base/sys.h"
#include "geo/geo.h"

#include <math.h>

#define DEG (M_PI / 180.0)

bool geo_latlng_is_valid(struct geo_latlng p)
{
    return isfinite(p.lat_deg) && isfinite(p.lon_deg) && p.lat_deg >= -90.0 &&
           p.lat_deg <= 90.0 && p.lon_deg >= -180.0 && p.lon_deg <= 180.0;
}

double geo_distance_m(struct geo_latlng a, struct geo_latlng b)
{
    double dlat = (b.lat_deg - a.lat_deg) * DEG;
    double dlon = (b.lon_deg - a.lon_deg) * DEG;
    double s1 = sin(dlat / 2);
    double s2 = sin(dlon / 2);
    double h = s1 * s1 + cos(a.lat_deg * DEG) * cos(b.lat_deg * DEG) * s2 * s2;
    if (h > 1.0)
        h = 1.0;
    return 2.0 * GEO_EARTH_RADIUS_M * asin(sqrt(h));
}

struct geo_latlng geo_offset(struct geo_latlng p, double bearing_deg,
                             double dist_m)
{
    double d = dist_m / GEO_EARTH_RADIUS_M;
    double b = bearing_deg * DEG;
    double lat1 = p.lat_deg * DEG;
    double lon1 = p.lon_deg * DEG;
    /* Rounding can push the sine just past 1 near a pole; asin would NaN. */
    double sin_lat2 = sin(lat1) * cos(d) + cos(lat1) * sin(d) * cos(b);
    double lat2 = asin(MAX(-1.0, MIN(1.0, sin_lat2)));
    double lon2 = lon1 + atan2(sin(b) * sin(d) * cos(lat1),
                               cos(d) - sin(lat1) * sin(lat2));
    double lon_deg = fmod(lon2 / DEG + 540.0, 360.0) - 180.0;
    return (struct geo_latlng){lat2 / DEG, lon_deg};
}

enum err geo_polygon_init(struct geo_polygon *poly, const struct geo_latlng *v,
                          size_t n, struct err_detail *d)
{
    if (n > 1 && v[0].lat_deg == v[n - 1].lat_deg &&
        v[0].lon_deg == v[n - 1].lon_deg)
        n--;
    if (n < 3)
        return err_set(d, ERR_INVALID, "service_area",
                       "a polygon needs at least 3 distinct vertices");
    if (n > GEO_POLYGON_MAX_VERTICES)
        return err_set(d, ERR_TOO_BIG, "service_area",
                       "a polygon may have at most %d vertices",
                       GEO_POLYGON_MAX_VERTICES);
    struct geo_bbox bb = {90, 180, -90, -180};
    for (size_t i = 0; i < n; i++) {
        if (!geo_latlng_is_valid(v[i]))
            return err_set(d, ERR_INVALID, "service_area",
                           "vertex %zu is not a valid coordinate", i);
        bb.min_lat_deg = MIN(bb.min_lat_deg, v[i].lat_deg);
        bb.max_lat_deg = MAX(bb.max_lat_deg, v[i].lat_deg);
        bb.min_lon_deg = MIN(bb.min_lon_deg, v[i].lon_deg);
        bb.max_lon_deg = MAX(bb.max_lon_deg, v[i].lon_deg);
    }
    poly->v = xreallocarray(NULL, n, sizeof(*v));
    memcpy(poly->v, v, n * sizeof(*v));
    poly->n = n;
    poly->bbox = bb;
    return ERR_OK;
}

/* True if p lies on the segment a-b (within floating-point exactness). */
static bool on_segment(struct geo_latlng a, struct geo_latlng b,
                       struct geo_latlng p)
{
    double cross = (b.lon_deg - a.lon_deg) * (p.lat_deg - a.lat_deg) -
                   (b.lat_deg - a.lat_deg) * (p.lon_deg - a.lon_deg);
    if (cross != 0.0)
        return false;
    return p.lon_deg >= MIN(a.lon_deg, b.lon_deg) &&
           p.lon_deg <= MAX(a.lon_deg, b.lon_deg) &&
           p.lat_deg >= MIN(a.lat_deg, b.lat_deg) &&
           p.lat_deg <= MAX(a.lat_deg, b.lat_deg);
}

bool geo_polygon_contains(const struct geo_polygon *poly, struct geo_latlng p)
{
    if (!poly->n || p.lat_deg < poly->bbox.min_lat_deg ||
        p.lat_deg > poly->bbox.max_lat_deg ||
        p.lon_deg < poly->bbox.min_lon_deg ||
        p.lon_deg > poly->bbox.max_lon_deg)
        return false;
    bool inside = false;
    for (size_t i = 0, j = poly->n - 1; i < poly->n; j = i++) {
        struct geo_latlng a = poly->v[i], b = poly->v[j];
        if (on_segment(a, b, p))
            return true;
        /* Cast a ray towards +lon and count the edges it crosses. */
        if ((a.lat_deg > p.lat_deg) != (b.lat_deg > p.lat_deg)) {
            double x = a.lon_deg + (p.lat_deg - a.lat_deg) *
                                       (b.lon_deg - a.lon_deg) /
                                       (b.lat_deg - a.lat_deg);
            if (p.lon_deg < x)
                inside = !inside;
        }
    }
    return inside;
}

void geo_polygon_release(struct geo_polygon *poly)
{
    xfree(poly->v);
    poly->v = NULL;
    poly->n = 0;
}
