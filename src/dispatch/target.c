/* SPDX-License-Identifier: MIT */
/* Targets per cell from forecast rentals and returns. */
#include "base/sys.h"
#include "dispatch/target.h"

#include <math.h>

/* Above this mean a Poisson law is replaced by the normal one. */
#define EXACT_MAX_MEAN 200.0
/* Terms of a Poisson law past mean + this many deviations are dropped. */
#define TAIL_SD 12.0

void target_params_default(struct target_params *p)
{
    *p = (struct target_params){.service_level = 0.9, .checkpoint_slots = 4};
}

enum err target_params_validate(const struct target_params *p,
                                struct err_detail *d)
{
    if (!(p->service_level >= 0.5 && p->service_level <= 0.999))
        return err_set(d, ERR_INVALID, "service_level",
                       "service_level must be 0.5..0.999");
    if (p->checkpoint_slots < 1)
        return err_set(d, ERR_INVALID, "checkpoint_slots",
                       "checkpoint_slots must be at least 1");
    return ERR_OK;
}

/* The last term worth keeping of a Poisson law of mean m. */
static size_t poisson_last(double m)
{
    return (size_t)ceil(m + TAIL_SD * sqrt(m) + TAIL_SD);
}

/* pmf[k] of a Poisson law of mean m for k <= last. */
static void poisson_pmf(double m, size_t last, double *pmf)
{
    pmf[0] = exp(-m);
    for (size_t k = 1; k <= last; k++)
        pmf[k] = pmf[k - 1] * m / (double)k;
}

/* Smallest s >= 0 with P(R - Q <= s) >= level, R, Q Poisson (exact). */
static int32_t need_exact(double mr, double mq, double level)
{
    size_t lr = poisson_last(mr), lq = poisson_last(mq);
    double *pr = xmalloc((lr + 1) * sizeof(*pr));
    double *pq = xmalloc((lq + 1) * sizeof(*pq));
    double *cdf = xmalloc((lr + 1) * sizeof(*cdf)); /* F_R */
    poisson_pmf(mr, lr, pr);
    poisson_pmf(mq, lq, pq);
    double acc = 0.0;
    for (size_t k = 0; k <= lr; k++)
        cdf[k] = acc += pr[k];
    int32_t s = 0;
    for (; (size_t)s < lr; s++) {
        /* P(R - Q <= s) = sum over q of P(Q = q) F_R(s + q). */
        double p = 0.0;
        for (size_t q = 0; q <= lq; q++)
            p += pq[q] * ((size_t)s + q <= lr ? cdf[(size_t)s + q] : 1.0);
        if (p >= level)
            break;
    }
    xfree(pr);
    xfree(pq);
    xfree(cdf);
    return s;
}

/* The same by the normal law of R - Q, with continuity correction. */
static int32_t need_normal(double mr, double mq, double level)
{
    double mu = mr - mq, sd = sqrt(mr + mq);
    double s = mu > 0.0 ? floor(mu) : 0.0;
    while (s < TARGET_MAX &&
           0.5 * erfc(-(s + 0.5 - mu) / (sd * M_SQRT2)) < level)
        s += 1.0;
    return (int32_t)s;
}

int32_t target_need(const struct target_params *p, const double *rentals,
                    const double *returns, size_t horizon)
{
    double mr = 0.0, mq = 0.0;
    int32_t need = 0;
    for (size_t k = 0; k < horizon; k++) {
        mr += rentals[k] > 0.0 ? rentals[k] : 0.0;
        mq += returns[k] > 0.0 ? returns[k] : 0.0;
        if ((k + 1) % p->checkpoint_slots != 0 && k + 1 != horizon)
            continue;
        if (mr <= 0.0)
            continue; /* nobody to serve yet */
        int32_t s = mr > EXACT_MAX_MEAN || mq > EXACT_MAX_MEAN
                        ? need_normal(mr, mq, p->service_level)
                        : need_exact(mr, mq, p->service_level);
        need = MAX(need, s);
    }
    return MIN(need, TARGET_MAX);
}
