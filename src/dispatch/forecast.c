/* SPDX-License-Identifier: MIT */
/*
 * The forecast entry point of dispatch/: parameters, the naive baselines,
 * the cell shares of the model, and forecast_run, which splits the system
 * forecast of forecast_sys.c over the cells.
 */
#include "base/sys.h"
#include "dispatch/forecast.h"

#include <math.h>

void forecast_params_default(struct forecast_params *p)
{
    *p = (struct forecast_params){
        .model = FORECAST_SPOKE,
        .shape_half_life_days = 28,
        .level_half_life_days = 30,
        .shape_prior_events = 100,
        .smooth_min = 60,
        .neighbour_weight = 0.3,
        .ridge = 0.1,
        .regression_min_days = 28,
        .lost_weight = 0,
    };
}

enum err forecast_check(const struct demand_series *s, size_t origin,
                        size_t horizon, const struct forecast_params *p,
                        struct err_detail *d)
{
    if ((unsigned)p->model > FORECAST_LAST_DAY)
        return err_set(d, ERR_INVALID, "model", "unknown model");
    if (!(p->shape_half_life_days > 0 && p->shape_half_life_days < 1e6))
        return err_set(d, ERR_INVALID, "shape_half_life_days",
                       "the half-life must be positive");
    if (!(p->level_half_life_days > 0 && p->level_half_life_days < 1e6))
        return err_set(d, ERR_INVALID, "level_half_life_days",
                       "the half-life must be positive");
    if (!(p->shape_prior_events >= 0 && p->shape_prior_events < 1e12))
        return err_set(d, ERR_INVALID, "shape_prior_events",
                       "the prior must be 0 or more");
    if (!(p->smooth_min >= 0 && p->smooth_min <= 720))
        return err_set(d, ERR_INVALID, "smooth_min",
                       "the smoothing half-width must be 0 to 720 min");
    if (!(p->neighbour_weight >= 0 && p->neighbour_weight <= 1))
        return err_set(d, ERR_INVALID, "neighbour_weight",
                       "the neighbour weight must be 0 to 1");
    if (!(p->ridge > 0 && p->ridge < 1e12))
        return err_set(d, ERR_INVALID, "ridge", "the ridge must be positive");
    if (p->regression_min_days < 8)
        return err_set(d, ERR_INVALID, "regression_min_days",
                       "the regression needs 8 days at least");
    if (!(p->lost_weight >= 0 && p->lost_weight <= 1))
        return err_set(d, ERR_INVALID, "lost_weight",
                       "the lost-demand weight must be 0 to 1");
    if (horizon == 0)
        return err_set(d, ERR_INVALID, "horizon", "the horizon is empty");
    if (horizon > (size_t)FORECAST_MAX_HORIZON_DAYS * s->slots_per_day)
        return err_set(d, ERR_TOO_BIG, "horizon",
                       "the horizon is at most %u days",
                       FORECAST_MAX_HORIZON_DAYS);
    if (origin > s->nslots || horizon > s->nslots - origin)
        return err_set(d, ERR_INVALID, "horizon",
                       "slots %zu to %zu are past the series' %zu slots",
                       origin, origin + horizon, s->nslots);
    for (size_t t = 0; t < origin; t++) {
        if (s->observed[t])
            return ERR_OK;
    }
    return err_set(d, ERR_NOT_FOUND, "origin",
                   "no observed slot before slot %zu", origin);
}

/* The count the model forecasts for kind: rentals include lost demand. */
static double value(const struct demand_series *s, size_t cell,
                    enum demand_kind kind, size_t t, double lost_weight)
{
    double v = demand_series_get(s, cell, kind, t);
    if (kind == DEMAND_RENTALS && lost_weight > 0)
        v += lost_weight * demand_series_get(s, cell, DEMAND_LOST, t);
    return v;
}

/* ---- baselines ------------------------------------------------------ */

/* True if slot t is history: observed and before origin. */
static bool is_past(const struct demand_series *s, size_t origin, int64_t t)
{
    return t >= 0 && (size_t)t < origin && s->observed[t];
}

/*
 * The past slots a baseline averages for horizon slot t into src (room
 * for ndays); returns how many.
 */
