/* SPDX-License-Identifier: MIT */
/*
 * Dispatch in the running service: the rebalancing plan, the crews who
 * follow it, maintenance tasks and rider incentives. The plan is made off
 * the loop thread from a snapshot (docs/dispatch.md): demand history from
 * the store, the forecast per cell (dispatch/forecast.h), targets
 * (dispatch/target.h), truck routes (dispatch/route.h). Everything here is
 * called on the loop thread.
 */
#ifndef SVC_PLAN_H
#define SVC_PLAN_H

#include "base/sys.h"
#include "base/err.h"
#include "core/entity.h"
#include "core/reward.h"
#include "dispatch/maint.h"
#include "dispatch/target.h"
#include "geo/geo.h"

struct svc;

#define SVC_TRUCKS_MAX 1000

struct svc_dispatch_config {
    double cell_m;        /* grid cell edge (400) */
    int32_t utc_offset_s; /* local time of the demand days (0) */
    int64_t history_days; /* demand history the forecast reads (28) */
    int64_t horizon_ms;   /* targets cover this much ahead (3 h) */
    struct target_params target;
    int64_t interval_ms;   /* a new plan this often (15 min) */
    int64_t replan_min_ms; /* a stale plan is redone after this (30 s) */
    int64_t budget_ms;     /* route search time per plan (2 s) */
    uint64_t seed;         /* route search seed (1) */
    /* Search iterations per plan, 0: none (the budget alone). With a cap
     * the budget does not reach, plans are reproducible for a seed. */
    int64_t route_iters;
    size_t max_cell_sites; /* the most imbalanced cells routed (25,000) */
    size_t max_task_sites; /* the most urgent tasks routed (5,000) */
    /* The trucks: ids 1..trucks, all alike. */
    size_t trucks;          /* (2) */
    int32_t truck_capacity; /* bikes (20) */
    bool has_depot;         /* else the centre of the area */
    struct geo_latlng depot;
    int64_t route_ms; /* each plan routes this much of a shift (2 h) */
    /* The trucks' working hours, local seconds of the day; a shift may run
     * past midnight (start > end); start == end: around the clock (0, 0). */
    int64_t shift_start_s, shift_end_s;
    double speed_mps; /* (6) */
    int32_t handle_s; /* per bike loaded or unloaded (60) */
    struct maint_rules maint;
    struct core_reward_rules reward; /* amount 0: no incentives */
};

/* Fills c with the defaults in brackets above. */
void svc_dispatch_config_default(struct svc_dispatch_config *c);

/* ERR_INVALID (field in d) for a value out of range. */
enum err svc_dispatch_config_validate(const struct svc_dispatch_config *c,
                                      struct err_detail *d);

/* One cell of the plan: what it has, needs, and is forecast to see. */
struct svc_plan_cell {
    int64_t cell;
    struct geo_latlng center;
    int32_t available; /* available bikes at planning time */
    int32_t target;
    int32_t surplus, deficit;
    double rentals, returns; /* forecast over the horizon */
};

enum svc_stop_action {
    SVC_STOP_PICK_UP,  /* load `bikes` available bikes of the cell */
    SVC_STOP_DROP_OFF, /* unload `bikes` bikes in the cell */
    SVC_STOP_TASK,     /* the maintenance task of bike_id */
};

/* Stable names: "pick_up", "drop_off", "task". */
const char *svc_stop_action_name(enum svc_stop_action a);

struct svc_plan_stop {
    enum svc_stop_action action;
    int64_t cell; /* the cell of a pick-up or drop-off, else -1 */
    struct geo_latlng pos;
    int32_t bikes;     /* to load or unload (a task: bikes it loads) */
    int32_t done;      /* confirmed by the crew so far */
    int64_t eta_s;     /* seconds after the plan was made */
    int64_t *bike_ids; /* pick-up: suggested bikes, nearest the centre */
    size_t nbike_ids;
    struct maint_task task; /* SVC_STOP_TASK */
};

struct svc_plan_route {
    int32_t truck_id;
    struct geo_latlng start;
    int32_t load, broken; /* aboard at planning time */
    struct svc_plan_stop *stops;
    size_t nstops;
    double metres;
    int64_t seconds;
};

struct svc_plan {
    uint64_t id; /* 1, 2, ... since the server started */
    int64_t created_ms;
    int64_t horizon_ms;
    double service_level;
    double cell_m;
    struct svc_plan_cell *cells; /* ascending cell id */
    size_t ncells;
    struct svc_plan_route *routes;
    size_t nroutes;
    /* What it rests on and what it achieves. */
    size_t history_events; /* demand events in the window */
    /* the history was the last plan's plus the rows added since */
    bool history_incremental;
    size_t tasks; /* bikes needing maintenance */
    int64_t surplus, deficit;
    int64_t bikes_moved; /* dropped by the routes */
    size_t tasks_planned;
    double value, metres;
    /* How long each step took; the snapshot on the loop thread. */
    int64_t snapshot_ms, load_ms, forecast_ms, route_ms;
    uint64_t route_iters; /* search iterations run */
    bool route_deadline;  /* the budget ended the search */
    char note[160]; /* why the plan is thin, if it is ("no demand history") */
};

/*
 * The current plan, or NULL before the first is ready. Borrowed until the
 * loop's next turn.
 */
const struct svc_plan *svc_plan_current(struct svc *s);

/*
 * Asks for a new plan now (the fleet changed, or an operator wants one).
 * Returns the id the new plan will have.
 */
uint64_t svc_plan_request(struct svc *s);

/* A truck as the service knows it. */
struct svc_truck {
    int32_t id;
    struct geo_latlng pos; /* of its last confirmation, else the depot */
    int32_t load;          /* bikes aboard that can be dropped */
    int32_t broken;        /* bikes aboard for repair */
};

/* ERR_NOT_FOUND for an unknown truck. */
enum err svc_truck_get(struct svc *s, int32_t truck_id, struct svc_truck *out);
size_t svc_truck_count(struct svc *s);

/* Whether a crew confirmation followed the current plan. */
struct svc_crew_result {
    struct core_bike bike;
    struct svc_truck truck;
    bool on_plan;
};

/*
 * A crew loaded bike_id onto truck_id (for repair if maintenance), or
 * unloaded it at pos. The bike goes removed / available at pos, with the
 * MDS events rebalance_pick_up or maintenance_pick_up / provider_drop_off.
 * A confirmation off the plan makes it stale: a new plan follows.
 * ERR_NOT_FOUND (unknown truck or bike); ERR_INVALID, ERR_CONFLICT as
 * core_world_crew_pick_up / _drop_off.
 */
enum err svc_crew_pick_up(struct svc *s, int32_t truck_id, int64_t bike_id,
                          bool maintenance, struct svc_crew_result *out,
                          uint64_t *lsn, struct err_detail *d);
enum err svc_crew_drop_off(struct svc *s, int32_t truck_id, int64_t bike_id,
                           struct geo_latlng pos, struct svc_crew_result *out,
                           uint64_t *lsn, struct err_detail *d);

/* A crew checked a bike where it stands: its alarms cleared. */
enum err svc_bike_inspect(struct svc *s, int64_t bike_id, struct core_bike *out,
                          uint64_t *lsn, struct err_detail *d);

/* Bikes needing maintenance now, most urgent first, at most cap. */
struct svc_task {
    struct maint_task task;
    struct geo_latlng pos;
};
size_t svc_tasks(struct svc *s, struct svc_task *out, size_t cap,
                 size_t *total);

/* The incentive a rider gets for taking bike b now (0: none). */
int64_t svc_reward_offer(struct svc *s, const struct core_bike *b);

#endif
