/* SPDX-License-Identifier: MIT */
/*
 * Tests for the demand forecast of dispatch/: the cell grid and local time
 * (demand.c), the series, each model on synthetic series whose right
 * answer is known (forecast.c, forecast_sys.c), the metrics
 * (forecast_score.c), and the backtests on the real data sets when
 * they are present (`spoke forecast --backtest`).
 */
#include "base/sys.h"
#include "base/rng.h"
#include "cli/cli.h"
#include "dispatch/demand.h"
#include "dispatch/forecast.h"
#include "geo/geo.h"
#include "tests/unit/harness.h"

#include <fcntl.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the grid --------------------------------------------------------- */

static const struct geo_bbox sg_area = {1.24, 103.61, 1.47, 104.03};

TEST(demand_grid_init_errors)
{
    struct demand_grid g = {0};
    struct err_detail d;
    CHECK_ERR(demand_grid_init(&g, sg_area, 49.9, &d), ERR_INVALID);
    CHECK_STR(d.field, "cell_m");
    CHECK_ERR(demand_grid_init(&g, sg_area, 5000.1, &d), ERR_INVALID);
    CHECK_ERR(demand_grid_init(&g, sg_area, NAN, &d), ERR_INVALID);
    struct geo_bbox flat = {1.3, 103.6, 1.3, 104.0};
    CHECK_ERR(demand_grid_init(&g, flat, 500, &d), ERR_INVALID);
    CHECK_STR(d.field, "area");
    struct geo_bbox upside = {1.47, 103.61, 1.24, 104.03};
    CHECK_ERR(demand_grid_init(&g, upside, 500, &d), ERR_INVALID);
    struct geo_bbox bad = {1.24, 103.61, 1.47, 181};
    CHECK_ERR(demand_grid_init(&g, bad, 500, &d), ERR_INVALID);
    struct geo_bbox polar = {80, 0, 86, 10};
    CHECK_ERR(demand_grid_init(&g, polar, 500, &d), ERR_INVALID);
    struct geo_bbox world = {-60, -170, 60, 170};
    CHECK_ERR(demand_grid_init(&g, world, 50, &d), ERR_TOO_BIG);
    CHECK_EQ(g.rows, 0); /* untouched on failure */
    CHECK_OK(demand_grid_init(&g, sg_area, 500, &d));
    /* 0.23 deg of latitude is 25.6 km: 52 rows of 500 m; 0.42 deg of
     * longitude at 1.355 N is 46.7 km: 94 columns. */
    CHECK_EQ(g.rows, 52);
    CHECK_EQ(g.cols, 94);
    CHECK_NEAR(g.cell_m, 500, 0);
}

TEST(demand_grid_cell_size)
{
    struct demand_grid g;
    CHECK_OK(demand_grid_init(&g, sg_area, 250, NULL));
    struct geo_bbox b = demand_grid_cell_bounds(&g, 40 * (int64_t)g.cols + 7);
    double mid = (sg_area.min_lat_deg + sg_area.max_lat_deg) / 2;
    struct geo_latlng s = {b.min_lat_deg, b.min_lon_deg};
    struct geo_latlng n = {b.max_lat_deg, b.min_lon_deg};
    struct geo_latlng w = {mid, b.min_lon_deg}, e = {mid, b.max_lon_deg};
    CHECK_NEAR(geo_distance_m(s, n), 250, 1e-6);
    CHECK_NEAR(geo_distance_m(w, e), 250, 1e-3);
}

TEST(demand_grid_cell_boundaries)
{
    struct demand_grid g;
    CHECK_OK(demand_grid_init(&g, sg_area, 500, NULL));
    int64_t cell = -1;
    /* The south-west corner is cell 0, the north-east corner is inside. */
    CHECK_OK(demand_grid_cell(
        &g, (struct geo_latlng){sg_area.min_lat_deg, sg_area.min_lon_deg},
        &cell));
    CHECK_EQ(cell, 0);
    CHECK_OK(demand_grid_cell(
        &g, (struct geo_latlng){sg_area.max_lat_deg, sg_area.max_lon_deg},
        &cell));
    CHECK_EQ(cell, (int64_t)g.rows * g.cols - 1);
    /* Just outside on each side, and invalid points. */
    double lat = 1.3, lon = 103.8;
    CHECK_ERR(demand_grid_cell(
                  &g,
                  (struct geo_latlng){nextafter(sg_area.min_lat_deg, 0), lon},
                  &cell),
              ERR_NOT_FOUND);
    CHECK_ERR(demand_grid_cell(
                  &g,
                  (struct geo_latlng){lat, nextafter(sg_area.min_lon_deg, 0)},
                  &cell),
              ERR_NOT_FOUND);
    double top = g.south_deg + g.rows * g.cell_lat_deg;
    double right = g.west_deg + g.cols * g.cell_lon_deg;
    CHECK_ERR(demand_grid_cell(&g, (struct geo_latlng){top, lon}, &cell),
              ERR_NOT_FOUND);
    CHECK_ERR(demand_grid_cell(&g, (struct geo_latlng){lat, right}, &cell),
              ERR_NOT_FOUND);
    CHECK_ERR(demand_grid_cell(&g, (struct geo_latlng){NAN, lon}, &cell),
              ERR_NOT_FOUND);
    CHECK_ERR(demand_grid_cell(&g, (struct geo_latlng){91, lon}, &cell),
              ERR_NOT_FOUND);
    /* Every internal boundary belongs to the cell north or east of it. */
    for (uint32_t r = 0; r < g.rows; r++) {
        for (uint32_t c = 0; c < g.cols; c += 7) {
            int64_t id = (int64_t)r * g.cols + c;
            struct geo_bbox b = demand_grid_cell_bounds(&g, id);
            CHECK_OK(demand_grid_cell(
                &g, (struct geo_latlng){b.min_lat_deg, b.min_lon_deg}, &cell));
            CHECK_EQ(cell, id);
            struct geo_latlng inner = {nextafter(b.max_lat_deg, -1),
                                       nextafter(b.max_lon_deg, 0)};
            CHECK_OK(demand_grid_cell(&g, inner, &cell));
            CHECK_EQ(cell, id);
            if (r + 1 < g.rows) {
                CHECK_OK(demand_grid_cell(
                    &g, (struct geo_latlng){b.max_lat_deg, b.min_lon_deg},
                    &cell));
                CHECK_EQ(cell, id + g.cols);
            }
            if (c + 1 < g.cols) {
                CHECK_OK(demand_grid_cell(
                    &g, (struct geo_latlng){b.min_lat_deg, b.max_lon_deg},
                    &cell));
                CHECK_EQ(cell, id + 1);
            }
            CHECK_OK(
                demand_grid_cell(&g, demand_grid_cell_center(&g, id), &cell));
            CHECK_EQ(cell, id);
        }
    }
    /* Random points lie in the box of their cell. */
    struct rng rg;
    rng_seed(&rg, 7);
    for (int i = 0; i < 20000; i++) {
        struct geo_latlng p = {
            rng_range(&rg, sg_area.min_lat_deg, sg_area.max_lat_deg),
            rng_range(&rg, sg_area.min_lon_deg, sg_area.max_lon_deg)};
        CHECK_OK(demand_grid_cell(&g, p, &cell));
        struct geo_bbox b = demand_grid_cell_bounds(&g, cell);
        CHECK(b.min_lat_deg <= p.lat_deg && p.lat_deg < b.max_lat_deg);
        CHECK(b.min_lon_deg <= p.lon_deg && p.lon_deg < b.max_lon_deg);
    }
}

