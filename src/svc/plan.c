/* SPDX-License-Identifier: MIT */
/*
 * Dispatch on the loop thread: when to plan, the snapshot a plan is made
 * from, installing a finished plan, crews confirming their work against it,
 * maintenance tasks, and rider incentives from its surplus and deficit
 * cells. The planning itself runs on a thread of its own (planner.c), at
 * most one at a time; it hands its result back through the loop's wakeup.
 */
#include "base/sys.h"
#include "svc/svc_int.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/vec.h"
#include "core/reward.h"

#include <stdlib.h>
#include <string.h>

#define TICK_MS 1000
#define FIRST_PLAN_MS 1000
/* Pad around the fleet's box when there is no service area, in degrees. */
#define AREA_PAD_DEG 0.01

struct svc_dispatch {
    struct svc_plan *plan;    /* current, or NULL */
    struct svc_plan_job *job; /* being planned, or NULL */
    pthread_t thread;
    atomic_bool done;   /* the planner finished job */
    atomic_bool cancel; /* the server is stopping: finish now */
    uint64_t last_id;
    bool requested, stale;
    int64_t started_mono_ms; /* when the last job started */
    struct net_timer tick;
    struct svc_truck *trucks; /* id i + 1 at index i */
    size_t ntrucks;
    struct geo_latlng depot;
    struct demand_grid grid; /* of the current plan */
    bool has_grid;
    /* The demand history the next job reads on from (while idle). */
    struct svc_plan_history *history;
    /* Incentives, per plan cell: rewards still to offer, to grant. */
    int32_t *offers_left;
    int32_t *deficit_left;
};

void svc_dispatch_config_default(struct svc_dispatch_config *c)
{
    *c = (struct svc_dispatch_config){
        .cell_m = 400.0,
        .history_days = 28,
        .horizon_ms = 3 * 3600 * INT64_C(1000),
        .interval_ms = 15 * 60 * INT64_C(1000),
        .replan_min_ms = 30 * INT64_C(1000),
        .budget_ms = 2000,
        .seed = 1,
        .max_cell_sites = 25000,
        .max_task_sites = 5000,
        .trucks = 2,
        .truck_capacity = 20,
        .route_ms = 2 * 3600 * INT64_C(1000),
        .speed_mps = 6.0,
        .handle_s = 60,
    };
    target_params_default(&c->target);
    maint_rules_default(&c->maint);
    core_reward_rules_default(&c->reward);
}

enum err svc_dispatch_config_validate(const struct svc_dispatch_config *c,
                                      struct err_detail *d)
{
    if (!(c->cell_m >= DEMAND_MIN_CELL_M && c->cell_m <= DEMAND_MAX_CELL_M))
        return err_set(d, ERR_INVALID, "cell_m", "cell_m must be %g..%g",
                       DEMAND_MIN_CELL_M, DEMAND_MAX_CELL_M);
    if (c->history_days < 1 || c->history_days > 366)
        return err_set(d, ERR_INVALID, "history_days",
                       "history_days must be 1..366");
    if (c->horizon_ms < 900000 || c->horizon_ms > 86400000)
        return err_set(d, ERR_INVALID, "horizon_s",
                       "horizon_s must be 900..86400");
    if (c->trucks > SVC_TRUCKS_MAX)
        return err_set(d, ERR_INVALID, "trucks", "at most %d trucks",
                       SVC_TRUCKS_MAX);
    if (c->truck_capacity < 1 || c->truck_capacity > 1000)
        return err_set(d, ERR_INVALID, "truck_capacity",
                       "truck_capacity must be 1..1000");
    if (c->has_depot && !geo_latlng_is_valid(c->depot))
        return err_set(d, ERR_INVALID, "depot", "not a valid position");
    if (!(c->speed_mps >= 1.0 && c->speed_mps <= 40.0))
        return err_set(d, ERR_INVALID, "speed_mps", "speed_mps must be 1..40");
    if (c->utc_offset_s < -14 * 3600 || c->utc_offset_s > 14 * 3600)
        return err_set(d, ERR_INVALID, "utc_offset_s",
                       "utc_offset_s must be within 14 hours");
    enum err e = target_params_validate(&c->target, d);
    if (e == ERR_OK)
        e = maint_rules_validate(&c->maint, d);
    if (e == ERR_OK)
        e = core_reward_rules_validate(&c->reward, d);
    return e;
}

