/* SPDX-License-Identifier: MIT */
/*
 * Private to svc/: the service object and the helpers its files share.
 * Everything here runs on the loop thread except on_commit (svc.c), which
 * touches only the atomics and the failure message under fail_mu.
 */
#ifndef SVC_SVC_INT_H
#define SVC_SVC_INT_H

#include "base/sys.h"
#include "base/imap.h"
#include "base/smap.h"
#include "base/vec.h"
#include "dispatch/demand.h"
#include "geo/index.h"
#include "store/store.h"
#include "svc/svc.h"
#include "svc/plan.h"
#include "gateway/gateway.h"

#include <pthread.h>
#include <stdatomic.h>

/* A secure lock's key and the highest counter accepted from it. */
struct svc_secret {
    struct store_lock_secret rec;
};

/* Loads lock secrets and policies (locks.c). */
enum err svc__locks_load(struct svc *s);
/* Frees the secrets (locks.c). */
void svc__locks_release(struct svc *s);
/* A new bike's secure lock: makes, keeps and stores its key (locks.c). */
uint64_t svc__lock_key_new(struct svc *s, const struct core_bike *b,
                           unsigned char key[SVC_LOCK_KEY_BYTES]);
bool svc__lock_is_secure(const struct svc *s, uint64_t imei);
/* The gateway's admission and counter callbacks (locks.c). */
void svc__gw_admit(void *ctx, uint64_t imei, bool secure,
                   struct gateway_admission *out);
void svc__gw_counter(void *ctx, uint64_t imei, uint64_t rx_counter);

/* Actions that wait until a write is durable. */
enum svc_after_kind {
    SVC_AFTER_UNLOCK, /* send the unlock of trip id to its lock */
    SVC_AFTER_ACK,    /* acknowledge report token of lock id (an IMEI) */
};

struct svc_after {
    uint64_t lsn;
    enum svc_after_kind kind;
    int64_t id;
    uint64_t token;
};

struct svc {
    struct net_loop *loop;
    struct svc_config cfg;
    struct store *store;
    struct store_writer *writer;
    struct core_world *world;
    struct geo_index *index;
    struct gateway *gw;

    /* Written by the writer thread. */
    _Atomic uint64_t shared_durable;
    atomic_bool failed;
    _Atomic uint64_t commits;
    pthread_mutex_t fail_mu; /* guards fail_msg */
    char fail_msg[256];

    uint64_t durable_lsn;   /* loop thread's copy */
    uint64_t submitted_lsn; /* highest lsn handed out */
    bool stopped;           /* a commit failed; the loop is stopping */
    svc_durable_fn *on_durable;
    void *on_durable_ctx;

    struct svc_after *afters; /* in lsn order */
    size_t nafters, capafters;
    struct imap unlocks;    /* trip id -> struct svc_unlock */
    struct imap res_timers; /* reservation id -> struct svc_res_timer */
    struct smap operators;  /* token hash -> cached operator */
    struct imap secrets;    /* imei -> struct svc_secret, secure locks */
    bool require_secure[CORE_VT_COUNT];
    struct net_timer sweep;

    size_t plans_loaded; /* pricing versions found in the store */
    /* Telemetry (telemetry.c). */
    uint8_t *reported; /* per bike id - 1: reported since the checkpoint */
    size_t nreported;
    int64_t *dirty; /* those bike ids */
    size_t ndirty, capdirty;
    struct store_point *hist; /* positions not yet flushed */
    size_t nhist, caphist;
    struct net_timer checkpoint_timer, flush_timer, prune_timer;
    /*
     * Search log (searchlog.c): the open aggregates, and a map from their
     * key (minute, square, found) to their index + 1 in search_v.
     */
    struct store_search *search_v;
    size_t nsearch, capsearch;
    struct imap search_keys;
    struct net_timer search_timer, demand_prune_timer;

    struct svc_dispatch *dispatch; /* plan.c */

    struct store_op *ops; /* scratch for svc__persist */
    size_t nops, capops;
    struct svc_stats stats;
};

/*
 * Drains the world's change list: updates the fleet index for changed
 * bikes, submits copies to the writer, stamps the records with the lsn and
 * returns it (0 if nothing changed; UINT64_MAX if the writer has failed, so
 * that nothing waiting on it is ever sent).
 */