/* ---- local time ------------------------------------------------------- */

TEST(demand_civil_days)
{
    CHECK_EQ(demand_day_from_civil(1970, 1, 1), 0);
    CHECK_EQ(demand_day_from_civil(1969, 12, 31), -1);
    CHECK_EQ(demand_day_from_civil(2000, 3, 1), 11017);
    CHECK_EQ(demand_weekday(0), 3);  /* Thursday */
    CHECK_EQ(demand_weekday(-1), 2); /* Wednesday */
    CHECK_EQ(demand_weekday(demand_day_from_civil(2017, 9, 11)), 0);
    CHECK_EQ(demand_weekday(demand_day_from_civil(2017, 9, 17)), 6);
    CHECK_EQ(demand_weekday(demand_day_from_civil(2012, 10, 1)), 0);
    CHECK_EQ(demand_day_from_civil(2012, 12, 31) -
                 demand_day_from_civil(2011, 1, 1) + 1,
             731);
    /* Round trips across leap years, centuries and 1970. */
    for (int64_t day = -800000; day <= 800000; day += 97) {
        int64_t y;
        unsigned m, d;
        demand_civil_from_day(day, &y, &m, &d);
        CHECK(m >= 1 && m <= 12 && d >= 1 && d <= 31);
        CHECK_EQ(demand_day_from_civil(y, m, d), day);
    }
    int64_t y;
    unsigned m, d;
    demand_civil_from_day(demand_day_from_civil(2000, 2, 29), &y, &m, &d);
    CHECK(y == 2000 && m == 2 && d == 29);
    CHECK_EQ(demand_day_from_civil(1900, 3, 1) -
                 demand_day_from_civil(1900, 2, 28),
             1);
}

/* 2017-09-11T00:00:00+08:00, Monday: the first day of the Singapore data. */
#define SG_MON_MIDNIGHT_S INT64_C(1505059200)

TEST(demand_slots_singapore_utc8)
{
    int64_t mon = demand_day_from_civil(2017, 9, 11);
    CHECK_EQ(demand_local_day(SG_MON_MIDNIGHT_S, 8 * 3600), mon);
    CHECK_EQ(demand_local_day(SG_MON_MIDNIGHT_S - 1, 8 * 3600), mon - 1);
    /* The same instant is still Sunday in UTC. */
    CHECK_EQ(demand_local_day(SG_MON_MIDNIGHT_S, 0), mon - 1);
    struct demand_series s;
    int64_t cell = 5;
    CHECK_OK(demand_series_init(&s, mon, 2, 900, 8 * 3600, &cell, 1, 0, NULL));
    CHECK_EQ(s.slots_per_day, 96);
    CHECK_EQ(s.nslots, 192);
    size_t slot = 999;
    CHECK_OK(demand_series_slot(&s, SG_MON_MIDNIGHT_S, &slot));
    CHECK_EQ(slot, 0);
    CHECK_OK(demand_series_slot(&s, SG_MON_MIDNIGHT_S + 899, &slot));
    CHECK_EQ(slot, 0);
    CHECK_OK(demand_series_slot(&s, SG_MON_MIDNIGHT_S + 900, &slot));
    CHECK_EQ(slot, 1);
    /* 08:10 local is 00:10 UTC: slot 32 (08:00-08:15). */
    CHECK_OK(demand_series_slot(&s, SG_MON_MIDNIGHT_S + 8 * 3600 + 600, &slot));
    CHECK_EQ(slot, 32);
    CHECK_OK(demand_series_slot(&s, SG_MON_MIDNIGHT_S + 86400, &slot));
    CHECK_EQ(slot, 96);
    CHECK_OK(demand_series_slot(&s, SG_MON_MIDNIGHT_S + 2 * 86400 - 1, &slot));
    CHECK_EQ(slot, 191);
    CHECK_ERR(demand_series_slot(&s, SG_MON_MIDNIGHT_S - 1, &slot),
              ERR_NOT_FOUND);
    CHECK_ERR(demand_series_slot(&s, SG_MON_MIDNIGHT_S + 2 * 86400, &slot),
              ERR_NOT_FOUND);
    CHECK_ERR(demand_series_slot(&s, INT64_MAX, &slot), ERR_NOT_FOUND);
    CHECK_ERR(demand_series_slot(&s, INT64_MIN, &slot), ERR_NOT_FOUND);
    CHECK_EQ(s.day_type[0], DEMAND_WORKDAY);
    demand_series_release(&s);
}

TEST(demand_slots_local_wall_clock)
{
    /*
     * Washington DC has DST, so the Capital Bikeshare series is kept in
     * local wall-clock time with offset 0: 2012-10-01 08:xx local is hour 8
     * of that day whatever the UTC offset was then.
     */
    int64_t day0 = demand_day_from_civil(2011, 1, 1);
    int64_t cell = 0;
    struct demand_series s;
    CHECK_OK(demand_series_init(&s, day0, 731, 3600, 0, &cell, 1, 0, NULL));
    int64_t oct1 = demand_day_from_civil(2012, 10, 1);
    size_t slot;
    CHECK_OK(demand_series_slot(&s, oct1 * 86400 + 8 * 3600 + 59, &slot));
    CHECK_EQ(slot, (size_t)(oct1 - day0) * 24 + 8);
    CHECK_EQ(s.day_type[0], DEMAND_DAY_OFF); /* 2011-01-01, a Saturday */
    CHECK_EQ(s.day_type[2], DEMAND_WORKDAY);
    demand_series_release(&s);
    /* A zone west of UTC: 00:30 UTC is 19:30 the previous day at -5 h. */
    CHECK_OK(
        demand_series_init(&s, oct1, 2, 1800, -5 * 3600, &cell, 1, 0, NULL));
    CHECK_OK(demand_series_slot(&s, (oct1 + 1) * 86400 + 1800, &slot));
    CHECK_EQ(slot, 39);
    CHECK_EQ(demand_local_day((oct1 + 1) * 86400 + 1800, -5 * 3600), oct1);
    demand_series_release(&s);
}