const char *svc_stop_action_name(enum svc_stop_action a)
{
    switch (a) {
    case SVC_STOP_PICK_UP:
        return "pick_up";
    case SVC_STOP_DROP_OFF:
        return "drop_off";
    case SVC_STOP_TASK:
        return "task";
    }
    return "unknown";
}

/* ---- the area and the trucks ---------------------------------------- */

/* The box plans cover: the service area's, else the fleet's; false if none. */
static bool area_of(struct svc *s, struct geo_bbox *out)
{
    if (s->cfg.service_area.n) {
        *out = s->cfg.service_area.bbox;
        return true;
    }
    struct geo_bbox b = {90, 180, -90, -180};
    bool any = false;
    int64_t max_id = core_world_bike_max_id(s->world);
    for (int64_t id = 1; id <= max_id; id++) {
        const struct core_bike *bk = core_world_bike(s->world, id);
        if (!bk || !geo_latlng_is_valid(bk->pos))
            continue;
        b.min_lat_deg = MIN(b.min_lat_deg, bk->pos.lat_deg);
        b.max_lat_deg = MAX(b.max_lat_deg, bk->pos.lat_deg);
        b.min_lon_deg = MIN(b.min_lon_deg, bk->pos.lon_deg);
        b.max_lon_deg = MAX(b.max_lon_deg, bk->pos.lon_deg);
        any = true;
    }
    if (!any)
        return false;
    b.min_lat_deg = MAX(b.min_lat_deg - AREA_PAD_DEG, -85.0);
    b.max_lat_deg = MIN(b.max_lat_deg + AREA_PAD_DEG, 85.0);
    b.min_lon_deg = MAX(b.min_lon_deg - AREA_PAD_DEG, -180.0);
    b.max_lon_deg = MIN(b.max_lon_deg + AREA_PAD_DEG, 180.0);
    *out = b;
    return true;
}

static struct geo_latlng bbox_center(struct geo_bbox b)
{
    return (struct geo_latlng){(b.min_lat_deg + b.max_lat_deg) / 2,
                               (b.min_lon_deg + b.max_lon_deg) / 2};
}

/* The truck carrying b, or NULL. */
static struct svc_truck *truck_of(struct svc_dispatch *d,
                                  const struct core_bike *b)
{
    if (b->state != CORE_VS_REMOVED || b->truck_id <= 0 ||
        (size_t)b->truck_id > d->ntrucks)
        return NULL;
    return &d->trucks[b->truck_id - 1];
}

/* Counts b into what its truck carries, if it is aboard one. */
static void count_load(struct svc_dispatch *d, const struct core_bike *b)
{
    struct svc_truck *t = truck_of(d, b);
    if (!t)
        return;
    if (b->alarms & CORE_ALARM_FAULT)
        t->broken++;
    else
        t->load++;
}

static void clear_loads(struct svc_dispatch *d)
{
    for (size_t i = 0; i < d->ntrucks; i++)
        d->trucks[i].load = d->trucks[i].broken = 0;
}

/* ---- tasks ---------------------------------------------------------- */

static int cmp_task(const void *a, const void *b)
{
    const struct svc_task *x = a, *y = b;
    if (x->task.priority != y->task.priority)
        return x->task.priority < y->task.priority ? -1 : 1;
    if (x->task.since_ms != y->task.since_ms)
        return x->task.since_ms < y->task.since_ms ? -1 : 1;
    return (x->task.bike_id > y->task.bike_id) -
           (x->task.bike_id < y->task.bike_id);
}

