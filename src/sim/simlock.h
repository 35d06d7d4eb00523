/* SPDX-License-Identifier: MIT */
/*
 * A simulated smart lock: the lock side of the Omni protocol as a pure state
 * machine, for the demo, the load generator and tests. The driver feeds it
 * the server's frames and the time; it appends the frames a real lock would
 * send to an output buffer. Riding moves the bike at a steady speed in a
 * random direction and locks it after a set time.
 */
#ifndef SIM_SIMLOCK_H
#define SIM_SIMLOCK_H

#include "base/sys.h"
#include "base/buf.h"
#include "base/rng.h"
#include "base/str.h"
#include "geo/geo.h"
#include "lock/lock.h"

struct sim_lock_config {
    uint64_t imei;
    struct geo_latlng pos;
    int battery_pct;
    enum lock_dialect dialect;
    int64_t heartbeat_ms; /* H0 period while idle */
    int64_t position_ms;  /* D0 period while riding */
    int64_t report_ms;    /* D0 period while idle; 0: only at sign-in */
    int64_t ride_ms;      /* how long a ride lasts before L1 */
    double speed_mps;     /* riding speed */
    bool refuse_unlock;   /* answer L0 with a failure code */
};

/* Sets cfg to: battery 90 %, SCOR, H0 every 30 s, D0 every 5 s riding,
 * 20 s rides at 4 m/s. */
void sim_lock_config_default(struct sim_lock_config *cfg);

enum sim_lock_state {
    SIM_LOCK_IDLE,    /* locked, reporting */
    SIM_LOCK_KEYED,   /* sent a one-time key, waiting for L0 */
    SIM_LOCK_RIDING,  /* unlocked */
    SIM_LOCK_CLOSING, /* sent L1, waiting for its acknowledgement */
};

struct sim_lock {
    struct sim_lock_config cfg;
    enum sim_lock_state state;
    struct rng rng;
    char key[9];
    int64_t user_id;
    double heading_deg;
    int64_t ride_started_ms;
    int64_t next_heartbeat_ms;
    int64_t next_position_ms;
    int64_t next_resend_ms;
    uint64_t rides; /* completed rides */
};

/* Sets up l from cfg with its own seeded randomness; allocates nothing. */
void sim_lock_init(struct sim_lock *l, const struct sim_lock_config *cfg,
                   uint64_t seed);

/* After (re)connecting: appends sign-in, heartbeat and position frames. */
enum err sim_lock_connected(struct sim_lock *l, int64_t now_ms,
                            struct buf *out);

/*
 * Handles one frame from the server (as found by lock_frame_scan) and
 * appends the lock's answer, if any. Frames for another lock or that do not
 * parse are ignored (ERR_INVALID). ERR_TOO_BIG if out is full.
 */
enum err sim_lock_on_frame(struct sim_lock *l, struct str frame, int64_t now_ms,
                           struct buf *out);

/* Appends what is due at now_ms (heartbeat, position, the L1 of a ride). */
enum err sim_lock_tick(struct sim_lock *l, int64_t now_ms, struct buf *out);

/* The earliest time sim_lock_tick has something to do. */
int64_t sim_lock_next_ms(const struct sim_lock *l);

#endif