/* ---- the series ------------------------------------------------------- */

TEST(demand_series_init_errors)
{
    struct demand_series s;
    struct err_detail d;
    int64_t cells[] = {9, 3, 9, 7, 3};
    CHECK_ERR(demand_series_init(&s, 0, 1, 59, 0, cells, 1, 0, &d),
              ERR_INVALID);
    CHECK_STR(d.field, "slot_s");
    CHECK_ERR(demand_series_init(&s, 0, 1, 7000, 0, cells, 1, 0, &d),
              ERR_INVALID);
    CHECK_ERR(demand_series_init(&s, 0, 0, 900, 0, cells, 1, 0, &d),
              ERR_INVALID);
    CHECK_ERR(
        demand_series_init(&s, 0, DEMAND_MAX_DAYS + 1, 900, 0, cells, 1, 0, &d),
        ERR_TOO_BIG);
    CHECK_ERR(demand_series_init(&s, 0, 1, 900, 19 * 3600, cells, 1, 0, &d),
              ERR_INVALID);
    CHECK_ERR(demand_series_init(&s, INT64_MAX / 2, 1, 900, 0, cells, 1, 0, &d),
              ERR_INVALID);
    /* 1,000 cells over 10 years of minutes is far over the value cap. */
    int64_t *many = xmalloc(1000 * sizeof(*many));
    for (int i = 0; i < 1000; i++)
        many[i] = i;
    CHECK_ERR(demand_series_init(&s, 0, 3650, 60, 0, many, 1000, 0, &d),
              ERR_TOO_BIG);
    xfree(many);
    /* Cells are sorted and deduplicated; weekends are days off. */
    int64_t mon = demand_day_from_civil(2017, 9, 11);
    CHECK_OK(demand_series_init(&s, mon, 7, 3600, 0, cells, 5, 0, &d));
    CHECK_EQ(s.ncells, 3);
    CHECK(s.cells[0] == 3 && s.cells[1] == 7 && s.cells[2] == 9);
    size_t idx = 99;
    CHECK_OK(demand_series_find(&s, 7, &idx));
    CHECK_EQ(idx, 1);
    CHECK_ERR(demand_series_find(&s, 8, &idx), ERR_NOT_FOUND);
    CHECK_ERR(demand_series_find(&s, 10, &idx), ERR_NOT_FOUND);
    for (size_t i = 0; i < 7; i++)
        CHECK_EQ(s.day_type[i], i < 5 ? DEMAND_WORKDAY : DEMAND_DAY_OFF);
    for (size_t t = 0; t < s.nslots; t++)
        CHECK_EQ(s.observed[t], 1);
    demand_series_set_day_type(&s, 2, 5);
    CHECK_EQ(s.day_type[2], 5);
    demand_series_set_observed(&s, 3, 5, false);
    CHECK(s.observed[2] && !s.observed[3] && !s.observed[4] && s.observed[5]);
    demand_series_release(&s);
    demand_series_release(&s); /* a no-op the second time */
    /* An empty series is fine: a server with no trips yet. */
    CHECK_OK(demand_series_init(&s, mon, 1, 900, 0, NULL, 0, 0, &d));
    CHECK_EQ(s.ncells, 0);
    demand_series_release(&s);
}

TEST(demand_series_from_events_counts)
{
    int64_t mon = demand_day_from_civil(2017, 9, 11);
    int64_t t0 = SG_MON_MIDNIGHT_S;
    struct demand_event ev[] = {
        {t0 + 10, 42, DEMAND_RENTALS},        {t0 + 20, 42, DEMAND_RENTALS},
        {t0 + 900, 42, DEMAND_RETURNS},       {t0 + 86400 + 5, 17, DEMAND_LOST},
        {t0 - 1, 99, DEMAND_RENTALS},         /* Sunday: skipped */
        {t0 + 2 * 86400, 98, DEMAND_RETURNS}, /* Wednesday: skipped */
    };
    struct demand_series s;
    size_t skipped = 0;
    CHECK_OK(demand_series_from_events(&s, ev, ARRAY_LEN(ev), mon, 2, 900,
                                       8 * 3600, 100, &skipped, NULL));
    CHECK_EQ(skipped, 2);
    CHECK_EQ(s.ncells, 2);
    CHECK(s.cells[0] == 17 && s.cells[1] == 42);
    CHECK_EQ(s.grid_cols, 100);
    CHECK_EQ(demand_series_get(&s, 1, DEMAND_RENTALS, 0), 2);
    CHECK_EQ(demand_series_get(&s, 1, DEMAND_RETURNS, 0), 0);
    CHECK_EQ(demand_series_get(&s, 1, DEMAND_RETURNS, 1), 1);
    CHECK_EQ(demand_series_get(&s, 0, DEMAND_LOST, 96), 1);
    uint64_t total = 0;
    for (int k = 0; k < DEMAND_KINDS; k++) {
        for (size_t i = 0; i < s.ncells * s.nslots; i++)
            total += s.count[k][i];
    }
    CHECK_EQ(total, 4);
    /* Counts saturate. */
    demand_series_add(&s, 0, DEMAND_RENTALS, 5, 70000);
    CHECK_EQ(demand_series_get(&s, 0, DEMAND_RENTALS, 5), UINT16_MAX);
    demand_series_add(&s, 0, DEMAND_RENTALS, 5, UINT32_MAX);
    CHECK_EQ(demand_series_get(&s, 0, DEMAND_RENTALS, 5), UINT16_MAX);
    demand_series_release(&s);

    struct demand_event bad = {t0, 1, DEMAND_KINDS};
    struct err_detail d;
    CHECK_ERR(
        demand_series_from_events(&s, &bad, 1, mon, 2, 900, 0, 0, NULL, &d),
        ERR_INVALID);
    CHECK_ERR(demand_series_from_events(&s, ev, 1, mon, 2, 901, 0, 0, NULL, &d),
              ERR_INVALID);
    /* No events: an empty series. */
    CHECK_OK(
        demand_series_from_events(&s, NULL, 0, mon, 1, 900, 0, 0, NULL, &d));
    CHECK_EQ(s.ncells, 0);
    demand_series_release(&s);
}