/* Appends b's task, if it has one, to the vector v. */
static void push_task(struct svc *s, const struct core_bike *b, int64_t now,
                      struct svc_task **v, size_t *n, size_t *cap)
{
    struct svc_task t;
    if (maint_task_of(&s->cfg.dispatch.maint, b, now, &t.task)) {
        t.pos = b->pos;
        VEC_PUSH(*v, *n, *cap, t);
    }
}

/* Every task now, most urgent first, into *out (xmalloc). */
static size_t all_tasks(struct svc *s, int64_t now, struct svc_task **out)
{
    struct svc_task *v = NULL;
    size_t n = 0, cap = 0;
    int64_t max_id = core_world_bike_max_id(s->world);
    for (int64_t id = 1; id <= max_id; id++) {
        const struct core_bike *b = core_world_bike(s->world, id);
        if (b)
            push_task(s, b, now, &v, &n, &cap);
    }
    if (n)
        qsort(v, n, sizeof(*v), cmp_task);
    *out = v;
    return n;
}

size_t svc_tasks(struct svc *s, struct svc_task *out, size_t cap, size_t *total)
{
    struct svc_task *v;
    size_t n = all_tasks(s, clock_wall_ms(), &v);
    size_t k = MIN(n, cap);
    if (k)
        memcpy(out, v, k * sizeof(*out));
    xfree(v);
    *total = n;
    return k;
}

/* ---- planning -------------------------------------------------------- */

static void *planner_main(void *arg)
{
    struct svc *s = arg;
    svc__planner_run(s->dispatch->job);
    atomic_store(&s->dispatch->done, true);
    net_loop_wakeup(s->loop);
    return NULL;
}

static void job_free(struct svc_plan_job *job)
{
    if (!job)
        return;
    svc__plan_free(job->plan);
    svc__plan_history_free(job->history);
    xfree(job->db_path);
    xfree(job->avail);
    xfree(job->tasks);
    xfree(job->trucks);
    xfree(job);
}

/* Takes the snapshot and starts the planner. */
static void start_job(struct svc *s)
{
    struct svc_dispatch *d = s->dispatch;
    const struct svc_dispatch_config *c = &s->cfg.dispatch;
    int64_t t0 = clock_mono_ns();
    struct svc_plan_job *job = xcalloc(1, sizeof(*job));
    job->id = ++d->last_id;
    job->now_ms = clock_wall_ms();
    job->db_path = xstrndup(s->cfg.db_path, strlen(s->cfg.db_path));
    job->cancel = &d->cancel;
    job->cfg = *c;
    struct geo_bbox area;
    if (area_of(s, &area)) {
        job->has_grid =
            demand_grid_init(&job->grid, area, c->cell_m, NULL) == ERR_OK;
        if (!c->has_depot)
            d->depot = bbox_center(area);
    }
    job->depot = d->depot;
    /* One pass over the fleet: this runs on the loop thread. */
    size_t cap = 0, task_cap = 0;
    clear_loads(d);
    int64_t max_id = core_world_bike_max_id(s->world);
    for (int64_t id = 1; id <= max_id; id++) {
        const struct core_bike *b = core_world_bike(s->world, id);
        if (!b)
            continue;
        if (b->state == CORE_VS_AVAILABLE)
            VEC_PUSH(job->avail, job->navail, cap,
                     ((struct svc_plan_bike){b->id, b->pos}));
        push_task(s, b, job->now_ms, &job->tasks, &job->tasks_total, &task_cap);
        count_load(d, b);
    }
    if (job->tasks_total)
        qsort(job->tasks, job->tasks_total, sizeof(*job->tasks), cmp_task);
    job->ntasks = MIN(job->tasks_total, c->max_task_sites);
    job->ntrucks = d->ntrucks;
    job->trucks = xcalloc(MAX(d->ntrucks, (size_t)1), sizeof(*job->trucks));
    memcpy(job->trucks, d->trucks, d->ntrucks * sizeof(*d->trucks));
    job->snapshot_ms = (clock_mono_ns() - t0 + 500000) / 1000000;
    job->history = d->history; /* the planner's until it is done */
    d->history = NULL;
    d->job = job;
    d->requested = d->stale = false;
    d->started_mono_ms = net_loop_now_ms(s->loop);
    atomic_store(&d->done, false);
    int rc = pthread_create(&d->thread, NULL, planner_main, s);
    if (rc != 0) {
        log_emit(LOG_ERROR, "planner_start_failed",
                 LOG_FIELDS(LOG_I64("errno", rc)));
        d->job = NULL;
        job_free(job);
    }
}

