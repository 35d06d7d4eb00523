/* SPDX-License-Identifier: MIT */
/*
 * The system-total part of the forecast (forecast_system): the recency-
 * weighted profile for short histories, and the log-linear regression,
 * fitted by exponentially weighted ridge least squares, for longer ones.
 */
#include "base/sys.h"
#include "dispatch/forecast.h"

#include <math.h>

/* ---- profile -------------------------------------------------------- */

/* out[k]: the weighted mean of the same slot of day on the weighted days. */
static void system_profile(const struct demand_series *s, const double *y,
                           size_t origin, size_t horizon, double half_life,
                           double *out)
{
    size_t spd = s->slots_per_day;
    double *w = xmalloc(s->ndays * sizeof(*w));
    unsigned done = 0;
    for (size_t k0 = 0; k0 < horizon; k0++) {
        uint8_t type = s->day_type[(origin + k0) / spd];
        if (done & (1u << type))
            continue;
        done |= 1u << type;
        bool ok = forecast_day_weights(s, origin, type, half_life, w);
        ASSERT(ok); /* forecast_check found a past slot */
        for (size_t k = k0; k < horizon; k++) {
            size_t sod = (origin + k) % spd;
            if (s->day_type[(origin + k) / spd] != type)
                continue;
            double sum = 0, wsum = 0;
            for (size_t dd = 0; dd < s->ndays; dd++) {
                size_t t = dd * spd + sod;
                if (w[dd] > 0 && t < origin && s->observed[t]) {
                    sum += w[dd] * y[t];
                    wsum += w[dd];
                }
            }
            out[k] = wsum > 0 ? sum / wsum : 0;
        }
    }
    xfree(w);
}

/* ---- regression ----------------------------------------------------- */

/*
 * Features of slot t, sparse: the intercept; the slot of day; the slot of
 * day again for day types other than 0 (so that a type's profile is shrunk
 * toward the common one); log1p of the same slot one day and one week
 * earlier and of the previous day's mean slot, each with an indicator that
 * stands in when the value is unknown; the covariates, standardised.
 */
#define AR_FEATURES 6

struct reg {
    const struct demand_series *s;
    const double *y;    /* observed totals, t < origin */
    const double *pred; /* predictions, slots origin.. */
    size_t origin;
    size_t spd;
    size_t ntypes;
    size_t dim;
    size_t ar0, cov0; /* first AR and covariate feature */
    double *mu, *sd;  /* [ncov] covariate standardisation; sd 0: unused */
    int64_t mean_day; /* one-entry cache of day_mean() */
    double mean_val;
    bool mean_ok;
};

/* The total of slot t if known when forecasting slot now (t < now). */
static bool known(const struct reg *r, int64_t t, double *v)
{
    if (t < 0)
        return false;
    if ((size_t)t < r->origin) {
        *v = r->y[t];
        return r->s->observed[t] != 0;
    }
    *v = r->pred[t - (int64_t)r->origin];
    return true;
}

/* The mean of the known slots of day dd. */
static bool day_mean(struct reg *r, int64_t dd, double *v)
{
    if (dd != r->mean_day) {
        double sum = 0, x;
        size_t n = 0;
        for (size_t i = 0; dd >= 0 && i < r->spd; i++) {
            if (known(r, dd * (int64_t)r->spd + (int64_t)i, &x)) {
                sum += x;
                n++;
            }
        }
        r->mean_day = dd;
        r->mean_ok = n > 0;
        r->mean_val = n ? sum / (double)n : 0;
    }
    *v = r->mean_val;
    return r->mean_ok;
}

/* Fills idx/val with the non-zero features of slot t; returns how many. */
static size_t features(struct reg *r, size_t t, size_t *idx, double *val)
{
    size_t n = 0, day = t / r->spd, sod = t % r->spd;
    uint8_t type = r->s->day_type[day];
    idx[n] = 0;
    val[n++] = 1;
    idx[n] = 1 + sod;
    val[n++] = 1;
    if (type > 0) {
        idx[n] = 1 + type * r->spd + sod;
        val[n++] = 1;
    }
    double v;
    int64_t lags[2] = {(int64_t)r->spd, 7 * (int64_t)r->spd};
    for (int i = 0; i < 2; i++) {
        bool ok = known(r, (int64_t)t - lags[i], &v);
        idx[n] = r->ar0 + 2 * (size_t)i + (ok ? 0 : 1);
        val[n++] = ok ? log1p(v) : 1;
    }
    bool ok = day_mean(r, (int64_t)day - 1, &v);
    idx[n] = r->ar0 + 4 + (ok ? 0 : 1);
    val[n++] = ok ? log1p(v) : 1;
    for (size_t j = 0; j < r->s->ncov; j++) {
        if (r->sd[j] > 0) {
            idx[n] = r->cov0 + j;
            val[n++] = (r->s->cov[t * r->s->ncov + j] - r->mu[j]) / r->sd[j];
        }
    }
    return n;
}

/*
 * Solves a x = b in place for symmetric positive definite a (n x n, full
 * storage, lower triangle overwritten by its Cholesky factor). False if a
 * is not positive definite.
 */
