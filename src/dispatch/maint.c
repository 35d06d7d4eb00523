/* SPDX-License-Identifier: MIT */
/* Maintenance tasks from a bike's state. */
#include "base/sys.h"
#include "dispatch/maint.h"

const char *maint_kind_name(enum maint_kind k)
{
    static const char *const names[MAINT_KIND_COUNT] = {
        [MAINT_REPAIR] = "repair", [MAINT_UPRIGHT] = "upright",
        [MAINT_LOCATE] = "locate", [MAINT_BATTERY] = "battery",
        [MAINT_IDLE] = "idle",
    };
    return (unsigned)k < MAINT_KIND_COUNT ? names[k] : "unknown";
}

void maint_rules_default(struct maint_rules *r)
{
    *r = (struct maint_rules){.silent_ms = 4 * 3600 * INT64_C(1000),
                              .battery_low_pct = 20,
                              .idle_ms = 3 * 86400 * INT64_C(1000)};
}

enum err maint_rules_validate(const struct maint_rules *r, struct err_detail *d)
{
    if (r->silent_ms < 60000)
        return err_set(d, ERR_INVALID, "silent_s",
                       "silent_s must be at least 60");
    if (r->battery_low_pct < 0 || r->battery_low_pct > 100)
        return err_set(d, ERR_INVALID, "battery_low_pct",
                       "battery_low_pct must be 0..100");
    if (r->idle_ms < 3600000)
        return err_set(d, ERR_INVALID, "idle_s",
                       "idle_s must be at least 3600");
    return ERR_OK;
}

static bool task(const struct core_bike *b, enum maint_kind k, int64_t since,
                 struct maint_task *out)
{
    *out = (struct maint_task){
        .bike_id = b->id, .kind = k, .priority = (int)k + 1, .since_ms = since};
    return true;
}

bool maint_task_of(const struct maint_rules *r, const struct core_bike *b,
                   int64_t now_ms, struct maint_task *out)
{
    switch (b->state) {
    case CORE_VS_AVAILABLE:
    case CORE_VS_NON_OPERATIONAL:
    case CORE_VS_MISSING:
        break;
    default:
        return false;
    }
    if (b->alarms & CORE_ALARM_FAULT)
        return task(b, MAINT_REPAIR, 0, out);
    if (b->alarms & CORE_ALARM_FALL)
        return task(b, MAINT_UPRIGHT, 0, out);
    int64_t seen = b->last_report_ms ? b->last_report_ms : b->created_ms;
    if (b->state == CORE_VS_MISSING || now_ms - seen > r->silent_ms)
        return task(b, MAINT_LOCATE, seen, out);
    if (b->battery_pct >= 0 && b->battery_pct <= r->battery_low_pct)
        return task(b, MAINT_BATTERY, 0, out);
    int64_t used = MAX(b->last_use_ms, b->created_ms);
    if (b->state == CORE_VS_AVAILABLE && now_ms - used > r->idle_ms)
        return task(b, MAINT_IDLE, used, out);
    return false;
}
