/* SPDX-License-Identifier: MIT */
/*
 * Pricing plans with the fields of a GBFS system_pricing_plans entry: a fixed
 * unlock price plus per-minute segments, all in integer minor units (cents).
 * Plans are immutable versions; a trip is charged by the version in force
 * when it started. Pure.
 */
#ifndef CORE_PRICING_H
#define CORE_PRICING_H

#include "base/sys.h"
#include "base/err.h"

#define CORE_PRICING_SEGMENTS_MAX 4
#define CORE_PLAN_ID_MAX 32
#define CORE_PLAN_NAME_MAX 64

/*
 * One GBFS per_min_pricing segment: from minute start_min (inclusive) to
 * end_min (exclusive; 0 means no end), rate_cents is charged at the start of
 * every interval_min minutes.
 */
struct core_price_segment {
    int64_t start_min;
    int64_t end_min;
    int64_t rate_cents;
    int64_t interval_min;
};

struct core_pricing {
    int64_t version; /* 1, 2, ...; assigned when stored */
    char plan_id[CORE_PLAN_ID_MAX + 1];
    char name[CORE_PLAN_NAME_MAX + 1];
    char currency[4];     /* ISO 4217, e.g. "EUR" */
    int64_t unlock_cents; /* GBFS "price" */
    size_t nsegments;
    struct core_price_segment segments[CORE_PRICING_SEGMENTS_MAX];
    int64_t created_ms;
};

/* The plan a new database starts with: 1.00 EUR to unlock, 0.15 per min. */
void core_pricing_default(struct core_pricing *p);

/*
 * Checks a plan: plan_id of [A-Za-z0-9_-], a 3-letter upper-case currency,
 * amounts from 0 to 1,000,000 cents, intervals of 1 to 1440 minutes,
 * segments in increasing non-overlapping order. ERR_INVALID with the field
 * path in d.
 */
enum err core_pricing_validate(const struct core_pricing *p,
                               struct err_detail *d);

/*
 * Fare in cents for a trip of duration_ms (negative counts as 0): the unlock
 * price plus, per segment, the rate times the number of intervals started
 * within the segment before the trip ended.
 */
int64_t core_pricing_fare(const struct core_pricing *p, int64_t duration_ms);

#endif