TEST(demand_series_covariates)
{
    int64_t cell = 1;
    struct demand_series s;
    CHECK_OK(demand_series_init(&s, 0, 1, 3600, 0, &cell, 1, 0, NULL));
    double cov[24 * 2];
    for (int i = 0; i < 48; i++)
        cov[i] = i;
    struct err_detail d;
    CHECK_OK(demand_series_set_covariates(&s, 2, cov, &d));
    CHECK_EQ(s.ncov, 2);
    CHECK_NEAR(s.cov[47], 47, 0);
    cov[5] = NAN;
    CHECK_ERR(demand_series_set_covariates(&s, 2, cov, &d), ERR_INVALID);
    CHECK_STR(d.field, "cov");
    CHECK_NEAR(s.cov[5], 5, 0); /* unchanged */
    CHECK_ERR(
        demand_series_set_covariates(&s, DEMAND_MAX_COVARIATES + 1, cov, &d),
        ERR_TOO_BIG);
    CHECK_OK(demand_series_set_covariates(&s, 0, NULL, &d));
    CHECK_EQ(s.ncov, 0);
    CHECK(s.cov == NULL);
    demand_series_release(&s);
}

/* ---- helpers for synthetic series ------------------------------------- */

/* A series of ncells cells 0..ncells-1 (not grid cells), from Monday. */
static void synth(struct demand_series *s, size_t ndays, uint32_t slot_s,
                  size_t ncells)
{
    int64_t *ids = xmalloc(ncells * sizeof(*ids));
    for (size_t i = 0; i < ncells; i++)
        ids[i] = (int64_t)i;
    CHECK_OK(demand_series_init(s, demand_day_from_civil(2017, 9, 11), ndays,
                                slot_s, 0, ids, ncells, 0, NULL));
    xfree(ids);
}

static void set_count(struct demand_series *s, size_t c, enum demand_kind k,
                      size_t t, uint32_t v)
{
    s->count[k][c * s->nslots + t] = (uint16_t)v;
}

static struct forecast_params params(enum forecast_model m)
{
    struct forecast_params p;
    forecast_params_default(&p);
    p.model = m;
    return p;
}

/* A daily shape with one peak, values 2 .. 2 + amp. */
static double bump(size_t sod, size_t spd, double centre, double amp)
{
    double x = ((double)sod / (double)spd - centre) * 2 * M_PI;
    return 2 + amp * (1 + cos(x)) / 2;
}

/* ---- forecast: arguments and metrics ---------------------------------- */

TEST(forecast_check_errors)
{
    struct demand_series s;
    synth(&s, 3, 3600, 2);
    struct forecast_params p = params(FORECAST_SPOKE);
    struct err_detail d;
    double out[2 * 24];
    CHECK_ERR(forecast_run(&s, 24, 0, &p, out, out, &d), ERR_INVALID);
    CHECK_STR(d.field, "horizon");
    CHECK_ERR(forecast_run(&s, 60, 24, &p, out, out, &d), ERR_INVALID);
    CHECK_ERR(forecast_run(&s, SIZE_MAX, 1, &p, out, out, &d), ERR_INVALID);
    CHECK_ERR(forecast_run(&s, 0, 24, &p, out, out, &d), ERR_NOT_FOUND);
    demand_series_set_observed(&s, 0, 24, false);
    CHECK_ERR(forecast_run(&s, 24, 24, &p, out, out, &d), ERR_NOT_FOUND);
    CHECK_STR(d.field, "origin");
    demand_series_set_observed(&s, 0, 24, true);
    CHECK_OK(forecast_run(&s, 24, 24, &p, out, out, &d));
    struct {
        struct forecast_params p;
        const char *field;
    } bad[] = {
        {params(FORECAST_SPOKE), "model"},
        {params(FORECAST_SPOKE), "shape_half_life_days"},
        {params(FORECAST_SPOKE), "level_half_life_days"},
        {params(FORECAST_SPOKE), "shape_prior_events"},
        {params(FORECAST_SPOKE), "smooth_min"},
        {params(FORECAST_SPOKE), "neighbour_weight"},
        {params(FORECAST_SPOKE), "ridge"},
        {params(FORECAST_SPOKE), "regression_min_days"},
        {params(FORECAST_SPOKE), "lost_weight"},
    };
    bad[0].p.model = (enum forecast_model)9;
    bad[1].p.shape_half_life_days = 0;
    bad[2].p.level_half_life_days = NAN;
    bad[3].p.shape_prior_events = -1;
    bad[4].p.smooth_min = 721;
    bad[5].p.neighbour_weight = 1.5;
    bad[6].p.ridge = 0;
    bad[7].p.regression_min_days = 7;
    bad[8].p.lost_weight = -0.1;
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        CHECK_ERR(forecast_run(&s, 24, 24, &bad[i].p, out, out, &d),
                  ERR_INVALID);
        CHECK_STR(d.field, bad[i].field);
        CHECK_ERR(forecast_system(&s, out, 24, 24, &bad[i].p, out, &d),
                  ERR_INVALID);
    }
    demand_series_release(&s);
    /* A horizon over FORECAST_MAX_HORIZON_DAYS days. */
    synth(&s, FORECAST_MAX_HORIZON_DAYS + 2, 86400, 1);
    double *big = xmalloc((FORECAST_MAX_HORIZON_DAYS + 1) * sizeof(*big));
    CHECK_ERR(
        forecast_run(&s, 1, FORECAST_MAX_HORIZON_DAYS + 1, &p, big, NULL, &d),
        ERR_TOO_BIG);
    CHECK_OK(forecast_run(&s, 2, FORECAST_MAX_HORIZON_DAYS, &p, big, NULL, &d));
    xfree(big);
    demand_series_release(&s);
}

