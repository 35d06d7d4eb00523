/* SPDX-License-Identifier: MIT */
/*
 * Rider incentives ("red envelope" bikes): a bike standing in a cell with
 * more bikes than it needs carries a reward, and a rider who takes it to a
 * cell short of bikes is credited. The rules that keep it from being gamed
 * are here; which cells are in surplus or deficit is dispatch's call, made
 * by the owner. Pure.
 */
#ifndef CORE_REWARD_H
#define CORE_REWARD_H

#include "base/sys.h"
#include "base/err.h"
#include "core/entity.h"

struct core_reward_rules {
    int64_t amount_cents;    /* offered per reward bike; 0: incentives off */
    int64_t min_duration_ms; /* a shorter ride earns nothing */
    double min_distance_m;   /* start to end, straight line */
    int64_t max_per_day;     /* rewards per rider per local day */
    int32_t utc_offset_s;    /* where the local day starts */
};

/* 1.00 per reward, 3 min, 400 m, 3 a day, days in UTC. */
void core_reward_rules_default(struct core_reward_rules *r);

/* ERR_INVALID (field in d) for a negative amount, duration or distance. */
enum err core_reward_rules_validate(const struct core_reward_rules *r,
                                    struct err_detail *d);

/* The local day number (days since 1970-01-01 local) of t_ms. */
int64_t core_reward_day(const struct core_reward_rules *r, int64_t t_ms);

/* Why a trip that carried an offer was or was not credited. */
enum core_reward_verdict {
    CORE_REWARD_GRANTED,
    CORE_REWARD_NOT_LOCKED,  /* ended by an operator, not by the rider */
    CORE_REWARD_NOT_DEFICIT, /* it did not end in a cell short of bikes */
    CORE_REWARD_TOO_SHORT,   /* ridden for less than min_duration_ms */
    CORE_REWARD_TOO_CLOSE,   /* ended less than min_distance_m away */
    CORE_REWARD_DAILY_CAP,   /* the rider had max_per_day already */
    CORE_REWARD_VERDICT_COUNT
};

/* Stable names: "granted", "not_locked", "not_deficit", ... */
const char *core_reward_verdict_name(enum core_reward_verdict v);

/*
 * Judges an ended trip (t->state ended, with an offer) for its rider:
 * the first rule it breaks in the order of the enum, or granted. The day
 * cap counts rider->rewards_today only while rider->reward_day is the local
 * day of t->ended_ms.
 */
enum core_reward_verdict core_reward_judge(const struct core_reward_rules *r,
                                           const struct core_trip *t,
                                           const struct core_rider *rider,
                                           bool ended_in_deficit);

#endif
