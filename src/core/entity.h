/* SPDX-License-Identifier: MIT */
/*
 * The domain's value types: bikes, riders, reservations and trips, with the
 * validation of their identifiers. The live collection and the rules that
 * change them are in world.h. Pure.
 */
#ifndef CORE_ENTITY_H
#define CORE_ENTITY_H

#include "base/sys.h"
#include "base/err.h"
#include "base/str.h"
#include "geo/geo.h"
#include "core/vehicle.h"

#define CORE_QR_MAX 32
#define CORE_IMEI_DIGITS 15
#define CORE_IDEM_KEY_MAX 64
#define CORE_REASON_MAX 23
#define CORE_TOKEN_HASH_BYTES 32

/* Alarms a lock raised that no crew has cleared yet (bits of alarms). */
enum core_alarm {
    CORE_ALARM_FAULT = 1, /* the lock reported a fault */
    CORE_ALARM_FALL = 2,  /* the bike fell over and is not upright again */
};

struct core_bike {
    /* Ordered by size: 136 bytes a bike, no padding to speak of. */
    int64_t id;    /* 1, 2, ...: dense, assigned by the world */
    uint64_t imei; /* the lock's 15-digit IMEI */
    struct geo_latlng pos;
    int64_t last_report_ms; /* last frame from the lock, 0 if none */
    int64_t created_ms;
    int64_t trip_id;        /* active trip, or 0 */
    int64_t reservation_id; /* active reservation, or 0 */
    int64_t last_use_ms;    /* last ride ended or crew handling, 0: never */
    uint64_t lsn;           /* store sequence number of the last write, or 0 */
    enum core_vtype vtype;
    enum core_vstate state;
    int battery_pct;  /* 0..100, or -1 if never reported */
    int32_t truck_id; /* the truck carrying it (state removed), or 0 */
    char qr_code[CORE_QR_MAX + 1];
    bool lock_closed; /* as last reported by the lock */
    uint8_t alarms;   /* enum core_alarm bits */
};

struct core_rider {
    int64_t id;
    unsigned char token_hash[CORE_TOKEN_HASH_BYTES];
    int64_t balance_cents; /* negative: the rider owes */
    int64_t created_ms;
    int64_t trip_id;        /* active trip, or 0 */
    int64_t reservation_id; /* active reservation, or 0 */
    int64_t reward_day;     /* local day of the last reward granted, 0: none */
    int64_t rewards_today;  /* rewards granted on reward_day */
    uint64_t lsn;
};

enum core_res_state {
    CORE_RES_ACTIVE,
    CORE_RES_USED,      /* turned into a trip */
    CORE_RES_CANCELLED, /* by the rider or an operator */
    CORE_RES_EXPIRED,
    CORE_RES_COUNT
};

struct core_reservation {
    int64_t id;
    int64_t rider_id;
    int64_t bike_id;
    enum core_res_state state;
    int64_t created_ms;
    int64_t expires_ms;
    int64_t ended_ms; /* 0 while active */
    uint64_t lsn;
};

enum core_trip_state {
    CORE_TRIP_UNLOCKING, /* waiting for the lock to confirm the unlock */
    CORE_TRIP_RIDING,
    CORE_TRIP_ENDED,
    CORE_TRIP_FAILED,
    CORE_TRIP_COUNT
};

struct core_trip {
    int64_t id;
    int64_t rider_id;
    int64_t bike_id;
    enum core_trip_state state;
    char idem_key[CORE_IDEM_KEY_MAX + 1]; /* empty if none was given */
    int64_t requested_ms;
    int64_t started_ms; /* unlock confirmed; 0 before */
    int64_t ended_ms;   /* ended or failed; 0 before */
    struct geo_latlng start_pos;
    struct geo_latlng end_pos;
    double distance_m; /* along the reported positions */
    int64_t fare_cents;
    char currency[4];
    int64_t pricing_version;
    /*
     * Why it ended or failed: "locked", "operator", "lock_offline",
     * "unlock_timeout", "lock_refused"; empty while active.
     */
    char reason[CORE_REASON_MAX + 1];
    bool charged;
    /*
     * Rider incentive: what the bike carried when the trip started (0: no
     * reward), what was credited at the end, and why (core/reward.h);
     * reward_note is empty until the trip ended.
     */
    int64_t reward_offer_cents;
    int64_t reward_cents;
    char reward_note[CORE_REASON_MAX + 1];
    uint64_t lsn;
};

/* Stable names: "unlocking", "riding", "ended", "failed". */
const char *core_trip_state_name(enum core_trip_state s);

/* Stable names: "active", "used", "cancelled", "expired". */
const char *core_res_state_name(enum core_res_state s);
enum err core_res_state_parse(struct str s, enum core_res_state *out);
enum err core_trip_state_parse(struct str s, enum core_trip_state *out);

/* True while the trip holds its bike (unlocking or riding). */
bool core_trip_is_active(const struct core_trip *t);

/* Checks a printed QR code: 1..32 bytes of [A-Za-z0-9_-]. ERR_INVALID. */
enum err core_qr_validate(struct str qr, struct err_detail *d);

/* Parses a lock IMEI: exactly 15 digits. ERR_INVALID. */
enum err core_imei_parse(struct str s, uint64_t *out, struct err_detail *d);

/* Formats imei as its 15 digits (zero-padded) into out[16]. */
void core_imei_format(uint64_t imei, char out[16]);

/* Checks an Idempotency-Key: 1..64 visible ASCII bytes. ERR_INVALID. */
enum err core_idem_key_validate(struct str key, struct err_detail *d);

#endif
