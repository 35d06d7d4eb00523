/* SPDX-License-Identifier: MIT */
/* Names and the transition table of the vehicle state machine. */
#include "base/sys.h"
#include "core/vehicle.h"

static const char *const vstate_names[CORE_VS_COUNT] = {
    [CORE_VS_AVAILABLE] = "available",
    [CORE_VS_RESERVED] = "reserved",
    [CORE_VS_ON_TRIP] = "on_trip",
    [CORE_VS_NON_OPERATIONAL] = "non_operational",
    [CORE_VS_MISSING] = "missing",
    [CORE_VS_REMOVED] = "removed",
};

static const char *const vevent_names[CORE_VE_COUNT] = {
    [CORE_VE_RESERVATION_START] = "reservation_start",
    [CORE_VE_RESERVATION_CANCEL] = "reservation_cancel",
    [CORE_VE_TRIP_START] = "trip_start",
    [CORE_VE_TRIP_END] = "trip_end",
    [CORE_VE_TRIP_CANCEL] = "trip_cancel",
    [CORE_VE_MAINTENANCE_START] = "maintenance_start",
    [CORE_VE_MAINTENANCE_END] = "maintenance_end",
    [CORE_VE_COMMS_LOST] = "comms_lost",
    [CORE_VE_COMMS_RESTORED] = "comms_restored",
    [CORE_VE_REBALANCE_PICK_UP] = "rebalance_pick_up",
    [CORE_VE_MAINTENANCE_PICK_UP] = "maintenance_pick_up",
    [CORE_VE_PROVIDER_DROP_OFF] = "provider_drop_off",
    [CORE_VE_DECOMMISSIONED] = "decommissioned",
};

static const char *const vtype_names[CORE_VT_COUNT] = {
    [CORE_VT_BICYCLE] = "bicycle",
    [CORE_VT_EBIKE] = "ebike",
};

/* 0 marks a forbidden transition; legal targets are stored plus one. */
#define TO(s) ((unsigned char)((s) + 1))
static const unsigned char next_state[CORE_VS_COUNT][CORE_VE_COUNT] = {
    [CORE_VS_AVAILABLE] =
        {
            [CORE_VE_RESERVATION_START] = TO(CORE_VS_RESERVED),
            [CORE_VE_TRIP_START] = TO(CORE_VS_ON_TRIP),
            [CORE_VE_MAINTENANCE_START] = TO(CORE_VS_NON_OPERATIONAL),
            [CORE_VE_COMMS_LOST] = TO(CORE_VS_MISSING),
            [CORE_VE_REBALANCE_PICK_UP] = TO(CORE_VS_REMOVED),
            [CORE_VE_MAINTENANCE_PICK_UP] = TO(CORE_VS_REMOVED),
            [CORE_VE_DECOMMISSIONED] = TO(CORE_VS_REMOVED),
        },
    [CORE_VS_RESERVED] =
        {
            [CORE_VE_RESERVATION_CANCEL] = TO(CORE_VS_AVAILABLE),
            [CORE_VE_TRIP_START] = TO(CORE_VS_ON_TRIP),
        },
    [CORE_VS_ON_TRIP] =
        {
            [CORE_VE_TRIP_END] = TO(CORE_VS_AVAILABLE),
            [CORE_VE_TRIP_CANCEL] = TO(CORE_VS_AVAILABLE),
        },
    [CORE_VS_NON_OPERATIONAL] =
        {
            [CORE_VE_MAINTENANCE_END] = TO(CORE_VS_AVAILABLE),
            [CORE_VE_COMMS_LOST] = TO(CORE_VS_MISSING),
            [CORE_VE_MAINTENANCE_PICK_UP] = TO(CORE_VS_REMOVED),
            [CORE_VE_REBALANCE_PICK_UP] = TO(CORE_VS_REMOVED),
            [CORE_VE_DECOMMISSIONED] = TO(CORE_VS_REMOVED),
        },
    [CORE_VS_MISSING] =
        {
            [CORE_VE_COMMS_RESTORED] = TO(CORE_VS_AVAILABLE),
            [CORE_VE_MAINTENANCE_PICK_UP] = TO(CORE_VS_REMOVED),
            [CORE_VE_REBALANCE_PICK_UP] = TO(CORE_VS_REMOVED),
            [CORE_VE_DECOMMISSIONED] = TO(CORE_VS_REMOVED),
        },
    [CORE_VS_REMOVED] =
        {
            [CORE_VE_PROVIDER_DROP_OFF] = TO(CORE_VS_AVAILABLE),
            [CORE_VE_DECOMMISSIONED] = TO(CORE_VS_REMOVED),
        },
};
#undef TO

const char *core_vstate_name(enum core_vstate s)
{
    return (unsigned)s < CORE_VS_COUNT ? vstate_names[s] : "unknown";
}

const char *core_vevent_name(enum core_vevent e)
{
    return (unsigned)e < CORE_VE_COUNT ? vevent_names[e] : "unknown";
}

const char *core_vtype_name(enum core_vtype t)
{
    return (unsigned)t < CORE_VT_COUNT ? vtype_names[t] : "unknown";
}

static enum err parse(struct str s, const char *const *names, size_t n,
                      int *out)
{
    for (size_t i = 0; i < n; i++) {
        if (str_eq_cstr(s, names[i])) {
            *out = (int)i;
            return ERR_OK;
        }
    }
    return ERR_INVALID;
}

enum err core_vstate_parse(struct str s, enum core_vstate *out)
{
    int v;
    if (parse(s, vstate_names, CORE_VS_COUNT, &v) != ERR_OK)
        return ERR_INVALID;
    *out = (enum core_vstate)v;
    return ERR_OK;
}

enum err core_vevent_parse(struct str s, enum core_vevent *out)
{
    int v;
    if (parse(s, vevent_names, CORE_VE_COUNT, &v) != ERR_OK)
        return ERR_INVALID;
    *out = (enum core_vevent)v;
    return ERR_OK;
}

enum err core_vtype_parse(struct str s, enum core_vtype *out)
{
    int v;
    if (parse(s, vtype_names, CORE_VT_COUNT, &v) != ERR_OK)
        return ERR_INVALID;
    *out = (enum core_vtype)v;
    return ERR_OK;
}

enum err core_vstate_next(enum core_vstate from, enum core_vevent e,
                          enum core_vstate *to, struct err_detail *d)
{
    if ((unsigned)from >= CORE_VS_COUNT || (unsigned)e >= CORE_VE_COUNT)
        return err_setc(d, ERR_INVALID, "illegal_transition", "event",
                        "unknown state or event");
    unsigned char t = next_state[from][e];
    if (!t)
        return err_setc(d, ERR_CONFLICT, "illegal_transition", "event",
                        "a %s bike cannot take event '%s'",
                        core_vstate_name(from), core_vevent_name(e));
    *to = (enum core_vstate)(t - 1);
    return ERR_OK;
}
