/* SPDX-License-Identifier: MIT */
/* The incentive rules. */
#include "base/sys.h"
#include "core/reward.h"
#include "geo/geo.h"

#include <string.h>

void core_reward_rules_default(struct core_reward_rules *r)
{
    *r = (struct core_reward_rules){.amount_cents = 100,
                                    .min_duration_ms = 3 * 60 * 1000,
                                    .min_distance_m = 400.0,
                                    .max_per_day = 3,
                                    .utc_offset_s = 0};
}

enum err core_reward_rules_validate(const struct core_reward_rules *r,
                                    struct err_detail *d)
{
    if (r->amount_cents < 0 || r->amount_cents > 100000)
        return err_set(d, ERR_INVALID, "amount_cents",
                       "amount_cents must be 0..100000");
    if (r->min_duration_ms < 0)
        return err_set(d, ERR_INVALID, "min_duration_s",
                       "min_duration_s must not be negative");
    if (!(r->min_distance_m >= 0.0 && r->min_distance_m <= 1e5))
        return err_set(d, ERR_INVALID, "min_distance_m",
                       "min_distance_m must be 0..100000");
    if (r->max_per_day < 0)
        return err_set(d, ERR_INVALID, "max_per_day",
                       "max_per_day must not be negative");
    if (r->utc_offset_s < -14 * 3600 || r->utc_offset_s > 14 * 3600)
        return err_set(d, ERR_INVALID, "utc_offset_s",
                       "utc_offset_s must be within 14 hours");
    return ERR_OK;
}

const char *core_reward_verdict_name(enum core_reward_verdict v)
{
    static const char *const names[CORE_REWARD_VERDICT_COUNT] = {
        [CORE_REWARD_GRANTED] = "granted",
        [CORE_REWARD_NOT_LOCKED] = "not_locked",
        [CORE_REWARD_NOT_DEFICIT] = "not_deficit",
        [CORE_REWARD_TOO_SHORT] = "too_short",
        [CORE_REWARD_TOO_CLOSE] = "too_close",
        [CORE_REWARD_DAILY_CAP] = "daily_cap",
    };
    return (unsigned)v < CORE_REWARD_VERDICT_COUNT ? names[v] : "unknown";
}

int64_t core_reward_day(const struct core_reward_rules *r, int64_t t_ms)
{
    /* Floor division, so days before 1970 are right too. */
    int64_t s = t_ms / 1000 + r->utc_offset_s;
    return s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
}

enum core_reward_verdict core_reward_judge(const struct core_reward_rules *r,
                                           const struct core_trip *t,
                                           const struct core_rider *rider,
                                           bool ended_in_deficit)
{
    if (strcmp(t->reason, "locked") != 0)
        return CORE_REWARD_NOT_LOCKED;
    if (!ended_in_deficit)
        return CORE_REWARD_NOT_DEFICIT;
    if (t->ended_ms - t->started_ms < r->min_duration_ms)
        return CORE_REWARD_TOO_SHORT;
    if (geo_distance_m(t->start_pos, t->end_pos) < r->min_distance_m)
        return CORE_REWARD_TOO_CLOSE;
    int64_t day = core_reward_day(r, t->ended_ms);
    int64_t had = rider->reward_day == day ? rider->rewards_today : 0;
    if (had >= r->max_per_day)
        return CORE_REWARD_DAILY_CAP;
    return CORE_REWARD_GRANTED;
}