TEST(forecast_err_metrics)
{
    struct forecast_err e = {0};
    CHECK_NEAR(forecast_err_mae(&e), 0, 0);
    CHECK_NEAR(forecast_err_rmse(&e), 0, 0);
    forecast_err_add(&e, 1, 2);
    forecast_err_add(&e, 2, 2);
    forecast_err_add(&e, 3, 5);
    CHECK_EQ(e.n, 3);
    CHECK_NEAR(forecast_err_mae(&e), 1, 1e-12);
    CHECK_NEAR(forecast_err_rmse(&e), sqrt(5.0 / 3), 1e-12);
}

TEST(forecast_score_buckets)
{
    /* Two cells, 15-minute slots scored per hour. */
    struct demand_series s;
    synth(&s, 1, 900, 2);
    for (size_t t = 0; t < 8; t++) {
        set_count(&s, 0, DEMAND_RENTALS, t, 1);
        set_count(&s, 1, DEMAND_RENTALS, t, 2);
        set_count(&s, 1, DEMAND_LOST, t, 4);
    }
    double pred[2 * 8];
    for (int i = 0; i < 16; i++)
        pred[i] = 0.5;
    struct forecast_err cell = {0}, sys = {0};
    CHECK_OK(forecast_score(&s, 0, 8, pred, DEMAND_RENTALS, NULL, 4, NULL,
                            &cell, &sys));
    /* Hours: cell 0 actual 4, cell 1 actual 8, predicted 2 each. */
    CHECK_EQ(cell.n, 4);
    CHECK_NEAR(forecast_err_mae(&cell), (2 + 6) / 2.0, 1e-12);
    CHECK_NEAR(forecast_err_rmse(&cell), sqrt((4 + 36) / 2.0), 1e-12);
    CHECK_EQ(sys.n, 2);
    CHECK_NEAR(forecast_err_mae(&sys), 8, 1e-12);
    /* An unobserved slot drops its hour; so does the mask. */
    demand_series_set_observed(&s, 5, 6, false);
    struct forecast_err c2 = {0}, s2 = {0};
    CHECK_OK(forecast_score(&s, 0, 8, pred, DEMAND_RENTALS, NULL, 4, NULL, &c2,
                            &s2));
    CHECK_EQ(c2.n, 2);
    CHECK_EQ(s2.n, 1);
    uint8_t mask[8] = {1, 1, 0, 1, 1, 1, 1, 1};
    struct forecast_err c3 = {0};
    CHECK_OK(forecast_score(&s, 0, 8, pred, DEMAND_RENTALS, NULL, 4, mask, &c3,
                            NULL));
    CHECK_EQ(c3.n, 0);
    /* Lost demand counts as rentals with lost_weight. */
    demand_series_set_observed(&s, 0, 8, true);
    struct forecast_params p = params(FORECAST_SPOKE);
    p.lost_weight = 1;
    struct forecast_err c4 = {0};
    CHECK_OK(forecast_score(&s, 0, 4, pred + 4, DEMAND_RENTALS, &p, 4, NULL,
                            &c4, NULL));
    CHECK_EQ(c4.n, 2);
    CHECK_NEAR(forecast_err_mae(&c4), (2 + 22) / 2.0, 1e-12);
    /* Errors. */
    CHECK_ERR(forecast_score(&s, 0, 6, pred, DEMAND_RENTALS, NULL, 4, NULL, &c4,
                             NULL),
              ERR_INVALID);
    CHECK_ERR(forecast_score(&s, 0, 8, pred, DEMAND_RENTALS, NULL, 0, NULL, &c4,
                             NULL),
              ERR_INVALID);
    CHECK_ERR(
        forecast_score(&s, 0, 8, pred, DEMAND_LOST, NULL, 4, NULL, &c4, NULL),
        ERR_INVALID);
    CHECK_ERR(forecast_score(&s, 90, 8, pred, DEMAND_RETURNS, NULL, 4, NULL,
                             &c4, NULL),
              ERR_INVALID);
    demand_series_release(&s);
}

/* ---- forecast: synthetic series with known answers -------------------- */

static const enum forecast_model all_models[] = {
    FORECAST_SPOKE, FORECAST_HIST_MEAN, FORECAST_LAST_WEEK, FORECAST_LAST_DAY};

TEST(forecast_constant_series)
{
    /* Short (profile) and long (regression) histories. */
    size_t days[] = {5, 40};
    for (size_t n = 0; n < ARRAY_LEN(days); n++) {
        struct demand_series s;
        synth(&s, days[n] + 1, 3600, 3);
        for (size_t t = 0; t < s.nslots; t++) {
            set_count(&s, 0, DEMAND_RENTALS, t, 3);
            set_count(&s, 1, DEMAND_RENTALS, t, 1);
            set_count(&s, 2, DEMAND_RETURNS, t, 4);
        }
        double rent[3 * 24], ret[3 * 24];
        for (size_t m = 0; m < ARRAY_LEN(all_models); m++) {
            struct forecast_params p = params(all_models[m]);
            CHECK_OK(forecast_run(&s, days[n] * 24, 24, &p, rent, ret, NULL));
            for (size_t k = 0; k < 24; k++) {
                CHECK_NEAR(rent[0 * 24 + k], 3, 1e-6);
                CHECK_NEAR(rent[1 * 24 + k], 1, 1e-6);
                CHECK_NEAR(rent[2 * 24 + k], 0, 1e-6);
                CHECK_NEAR(ret[2 * 24 + k], 4, 1e-6);
                CHECK_NEAR(ret[0 * 24 + k], 0, 1e-6);
            }
        }
        demand_series_release(&s);
    }
}

