/* SPDX-License-Identifier: MIT */
/*
 * The demand series of dispatch/: the cell grid, local days and slots, and
 * the counts per cell and slot that the forecast (forecast.c) reads.
 */
#include "base/sys.h"
#include "dispatch/demand.h"

#include <math.h>
#include <stdlib.h>

/* ---- the grid ------------------------------------------------------- */

#define METRES_PER_DEG_LAT (GEO_EARTH_RADIUS_M * M_PI / 180.0)
#define GRID_MAX_ABS_LAT 85.0

/* The number of whole cells from lo that cover [lo, hi]: hi is inside. */
static uint64_t cells_covering(double lo, double hi, double edge)
{
    double n = floor((hi - lo) / edge) + 1;
    if (n > (double)DEMAND_MAX_GRID_CELLS + 1)
        return (uint64_t)DEMAND_MAX_GRID_CELLS + 1;
    uint64_t k = (uint64_t)n;
    while (lo + (double)k * edge <= hi)
        k++;
    return k;
}

enum err demand_grid_init(struct demand_grid *g, struct geo_bbox area,
                          double cell_m, struct err_detail *d)
{
    if (!(cell_m >= DEMAND_MIN_CELL_M && cell_m <= DEMAND_MAX_CELL_M))
        return err_set(d, ERR_INVALID, "cell_m",
                       "cell size must be %.0f to %.0f m", DEMAND_MIN_CELL_M,
                       DEMAND_MAX_CELL_M);
    struct geo_latlng sw = {area.min_lat_deg, area.min_lon_deg};
    struct geo_latlng ne = {area.max_lat_deg, area.max_lon_deg};
    if (!geo_latlng_is_valid(sw) || !geo_latlng_is_valid(ne) ||
        !(sw.lat_deg < ne.lat_deg) || !(sw.lon_deg < ne.lon_deg))
        return err_set(d, ERR_INVALID, "area",
                       "the area must have min < max on both axes");
    if (fabs(sw.lat_deg) > GRID_MAX_ABS_LAT ||
        fabs(ne.lat_deg) > GRID_MAX_ABS_LAT)
        return err_set(d, ERR_INVALID, "area",
                       "the area must lie within %.0f degrees of the equator",
                       GRID_MAX_ABS_LAT);
    double mid_lat = (sw.lat_deg + ne.lat_deg) / 2;
    double cell_lat = cell_m / METRES_PER_DEG_LAT;
    double cell_lon = cell_lat / cos(mid_lat * M_PI / 180.0);
    uint64_t rows = cells_covering(sw.lat_deg, ne.lat_deg, cell_lat);
    uint64_t cols = cells_covering(sw.lon_deg, ne.lon_deg, cell_lon);
    if (rows > DEMAND_MAX_GRID_CELLS || cols > DEMAND_MAX_GRID_CELLS ||
        rows * cols > DEMAND_MAX_GRID_CELLS)
        return err_set(d, ERR_TOO_BIG, "cell_m",
                       "the grid would have more than %u cells",
                       DEMAND_MAX_GRID_CELLS);
    *g = (struct demand_grid){
        .south_deg = sw.lat_deg,
        .west_deg = sw.lon_deg,
        .cell_lat_deg = cell_lat,
        .cell_lon_deg = cell_lon,
        .cell_m = cell_m,
        .rows = (uint32_t)rows,
        .cols = (uint32_t)cols,
    };
    return ERR_OK;
}

/*
 * The index k with lo + k * edge <= x < lo + (k + 1) * edge, using exactly
 * the boundary expressions of demand_grid_cell_bounds; -1 below lo, n at
 * or past the last boundary.
 */
static int64_t axis_index(double x, double lo, double edge, uint32_t n)
{
    if (x < lo)
        return -1;
    double q = floor((x - lo) / edge);
    if (q >= (double)n)
        return n;
    int64_t k = (int64_t)q;
    while (k > 0 && x < lo + (double)k * edge)
        k--;
    while (k < (int64_t)n && x >= lo + (double)(k + 1) * edge)
        k++;
    return k;
}

enum err demand_grid_cell(const struct demand_grid *g, struct geo_latlng p,
                          int64_t *cell)
{
    if (!geo_latlng_is_valid(p))
        return ERR_NOT_FOUND;
    int64_t r = axis_index(p.lat_deg, g->south_deg, g->cell_lat_deg, g->rows);
    int64_t c = axis_index(p.lon_deg, g->west_deg, g->cell_lon_deg, g->cols);
    if (r < 0 || r >= g->rows || c < 0 || c >= g->cols)
        return ERR_NOT_FOUND;
    *cell = r * (int64_t)g->cols + c;
    return ERR_OK;
}