/* The bikes a crew should load at a pick-up: nearest the cell's centre. */
static void suggest_bikes(struct svc *s, const struct demand_grid *g,
                          struct svc_plan_stop *st)
{
    struct geo_bbox box = demand_grid_cell_bounds(g, st->cell);
    struct geo_latlng corner = {box.min_lat_deg, box.min_lon_deg};
    struct geo_index_query q = {
        .center = st->pos,
        .radius_m = geo_distance_m(st->pos, corner) + 1.0,
        .k = SVC_NEAR_LIMIT_MAX,
        .filter = {.state_mask = 1u << CORE_VS_AVAILABLE,
                   .type_mask = GEO_INDEX_ALL_TYPES,
                   .min_battery_pct = -1},
    };
    struct geo_index_hit hits[SVC_NEAR_LIMIT_MAX];
    size_t n = 0;
    if (geo_index_query(s->index, &q, hits, ARRAY_LEN(hits), &n, NULL) !=
        ERR_OK)
        return;
    st->bike_ids = xmalloc(MAX(n, (size_t)1) * sizeof(*st->bike_ids));
    for (size_t i = 0; i < n && st->nbike_ids < (size_t)st->bikes; i++) {
        const struct core_bike *b = core_world_bike(s->world, hits[i].slot);
        int64_t cell;
        if (b && demand_grid_cell(g, b->pos, &cell) == ERR_OK &&
            cell == st->cell)
            st->bike_ids[st->nbike_ids++] = b->id;
    }
}

/* Makes the finished job's plan the current one. */
static void install(struct svc *s)
{
    struct svc_dispatch *d = s->dispatch;
    struct svc_plan_job *job = d->job;
    struct svc_plan *plan = job->plan;
    job->plan = NULL;
    plan->snapshot_ms = job->snapshot_ms;
    svc__plan_free(d->plan);
    d->plan = plan;
    xfree(d->offers_left);
    xfree(d->deficit_left);
    d->offers_left = xcalloc(MAX(plan->ncells, (size_t)1), sizeof(int32_t));
    d->deficit_left = xcalloc(MAX(plan->ncells, (size_t)1), sizeof(int32_t));
    for (size_t i = 0; i < plan->ncells; i++) {
        d->offers_left[i] = plan->cells[i].surplus;
        d->deficit_left[i] = plan->cells[i].deficit;
    }
    /* Rewards go to the imbalance the trucks leave. */
    for (size_t r = 0; r < plan->nroutes; r++) {
        for (size_t k = 0; k < plan->routes[r].nstops; k++) {
            struct svc_plan_stop *st = &plan->routes[r].stops[k];
            if (st->action == SVC_STOP_TASK)
                continue;
            ptrdiff_t i = svc__plan_find_cell(plan, st->cell);
            if (NEVER(i < 0))
                continue;
            if (st->action == SVC_STOP_PICK_UP) {
                d->offers_left[i] -= MIN(st->bikes, d->offers_left[i]);
                suggest_bikes(s, &job->grid, st);
            } else {
                d->deficit_left[i] -= MIN(st->bikes, d->deficit_left[i]);
            }
        }
    }
    d->grid = job->grid;
    d->has_grid = job->has_grid;
    /*
     * The next plan reads on from this history, unless the store deletes
     * demand rows (demand_retention_days) before they leave its window: a
     * kept history would still count them.
     */
    if (s->cfg.demand_retention_ms >=
        (s->cfg.dispatch.history_days + 2) * 86400 * INT64_C(1000)) {
        d->history = job->history;
        job->history = NULL;
    }
    log_emit(
        LOG_INFO, "plan_ready",
        LOG_FIELDS(LOG_I64("plan_id", (int64_t)plan->id),
                   LOG_I64("cells", (int64_t)plan->ncells),
                   LOG_I64("surplus", plan->surplus),
                   LOG_I64("deficit", plan->deficit),
                   LOG_I64("bikes_moved", plan->bikes_moved),
                   LOG_I64("tasks", (int64_t)plan->tasks),
                   LOG_I64("history_events", (int64_t)plan->history_events),
                   LOG_BOOL("history_incremental", plan->history_incremental),
                   LOG_I64("snapshot_ms", plan->snapshot_ms),
                   LOG_I64("load_ms", plan->load_ms),
                   LOG_I64("forecast_ms", plan->forecast_ms),
                   LOG_I64("route_ms", plan->route_ms),
                   LOG_STR("note", plan->note)));
    job_free(job);
    d->job = NULL;
}

