/* SPDX-License-Identifier: MIT */
/*
 * Coordinates, distances and polygons on the WGS 84 sphere approximation.
 * Pure: no I/O, no clocks.
 */
#ifndef GEO_GEO_H
#define GEO_GEO_H

#include "base/sys.h"
#include "base/err.h"

#define GEO_EARTH_RADIUS_M 6371008.8

struct geo_latlng {
    double lat_deg;
    double lon_deg;
};

struct geo_bbox {
    double min_lat_deg, min_lon_deg;
    double max_lat_deg, max_lon_deg;
};

/* True if lat is in [-90, 90], lon in [-180, 180], and both are finite. */
bool geo_latlng_is_valid(struct geo_latlng p);

/* Great-circle (haversine) distance in metres. */
double geo_distance_m(struct geo_latlng a, struct geo_latlng b);

/* The point dist_m from p along bearing_deg (clockwise from north). */
struct geo_latlng geo_offset(struct geo_latlng p, double bearing_deg,
                             double dist_m);

#define GEO_POLYGON_MAX_VERTICES 4096

/* A simple polygon (one outer ring, no holes); owns its vertices. */
struct geo_polygon {
    struct geo_latlng *v; /* NULL when empty */
    size_t n;
    struct geo_bbox bbox;
};

/*
 * Copies n vertices into poly (the ring may or may not repeat the first
 * vertex at the end). ERR_INVALID if n < 3 after dropping the repeat or a
 * vertex is invalid; ERR_TOO_BIG over GEO_POLYGON_MAX_VERTICES. On success
 * poly owns a copy; release it with geo_polygon_release.
 */
enum err geo_polygon_init(struct geo_polygon *poly, const struct geo_latlng *v,
                          size_t n, struct err_detail *d);

/* True if p is inside or on the boundary of poly (even-odd rule). */
bool geo_polygon_contains(const struct geo_polygon *poly, struct geo_latlng p);

/* Frees the vertices; poly is empty afterwards. */
void geo_polygon_release(struct geo_polygon *poly);

#endif
