/* SPDX-License-Identifier: MIT */
/*
 * The live fleet spatial index: every bike of a city keyed by a dense slot,
 * answering "the k nearest bikes within r metres of a point that match a
 * filter" exactly. A uniform grid of cells over the service area plus an
 * overflow list for bikes outside it. Pure: no I/O, no clocks. The layout,
 * the exactness proof and the concurrency plan are in docs/internals/geo.md.
 *
 * Thread-safety: one thread owns an index. Queries only read it, so several
 * threads may query at once while no put or remove runs. Queries concurrent
 * with a writer are a later step (per-cell sequence counters, see the doc).
 */
#ifndef GEO_INDEX_H
#define GEO_INDEX_H

#include "base/sys.h"
#include "base/err.h"
#include "geo/geo.h"

/* Slots are 0 .. GEO_INDEX_MAX_SLOTS - 1; put() refuses larger ones. */
#define GEO_INDEX_MAX_SLOTS (1u << 24)
/* Cap on grid cells (rows * cols); 16 bytes of header each. */
#define GEO_INDEX_MAX_CELLS (1u << 22)
/*
 * Cell edge in metres when geo_index_new gets 0. 50 m keeps the k = 10
 * search to about nine cells at city densities (2,000+ bikes per km^2) and
 * costs 6.4 MB of cell headers per 1,000 km^2.
 */
#define GEO_INDEX_DEFAULT_CELL_M 50.0
#define GEO_INDEX_MIN_CELL_M 10.0
#define GEO_INDEX_MAX_CELL_M 1000.0
/* Query caps. */
#define GEO_INDEX_MAX_RADIUS_M 50000.0
#define GEO_INDEX_MAX_K 1000u

/* Attribute ranges. */
#define GEO_INDEX_STATES 8u /* state is 0..7 */
#define GEO_INDEX_TYPES 4u  /* type is 0..3 */
#define GEO_INDEX_BATTERY_UNKNOWN (-1)
/* Filter masks that admit everything. */
#define GEO_INDEX_ALL_STATES 0xffu
#define GEO_INDEX_ALL_TYPES 0xfu

/* The index (opaque). */
struct geo_index;

/* What a query can filter on, stored with each entry. */
struct geo_index_attrs {
    unsigned state;  /* 0..7, the caller's vehicle state enum */
    unsigned type;   /* 0..3, the caller's vehicle type enum */
    int battery_pct; /* 0..100, or GEO_INDEX_BATTERY_UNKNOWN (-1) */
};

/*
 * An entry matches if bit `state` of state_mask and bit `type` of type_mask
 * are set and its battery is at least min_battery_pct. An unknown battery
 * matches only when min_battery_pct <= 0. A zero mask matches nothing.
 */
struct geo_index_filter {
    uint32_t state_mask;     /* bits 0..7 only */
    uint32_t type_mask;      /* bits 0..3 only */
    int32_t min_battery_pct; /* -1..100 */
};

struct geo_index_query {
    struct geo_latlng center;
    double radius_m; /* (0, GEO_INDEX_MAX_RADIUS_M], inclusive bound */
    size_t k;        /* 1..GEO_INDEX_MAX_K */
    struct geo_index_filter filter;
};

struct geo_index_hit {
    uint32_t slot;
    double distance_m; /* geo_index_distance_m(center, stored position) */
};

/*
 * Creates an empty index whose grid covers region (the service area plus a
 * margin), rounded out to whole cells of about cell_m metres (0 picks
 * GEO_INDEX_DEFAULT_CELL_M). Cells are square at the region's middle
 * latitude. Points outside the grid are still indexed, in an overflow list
 * that every query scans, so keep the region generous. On success *out is
 * owned by the caller, who frees it with geo_index_free.
 *
 * ERR_INVALID: a corner is not a valid coordinate, min >= max on an axis, or
 *              cell_m is not 0 and not in [GEO_INDEX_MIN_CELL_M,
 *              GEO_INDEX_MAX_CELL_M].
 * ERR_TOO_BIG: the grid would have more than GEO_INDEX_MAX_CELLS cells.
 */