TEST(forecast_daily_pattern)
{
    /*
     * Two cells with different daily shapes (a morning and an evening
     * peak), the same every day, in 15-minute slots over 5 days.
     */
    struct demand_series s;
    synth(&s, 6, 900, 2);
    size_t spd = s.slots_per_day;
    for (size_t t = 0; t < s.nslots; t++) {
        size_t sod = t % spd;
        set_count(&s, 0, DEMAND_RENTALS, t,
                  (uint32_t)lround(bump(sod, spd, 0.33, 40)));
        set_count(&s, 1, DEMAND_RENTALS, t,
                  (uint32_t)lround(bump(sod, spd, 0.75, 60)));
    }
    size_t origin = 5 * spd;
    double rent[2 * 96];
    /* Without smoothing and shrinkage the model repeats each cell's day. */
    struct forecast_params p = params(FORECAST_SPOKE);
    p.smooth_min = 0;
    p.shape_prior_events = 0;
    CHECK_OK(forecast_run(&s, origin, spd, &p, rent, NULL, NULL));
    for (size_t k = 0; k < spd; k++) {
        for (size_t c = 0; c < 2; c++)
            CHECK_NEAR(rent[c * spd + k],
                       demand_series_get(&s, c, DEMAND_RENTALS, origin + k),
                       1e-9);
    }
    /* With the defaults the system total per slot is still exact, and each
     * cell keeps its peak where it was. */
    p = params(FORECAST_SPOKE);
    CHECK_OK(forecast_run(&s, origin, spd, &p, rent, NULL, NULL));
    for (size_t k = 0; k < spd; k++) {
        double want = demand_series_get(&s, 0, DEMAND_RENTALS, origin + k) +
                      demand_series_get(&s, 1, DEMAND_RENTALS, origin + k);
        CHECK_NEAR(rent[k] + rent[spd + k], want, 1e-9);
    }
    CHECK(rent[32] > 4 * rent[72]);
    CHECK(rent[spd + 72] > 4 * rent[spd + 32]);
    /* The system part on its own, and the regression on a long history. */
    demand_series_release(&s);
    synth(&s, 41, 3600, 1);
    for (size_t t = 0; t < s.nslots; t++)
        set_count(&s, 0, DEMAND_RENTALS, t,
                  (uint32_t)lround(bump(t % 24, 24, 0.7, 300)));
    double pred[24];
    CHECK_OK(forecast_run(&s, 40 * 24, 24, &p, pred, NULL, NULL));
    for (size_t k = 0; k < 24; k++) {
        double want = demand_series_get(&s, 0, DEMAND_RENTALS, 40 * 24 + k);
        CHECK_NEAR(pred[k], want, 0.02 * want + 0.05);
    }
    demand_series_release(&s);
}

TEST(forecast_trend)
{
    /*
     * Demand growing 2% a day for 60 days on a daily shape: the regression
     * follows the level, the historical mean lags far behind.
     */
    struct demand_series s;
    synth(&s, 62, 3600, 1);
    for (size_t t = 0; t < s.nslots; t++) {
        double level = pow(1.02, (double)(t / 24));
        set_count(&s, 0, DEMAND_RENTALS, t,
                  (uint32_t)lround(level * bump(t % 24, 24, 0.6, 50)));
    }
    size_t origin = 60 * 24;
    double spoke[48], hist[48];
    struct forecast_params p = params(FORECAST_SPOKE);
    CHECK_OK(forecast_run(&s, origin, 48, &p, spoke, NULL, NULL));
    p.model = FORECAST_HIST_MEAN;
    CHECK_OK(forecast_run(&s, origin, 48, &p, hist, NULL, NULL));
    struct forecast_err es = {0}, eh = {0};
    for (size_t k = 0; k < 48; k++) {
        double actual = demand_series_get(&s, 0, DEMAND_RENTALS, origin + k);
        forecast_err_add(&es, spoke[k], actual);
        forecast_err_add(&eh, hist[k], actual);
        /*
         * The ridge keeps it a little behind the trend; day two, forecast
         * from day one's forecast, a little more.
         */
        CHECK_NEAR(spoke[k], actual, (k < 24 ? 0.05 : 0.08) * actual + 1);
    }
    /* The mean of 60 days of growth is about 30% low. */
    CHECK(forecast_err_rmse(&es) < 0.25 * forecast_err_rmse(&eh));
    demand_series_release(&s);
}

TEST(forecast_covariates)
{
    /*
     * Rainy days (a covariate) have 30% of the usual demand. With the
     * covariate the regression forecasts a rainy day; without it, it
     * cannot know.
     */
    struct demand_series s;
    synth(&s, 61, 3600, 1);
    struct rng rg;
    rng_seed(&rg, 3);
    double *cov = xcalloc(s.nslots, sizeof(double));
    for (size_t day = 0; day < 61; day++) {
        bool rain = day == 60 || rng_unit(&rg) < 0.3;
        for (size_t h = 0; h < 24; h++) {
            size_t t = day * 24 + h;
            cov[t] = rain;
            double v = bump(h, 24, 0.6, 200) * (rain ? 0.3 : 1);
            set_count(&s, 0, DEMAND_RENTALS, t, (uint32_t)lround(v));
        }
    }
    double with[24], without[24];
    struct forecast_params p = params(FORECAST_SPOKE);
    CHECK_OK(forecast_run(&s, 60 * 24, 24, &p, without, NULL, NULL));
    CHECK_OK(demand_series_set_covariates(&s, 1, cov, NULL));
    CHECK_OK(forecast_run(&s, 60 * 24, 24, &p, with, NULL, NULL));
    struct forecast_err ew = {0}, eo = {0};
    for (size_t k = 0; k < 24; k++) {
        double actual = demand_series_get(&s, 0, DEMAND_RENTALS, 60 * 24 + k);
        forecast_err_add(&ew, with[k], actual);
        forecast_err_add(&eo, without[k], actual);
        CHECK_NEAR(with[k], actual, 0.15 * actual + 1);
    }
    CHECK(forecast_err_rmse(&ew) < 0.25 * forecast_err_rmse(&eo));
    xfree(cov);
    demand_series_release(&s);
}

TEST(forecast_shrinkage_and_neighbours)
{
    /*
     * A grid row of cells: many busy cells with a morning peak, one sparse
     * cell (id 10) whose only two events were at 23:00. Its own shape says
     * "23:00 only"; shrinkage pulls it toward the area's morning peak.
     */
    int64_t ids[12];
    for (int i = 0; i < 12; i++)
        ids[i] = i;
    struct demand_series s;
    CHECK_OK(demand_series_init(&s, demand_day_from_civil(2017, 9, 11), 5, 3600,
                                0, ids, 12, 100, NULL));
    for (size_t t = 0; t < 4 * 24; t++) {
        for (size_t c = 0; c < 12; c++) {
            if (c != 10)
                set_count(&s, c, DEMAND_RENTALS, t,
                          (uint32_t)lround(bump(t % 24, 24, 0.33, 30)));
        }
    }
    set_count(&s, 10, DEMAND_RENTALS, 23, 1);
    set_count(&s, 10, DEMAND_RENTALS, 24 + 23, 1);
    double rent[12 * 24];
    struct forecast_params p = params(FORECAST_SPOKE);
    p.smooth_min = 0;
    p.neighbour_weight = 0;
    CHECK_OK(forecast_run(&s, 4 * 24, 24, &p, rent, NULL, NULL));
    double *sparse = rent + 10 * 24, total = 0;
    for (size_t k = 0; k < 24; k++)
        total += sparse[k];
    /*
     * Its level is kept (2 events in 4 days, a little less as they are the
     * oldest) but spread like the area.
     */
    CHECK_NEAR(total, 0.5, 0.02);
    CHECK(sparse[8] > sparse[23]);
    /* With no prior it keeps its own shape. */
    p.shape_prior_events = 0;
    CHECK_OK(forecast_run(&s, 4 * 24, 24, &p, rent, NULL, NULL));
    CHECK_NEAR(sparse[23], 0.5, 0.02);
    CHECK_NEAR(sparse[8], 0, 1e-9);
    /* Neighbours: cell 10's neighbours in a 100-wide grid are 9 and 11. */
    p.neighbour_weight = 1;
    CHECK_OK(forecast_run(&s, 4 * 24, 24, &p, rent, NULL, NULL));
    CHECK(sparse[8] > sparse[23]);
    /* Cell 0 has neighbour 1 only; the morning shape is kept. */
    CHECK(rent[8] > 5 * rent[23]);
    demand_series_release(&s);
}