struct geo_bbox demand_grid_cell_bounds(const struct demand_grid *g,
                                        int64_t cell)
{
    ASSERT(cell >= 0 && cell < (int64_t)g->rows * g->cols);
    double r = (double)(cell / g->cols), c = (double)(cell % g->cols);
    return (struct geo_bbox){
        .min_lat_deg = g->south_deg + r * g->cell_lat_deg,
        .min_lon_deg = g->west_deg + c * g->cell_lon_deg,
        .max_lat_deg = g->south_deg + (r + 1) * g->cell_lat_deg,
        .max_lon_deg = g->west_deg + (c + 1) * g->cell_lon_deg,
    };
}

struct geo_latlng demand_grid_cell_center(const struct demand_grid *g,
                                          int64_t cell)
{
    struct geo_bbox b = demand_grid_cell_bounds(g, cell);
    return (struct geo_latlng){(b.min_lat_deg + b.max_lat_deg) / 2,
                               (b.min_lon_deg + b.max_lon_deg) / 2};
}

/* ---- local time ----------------------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int64_t demand_local_day(int64_t t_s, int32_t utc_offset_s)
{
    return floor_div(t_s + utc_offset_s, DEMAND_DAY_S);
}

/* H. Hinnant's days_from_civil and civil_from_days. */
int64_t demand_day_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void demand_civil_from_day(int64_t day, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t z = day + 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

unsigned demand_weekday(int64_t day)
{
    /* 1970-01-01 was a Thursday (3 with Monday 0). */
    return (unsigned)(day + 3 - floor_div(day + 3, 7) * 7);
}

/* ---- the series ----------------------------------------------------- */

#define MAX_ABS_DAY0 10000000
#define MAX_ABS_OFFSET_S (18 * 3600)

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Checks the shape of a series (without its cells). */
static enum err check_shape(int64_t day0, size_t ndays, uint32_t slot_s,
                            int32_t utc_offset_s, struct err_detail *d)
{
    if (slot_s < 60 || DEMAND_DAY_S % slot_s != 0)
        return err_set(d, ERR_INVALID, "slot_s",
                       "the slot length must divide a day and be at least "
                       "60 s, not %" PRIu32 " s",
                       slot_s);
    if (ndays == 0)
        return err_set(d, ERR_INVALID, "ndays", "a series needs a day");
    if (ndays > DEMAND_MAX_DAYS)
        return err_set(d, ERR_TOO_BIG, "ndays",
                       "a series holds at most %u days", DEMAND_MAX_DAYS);
    if (day0 < -MAX_ABS_DAY0 || day0 > MAX_ABS_DAY0)
        return err_set(d, ERR_INVALID, "day0", "day %" PRId64 " out of range",
                       day0);
    if (utc_offset_s < -MAX_ABS_OFFSET_S || utc_offset_s > MAX_ABS_OFFSET_S)
        return err_set(d, ERR_INVALID, "utc_offset_s",
                       "the UTC offset must be within 18 h");
    return ERR_OK;
}

enum err demand_series_init(struct demand_series *s, int64_t day0, size_t ndays,
                            uint32_t slot_s, int32_t utc_offset_s,
                            const int64_t *cells, size_t ncells,
                            uint32_t grid_cols, struct err_detail *d)
{
    enum err e = check_shape(day0, ndays, slot_s, utc_offset_s, d);
    if (e != ERR_OK)
        return e;
    int64_t *ids = xmalloc((ncells ? ncells : 1) * sizeof(*ids));
    if (ncells)
        memcpy(ids, cells, ncells * sizeof(*ids));
    qsort(ids, ncells, sizeof(*ids), cmp_i64);
    size_t n = 0;
    for (size_t i = 0; i < ncells; i++) {
        if (n == 0 || ids[n - 1] != ids[i])
            ids[n++] = ids[i];
    }
    uint32_t spd = DEMAND_DAY_S / slot_s;
    size_t nslots = ndays * spd;
    if (n > DEMAND_MAX_CELLS || (n > 0 && nslots > DEMAND_MAX_VALUES / n)) {
        xfree(ids);
        return err_set(d, ERR_TOO_BIG, "cells",
                       "%zu cells over %zu slots is over the caps (%u cells, "
                       "%u values)",
                       n, nslots, DEMAND_MAX_CELLS, DEMAND_MAX_VALUES);
    }
    *s = (struct demand_series){
        .day0 = day0,
        .utc_offset_s = utc_offset_s,
        .slot_s = slot_s,
        .slots_per_day = spd,
        .grid_cols = grid_cols,
        .ndays = ndays,
        .nslots = nslots,
        .ncells = n,
        .cells = ids,
    };
    for (int k = 0; k < DEMAND_KINDS; k++)
        s->count[k] = xcalloc(n * nslots, sizeof(uint16_t));
    s->observed = xmalloc(nslots);
    memset(s->observed, 1, nslots);
    s->day_type = xmalloc(ndays);
    for (size_t i = 0; i < ndays; i++)
        s->day_type[i] = demand_weekday(day0 + (int64_t)i) >= 5
                             ? DEMAND_DAY_OFF
                             : DEMAND_WORKDAY;
    return ERR_OK;
}

enum err demand_series_slot(const struct demand_series *s, int64_t t_s,
                            size_t *slot)
{
    /* Far-off times would overflow below; they are outside anyway. */
    if (t_s < -((int64_t)1 << 48) || t_s > ((int64_t)1 << 48))
        return ERR_NOT_FOUND;
    int64_t local = t_s + s->utc_offset_s - s->day0 * DEMAND_DAY_S;
    if (local < 0 || local >= (int64_t)s->ndays * DEMAND_DAY_S)
        return ERR_NOT_FOUND;
    *slot = (size_t)(local / s->slot_s);
    return ERR_OK;
}

enum err demand_series_find(const struct demand_series *s, int64_t cell,
                            size_t *index)
{
    size_t lo = 0, hi = s->ncells;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->cells[mid] < cell)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == s->ncells || s->cells[lo] != cell)
        return ERR_NOT_FOUND;
    *index = lo;
    return ERR_OK;
}