void svc__dispatch_wakeup(struct svc *s)
{
    struct svc_dispatch *d = s->dispatch;
    if (!d || !d->job || !atomic_load(&d->done))
        return;
    int rc = pthread_join(d->thread, NULL);
    if (rc != 0)
        BUG("pthread_join: %d", rc);
    install(s);
}

static void tick(struct net_timer *t)
{
    struct svc *s = t->ctx;
    struct svc_dispatch *d = s->dispatch;
    const struct svc_dispatch_config *c = &s->cfg.dispatch;
    net_timer_start(s->loop, &d->tick, TICK_MS, tick, s);
    if (d->job)
        return;
    int64_t since = net_loop_now_ms(s->loop) - d->started_mono_ms;
    if (!d->plan || d->requested || since >= c->interval_ms ||
        (d->stale && since >= c->replan_min_ms))
        start_job(s);
}

void svc__dispatch_start(struct svc *s)
{
    struct svc_dispatch *d = xcalloc(1, sizeof(*d));
    s->dispatch = d;
    atomic_init(&d->done, false);
    atomic_init(&d->cancel, false);
    const struct svc_dispatch_config *c = &s->cfg.dispatch;
    struct geo_bbox area;
    if (c->has_depot)
        d->depot = c->depot;
    else if (area_of(s, &area))
        d->depot = bbox_center(area);
    d->ntrucks = c->trucks;
    d->trucks = xcalloc(MAX(d->ntrucks, (size_t)1), sizeof(*d->trucks));
    for (size_t i = 0; i < d->ntrucks; i++)
        d->trucks[i] =
            (struct svc_truck){.id = (int32_t)i + 1, .pos = d->depot};
    /* After a restart a truck is where the bikes it carries last were. */
    int64_t max_id = core_world_bike_max_id(s->world);
    for (int64_t id = 1; id <= max_id; id++) {
        const struct core_bike *b = core_world_bike(s->world, id);
        struct svc_truck *t = b ? truck_of(d, b) : NULL;
        if (t)
            t->pos = b->pos;
        if (b)
            count_load(d, b);
    }
    net_timer_start(s->loop, &d->tick, FIRST_PLAN_MS, tick, s);
}

void svc__dispatch_stop(struct svc *s)
{
    struct svc_dispatch *d = s->dispatch;
    if (!d)
        return;
    net_timer_stop(s->loop, &d->tick);
    if (d->job) {
        atomic_store(&d->cancel, true);
        int rc = pthread_join(d->thread, NULL);
        if (rc != 0)
            BUG("pthread_join: %d", rc);
        job_free(d->job);
    }
    svc__plan_free(d->plan);
    svc__plan_history_free(d->history);
    xfree(d->offers_left);
    xfree(d->deficit_left);
    xfree(d->trucks);
    xfree(d);
    s->dispatch = NULL;
}