TEST(forecast_baselines)
{
    /* Hourly, 15 days from Monday; every slot of day d holds d + 1. */
    struct demand_series s;
    synth(&s, 15, 3600, 1);
    for (size_t t = 0; t < s.nslots; t++)
        set_count(&s, 0, DEMAND_RENTALS, t, (uint32_t)(t / 24 + 1));
    double out[24];
    struct forecast_params p = params(FORECAST_LAST_WEEK);
    /* Day 14 (Monday): a week earlier is day 7. */
    CHECK_OK(forecast_run(&s, 14 * 24, 24, &p, out, NULL, NULL));
    CHECK_NEAR(out[5], 8, 0);
    /* Day 7 unobserved: the previous workday (day 11, Friday). */
    demand_series_set_observed(&s, 7 * 24, 8 * 24, false);
    CHECK_OK(forecast_run(&s, 14 * 24, 24, &p, out, NULL, NULL));
    CHECK_NEAR(out[5], 12, 0);
    /* Day 4 (Friday): no week earlier, so Thursday. */
    CHECK_OK(forecast_run(&s, 4 * 24, 24, &p, out, NULL, NULL));
    CHECK_NEAR(out[0], 4, 0);
    /* Day 5 (Saturday): no earlier day off, so the latest day. */
    CHECK_OK(forecast_run(&s, 5 * 24, 24, &p, out, NULL, NULL));
    CHECK_NEAR(out[0], 5, 0);
    p.model = FORECAST_LAST_DAY;
    CHECK_OK(forecast_run(&s, 10 * 24, 24, &p, out, NULL, NULL));
    CHECK_NEAR(out[0], 10, 0);
    /* Two days ahead: the second day's lag is not history yet. */
    double two[48];
    CHECK_OK(forecast_run(&s, 10 * 24, 48, &p, two, NULL, NULL));
    CHECK_NEAR(two[24 + 3], 10, 0);
    p.model = FORECAST_HIST_MEAN;
    /* Day 12 (Saturday 23): days off before it are 5 and 6. */
    CHECK_OK(forecast_run(&s, 12 * 24, 24, &p, out, NULL, NULL));
    CHECK_NEAR(out[0], (6 + 7) / 2.0, 1e-12);
    /* Day 9 (Wednesday): workdays 0-4 and 8 (7 is unobserved). */
    CHECK_OK(forecast_run(&s, 9 * 24, 24, &p, out, NULL, NULL));
    CHECK_NEAR(out[0], (1 + 2 + 3 + 4 + 5 + 9) / 6.0, 1e-12);
    /* A day type with no past day falls back to all days. */
    demand_series_set_day_type(&s, 9, 3);
    CHECK_OK(forecast_run(&s, 9 * 24, 24, &p, out, NULL, NULL));
    CHECK_NEAR(out[0], (1 + 2 + 3 + 4 + 5 + 6 + 7 + 9) / 8.0, 1e-12);
    demand_series_release(&s);
}

TEST(forecast_day_weights)
{
    struct demand_series s;
    synth(&s, 8, 3600, 1);
    double w[8];
    /* Origin Monday 12:00 of day 7: workdays 0-4 and day 7's morning. */
    CHECK(forecast_day_weights(&s, 7 * 24 + 12, DEMAND_WORKDAY, 2, w));
    CHECK_NEAR(w[7], 1, 1e-12);
    CHECK_NEAR(w[4], pow(2, -1.5), 1e-12); /* 3 days old */
    CHECK_NEAR(w[5], 0, 0);
    CHECK_NEAR(w[6], 0, 0);
    /* Days off: 5 and 6. */
    CHECK(forecast_day_weights(&s, 7 * 24, DEMAND_DAY_OFF, 1, w));
    CHECK_NEAR(w[6], 0.5, 1e-12);
    CHECK_NEAR(w[5], 0.25, 1e-12);
    CHECK_NEAR(w[4], 0, 0);
    /* Before the first day off: every earlier day. */
    CHECK(forecast_day_weights(&s, 3 * 24, DEMAND_DAY_OFF, 1, w));
    CHECK(w[0] > 0 && w[2] > 0 && w[3] == 0);
    CHECK(!forecast_day_weights(&s, 0, DEMAND_WORKDAY, 1, w));
    demand_series_release(&s);
}

TEST(forecast_lost_demand)
{
    struct demand_series s;
    synth(&s, 3, 3600, 1);
    for (size_t t = 0; t < s.nslots; t++) {
        set_count(&s, 0, DEMAND_RENTALS, t, 4);
        set_count(&s, 0, DEMAND_LOST, t, 2);
    }
    double out[24];
    for (size_t m = 0; m < ARRAY_LEN(all_models); m++) {
        struct forecast_params p = params(all_models[m]);
        CHECK_OK(forecast_run(&s, 2 * 24, 24, &p, out, NULL, NULL));
        CHECK_NEAR(out[7], 4, 1e-9);
        p.lost_weight = 0.5;
        CHECK_OK(forecast_run(&s, 2 * 24, 24, &p, out, NULL, NULL));
        CHECK_NEAR(out[7], 5, 1e-9);
    }
    demand_series_release(&s);
}

