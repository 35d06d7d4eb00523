/* SPDX-License-Identifier: MIT */
/*
 * Maintenance tasks: which bikes need a crew, why, and how urgently. A bike
 * has at most one task, its most urgent. Derived from the bike's state each
 * time (nothing to store): a task ends when its cause does (the lock
 * reports again, the battery is swapped, a crew inspects or takes the
 * bike). Pure.
 */
#ifndef DISPATCH_MAINT_H
#define DISPATCH_MAINT_H

#include "base/sys.h"
#include "base/err.h"
#include "core/entity.h"

/* In order of urgency; priority = kind + 1 (1 is the most urgent). */
enum maint_kind {
    MAINT_REPAIR,  /* the lock reported a fault: take the bike to the depot */
    MAINT_UPRIGHT, /* the bike fell over: stand it up */
    MAINT_LOCATE,  /* no report for hours: find it */
    MAINT_BATTERY, /* the lock's battery is low: swap it */
    MAINT_IDLE,    /* nobody rode it for days: check it, move it */
    MAINT_KIND_COUNT
};

/* Stable names: "repair", "upright", "locate", "battery", "idle". */
const char *maint_kind_name(enum maint_kind k);

struct maint_rules {
    int64_t silent_ms;   /* no report for this long: locate */
    int battery_low_pct; /* at or below: battery */
    int64_t idle_ms;     /* no ride or crew handling for this long: idle */
};

/* 4 hours, 20 %, 3 days. */
void maint_rules_default(struct maint_rules *r);

/* ERR_INVALID (field in d) for a value out of range. */
enum err maint_rules_validate(const struct maint_rules *r,
                              struct err_detail *d);

struct maint_task {
    int64_t bike_id;
    enum maint_kind kind;
    int priority;     /* 1 (most urgent) .. MAINT_KIND_COUNT */
    int64_t since_ms; /* when the cause began, as far as known; 0 unknown */
};

/*
 * The task of bike b at now_ms into *out, or false if it needs none.
 * Bikes in a trip, reserved or on a truck need none (their rider or crew
 * is with them).
 */
bool maint_task_of(const struct maint_rules *r, const struct core_bike *b,
                   int64_t now_ms, struct maint_task *out);

#endif
