/* SPDX-License-Identifier: MIT */
/*
 * Demand series for the forecast: a grid of square cells over a service
 * area, local days and fixed-length time slots, and per cell and slot the
 * rentals, returns and lost demand (searches that found no bike). Pure: no
 * I/O, no clocks; the caller hands in events or counts. The model that
 * reads a series is in forecast.h; the layout is in docs/forecast.md.
 *
 * Thread-safety: a grid is a plain value. A series belongs to one thread
 * while it is built; once built, any number of threads may read it.
 */
#ifndef DISPATCH_DEMAND_H
#define DISPATCH_DEMAND_H

#include "base/sys.h"
#include "base/err.h"
#include "geo/geo.h"

/* ---- the grid ------------------------------------------------------- */

#define DEMAND_MIN_CELL_M 50.0
#define DEMAND_MAX_CELL_M 5000.0
/* Cap on rows * cols; over it is ERR_TOO_BIG. */
#define DEMAND_MAX_GRID_CELLS (1u << 24)

/*
 * Square cells of about cell_m metres (exactly cell_m north-south; east-west
 * exactly cell_m at the area's middle latitude). Row 0 is the southernmost,
 * column 0 the westernmost, and a cell id is row * cols + col. Cell (r, c)
 * is the half-open box [south + r * cell_lat, south + (r + 1) * cell_lat)
 * x [west + c * cell_lon, ...), with the bounds computed by exactly those
 * expressions (demand_grid_cell_bounds), so a point on a boundary belongs
 * to the cell north or east of it. The grid covers the area's closed box:
 * rows = floor(height / cell_lat) + 1, likewise cols.
 */
struct demand_grid {
    double south_deg, west_deg;        /* the area's south-west corner */
    double cell_lat_deg, cell_lon_deg; /* cell edges in degrees */
    double cell_m;                     /* as asked */
    uint32_t rows, cols;
};

/*
 * Sets up g over area (min < max on both axes, valid coordinates, not
 * crossing the antimeridian, |lat| <= 85) with cells of cell_m metres.
 * ERR_INVALID (d says which field), ERR_TOO_BIG (more than
 * DEMAND_MAX_GRID_CELLS cells). g is untouched on failure.
 */
enum err demand_grid_init(struct demand_grid *g, struct geo_bbox area,
                          double cell_m, struct err_detail *d);

/*
 * The id of the cell holding p into *cell. ERR_NOT_FOUND if p is outside
 * the grid or not a valid coordinate.
 */
enum err demand_grid_cell(const struct demand_grid *g, struct geo_latlng p,
                          int64_t *cell);

/* The box of cell (a valid id: 0 <= cell < rows * cols). */
struct geo_bbox demand_grid_cell_bounds(const struct demand_grid *g,
                                        int64_t cell);

/* The centre of cell (a valid id). */
struct geo_latlng demand_grid_cell_center(const struct demand_grid *g,
                                          int64_t cell);

/* ---- local time and day types --------------------------------------- */

#define DEMAND_DAY_S 86400

/*
 * Time zones: a series has one fixed UTC offset (Singapore: +8 h, no DST),
 * and local time is Unix time plus the offset. A zone with daylight saving
 * time is handled by the caller passing local wall-clock seconds with an
 * offset of 0 (the Capital Bikeshare file has only local dates and hours:
 * its spring-forward hour is simply absent and its fall-back hour merged).
 */

/* The local day number (days since 1970-01-01 local) of Unix time t_s. */
int64_t demand_local_day(int64_t t_s, int32_t utc_offset_s);

/* The day number of the civil date y-m-d (proleptic Gregorian). */
int64_t demand_day_from_civil(int64_t y, unsigned m, unsigned d);

/* The civil date of day number day. */
void demand_civil_from_day(int64_t day, int64_t *y, unsigned *m, unsigned *d);

/* The weekday of day number day: 0 Monday .. 6 Sunday. */
unsigned demand_weekday(int64_t day);

/*
 * Day types are small integers the caller defines (below
 * DEMAND_MAX_DAY_TYPES); a series starts with the default below and the
 * caller overrides holidays. The model keeps one daily profile per type.
 */
#define DEMAND_MAX_DAY_TYPES 8u
enum demand_day_type {
    DEMAND_WORKDAY = 0, /* Monday to Friday */
    DEMAND_DAY_OFF = 1, /* Saturday, Sunday, holidays */
};

/* ---- the series ----------------------------------------------------- */

enum demand_kind {
    DEMAND_RENTALS, /* trips started in the cell */
    DEMAND_RETURNS, /* trips ended in the cell */
    DEMAND_LOST,    /* searches in the cell that found no bike */
    DEMAND_KINDS,
};

/* Caps; over them is ERR_TOO_BIG. */
#define DEMAND_MAX_CELLS (1u << 20)
#define DEMAND_MAX_DAYS 3660u
#define DEMAND_MAX_VALUES (1u << 26) /* ncells * nslots */
#define DEMAND_MAX_COVARIATES 32u