const struct svc_plan *svc_plan_current(struct svc *s)
{
    return s->dispatch ? s->dispatch->plan : NULL;
}

uint64_t svc_plan_request(struct svc *s)
{
    struct svc_dispatch *d = s->dispatch;
    d->requested = true;
    return d->last_id + 1;
}

void svc__dispatch_fleet_changed(struct svc *s)
{
    if (s->dispatch)
        s->dispatch->stale = true;
}

/* ---- crews ---------------------------------------------------------- */

enum err svc_truck_get(struct svc *s, int32_t truck_id, struct svc_truck *out)
{
    struct svc_dispatch *d = s->dispatch;
    if (truck_id < 1 || (size_t)truck_id > d->ntrucks)
        return ERR_NOT_FOUND;
    *out = d->trucks[truck_id - 1];
    return ERR_OK;
}

size_t svc_truck_count(struct svc *s)
{
    return s->dispatch->ntrucks;
}

/* The plan's cell holding p, or -1. */
static ptrdiff_t plan_cell(struct svc *s, struct geo_latlng p)
{
    int64_t cell;
    if (!s->dispatch->plan || !s->dispatch->has_grid ||
        demand_grid_cell(&s->dispatch->grid, p, &cell) != ERR_OK)
        return -1;
    return svc__plan_find_cell(s->dispatch->plan, cell);
}

/*
 * Counts a confirmation against the truck's next open stop that it
 * matches; false if none does (the crew left the plan).
 */
static bool progress(struct svc *s, int32_t truck_id,
                     enum svc_stop_action action, int64_t bike_id,
                     struct geo_latlng where)
{
    struct svc_plan *plan = s->dispatch->plan;
    if (!plan)
        return false;
    struct svc_plan_route *r = NULL;
    for (size_t i = 0; i < plan->nroutes && !r; i++)
        if (plan->routes[i].truck_id == truck_id)
            r = &plan->routes[i];
    ptrdiff_t ci = plan_cell(s, where);
    int64_t cell = ci >= 0 ? plan->cells[ci].cell : -1;
    for (size_t k = 0; r && k < r->nstops; k++) {
        struct svc_plan_stop *st = &r->stops[k];
        if (st->done >= MAX(st->bikes, 1))
            continue;
        bool match = st->action == SVC_STOP_TASK
                         ? st->task.bike_id == bike_id
                         : st->action == action && st->cell == cell;
        if (match) {
            st->done++;
            return true;
        }
    }
    return false;
}

static enum err crew_bike(struct svc *s, int32_t truck_id, int64_t bike_id,
                          struct core_bike **b, struct err_detail *d)
{
    if (truck_id < 1 || (size_t)truck_id > s->dispatch->ntrucks)
        return err_setc(d, ERR_NOT_FOUND, "truck_not_found", "",
                        "no truck %" PRId32, truck_id);
    *b = core_world_bike(s->world, bike_id);
    if (!*b)
        return err_setc(d, ERR_NOT_FOUND, "bike_not_found", "bike_id",
                        "no bike %" PRId64, bike_id);
    return ERR_OK;
}

static void crew_done(struct svc *s, struct svc_truck *t, struct core_bike *b,
                      bool on_plan, struct svc_crew_result *out, uint64_t *lsn)
{
    *lsn = svc__persist(s);
    if (!on_plan)
        svc__dispatch_fleet_changed(s);
    out->bike = *b;
    out->truck = *t;
    out->on_plan = on_plan;
}