static size_t baseline_sources(const struct demand_series *s,
                               enum forecast_model model, size_t origin,
                               size_t t, size_t *src)
{
    size_t spd = s->slots_per_day, day = t / spd, sod = t % spd;
    uint8_t type = s->day_type[day];
    size_t n = 0;
    if (model == FORECAST_HIST_MEAN) {
        for (int pass = 0; pass < 2 && n == 0; pass++) {
            for (size_t dd = 0; dd < day; dd++) {
                size_t u = dd * spd + sod;
                if ((pass == 1 || s->day_type[dd] == type) &&
                    is_past(s, origin, (int64_t)u))
                    src[n++] = u;
            }
        }
        return n;
    }
    int64_t lag = (int64_t)spd * (model == FORECAST_LAST_WEEK ? 7 : 1);
    if (is_past(s, origin, (int64_t)t - lag)) {
        src[0] = t - (size_t)lag;
        return 1;
    }
    for (int pass = 0; pass < 2; pass++) {
        for (size_t dd = day; dd-- > 0;) {
            size_t u = dd * spd + sod;
            if ((pass == 1 || s->day_type[dd] == type) &&
                is_past(s, origin, (int64_t)u)) {
                src[0] = u;
                return 1;
            }
        }
    }
    return 0;
}

static void run_baseline(const struct demand_series *s, size_t origin,
                         size_t horizon, const struct forecast_params *p,
                         double *out[2])
{
    static const enum demand_kind kinds[2] = {DEMAND_RENTALS, DEMAND_RETURNS};
    size_t *src = xmalloc(s->ndays * sizeof(*src));
    for (size_t k = 0; k < horizon; k++) {
        size_t n = baseline_sources(s, p->model, origin, origin + k, src);
        for (int j = 0; j < 2; j++) {
            if (!out[j])
                continue;
            for (size_t c = 0; c < s->ncells; c++) {
                double sum = 0;
                for (size_t i = 0; i < n; i++)
                    sum += value(s, c, kinds[j], src[i], p->lost_weight);
                out[j][c * horizon + k] = n ? sum / (double)n : 0;
            }
        }
    }
    xfree(src);
}

/* ---- the model's cell shares ---------------------------------------- */

bool forecast_day_weights(const struct demand_series *s, size_t origin,
                          uint8_t type, double half_life_days, double *w)
{
    size_t spd = s->slots_per_day;
    size_t last = MIN((origin + spd - 1) / spd, s->ndays);
    size_t od = origin / spd;
    for (int pass = 0; pass < 2; pass++) {
        bool any = false;
        for (size_t dd = 0; dd < s->ndays; dd++) {
            w[dd] = 0;
            if (dd >= last || (pass == 0 && s->day_type[dd] != type))
                continue;
            bool seen = false;
            for (size_t u = dd * spd; u < (dd + 1) * spd && u < origin; u++)
                seen = seen || s->observed[u];
            if (seen) {
                w[dd] = exp2(-(double)(od - dd) / half_life_days);
                any = true;
            }
        }
        if (any)
            return true;
    }
    return false;
}

/* The normalised triangular kernel of half-width h slots: K[j + r]. */
static size_t make_kernel(double h, double *k, size_t cap)
{
    size_t r = (size_t)ceil(h);
    if (2 * r + 1 > cap)
        r = (cap - 1) / 2;
    double sum = 0;
    for (size_t i = 0; i <= 2 * r; i++) {
        double dist = fabs((double)i - (double)r);
        k[i] = MAX(0.0, 1 - dist / (h + 1));
        sum += k[i];
    }
    for (size_t i = 0; i <= 2 * r; i++)
        k[i] /= sum;
    return r;
}

/* out[i] = (K * in)[i] over a circular day of n slots (r < n). */
static void smooth(const double *in, double *out, size_t n, const double *k,
                   size_t r)
{
    for (size_t i = 0; i < n; i++) {
        double v = 0;
        for (size_t j = 0; j <= 2 * r; j++)
            v += k[j] * in[(i + n + j - r) % n];
        out[i] = v;
    }
}