/* Random counts on a daily shape, for the leak test. */
static void fill_random(struct demand_series *s, uint64_t seed)
{
    struct rng rg;
    rng_seed(&rg, seed);
    for (size_t c = 0; c < s->ncells; c++) {
        for (size_t t = 0; t < s->nslots; t++) {
            double mean = bump(t % s->slots_per_day, s->slots_per_day,
                               0.3 + 0.1 * (double)c, 6);
            set_count(s, c, DEMAND_RENTALS, t,
                      (uint32_t)(rng_unit(&rg) * 2 * mean));
            set_count(s, c, DEMAND_RETURNS, t,
                      (uint32_t)(rng_unit(&rg) * 2 * mean));
        }
    }
}

TEST(forecast_reads_no_future)
{
    /*
     * Counts at or after the origin must not change the forecast, for
     * every model, on the profile and the regression paths, from midnight
     * and from the middle of a day (where the second day is forecast from
     * the first day's forecast).
     */
    size_t days[] = {6, 35};
    for (size_t n = 0; n < ARRAY_LEN(days); n++) {
        struct demand_series s;
        synth(&s, days[n] + 2, 3600, 4);
        s.grid_cols = 2;
        fill_random(&s, 11 + n);
        size_t origins[] = {days[n] * 24, days[n] * 24 + 13};
        for (size_t o = 0; o < 2; o++) {
            size_t origin = origins[o];
            for (size_t m = 0; m < ARRAY_LEN(all_models); m++) {
                struct forecast_params p = params(all_models[m]);
                double a[2][4 * 24], b[2][4 * 24];
                CHECK_OK(forecast_run(&s, origin, 24, &p, a[0], a[1], NULL));
                struct demand_series poisoned;
                synth(&poisoned, days[n] + 2, 3600, 4);
                poisoned.grid_cols = 2;
                fill_random(&poisoned, 11 + n);
                for (size_t c = 0; c < 4; c++) {
                    for (size_t t = origin; t < s.nslots; t++) {
                        set_count(&poisoned, c, DEMAND_RENTALS, t, 9999);
                        set_count(&poisoned, c, DEMAND_RETURNS, t, 7);
                    }
                }
                demand_series_set_observed(&poisoned, origin + 5, origin + 9,
                                           false);
                CHECK_OK(
                    forecast_run(&poisoned, origin, 24, &p, b[0], b[1], NULL));
                CHECK(memcmp(a, b, sizeof(a)) == 0);
                for (size_t i = 0; i < 4 * 24; i++)
                    CHECK(a[0][i] >= 0 && isfinite(a[0][i]));
                demand_series_release(&poisoned);
            }
        }
        demand_series_release(&s);
    }
}

TEST(forecast_deterministic)
{
    struct demand_series s;
    synth(&s, 31, 3600, 3);
    fill_random(&s, 5);
    struct forecast_params p = params(FORECAST_SPOKE);
    double a[3 * 24], b[3 * 24];
    CHECK_OK(forecast_run(&s, 30 * 24, 24, &p, a, NULL, NULL));
    CHECK_OK(forecast_run(&s, 30 * 24, 24, &p, b, NULL, NULL));
    CHECK(memcmp(a, b, sizeof(a)) == 0);
    demand_series_release(&s);
}

/* ---- the real data sets ----------------------------------------------- */

/* The data directory: $SPOKE_DATA, else ../shared/data; NULL if absent. */
static const char *data_dir(void)
{
    static const char *const dirs[] = {"../shared/data", "/work/shared/data"};
    const char *env = getenv("SPOKE_DATA");
    struct stat st;
    if (env)
        return stat(env, &st) == 0 ? env : NULL;
    for (size_t i = 0; i < ARRAY_LEN(dirs); i++) {
        char p[256];
        snprintf(p, sizeof(p), "%s/singapore-dockless-trips-2017/trips",
                 dirs[i]);
        char q[256];
        snprintf(q, sizeof(q), "%s/uci-bike-sharing-hourly/hour.csv", dirs[i]);
        if (stat(p, &st) == 0 && stat(q, &st) == 0)
            return dirs[i];
    }
    return NULL;
}

TEST(forecast_backtest_real_data)
{
    const char *dir = data_dir();
    if (!dir) {
        fprintf(stderr, "  skipped: the Singapore and Capital Bikeshare data "
                        "sets are absent (set SPOKE_DATA to the directory "
                        "that holds singapore-dockless-trips-2017/ and "
                        "uci-bike-sharing-hourly/)\n");
        return;
    }
    /*
     * The targets: the Capital Bikeshare RMSE at least 15% under the best
     * naive baseline (met); the Singapore cell-hour RMSE at least 5% under
     * it (the 15% target is not reachable there, see docs/forecast.md).
     */
    char out[512];
    snprintf(out, sizeof(out), "%s/backtest.txt", test_tmpdir());
    char *argv[] = {"spoke",  "forecast",           "--backtest",
                    "--data", (char *)dir,          "--require-gain-sg",
                    "5",      "--require-gain-uci", "15",
                    NULL};
    fflush(stdout);
    int saved = dup(1);
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(saved >= 0 && fd >= 0);
    CHECK(dup2(fd, 1) == 1);
    int rc = cmd_forecast((int)ARRAY_LEN(argv) - 1, argv);
    fflush(stdout);
    CHECK(dup2(saved, 1) == 1);
    close(fd);
    close(saved);
    if (rc != 0) {
        FILE *f = fopen(out, "r");
        char line[256];
        while (f && fgets(line, sizeof(line), f))
            fputs(line, stderr);
        if (f)
            fclose(f);
    }
    CHECK_EQ(rc, 0);
}

const struct test_case test_suite_forecast[] = {
    CASE(demand_grid_init_errors),
    CASE(demand_grid_cell_size),
    CASE(demand_grid_cell_boundaries),
    CASE(demand_civil_days),
    CASE(demand_slots_singapore_utc8),
    CASE(demand_slots_local_wall_clock),
    CASE(demand_series_init_errors),
    CASE(demand_series_from_events_counts),
    CASE(demand_series_covariates),
    CASE(forecast_check_errors),
    CASE(forecast_err_metrics),
    CASE(forecast_score_buckets),
    CASE(forecast_constant_series),
    CASE(forecast_daily_pattern),
    CASE(forecast_trend),
    CASE(forecast_covariates),
    CASE(forecast_shrinkage_and_neighbours),
    CASE(forecast_baselines),
    CASE(forecast_day_weights),
    CASE(forecast_lost_demand),
    CASE(forecast_reads_no_future),
    CASE(forecast_deterministic),
    CASE(forecast_backtest_real_data),
    {0},
};
