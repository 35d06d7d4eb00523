/* SPDX-License-Identifier: MIT */
/* Pricing plan validation and fare computation. */
#include "base/sys.h"
#include "core/pricing.h"

#include <stdio.h>

#define CENTS_MAX 1000000
#define INTERVAL_MAX_MIN 1440

void core_pricing_default(struct core_pricing *p)
{
    memset(p, 0, sizeof(*p));
    snprintf(p->plan_id, sizeof(p->plan_id), "standard");
    snprintf(p->name, sizeof(p->name), "Standard");
    snprintf(p->currency, sizeof(p->currency), "EUR");
    p->unlock_cents = 100;
    p->nsegments = 1;
    p->segments[0] = (struct core_price_segment){
        .start_min = 0, .end_min = 0, .rate_cents = 15, .interval_min = 1};
}

static bool is_plan_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '-';
}

enum err core_pricing_validate(const struct core_pricing *p,
                               struct err_detail *d)
{
    size_t n = strlen(p->plan_id);
    if (n == 0)
        return err_set(d, ERR_INVALID, "plan_id", "plan_id is empty");
    for (size_t i = 0; i < n; i++) {
        if (!is_plan_char(p->plan_id[i]))
            return err_set(d, ERR_INVALID, "plan_id",
                           "plan_id may hold only letters, digits, _ and -");
    }
    if (strlen(p->currency) != 3)
        return err_set(d, ERR_INVALID, "currency",
                       "currency must be a 3-letter ISO 4217 code");
    for (size_t i = 0; i < 3; i++) {
        if (p->currency[i] < 'A' || p->currency[i] > 'Z')
            return err_set(d, ERR_INVALID, "currency",
                           "currency must be a 3-letter ISO 4217 code");
    }
    if (p->unlock_cents < 0 || p->unlock_cents > CENTS_MAX)
        return err_set(d, ERR_INVALID, "price",
                       "price must be between 0 and 10000.00");
    if (p->nsegments > CORE_PRICING_SEGMENTS_MAX)
        return err_set(d, ERR_INVALID, "per_min_pricing", "at most %d segments",
                       CORE_PRICING_SEGMENTS_MAX);
    int64_t prev_end = 0;
    for (size_t i = 0; i < p->nsegments; i++) {
        const struct core_price_segment *s = &p->segments[i];
        char field[48];
        snprintf(field, sizeof(field), "per_min_pricing[%zu]", i);
        if (s->rate_cents < 0 || s->rate_cents > CENTS_MAX)
            return err_set(d, ERR_INVALID, field,
                           "rate must be between 0 and 10000.00");
        if (s->interval_min < 1 || s->interval_min > INTERVAL_MAX_MIN)
            return err_set(d, ERR_INVALID, field,
                           "interval must be 1 to 1440 minutes");
        if (s->start_min < prev_end || s->start_min > 100000)
            return err_set(d, ERR_INVALID, field,
                           "segments must start in order without overlap");
        if (s->end_min != 0 && s->end_min <= s->start_min)
            return err_set(d, ERR_INVALID, field, "end must be after start");
        if (s->end_min == 0 && i + 1 < p->nsegments)
            return err_set(d, ERR_INVALID, field,
                           "only the last segment may be open-ended");
        prev_end = s->end_min;
    }
    return ERR_OK;
}

int64_t core_pricing_fare(const struct core_pricing *p, int64_t duration_ms)
{
    int64_t fare = p->unlock_cents;
    if (duration_ms < 0)
        duration_ms = 0;
    for (size_t i = 0; i < p->nsegments; i++) {
        const struct core_price_segment *s = &p->segments[i];
        int64_t start_ms = s->start_min * 60000;
        int64_t stop_ms = duration_ms;
        if (s->end_min != 0 && s->end_min * 60000 < stop_ms)
            stop_ms = s->end_min * 60000;
        if (stop_ms <= start_ms)
            continue;
        /* Intervals begin at start, start+i, ...; count those begun. */
        int64_t interval_ms = s->interval_min * 60000;
        int64_t count = (stop_ms - start_ms + interval_ms - 1) / interval_ms;
        fare += count * s->rate_cents;
    }
    return fare;
}