uint64_t svc__persist(struct svc *s);

/* Queues an action to run once lsn is durable. */
void svc__after(struct svc *s, uint64_t lsn, enum svc_after_kind kind,
                int64_t id, uint64_t token);
/* Runs the queued actions whose lsn is durable (svc.c). */
void svc__run_after(struct svc *s);
/* Performs one durable action (ride.c). */
void svc__after_durable(struct svc *s, const struct svc_after *a);

/* Puts bike b as it is now into the fleet index (svc.c). */
void svc__index_bike(struct svc *s, const struct core_bike *b);

/*
 * After a lock's report was applied to bike b: updates the index, marks the
 * bike for the next checkpoint and keeps its position (if it sent one) for
 * the history (telemetry.c).
 */
void svc__telemetry(struct svc *s, const struct core_bike *b, bool moved);

/* Arms the telemetry timers (telemetry.c). */
void svc__telemetry_start(struct svc *s);
/* Writes what is pending (checkpoint, history) and stops the timers. */
void svc__telemetry_stop(struct svc *s);

/* Arms the search log's flush and the demand prune (searchlog.c). */
void svc__searchlog_start(struct svc *s);
/* Hands the open aggregates to the writer (searchlog.c). */
void svc__searchlog_flush(struct svc *s);
/* Writes the open aggregates, stops the timers and frees the log. */
void svc__searchlog_stop(struct svc *s);

/* Re-arms timers for reservations and unlocks loaded at start (ride.c). */
void svc__ride_restore(struct svc *s);
/* Stops and frees those timers (ride.c). */
void svc__ride_release(struct svc *s);

/*
 * Dispatch (plan.c on the loop thread, planner.c on the planner's). A job
 * is a snapshot the planner owns while it runs; job->plan is its result.
 */
struct svc_plan_bike {
    int64_t id;
    struct geo_latlng pos;
};

struct svc_plan_job {
    uint64_t id;
    int64_t now_ms;
    char *db_path;
    struct svc_dispatch_config cfg;
    bool has_grid; /* false: no bikes and no service area */
    struct demand_grid grid;
    struct geo_latlng depot;
    struct svc_plan_bike *avail; /* available bikes */
    size_t navail;
    struct svc_task *tasks; /* the most urgent, first */
    size_t ntasks;
    size_t tasks_total; /* bikes needing maintenance */
    struct svc_truck *trucks;
    size_t ntrucks;
    atomic_bool *cancel; /* set: finish at once (the server is stopping) */
    /* The last plan's demand history, or NULL; the planner leaves the one
     * it used (or NULL) for the next job. */
    struct svc_plan_history *history;
    int64_t snapshot_ms;   /* the loop thread's time taking all this */
    struct svc_plan *plan; /* the result */
};

/* Makes job->plan from the job (planner.c; any thread). */
void svc__planner_run(struct svc_plan_job *job);
/* Frees a plan; NULL is a no-op. */
void svc__plan_free(struct svc_plan *plan);
/* Frees a demand history kept between plans; NULL is a no-op. */
void svc__plan_history_free(struct svc_plan_history *h);
/* The index of cell in plan->cells, or -1. */
ptrdiff_t svc__plan_find_cell(const struct svc_plan *plan, int64_t cell);

/* Starts planning (after the world is loaded); stops, joining the planner. */
void svc__dispatch_start(struct svc *s);
void svc__dispatch_stop(struct svc *s);
/* Collects a finished plan (from the loop's wakeup). */
void svc__dispatch_wakeup(struct svc *s);
/* The fleet changed in a way the plan did not foresee: replan soon. */
void svc__dispatch_fleet_changed(struct svc *s);
/* Incentives: the offer a trip starts with; the verdict when it ended. */
void svc__reward_start(struct svc *s, struct core_trip *t,
                       struct geo_latlng from);
void svc__reward_settle(struct svc *s, struct core_trip *t);

/* Token checks shared by svc.c and ride.c. */
bool svc__token_is_wellformed(struct str token);
void svc__token_hash(struct str token,
                     unsigned char hash[CORE_TOKEN_HASH_BYTES]);

#endif