/*
 * Counts per cell and slot over ndays whole local days from day0. The
 * fields are read-only outside demand.c: build a series with
 * demand_series_init or demand_series_from_events, then adjust it with the
 * setters. A series may run past the present: the forecast reads counts
 * only before its origin, and day types and covariates up to its horizon.
 *
 * Invariants: slot_s divides DEMAND_DAY_S, nslots = ndays * slots_per_day,
 * cells ascending and distinct, counts saturate at UINT16_MAX.
 */
struct demand_series {
    int64_t day0;           /* local day number of slot 0 */
    int32_t utc_offset_s;   /* local time = Unix time + offset */
    uint32_t slot_s;        /* slot length, seconds */
    uint32_t slots_per_day; /* DEMAND_DAY_S / slot_s */
    uint32_t grid_cols;     /* cells are ids of a grid this wide; 0: not */
    size_t ndays;
    size_t nslots;
    size_t ncells;
    int64_t *cells;                /* [ncells] cell ids, ascending */
    uint16_t *count[DEMAND_KINDS]; /* [cell * nslots + slot] */
    uint8_t *observed;             /* [nslots] 0: not logged (outage) */
    uint8_t *day_type;             /* [ndays] below DEMAND_MAX_DAY_TYPES */
    size_t ncov;                   /* covariates per slot, 0: none */
    double *cov;                   /* [slot * ncov + j], or NULL */
};

/*
 * Sets up s with the ncells given cell ids (copied, sorted, duplicates
 * dropped), every count 0, every slot observed, and day types
 * DEMAND_WORKDAY Monday to Friday and DEMAND_DAY_OFF on weekends.
 * slot_s must divide DEMAND_DAY_S (60 s at least); ndays >= 1; grid_cols
 * is the grid width the ids come from (0 if they are not grid cells; the
 * model then does not look at neighbours). ERR_INVALID, ERR_TOO_BIG (a cap
 * above, counted on the distinct cells). On success release s with
 * demand_series_release; on failure s owns nothing.
 */
enum err demand_series_init(struct demand_series *s, int64_t day0, size_t ndays,
                            uint32_t slot_s, int32_t utc_offset_s,
                            const int64_t *cells, size_t ncells,
                            uint32_t grid_cols, struct err_detail *d);

/* One rental, return or lost search: where and when (Unix seconds). */
struct demand_event {
    int64_t t_s;
    int64_t cell;
    enum demand_kind kind;
};

/*
 * Sets up s (as demand_series_init) with the cells the events name and
 * counts the n events into slots. Events outside the series' days are
 * skipped and counted in *skipped (may be NULL). ev is borrowed.
 * ERR_INVALID (a bad kind or argument), ERR_TOO_BIG.
 */
enum err demand_series_from_events(struct demand_series *s,
                                   const struct demand_event *ev, size_t n,
                                   int64_t day0, size_t ndays, uint32_t slot_s,
                                   int32_t utc_offset_s, uint32_t grid_cols,
                                   size_t *skipped, struct err_detail *d);

/* The slot of Unix time t_s; ERR_NOT_FOUND outside the series. */
enum err demand_series_slot(const struct demand_series *s, int64_t t_s,
                            size_t *slot);

/* The index of cell id cell into *index; ERR_NOT_FOUND if absent. */
enum err demand_series_find(const struct demand_series *s, int64_t cell,
                            size_t *index);

/* Adds n to one count (cell index, slot in range), saturating. */
void demand_series_add(struct demand_series *s, size_t cell_index,
                       enum demand_kind kind, size_t slot, uint32_t n);

/* One count (cell index, slot in range). */
static inline uint32_t demand_series_get(const struct demand_series *s,
                                         size_t cell_index,
                                         enum demand_kind kind, size_t slot)
{
    return s->count[kind][cell_index * s->nslots + slot];
}

/* Marks slots [from, to) (to <= nslots) observed or not. */
void demand_series_set_observed(struct demand_series *s, size_t from, size_t to,
                                bool observed);

/* Sets the type of day index day (< ndays); type < DEMAND_MAX_DAY_TYPES. */
void demand_series_set_day_type(struct demand_series *s, size_t day,
                                uint8_t type);

/*
 * Copies ncov covariates per slot (cov[slot * ncov + j], all nslots slots,
 * finite) into s, replacing any earlier ones: weather for instance, the
 * observed values for the past and a forecast for the future. ncov 0
 * removes them. ERR_INVALID (a value not finite), ERR_TOO_BIG (ncov over
 * DEMAND_MAX_COVARIATES); s is unchanged on failure.
 */
enum err demand_series_set_covariates(struct demand_series *s, size_t ncov,
                                      const double *cov, struct err_detail *d);

/* Frees the contents of s; s is empty afterwards (release again: no-op). */
void demand_series_release(struct demand_series *s);

#endif