/* Scratch arrays of cell_shares, sized once per forecast. */
struct share_work {
    double *w;      /* [ndays] day weights */
    double *wsum;   /* [spd] weight of the observed days per slot of day */
    double *m;      /* [ncells * spd] mean profile */
    double *sm;     /* [ncells * spd] smoothed profile */
    double *events; /* [ncells] raw events in the chosen days */
    double *area;   /* [spd] area shape */
    double *agg;    /* [spd] the neighbours' smoothed profile */
    double *kern;   /* [KERNEL_CAP] */
};

#define KERNEL_CAP 4097

/*
 * share[c * spd + sod]: the fraction of the system's kind in slot of day
 * sod that falls in cell c on days of type type (each slot sums to 1 over
 * the cells). False if there is no past day.
 */
static bool cell_shares(const struct demand_series *s, size_t origin,
                        enum demand_kind kind, uint8_t type,
                        const struct forecast_params *p, struct share_work *wk,
                        double *share)
{
    size_t spd = s->slots_per_day, nc = s->ncells;
    if (!forecast_day_weights(s, origin, type, p->shape_half_life_days, wk->w))
        return false;
    memset(wk->wsum, 0, spd * sizeof(double));
    for (size_t dd = 0; dd < s->ndays; dd++) {
        for (size_t sod = 0; wk->w[dd] > 0 && sod < spd; sod++) {
            if (is_past(s, origin, (int64_t)(dd * spd + sod)))
                wk->wsum[sod] += wk->w[dd];
        }
    }
    memset(wk->area, 0, spd * sizeof(double));
    for (size_t c = 0; c < nc; c++) {
        double *m = wk->m + c * spd;
        memset(m, 0, spd * sizeof(double));
        wk->events[c] = 0;
        for (size_t dd = 0; dd < s->ndays; dd++) {
            if (wk->w[dd] == 0)
                continue;
            for (size_t sod = 0; sod < spd; sod++) {
                size_t t = dd * spd + sod;
                if (!is_past(s, origin, (int64_t)t))
                    continue;
                double v = value(s, c, kind, t, p->lost_weight);
                m[sod] += wk->w[dd] * v;
                wk->events[c] += v;
            }
        }
        for (size_t sod = 0; sod < spd; sod++) {
            m[sod] = wk->wsum[sod] > 0 ? m[sod] / wk->wsum[sod] : 0;
            wk->area[sod] += m[sod];
        }
    }
    double area_total = 0;
    for (size_t sod = 0; sod < spd; sod++)
        area_total += wk->area[sod];
    for (size_t sod = 0; sod < spd; sod++)
        wk->area[sod] =
            area_total > 0 ? wk->area[sod] / area_total : 1.0 / (double)spd;
    double h = p->smooth_min * 60 / s->slot_s;
    size_t r = make_kernel(h, wk->kern, MIN((size_t)KERNEL_CAP, 2 * spd - 1));
    for (size_t c = 0; c < nc; c++)
        smooth(wk->m + c * spd, wk->sm + c * spd, spd, wk->kern, r);
    /* Shrunk shape times level, then the neighbours' shape blended in. */
    for (size_t c = 0; c < nc; c++) {
        const double *sm = wk->sm + c * spd;
        double level = 0;
        for (size_t sod = 0; sod < spd; sod++)
            level += sm[sod];
        double *out = share + c * spd;
        double n = wk->events[c], k = p->shape_prior_events;
        for (size_t sod = 0; sod < spd; sod++) {
            double own = level > 0 ? sm[sod] / level : wk->area[sod];
            out[sod] = n + k > 0 ? (n * own + k * wk->area[sod]) / (n + k)
                                 : wk->area[sod];
        }
        if (s->grid_cols > 0 && p->neighbour_weight > 0) {
            int64_t id = s->cells[c], cols = s->grid_cols;
            double nb_total = 0;
            double *agg = wk->agg;
            memset(agg, 0, spd * sizeof(double));
            for (int dr = -1; dr <= 1; dr++) {
                for (int dc = -1; dc <= 1; dc++) {
                    int64_t col = id % cols + dc;
                    size_t j;
                    if ((dr == 0 && dc == 0) || col < 0 || col >= cols ||
                        demand_series_find(s, id + dr * cols + dc, &j) !=
                            ERR_OK)
                        continue;
                    for (size_t sod = 0; sod < spd; sod++) {
                        agg[sod] += wk->sm[j * spd + sod];
                        nb_total += wk->sm[j * spd + sod];
                    }
                }
            }
            double b = p->neighbour_weight;
            for (size_t sod = 0; nb_total > 0 && sod < spd; sod++)
                out[sod] = (1 - b) * out[sod] + b * agg[sod] / nb_total;
        }
        for (size_t sod = 0; sod < spd; sod++)
            out[sod] *= level;
    }
    for (size_t sod = 0; sod < spd; sod++) {
        double total = 0;
        for (size_t c = 0; c < nc; c++)
            total += share[c * spd + sod];
        for (size_t c = 0; c < nc; c++)
            share[c * spd + sod] =
                total > 0 ? share[c * spd + sod] / total : 1.0 / (double)nc;
    }
    return true;
}

