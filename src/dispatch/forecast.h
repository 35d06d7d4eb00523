/* SPDX-License-Identifier: MIT */
/*
 * The demand forecast: expected rentals and returns per cell and slot for
 * the next hours, from a demand series (demand.h), and the naive baselines
 * and error metrics it is measured against. Pure and deterministic: the
 * same series and parameters give the same numbers; no I/O, no clocks, no
 * randomness. The model, its measurements and what was tried are in
 * docs/forecast.md.
 *
 * The model (FORECAST_SPOKE) forecasts the system total per slot, then
 * splits it over the cells by their shares:
 *  - system total: with at least regression_min_days observed days, a
 *    log-linear regression fitted by exponentially weighted ridge least
 *    squares on the day type x time of day, the same slot one day and one
 *    week earlier, the previous day's mean, and the series' covariates
 *    (weather); otherwise the recency-weighted mean of the same slot on past
 *    days of the same day type;
 *  - cell shares: each cell's recency-weighted daily profile for the day
 *    type, smoothed over time of day, shrunk toward the area's profile in
 *    proportion to how few events the cell has, blended with its eight
 *    neighbours' profile, and normalised over the cells.
 * A day type with no past day falls back to all past days.
 *
 * Thread-safety: every function only reads its inputs; calls may run
 * concurrently on the same series.
 */
#ifndef DISPATCH_FORECAST_H
#define DISPATCH_FORECAST_H

#include "base/sys.h"
#include "base/err.h"
#include "dispatch/demand.h"

enum forecast_model {
    /* The model described above. */
    FORECAST_SPOKE,
    /*
     * Baseline: the mean of the same slot of the day over the observed past
     * days of the same day type (all past days if the type has none).
     */
    FORECAST_HIST_MEAN,
    /*
     * Baseline: the same slot 7 days earlier; where that is not observed or
     * not before the origin, the same slot on the latest earlier day of the
     * same day type, else of any type (0 if there is none).
     */
    FORECAST_LAST_WEEK,
    /* Baseline: the same slot one day earlier, with the fallbacks above. */
    FORECAST_LAST_DAY,
};

struct forecast_params {
    enum forecast_model model;
    /* Half-life of a past day's weight in the profiles and shares (> 0). */
    double shape_half_life_days;
    /* Half-life of a past day's weight in the regression (> 0). */
    double level_half_life_days;
    /*
     * Shrinkage of a cell's daily shape toward the area's shape, in events:
     * a cell with this many events in the history gets half of each (>= 0).
     */
    double shape_prior_events;
    /* Half-width of the triangular kernel smoothing a cell's shape (>= 0). */
    double smooth_min;
    /* Weight of the eight neighbours' shape in a cell's (0..1). */
    double neighbour_weight;
    /* L2 penalty of the regression on all but the intercept (> 0). */
    double ridge;
    /* Observed past days below which the regression is not used (>= 8). */
    size_t regression_min_days;
    /*
     * Lost demand (searches that found no bike) counted as this fraction of
     * a rental (0..1): 0 forecasts rentals, 1 forecasts unconstrained demand.
     */
    double lost_weight;
};

/* The defaults, measured in docs/forecast.md. */
void forecast_params_default(struct forecast_params *p);

/* Caps; over them is ERR_TOO_BIG. */
#define FORECAST_MAX_HORIZON_DAYS 400u

/*
 * Checks the arguments of forecast_run and forecast_system: ERR_OK, or the
 * error those would return (below) with d filled in.
 */
enum err forecast_check(const struct demand_series *s, size_t origin,
                        size_t horizon, const struct forecast_params *p,
                        struct err_detail *d);

/*
 * Forecasts the expected rentals (plus lost_weight x lost) and returns of
 * every cell of s in slots [origin, origin + horizon), which must lie within
 * the series, from the slots before origin only: counts at or after origin
 * are never read (day types and covariates of the horizon are). Writes
 * rentals[i * horizon + k] and returns[i * horizon + k] for cell index i and
 * slot origin + k (caller arrays of s->ncells * horizon; either may be NULL
 * if not wanted). Values are >= 0. s, p and the arrays are borrowed.
 * Errors: ERR_INVALID (a parameter out of range, horizon 0, slots past the
 * series), ERR_TOO_BIG (horizon over FORECAST_MAX_HORIZON_DAYS days),
 * ERR_NOT_FOUND (no observed slot before origin). The arrays are
 * unspecified on failure.
 */
enum err forecast_run(const struct demand_series *s, size_t origin,
                      size_t horizon, const struct forecast_params *p,
                      double *rentals, double *returns, struct err_detail *d);

/*
 * The system-total part of FORECAST_SPOKE on its own: y[t] for t < origin
 * is the total of slot t over all cells (only observed slots are read);
 * fills out[k] for slot origin + k, k < horizon. Uses the regression when
 * s has at least p->regression_min_days observed days before origin (and
 * the regression has at most 1,024 features: slots of day times day types
 * plus covariates plus 7), the profile otherwise. Errors as forecast_run.
 */
enum err forecast_system(const struct demand_series *s, const double *y,
                         size_t origin, size_t horizon,
                         const struct forecast_params *p, double *out,
                         struct err_detail *d);

/*
 * The recency weights the model gives past days when it forecasts a day of
 * type type: w[dd] (caller array of s->ndays) is 2^(-age / half_life_days)
 * for each day dd that has an observed slot before origin and is of that
 * type, age being the days from dd to origin's day; 0 for other days. If no
 * such day is of that type, every day with an observed past slot gets its
 * weight. Returns false (w all 0) if there is none.
 */
bool forecast_day_weights(const struct demand_series *s, size_t origin,
                          uint8_t type, double half_life_days, double *w);

/* ---- metrics -------------------------------------------------------- */

/* Running absolute and squared errors; start from {0}. */
struct forecast_err {
    double sum_abs;
    double sum_sq;
    size_t n;
};

/* Adds one prediction of actual. */
void forecast_err_add(struct forecast_err *e, double pred, double actual);
/* Mean absolute and root mean squared error; 0 when empty. */
double forecast_err_mae(const struct forecast_err *e);
double forecast_err_rmse(const struct forecast_err *e);

/*
 * Scores a forecast of kind (DEMAND_RENTALS or DEMAND_RETURNS; lost is
 * added to rentals as in p->lost_weight, p may be NULL for 0) from
 * forecast_run against the counts of s, in buckets of bucket_slots slots
 * (4 for hours from 15-minute slots): per cell and bucket into *cell (every
 * cell of s, zero buckets included) and per system bucket into *system
 * (either may be NULL). A bucket counts only if all its slots are observed
 * and mask (NULL: all) is non-zero for all of them (mask[k] for slot
 * origin + k). horizon must be a multiple of bucket_slots. ERR_INVALID
 * otherwise.
 */
enum err forecast_score(const struct demand_series *s, size_t origin,
                        size_t horizon, const double *pred,
                        enum demand_kind kind, const struct forecast_params *p,
                        size_t bucket_slots, const uint8_t *mask,
                        struct forecast_err *cell, struct forecast_err *system);

#endif
