/* SPDX-License-Identifier: MIT */
/*
 * Vehicle types, the MDS vehicle states and events, and the table of legal
 * state transitions. Pure.
 */
#ifndef CORE_VEHICLE_H
#define CORE_VEHICLE_H

#include "base/sys.h"
#include "base/err.h"
#include "base/str.h"

/* MDS vehicle states; "missing" stands for MDS "non_contactable". */
enum core_vstate {
    CORE_VS_AVAILABLE,
    CORE_VS_RESERVED,
    CORE_VS_ON_TRIP,
    CORE_VS_NON_OPERATIONAL,
    CORE_VS_MISSING,
    CORE_VS_REMOVED,
    CORE_VS_COUNT
};

/* MDS vehicle event types that spoke records. */
enum core_vevent {
    CORE_VE_RESERVATION_START,
    CORE_VE_RESERVATION_CANCEL,
    CORE_VE_TRIP_START,
    CORE_VE_TRIP_END,
    CORE_VE_TRIP_CANCEL,
    CORE_VE_MAINTENANCE_START,
    CORE_VE_MAINTENANCE_END,
    CORE_VE_COMMS_LOST,
    CORE_VE_COMMS_RESTORED,
    CORE_VE_REBALANCE_PICK_UP,
    CORE_VE_MAINTENANCE_PICK_UP,
    CORE_VE_PROVIDER_DROP_OFF,
    CORE_VE_DECOMMISSIONED,
    CORE_VE_COUNT
};

/* GBFS-style vehicle types: a human-powered bicycle or an electric one. */
enum core_vtype { CORE_VT_BICYCLE, CORE_VT_EBIKE, CORE_VT_COUNT };

/* Stable lowercase names ("available", "trip_start", "ebike"). */
const char *core_vstate_name(enum core_vstate s);
const char *core_vevent_name(enum core_vevent e);
const char *core_vtype_name(enum core_vtype t);

/* Parse a stable name; ERR_INVALID if it names nothing. */
enum err core_vstate_parse(struct str s, enum core_vstate *out);
enum err core_vevent_parse(struct str s, enum core_vevent *out);
enum err core_vtype_parse(struct str s, enum core_vtype *out);

/*
 * Looks up the state that event e leads to from state `from`. ERR_CONFLICT
 * (with reason "illegal_transition") if the MDS state machine forbids it;
 * *to is untouched then.
 */
enum err core_vstate_next(enum core_vstate from, enum core_vevent e,
                          enum core_vstate *to, struct err_detail *d);

#endif