enum err geo_index_new(struct geo_bbox region, double cell_m,
                       struct geo_index **out, struct err_detail *d);

/* Frees the index and everything in it; NULL is a no-op. */
void geo_index_free(struct geo_index *ix);

/*
 * Inserts slot, or moves it and replaces its attributes if present; O(1)
 * amortised. The position is stored rounded to 1e-7 degree (about 1 cm),
 * see geo_index_quantize. Memory grows with the largest slot (8 bytes per
 * slot) and with the entries (16 bytes each plus slack, see the doc).
 *
 * ERR_INVALID: pos is not a valid coordinate, or an attribute is out of
 *              range (state > 7, type > 3, battery not in -1..100).
 * ERR_TOO_BIG: slot >= GEO_INDEX_MAX_SLOTS.
 * The index is unchanged on error.
 */
enum err geo_index_put(struct geo_index *ix, uint32_t slot,
                       struct geo_latlng pos, struct geo_index_attrs attrs,
                       struct err_detail *d);

/* Removes slot; O(1). ERR_NOT_FOUND if it is not in the index. */
enum err geo_index_remove(struct geo_index *ix, uint32_t slot);

/* Returns the number of entries. */
size_t geo_index_count(const struct geo_index *ix);

/*
 * Copies slot's stored (quantized) position and attributes to *pos and
 * *attrs (either may be NULL). ERR_NOT_FOUND if slot is not in the index.
 */
enum err geo_index_get(const struct geo_index *ix, uint32_t slot,
                       struct geo_latlng *pos, struct geo_index_attrs *attrs);

/*
 * Finds the q->k entries nearest to q->center that match q->filter and lie
 * within q->radius_m (distance <= radius), as measured by
 * geo_index_distance_m(center, stored position). Writes them to out sorted
 * by distance ascending, ties by slot ascending, and their number to *n.
 * The answer is exactly what a brute-force scan of all entries returns.
 * out (cap >= q->k) is caller storage; out[*n..cap) is left untouched.
 * Reads the index only. Cost: see docs/internals/geo.md (about nine cells
 * for k = 10 at city density, plus the overflow list).
 *
 * ERR_INVALID: center is not a valid coordinate; radius_m is not finite,
 *              <= 0 or > GEO_INDEX_MAX_RADIUS_M; k is 0; a mask has bits
 *              beyond its range; min_battery_pct is not in -1..100;
 *              cap < k.
 * ERR_TOO_BIG: k > GEO_INDEX_MAX_K.
 * out and *n are untouched on error.
 */
enum err geo_index_query(const struct geo_index *ix,
                         const struct geo_index_query *q,
                         struct geo_index_hit *out, size_t cap, size_t *n,
                         struct err_detail *d);

/*
 * The distance the index ranks by, in metres, from a (the query center) to
 * b (an entry): an equirectangular projection at the pair's middle latitude
 * (its cosine by a second-order expansion around a), with longitudes
 * wrapped across the antimeridian. Within 0.5% of geo_distance_m (in
 * practice within 0.01%) for distances up to 50 km at latitudes -70..70.
 * Not symmetric in the last bits; always pass the center first.
 */
double geo_index_distance_m(struct geo_latlng a, struct geo_latlng b);

/*
 * The position put() stores for p: each coordinate rounded to the nearest
 * 1e-7 degree. p must be valid. Idempotent.
 */
struct geo_latlng geo_index_quantize(struct geo_latlng p);

/*
 * Writes to *out the bounds of the grid cell that holds p (after
 * quantization): min edges inclusive, max edges exclusive. For tests and
 * diagnostics. ERR_INVALID if p is not valid; ERR_NOT_FOUND if p falls
 * outside the grid (it would go to the overflow list).
 */
enum err geo_index_cell_bbox(const struct geo_index *ix, struct geo_latlng p,
                             struct geo_bbox *out);

/*
 * Bytes the index holds: the object, cell headers, slot locators and entry
 * blocks (without the allocator's own per-block overhead).
 */
size_t geo_index_memory_bytes(const struct geo_index *ix);

#endif