enum err svc_crew_pick_up(struct svc *s, int32_t truck_id, int64_t bike_id,
                          bool maintenance, struct svc_crew_result *out,
                          uint64_t *lsn, struct err_detail *d)
{
    struct core_bike *b;
    enum err e = crew_bike(s, truck_id, bike_id, &b, d);
    if (e != ERR_OK)
        return e;
    struct geo_latlng where = b->pos;
    bool broken = (b->alarms & CORE_ALARM_FAULT) != 0;
    e = core_world_crew_pick_up(s->world, b, truck_id, maintenance,
                                clock_wall_ms(), d);
    if (e != ERR_OK)
        return e;
    struct svc_truck *t = &s->dispatch->trucks[truck_id - 1];
    t->pos = where;
    if (broken)
        t->broken++;
    else
        t->load++;
    bool on_plan = progress(s, truck_id, SVC_STOP_PICK_UP, bike_id, where);
    crew_done(s, t, b, on_plan, out, lsn);
    return ERR_OK;
}

enum err svc_crew_drop_off(struct svc *s, int32_t truck_id, int64_t bike_id,
                           struct geo_latlng pos, struct svc_crew_result *out,
                           uint64_t *lsn, struct err_detail *d)
{
    struct core_bike *b;
    enum err e = crew_bike(s, truck_id, bike_id, &b, d);
    if (e != ERR_OK)
        return e;
    if (s->cfg.service_area.n && geo_latlng_is_valid(pos) &&
        !geo_polygon_contains(&s->cfg.service_area, pos))
        return err_setc(d, ERR_INVALID, "outside_service_area", "lat",
                        "the position is outside the service area");
    bool broken = (b->alarms & CORE_ALARM_FAULT) != 0;
    e = core_world_crew_drop_off(s->world, b, truck_id, pos, clock_wall_ms(),
                                 d);
    if (e != ERR_OK)
        return e;
    struct svc_truck *t = &s->dispatch->trucks[truck_id - 1];
    t->pos = pos;
    if (broken && t->broken > 0)
        t->broken--;
    else if (t->load > 0)
        t->load--;
    bool on_plan = progress(s, truck_id, SVC_STOP_DROP_OFF, bike_id, pos);
    crew_done(s, t, b, on_plan, out, lsn);
    return ERR_OK;
}

enum err svc_bike_inspect(struct svc *s, int64_t bike_id, struct core_bike *out,
                          uint64_t *lsn, struct err_detail *d)
{
    struct core_bike *b = core_world_bike(s->world, bike_id);
    if (!b)
        return err_setc(d, ERR_NOT_FOUND, "not_found", "", "no bike %" PRId64,
                        bike_id);
    core_world_bike_inspected(s->world, b, clock_wall_ms());
    *lsn = svc__persist(s);
    *out = *b;
    return ERR_OK;
}

/* ---- incentives ----------------------------------------------------- */

/* The incentive for taking a bike at p now (0: none); its cell in *cell. */
static int64_t offer_at(struct svc *s, struct geo_latlng p, ptrdiff_t *cell)
{
    int64_t amount = s->cfg.dispatch.reward.amount_cents;
    *cell = amount > 0 ? plan_cell(s, p) : -1;
    return *cell >= 0 && s->dispatch->offers_left[*cell] > 0 ? amount : 0;
}

int64_t svc_reward_offer(struct svc *s, const struct core_bike *b)
{
    ptrdiff_t cell;
    return b->state == CORE_VS_AVAILABLE ? offer_at(s, b->pos, &cell) : 0;
}

void svc__reward_start(struct svc *s, struct core_trip *t,
                       struct geo_latlng from)
{
    ptrdiff_t cell;
    int64_t offer = offer_at(s, from, &cell);
    if (offer <= 0)
        return;
    t->reward_offer_cents = offer;
    s->dispatch->offers_left[cell]--;
}

void svc__reward_settle(struct svc *s, struct core_trip *t)
{
    if (t->reward_offer_cents <= 0)
        return;
    ptrdiff_t i = plan_cell(s, t->end_pos);
    bool deficit = i >= 0 && s->dispatch->deficit_left[i] > 0;
    core_world_trip_reward(s->world, t, &s->cfg.dispatch.reward, deficit);
    if (t->reward_cents > 0)
        s->dispatch->deficit_left[i]--;
}
