/* SPDX-License-Identifier: MIT */
/*
 * Forecast error metrics of dispatch/: MAE and RMSE, and scoring a forecast
 * against a series per cell and per system bucket (hours from slots).
 */
#include "base/sys.h"
#include "dispatch/forecast.h"

#include <math.h>

void forecast_err_add(struct forecast_err *e, double pred, double actual)
{
    double diff = pred - actual;
    e->sum_abs += fabs(diff);
    e->sum_sq += diff * diff;
    e->n++;
}

double forecast_err_mae(const struct forecast_err *e)
{
    return e->n ? e->sum_abs / (double)e->n : 0;
}

double forecast_err_rmse(const struct forecast_err *e)
{
    return e->n ? sqrt(e->sum_sq / (double)e->n) : 0;
}

enum err forecast_score(const struct demand_series *s, size_t origin,
                        size_t horizon, const double *pred,
                        enum demand_kind kind, const struct forecast_params *p,
                        size_t bucket_slots, const uint8_t *mask,
                        struct forecast_err *cell, struct forecast_err *system)
{
    if (kind != DEMAND_RENTALS && kind != DEMAND_RETURNS)
        return ERR_INVALID;
    if (bucket_slots == 0 || horizon % bucket_slots != 0 ||
        origin > s->nslots || horizon > s->nslots - origin)
        return ERR_INVALID;
    double lost_weight = p && kind == DEMAND_RENTALS ? p->lost_weight : 0;
    for (size_t k0 = 0; k0 < horizon; k0 += bucket_slots) {
        bool scored = true;
        for (size_t k = k0; k < k0 + bucket_slots; k++)
            scored = scored && s->observed[origin + k] && (!mask || mask[k]);
        if (!scored)
            continue;
        double sys_pred = 0, sys_actual = 0;
        for (size_t c = 0; c < s->ncells; c++) {
            double bp = 0, ba = 0;
            for (size_t k = k0; k < k0 + bucket_slots; k++) {
                size_t t = origin + k;
                bp += pred[c * horizon + k];
                ba += demand_series_get(s, c, kind, t) +
                      lost_weight * demand_series_get(s, c, DEMAND_LOST, t);
            }
            if (cell)
                forecast_err_add(cell, bp, ba);
            sys_pred += bp;
            sys_actual += ba;
        }
        if (system)
            forecast_err_add(system, sys_pred, sys_actual);
    }
    return ERR_OK;
}