static enum err run_model(const struct demand_series *s, size_t origin,
                          size_t horizon, const struct forecast_params *p,
                          double *out[2], struct err_detail *d)
{
    static const enum demand_kind kinds[2] = {DEMAND_RENTALS, DEMAND_RETURNS};
    size_t spd = s->slots_per_day, nc = s->ncells;
    double *y = xmalloc((origin ? origin : 1) * sizeof(*y));
    double *sys = xmalloc(horizon * sizeof(*sys));
    double *share = xmalloc((nc ? nc : 1) * spd * sizeof(*share));
    struct share_work wk = {
        .w = xmalloc(s->ndays * sizeof(double)),
        .wsum = xmalloc(spd * sizeof(double)),
        .m = xmalloc((nc ? nc : 1) * spd * sizeof(double)),
        .sm = xmalloc((nc ? nc : 1) * spd * sizeof(double)),
        .events = xmalloc((nc ? nc : 1) * sizeof(double)),
        .area = xmalloc(spd * sizeof(double)),
        .agg = xmalloc(spd * sizeof(double)),
        .kern = xmalloc(KERNEL_CAP * sizeof(double)),
    };
    enum err e = ERR_OK;
    for (int j = 0; j < 2 && e == ERR_OK; j++) {
        if (!out[j])
            continue;
        for (size_t t = 0; t < origin; t++) {
            y[t] = 0;
            for (size_t c = 0; s->observed[t] && c < nc; c++)
                y[t] += value(s, c, kinds[j], t, p->lost_weight);
        }
        e = forecast_system(s, y, origin, horizon, p, sys, d);
        /* One share table per day type met in the horizon, in order. */
        unsigned done = 0;
        for (size_t k0 = 0; e == ERR_OK && k0 < horizon; k0++) {
            uint8_t type = s->day_type[(origin + k0) / spd];
            if (done & (1u << type))
                continue;
            done |= 1u << type;
            bool ok = cell_shares(s, origin, kinds[j], type, p, &wk, share);
            ASSERT(ok); /* forecast_check found a past slot */
            for (size_t k = k0; k < horizon; k++) {
                size_t t = origin + k;
                if (s->day_type[t / spd] != type)
                    continue;
                for (size_t c = 0; c < nc; c++)
                    out[j][c * horizon + k] = sys[k] * share[c * spd + t % spd];
            }
        }
    }
    xfree(wk.w);
    xfree(wk.wsum);
    xfree(wk.m);
    xfree(wk.sm);
    xfree(wk.events);
    xfree(wk.area);
    xfree(wk.agg);
    xfree(wk.kern);
    xfree(share);
    xfree(sys);
    xfree(y);
    return e;
}

enum err forecast_run(const struct demand_series *s, size_t origin,
                      size_t horizon, const struct forecast_params *p,
                      double *rentals, double *returns, struct err_detail *d)
{
    enum err e = forecast_check(s, origin, horizon, p, d);
    if (e != ERR_OK)
        return e;
    double *out[2] = {rentals, returns};
    if (p->model != FORECAST_SPOKE) {
        run_baseline(s, origin, horizon, p, out);
        return ERR_OK;
    }
    return run_model(s, origin, horizon, p, out, d);
}