enum err demand_series_from_events(struct demand_series *s,
                                   const struct demand_event *ev, size_t n,
                                   int64_t day0, size_t ndays, uint32_t slot_s,
                                   int32_t utc_offset_s, uint32_t grid_cols,
                                   size_t *skipped, struct err_detail *d)
{
    for (size_t i = 0; i < n; i++) {
        if ((unsigned)ev[i].kind >= DEMAND_KINDS)
            return err_set(d, ERR_INVALID, "kind", "event %zu: bad kind", i);
    }
    enum err e = check_shape(day0, ndays, slot_s, utc_offset_s, d);
    if (e != ERR_OK)
        return e;
    /* Only the cells of events inside the span get a row. */
    int64_t t_lo = day0 * DEMAND_DAY_S - utc_offset_s;
    int64_t t_hi = t_lo + (int64_t)ndays * DEMAND_DAY_S;
    int64_t *ids = xmalloc((n ? n : 1) * sizeof(*ids));
    size_t nids = 0;
    for (size_t i = 0; i < n; i++) {
        if (ev[i].t_s >= t_lo && ev[i].t_s < t_hi)
            ids[nids++] = ev[i].cell;
    }
    struct demand_series tmp;
    e = demand_series_init(&tmp, day0, ndays, slot_s, utc_offset_s, ids, nids,
                           grid_cols, d);
    xfree(ids);
    if (e != ERR_OK)
        return e;
    size_t outside = 0;
    for (size_t i = 0; i < n; i++) {
        size_t slot, cell;
        if (demand_series_slot(&tmp, ev[i].t_s, &slot) != ERR_OK) {
            outside++;
            continue;
        }
        e = demand_series_find(&tmp, ev[i].cell, &cell);
        ASSERT(e == ERR_OK);
        demand_series_add(&tmp, cell, ev[i].kind, slot, 1);
    }
    if (skipped)
        *skipped = outside;
    *s = tmp;
    return ERR_OK;
}

void demand_series_add(struct demand_series *s, size_t cell_index,
                       enum demand_kind kind, size_t slot, uint32_t n)
{
    ASSERT(cell_index < s->ncells && slot < s->nslots &&
           (unsigned)kind < DEMAND_KINDS);
    uint16_t *c = &s->count[kind][cell_index * s->nslots + slot];
    uint32_t v = (uint32_t)*c + n;
    *c = (uint16_t)(v > UINT16_MAX || v < n ? UINT16_MAX : v);
}

void demand_series_set_observed(struct demand_series *s, size_t from, size_t to,
                                bool observed)
{
    ASSERT(from <= to && to <= s->nslots);
    memset(s->observed + from, observed ? 1 : 0, to - from);
}

void demand_series_set_day_type(struct demand_series *s, size_t day,
                                uint8_t type)
{
    ASSERT(day < s->ndays && type < DEMAND_MAX_DAY_TYPES);
    s->day_type[day] = type;
}

enum err demand_series_set_covariates(struct demand_series *s, size_t ncov,
                                      const double *cov, struct err_detail *d)
{
    if (ncov > DEMAND_MAX_COVARIATES)
        return err_set(d, ERR_TOO_BIG, "ncov", "at most %u covariates",
                       DEMAND_MAX_COVARIATES);
    size_t n = ncov * s->nslots;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(cov[i]))
            return err_set(d, ERR_INVALID, "cov",
                           "covariate %zu of slot %zu is not finite", i % ncov,
                           i / ncov);
    }
    xfree(s->cov);
    s->cov = NULL;
    s->ncov = ncov;
    if (ncov) {
        s->cov = xmalloc(n * sizeof(*s->cov));
        memcpy(s->cov, cov, n * sizeof(*s->cov));
    }
    return ERR_OK;
}

void demand_series_release(struct demand_series *s)
{
    xfree(s->cells);
    for (int k = 0; k < DEMAND_KINDS; k++)
        xfree(s->count[k]);
    xfree(s->observed);
    xfree(s->day_type);
    xfree(s->cov);
    *s = (struct demand_series){0};
}
