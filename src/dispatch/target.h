/* SPDX-License-Identifier: MIT */
/*
 * Targets: how many bikes a cell needs now so that the riders forecast for
 * the coming hours find one, at a chosen service level, given the bikes
 * forecast to be returned there; and from that, its surplus or deficit.
 * Pure.
 *
 * The model: rentals and returns of a cell are independent Poisson counts
 * with the forecast means (forecast.h). A cell starting with s bikes runs
 * dry by checkpoint k if rentals exceed s plus returns up to k. The target
 * is the smallest s with P(rentals_k - returns_k <= s) >= service level at
 * every checkpoint (hourly, and at the end of the horizon): exact sums of
 * the two Poisson laws while their means are small, the normal law of the
 * difference (with continuity correction) when a mean is over 200.
 * Checking the running maximum at checkpoints rather than every slot is an
 * approximation named in docs/dispatch.md.
 */
#ifndef DISPATCH_TARGET_H
#define DISPATCH_TARGET_H

#include "base/sys.h"
#include "base/err.h"

struct target_params {
    double service_level;    /* 0.5 .. 0.999 */
    size_t checkpoint_slots; /* a checkpoint every this many slots (>= 1) */
};

/* Service level 0.9, a checkpoint every 4 slots (hourly at 15 minutes). */
void target_params_default(struct target_params *p);

/* ERR_INVALID (field in d) for a parameter out of range. */
enum err target_params_validate(const struct target_params *p,
                                struct err_detail *d);

/*
 * The target of one cell from its forecast rentals[k] and returns[k],
 * k < horizon (means >= 0; horizon >= 1). Capped at TARGET_MAX.
 */
#define TARGET_MAX 100000
int32_t target_need(const struct target_params *p, const double *rentals,
                    const double *returns, size_t horizon);

/* Surplus and deficit of a cell holding `available` bikes. */
struct target_balance {
    int32_t target;
    int32_t surplus; /* available - target, if positive */
    int32_t deficit; /* target - available, if positive */
};

static inline struct target_balance target_balance(int32_t target,
                                                   int32_t available)
{
    struct target_balance b = {target, 0, 0};
    if (available > target)
        b.surplus = available - target;
    else
        b.deficit = target - available;
    return b;
}

#endif