static bool cholesky_solve(double *a, double *b, size_t n)
{
    for (size_t j = 0; j < n; j++) {
        double dj = a[j * n + j];
        for (size_t k = 0; k < j; k++)
            dj -= a[j * n + k] * a[j * n + k];
        if (!(dj > 0))
            return false;
        dj = sqrt(dj);
        a[j * n + j] = dj;
        for (size_t i = j + 1; i < n; i++) {
            double v = a[i * n + j];
            for (size_t k = 0; k < j; k++)
                v -= a[i * n + k] * a[j * n + k];
            a[i * n + j] = v / dj;
        }
    }
    for (size_t i = 0; i < n; i++) {
        double v = b[i];
        for (size_t k = 0; k < i; k++)
            v -= a[i * n + k] * b[k];
        b[i] = v / a[i * n + i];
    }
    for (size_t i = n; i-- > 0;) {
        double v = b[i];
        for (size_t k = i + 1; k < n; k++)
            v -= a[k * n + i] * b[k];
        b[i] = v / a[i * n + i];
    }
    return true;
}

/*
 * Largest regression: the normal matrix is dim^2 doubles and its solution
 * dim^3 / 3 steps. Finer slots or more day types use the profile.
 */
#define REG_MAX_DIM 1024

/* Largest log1p value predicted: keeps expm1 finite on wild covariates. */
#define MAX_LOG_PRED 30.0

static bool system_regression(const struct demand_series *s, const double *y,
                              size_t origin, size_t horizon,
                              const struct forecast_params *p, double *out)
{
    size_t spd = s->slots_per_day, ncov = s->ncov;
    struct reg r = {
        .s = s,
        .y = y,
        .pred = out,
        .origin = origin,
        .spd = spd,
        .mean_day = INT64_MIN,
    };
    for (size_t dd = 0; dd < s->ndays; dd++)
        r.ntypes = MAX(r.ntypes, (size_t)s->day_type[dd] + 1);
    r.ar0 = 1 + r.ntypes * spd;
    r.cov0 = r.ar0 + AR_FEATURES;
    r.dim = r.cov0 + ncov;
    if (r.dim > REG_MAX_DIM)
        return false;
    r.mu = xcalloc(ncov ? ncov : 1, sizeof(double));
    r.sd = xcalloc(ncov ? ncov : 1, sizeof(double));
    size_t nrows = 0;
    for (size_t t = 0; t < origin; t++) {
        for (size_t j = 0; s->observed[t] && j < ncov; j++)
            r.mu[j] += s->cov[t * ncov + j];
        nrows += s->observed[t];
    }
    for (size_t j = 0; j < ncov; j++)
        r.mu[j] /= (double)nrows;
    for (size_t t = 0; t < origin; t++) {
        for (size_t j = 0; s->observed[t] && j < ncov; j++) {
            double dv = s->cov[t * ncov + j] - r.mu[j];
            r.sd[j] += dv * dv;
        }
    }
    for (size_t j = 0; j < ncov; j++) {
        r.sd[j] = sqrt(r.sd[j] / (double)nrows);
        if (!(r.sd[j] > 1e-12 * (1 + fabs(r.mu[j]))))
            r.sd[j] = 0;
    }

    size_t dim = r.dim, nmax = 3 + 3 + ncov;
    double *a = xcalloc(dim * dim, sizeof(double));
    double *b = xcalloc(dim, sizeof(double));
    size_t *idx = xmalloc(nmax * sizeof(*idx));
    double *val = xmalloc(nmax * sizeof(*val));
    size_t od = origin / spd;
    for (size_t t = 0; t < origin; t++) {
        if (!s->observed[t])
            continue;
        double w = exp2(-(double)(od - t / spd) / p->level_half_life_days);
        size_t n = features(&r, t, idx, val);
        double z = log1p(y[t]);
        for (size_t i = 0; i < n; i++) {
            double wi = w * val[i];
            b[idx[i]] += wi * z;
            for (size_t j = 0; j < n; j++)
                a[idx[i] * dim + idx[j]] += wi * val[j];
        }
    }
    for (size_t i = 1; i < dim; i++)
        a[i * dim + i] += p->ridge;
    /*
     * The ridge keeps the matrix positive definite whenever there is a row
     * (and forecast_system asks for many), so a failure is a bug.
     */
    bool ok = ALWAYS(cholesky_solve(a, b, dim));
    for (size_t k = 0; ok && k < horizon; k++) {
        size_t n = features(&r, origin + k, idx, val);
        double z = 0;
        for (size_t i = 0; i < n; i++)
            z += b[idx[i]] * val[i];
        out[k] = expm1(MIN(MAX(z, 0.0), MAX_LOG_PRED));
    }
    xfree(val);
    xfree(idx);
    xfree(b);
    xfree(a);
    xfree(r.sd);
    xfree(r.mu);
    return ok;
}

enum err forecast_system(const struct demand_series *s, const double *y,
                         size_t origin, size_t horizon,
                         const struct forecast_params *p, double *out,
                         struct err_detail *d)
{
    enum err e = forecast_check(s, origin, horizon, p, d);
    if (e != ERR_OK)
        return e;
    size_t spd = s->slots_per_day, days = 0;
    for (size_t dd = 0; dd * spd < origin; dd++) {
        bool seen = false;
        for (size_t t = dd * spd; t < (dd + 1) * spd && t < origin; t++)
            seen = seen || s->observed[t];
        days += seen;
    }
    if (days >= p->regression_min_days &&
        system_regression(s, y, origin, horizon, p, out))
        return ERR_OK;
    system_profile(s, y, origin, horizon, p->shape_half_life_days, out);
    return ERR_OK;
}
