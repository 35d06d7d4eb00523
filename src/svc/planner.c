/* SPDX-License-Identifier: MIT */
/*
 * The planner: turns a snapshot of the fleet (taken on the loop thread by
 * plan.c) into a plan, on its own thread with its own store handle. Steps:
 * the grid over the area; available bikes per cell; the demand history of
 * the last days from the store; the forecast of the horizon per cell; the
 * targets, surplus and deficit; the routes of the trucks. It reads only
 * its job and writes only job->plan, so it shares nothing with the loop.
 */
#include "base/sys.h"
#include "svc/svc_int.h"
#include "base/clock.h"
#include "base/imap.h"
#include "dispatch/demand.h"
#include "dispatch/forecast.h"
#include "dispatch/route.h"
#include "store/store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOT_S 900
#define DAY_MS (86400 * INT64_C(1000))
#define PARK_S 60

/* What a task is worth to the route search and how long it takes. */
static const struct {
    double value;
    int32_t task_s;
    int32_t load;
} task_costs[MAINT_KIND_COUNT] = {
    [MAINT_REPAIR] = {400, 120, 1}, [MAINT_UPRIGHT] = {250, 120, 0},
    [MAINT_LOCATE] = {200, 600, 0}, [MAINT_BATTERY] = {150, 300, 0},
    [MAINT_IDLE] = {50, 120, 0},
};

/*
 * The seconds a truck may work from now_ms: route_ms, cut at the end of
 * the shift; 0 outside the shift.
 */
static int64_t shift_left_s(const struct svc_dispatch_config *c, int64_t now_ms)
{
    int64_t route_s = c->route_ms / 1000;
    int64_t start = c->shift_start_s % DEMAND_DAY_S;
    int64_t end = c->shift_end_s % DEMAND_DAY_S;
    if (start == end)
        return route_s;
    int64_t t = now_ms / 1000 + c->utc_offset_s;
    t = (t % DEMAND_DAY_S + DEMAND_DAY_S) % DEMAND_DAY_S;
    /* Seconds since the shift began and its length, past midnight too. */
    int64_t since = (t - start + DEMAND_DAY_S) % DEMAND_DAY_S;
    int64_t len = (end - start + DEMAND_DAY_S) % DEMAND_DAY_S;
    return since < len ? MIN(route_s, len - since) : 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The index of cell in the ascending cells[n], or -1. */
static ptrdiff_t find_cell(const struct svc_plan_cell *cells, size_t n,
                           int64_t cell)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cells[mid].cell < cell)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && cells[lo].cell == cell ? (ptrdiff_t)lo : -1;
}

/*
 * Bounds on what the history may cost: one search-log aggregate (a minute
 * of one ~110 m square) counts as at most LOST_MAX_PER_AGGREGATE lost
 * rentals, so an app refreshing in a loop or a script cannot inflate
 * demand; and the history holds at most DEMAND_MAX_VALUES cell-slots (the
 * series' own bound, 400 MB of counts), else the plan is made without a
 * forecast and says why.
 */
#define LOST_MAX_PER_AGGREGATE 10u

/* One day of the window: its counts, as wide as the cells it has room for. */
struct history_day {
    uint16_t *counts; /* [slot][cell][kind], NULL while the day has none */
    size_t cap;       /* cells it has room for */
    uint64_t events;  /* events counted */
};

/*
 * The demand history: for each day of the window, the counts of every cell
 * met so far, [slot of the day][cell][kind] (saturating), cells found by
 * id. Events come in time order, so the counts being written are those of
 * a slot or two, a few KB; no sorting. It is kept from plan to plan: each
 * plan drops the days that left the window and reads only the rows added
 * since the last one (store_demand_load_since), and starts over if the
 * grid, the window or the time zone changed, or a load failed half way.
 */
struct svc_plan_history {
    const atomic_bool *cancel; /* the running job's */
    struct demand_grid grid;
    int32_t utc_offset_s;
    int64_t day0;
    size_t nslots, ndays, spd; /* spd: slots a day */
    struct imap cell_ix;       /* cell id -> index + 1 */
    int64_t *cells;            /* [ncells] ids, in the order met */
    size_t ncells, capcells;
    struct history_day *day;           /* [ndays] */
    struct store_demand_cursor cursor; /* the rows read so far */
    bool loaded; /* a load completed: the next one reads on from cursor */
};

void svc__plan_history_free(struct svc_plan_history *h)
{
    if (!h)
        return;
    for (size_t d = 0; d < h->ndays; d++)
        xfree(h->day[d].counts);
    xfree(h->day);
    xfree(h->cells);
    imap_release(&h->cell_ix);
    xfree(h);
}

static struct svc_plan_history *history_new(const struct demand_grid *grid,
                                            int32_t utc_offset_s, int64_t day0,
                                            size_t ndays)
{
    struct svc_plan_history *h = xcalloc(1, sizeof(*h));
    h->grid = *grid;
    h->utc_offset_s = utc_offset_s;
    h->day0 = day0;
    h->spd = DEMAND_DAY_S / SLOT_S;
    h->ndays = ndays;
    h->nslots = ndays * h->spd;
    h->day = xcalloc(ndays, sizeof(*h->day));
    imap_init(&h->cell_ix);
    return h;
}

static bool same_grid(const struct demand_grid *a, const struct demand_grid *b)
{
    return a->south_deg == b->south_deg && a->west_deg == b->west_deg &&
           a->cell_lat_deg == b->cell_lat_deg &&
           a->cell_lon_deg == b->cell_lon_deg && a->rows == b->rows &&
           a->cols == b->cols;
}

/*
 * The history for a window of ndays from day0: h moved on to it (the days
 * before day0 dropped) if it was made for the same grid, zone and length
 * and does not lie ahead, else a new one (h freed).
 */
static struct svc_plan_history *history_for(struct svc_plan_history *h,
                                            const struct demand_grid *grid,
                                            int32_t utc_offset_s, int64_t day0,
                                            size_t ndays)
{
    if (!h || !same_grid(&h->grid, grid) || h->utc_offset_s != utc_offset_s ||
        h->ndays != ndays || day0 < h->day0) {
        svc__plan_history_free(h);
        return history_new(grid, utc_offset_s, day0, ndays);
    }
    size_t drop = (size_t)MIN(day0 - h->day0, (int64_t)ndays);
    for (size_t d = 0; d < drop; d++)
        xfree(h->day[d].counts);
    size_t keep = ndays - drop;
    memmove(h->day, h->day + drop, keep * sizeof(*h->day));
    memset(h->day + keep, 0, drop * sizeof(*h->day));
    h->day0 = day0;
    return h;
}

static uint64_t history_events(const struct svc_plan_history *h)
{
    uint64_t n = 0;
    for (size_t d = 0; d < h->ndays; d++)
        n += h->day[d].events;
    return n;
}

/* The index of cell, new if need be; false past the bound. */
static bool history_cell(struct svc_plan_history *h, int64_t cell, size_t *ix)
{
    uintptr_t v = (uintptr_t)imap_get(&h->cell_ix, (uint64_t)cell);
    if (v) {
        *ix = v - 1;
        return true;
    }
    if ((h->ncells + 1) * h->nslots > DEMAND_MAX_VALUES)
        return false;
    if (h->ncells == h->capcells) {
        h->capcells = MAX(h->capcells * 2, (size_t)256);
        h->cells = xrealloc(h->cells, h->capcells * sizeof(*h->cells));
    }
    h->cells[h->ncells] = cell;
    *ix = h->ncells++;
    imap_put(&h->cell_ix, (uint64_t)cell, (void *)(uintptr_t)h->ncells);
    return true;
}

/*
 * The counts of cell index ix in slot sd of day d, room made if need be:
 * a day's rows are as wide as the cells known when it was last touched.
 */
static uint16_t *history_counts(struct svc_plan_history *h, size_t d, size_t sd,
                                size_t ix)
{
    struct history_day *day = &h->day[d];
    if (ix >= day->cap) {
        size_t cap = h->capcells;
        uint16_t *counts =
            xcalloc(h->spd * cap * DEMAND_KINDS, sizeof(*counts));
        for (size_t t = 0; day->cap && t < h->spd; t++)
            memcpy(counts + t * cap * DEMAND_KINDS,
                   day->counts + t * day->cap * DEMAND_KINDS,
                   day->cap * DEMAND_KINDS * sizeof(*counts));
        xfree(day->counts);
        day->counts = counts;
        day->cap = cap;
    }
    return day->counts + (sd * day->cap + ix) * DEMAND_KINDS;
}

static enum err take_event(void *ctx, const struct store_demand_event *e)
{
    static const enum demand_kind kinds[] = {
        [STORE_DEMAND_RENTAL] = DEMAND_RENTALS,
        [STORE_DEMAND_RETURN] = DEMAND_RETURNS,
        [STORE_DEMAND_LOST] = DEMAND_LOST,
    };
    struct svc_plan_history *h = ctx;
    if (atomic_load(h->cancel))
        return ERR_BUSY; /* stops the load */
    int64_t cell;
    if (demand_grid_cell(&h->grid, e->pos, &cell) != ERR_OK)
        return ERR_OK; /* outside the area */
    int64_t local_s = e->t_ms / 1000 + h->utc_offset_s;
    int64_t slot = local_s / SLOT_S - h->day0 * (DEMAND_DAY_S / SLOT_S);
    if (local_s < 0 || slot < 0 || (size_t)slot >= h->nslots)
        return ERR_OK;
    size_t ix;
    if (!history_cell(h, cell, &ix))
        return ERR_TOO_BIG;
    size_t d = (size_t)slot / h->spd;
    uint16_t *c =
        history_counts(h, d, (size_t)slot % h->spd, ix) + kinds[e->kind];
    uint32_t n = e->kind == STORE_DEMAND_LOST
                     ? MIN(e->n, LOST_MAX_PER_AGGREGATE)
                     : MAX(e->n, 1u);
    *c = (uint16_t)MIN((uint32_t)*c + n, (uint32_t)UINT16_MAX);
    h->day[d].events += n;
    return ERR_OK;
}

static int cmp_cell(const void *a, const void *b, void *ctx)
{
    const int64_t *cells = ctx;
    int64_t x = cells[*(const size_t *)a], y = cells[*(const size_t *)b];
    return (x > y) - (x < y);
}

/* The series of the history (its cells in ascending order). */
static enum err history_series(struct svc_plan_history *h, uint32_t cols,
                               struct demand_series *s, struct err_detail *d)
{
    enum err e =
        demand_series_init(s, h->day0, h->ndays, SLOT_S, h->utc_offset_s,
                           h->cells, h->ncells, cols, d);
    if (e != ERR_OK)
        return e;
    size_t *order = xmalloc(MAX(h->ncells, (size_t)1) * sizeof(*order));
    for (size_t i = 0; i < h->ncells; i++)
        order[i] = i;
    qsort_r(order, h->ncells, sizeof(*order), cmp_cell, h->cells);
    for (size_t day = 0; day < h->ndays; day++) {
        size_t cap = h->day[day].cap;
        for (size_t i = 0; i < h->ncells; i++) {
            if (order[i] >= cap)
                continue; /* nothing on that day */
            for (size_t t = 0; t < h->spd; t++) {
                const uint16_t *c =
                    h->day[day].counts + (t * cap + order[i]) * DEMAND_KINDS;
                for (size_t k = 0; k < DEMAND_KINDS; k++)
                    s->count[k][i * s->nslots + day * h->spd + t] = c[k];
            }
        }
    }
    xfree(order);
    return ERR_OK;
}

/*
 * Reads the history, forecasts rentals and returns over the horizon per
 * cell of it, and sets those cells' targets in plan->cells (ascending). A
 * note says why there is no forecast.
 */
static void forecast(struct svc_plan_job *job, const struct demand_grid *grid,
                     struct svc_plan *plan)
{
    const struct svc_dispatch_config *c = &job->cfg;
    int64_t day0 = demand_local_day(
        (job->now_ms - c->history_days * DAY_MS) / 1000, c->utc_offset_s);
    struct svc_plan_history *h = history_for(
        job->history, grid, c->utc_offset_s, day0, (size_t)c->history_days + 2);
    job->history = NULL;
    h->cancel = job->cancel;
    /* Whole days: what is kept from plan to plan is whole days too. */
    int64_t from_ms = (day0 * DEMAND_DAY_S - c->utc_offset_s) * 1000;
    struct store *st = NULL;
    struct err_detail d;
    err_clear(&d);
    int64_t t0 = clock_mono_ms();
    enum err e = store_open(job->db_path, &st, &d);
    if (e == ERR_OK) {
        /* The cursor is {0, 0} after a load of empty tables too. */
        plan->history_incremental = h->loaded;
        e = store_demand_load_since(st, from_ms, &h->cursor, take_event, h);
        if (e == ERR_CONFLICT) {
            /* Ids were given again: read everything into a new history. */
            svc__plan_history_free(h);
            h = history_new(grid, c->utc_offset_s, day0,
                            (size_t)c->history_days + 2);
            h->cancel = job->cancel;
            plan->history_incremental = false;
            e = store_demand_load_since(st, from_ms, &h->cursor, take_event, h);
        }
    }
    store_close(st);
    plan->load_ms = clock_mono_ms() - t0;
    plan->history_events = history_events(h);
    h->loaded = e == ERR_OK;
    if (e != ERR_OK) {
        /* Half read: the next plan starts over. */
        svc__plan_history_free(h);
        h = NULL;
    }
    job->history = h;
    if (e == ERR_TOO_BIG) {
        snprintf(plan->note, sizeof(plan->note),
                 "demand history over %u cell-slots: lower history_days or "
                 "raise cell_m",
                 DEMAND_MAX_VALUES);
        return;
    }
    if (e != ERR_OK) {
        snprintf(plan->note, sizeof(plan->note),
                 "demand history unreadable: %.100s", d.msg[0] ? d.msg : "I/O");
        return;
    }
    if (plan->history_events == 0) {
        snprintf(plan->note, sizeof(plan->note), "no demand history yet");
        return;
    }
    t0 = clock_mono_ms();
    struct demand_series s;
    e = history_series(h, grid->cols, &s, &d);
    bool have_series = e == ERR_OK;
    size_t origin = 0, first = 0;
    if (e == ERR_OK)
        e = demand_series_slot(&s, job->now_ms / 1000, &origin);
    while (first < h->ndays && !h->day[first].events)
        first++;
    /* Days before the history began are unknown, not empty. */
    if (e == ERR_OK)
        demand_series_set_observed(&s, 0, first * s.slots_per_day, false);
    size_t horizon = (size_t)MAX(c->horizon_ms / (SLOT_S * 1000), 1);
    double *rent = NULL, *ret = NULL;
    if (e == ERR_OK) {
        struct forecast_params fp;
        forecast_params_default(&fp);
        rent = xcalloc(s.ncells * horizon, sizeof(*rent));
        ret = xcalloc(s.ncells * horizon, sizeof(*ret));
        e = forecast_run(&s, origin, horizon, &fp, rent, ret, &d);
    }
    if (e != ERR_OK) {
        snprintf(plan->note, sizeof(plan->note), "no forecast: %.120s", d.msg);
    } else {
        plan->cells = xcalloc(s.ncells, sizeof(*plan->cells));
        plan->ncells = s.ncells;
        for (size_t i = 0; i < s.ncells; i++) {
            struct svc_plan_cell *pc = &plan->cells[i];
            pc->cell = s.cells[i];
            pc->target = target_need(&c->target, rent + i * horizon,
                                     ret + i * horizon, horizon);
            for (size_t k = 0; k < horizon; k++) {
                pc->rentals += rent[i * horizon + k];
                pc->returns += ret[i * horizon + k];
            }
        }
    }
    xfree(rent);
    xfree(ret);
    if (have_series)
        demand_series_release(&s);
    plan->forecast_ms = clock_mono_ms() - t0;
}

/* Adds the cells of available bikes to the forecast ones; counts them. */
static void count_bikes(const struct svc_plan_job *job,
                        const struct demand_grid *grid, struct svc_plan *plan)
{
    int64_t *cells = xmalloc(MAX(job->navail, (size_t)1) * sizeof(*cells));
    size_t n = 0;
    for (size_t i = 0; i < job->navail; i++)
        if (demand_grid_cell(grid, job->avail[i].pos, &cells[n]) == ERR_OK)
            n++;
    qsort(cells, n, sizeof(*cells), cmp_i64);
    /* Merge: the forecast cells and the new ones, ascending. */
    size_t nf = plan->ncells, cap = nf + n;
    struct svc_plan_cell *all = xcalloc(MAX(cap, (size_t)1), sizeof(*all));
    size_t m = 0, i = 0, j = 0;
    while (i < nf || j < n) {
        if (j == n || (i < nf && plan->cells[i].cell <= cells[j])) {
            all[m] = plan->cells[i++];
        } else {
            all[m] = (struct svc_plan_cell){.cell = cells[j]};
        }
        while (j < n && cells[j] == all[m].cell) {
            all[m].available++;
            j++;
        }
        m++;
    }
    xfree(cells);
    xfree(plan->cells);
    plan->cells = all;
    plan->ncells = m;
    for (size_t k = 0; k < m; k++) {
        struct svc_plan_cell *pc = &plan->cells[k];
        pc->center = demand_grid_cell_center(grid, pc->cell);
        struct target_balance b = target_balance(pc->target, pc->available);
        pc->surplus = b.surplus;
        pc->deficit = b.deficit;
        plan->surplus += b.surplus;
        plan->deficit += b.deficit;
    }
}

/* Where a route site came from. */
struct site_src {
    bool task;
    size_t index; /* into plan->cells or job->tasks */
};

struct by_need {
    int32_t need;
    size_t index;
};

static int cmp_need(const void *a, const void *b)
{
    const struct by_need *x = a, *y = b;
    if (x->need != y->need)
        return x->need < y->need ? 1 : -1;
    return (x->index > y->index) - (x->index < y->index);
}

/* The search's clock: past any deadline once the job is cancelled. */
static int64_t mono_ns(void *ctx)
{
    const struct svc_plan_job *job = ctx;
    return atomic_load(job->cancel) ? INT64_MAX : clock_mono_ns();
}

static int64_t travel_s(const struct route_params *p, struct geo_latlng a,
                        struct geo_latlng b)
{
    return (int64_t)ceil(geo_distance_m(a, b) * p->detour / p->speed_mps);
}

/* Turns the solver's routes into the plan's. */
static void take_routes(const struct svc_plan_job *job,
                        const struct route_problem *rp,
                        const struct route_plan *sol,
                        const struct site_src *src, struct svc_plan *plan)
{
    plan->routes = xcalloc(MAX(job->ntrucks, (size_t)1), sizeof(*plan->routes));
    plan->nroutes = job->ntrucks;
    for (size_t t = 0; t < job->ntrucks; t++) {
        const struct route_path *path = &sol->paths[t];
        struct svc_plan_route *r = &plan->routes[t];
        r->truck_id = job->trucks[t].id;
        r->start = job->trucks[t].pos;
        r->load = job->trucks[t].load;
        r->broken = job->trucks[t].broken;
        r->metres = path->metres;
        r->seconds = path->seconds;
        r->stops = xcalloc(MAX(path->n_stops, (size_t)1), sizeof(*r->stops));
        struct geo_latlng at = r->start;
        int64_t clock_s = 0;
        for (size_t k = 0; k < path->n_stops; k++) {
            const struct route_stop *rs = &path->stops[k];
            const struct route_site *site = &rp->sites[rs->site];
            clock_s += travel_s(&rp->params, at, site->pos);
            at = site->pos;
            struct svc_plan_stop *st = &r->stops[r->nstops];
            *st = (struct svc_plan_stop){
                .pos = site->pos, .cell = -1, .eta_s = clock_s};
            clock_s += site->service_s + site->task_s +
                       (int64_t)rp->params.handle_s * (rs->pick + rs->drop);
            if (src[rs->site].task) {
                const struct svc_task *tk = &job->tasks[src[rs->site].index];
                st->action = SVC_STOP_TASK;
                st->task = tk->task;
                st->bikes = site->task_load;
                plan->tasks_planned++;
            } else if (rs->pick > 0 || rs->drop > 0) {
                st->action =
                    rs->pick > 0 ? SVC_STOP_PICK_UP : SVC_STOP_DROP_OFF;
                st->cell = plan->cells[src[rs->site].index].cell;
                st->bikes = rs->pick > 0 ? rs->pick : rs->drop;
            } else {
                continue; /* a visit that moves nothing */
            }
            r->nstops++;
        }
    }
    plan->bikes_moved = sol->totals.dropped;
    plan->value = sol->totals.value;
    plan->metres = sol->totals.metres;
}

/* The routes of the trucks over the cells and tasks. */
static void route(const struct svc_plan_job *job, struct svc_plan *plan)
{
    const struct svc_dispatch_config *c = &job->cfg;
    int64_t t0 = clock_mono_ms();
    /* The most imbalanced cells and the most urgent tasks. */
    struct by_need *cells =
        xmalloc(MAX(plan->ncells, (size_t)1) * sizeof(*cells));
    size_t nc = 0;
    for (size_t i = 0; i < plan->ncells; i++) {
        int32_t need = plan->cells[i].surplus + plan->cells[i].deficit;
        if (need > 0)
            cells[nc++] = (struct by_need){need, i};
    }
    qsort(cells, nc, sizeof(*cells), cmp_need);
    nc = MIN(nc, c->max_cell_sites);
    size_t nt = MIN(job->ntasks, c->max_task_sites); /* tasks come sorted */
    size_t nsites = nc + nt;
    struct route_site *sites = xcalloc(MAX(nsites, (size_t)1), sizeof(*sites));
    struct site_src *src = xcalloc(MAX(nsites, (size_t)1), sizeof(*src));
    for (size_t i = 0; i < nc; i++) {
        const struct svc_plan_cell *pc = &plan->cells[cells[i].index];
        sites[i] = (struct route_site){.pos = pc->center,
                                       .supply = pc->surplus,
                                       .demand = pc->deficit,
                                       .service_s = PARK_S};
        src[i] = (struct site_src){false, cells[i].index};
    }
    for (size_t i = 0; i < nt; i++) {
        const struct svc_task *tk = &job->tasks[i];
        sites[nc + i] = (struct route_site){
            .pos = tk->pos,
            .service_s = PARK_S,
            .task_value = task_costs[tk->task.kind].value,
            .task_load = task_costs[tk->task.kind].load,
            .task_s = task_costs[tk->task.kind].task_s,
        };
        src[nc + i] = (struct site_src){true, i};
    }
    xfree(cells);
    int64_t work_s = shift_left_s(c, job->now_ms);
    if (work_s == 0 && job->ntrucks > 0 && !plan->note[0])
        snprintf(plan->note, sizeof(plan->note), "the trucks are off shift");
    struct route_truck *trucks =
        xcalloc(MAX(job->ntrucks, (size_t)1), sizeof(*trucks));
    for (size_t t = 0; t < job->ntrucks; t++) {
        const struct svc_truck *jt = &job->trucks[t];
        int32_t aboard = jt->load + jt->broken;
        trucks[t] = (struct route_truck){
            .start = jt->pos,
            .load = jt->load,
            .broken = jt->broken,
            .capacity = MAX(c->truck_capacity, aboard),
            .time_s = (int32_t)work_s,
        };
    }
    struct route_problem rp = {.depot = job->depot,
                               .sites = sites,
                               .n_sites = nsites,
                               .trucks = trucks,
                               .n_trucks = job->ntrucks};
    route_params_default(&rp.params);
    rp.params.speed_mps = c->speed_mps;
    rp.params.handle_s = c->handle_s;
    struct route_opts opts = {.seed = c->seed,
                              .max_iters = (uint64_t)c->route_iters,
                              .clock = mono_ns,
                              .clock_ctx = (void *)job,
                              .deadline_ns =
                                  clock_mono_ns() + c->budget_ms * 1000000};
    struct route_plan sol = {0};
    struct route_stats st = {0};
    struct err_detail d;
    err_clear(&d);
    if (job->ntrucks == 0) {
        /* Nothing to route. */
    } else if (route_solve(&rp, &opts, &sol, &st, &d) == ERR_OK) {
        take_routes(job, &rp, &sol, src, plan);
        plan->route_iters = st.iters;
        plan->route_deadline = st.hit_deadline;
        route_plan_release(&sol);
    } else {
        snprintf(plan->note, sizeof(plan->note), "no routes: %.120s", d.msg);
    }
    xfree(trucks);
    xfree(sites);
    xfree(src);
    plan->route_ms = clock_mono_ms() - t0;
}

void svc__planner_run(struct svc_plan_job *job)
{
    struct svc_plan *plan = xcalloc(1, sizeof(*plan));
    plan->id = job->id;
    plan->created_ms = job->now_ms;
    plan->horizon_ms = job->cfg.horizon_ms;
    plan->service_level = job->cfg.target.service_level;
    plan->cell_m = job->cfg.cell_m;
    plan->tasks = job->tasks_total;
    job->plan = plan;
    if (!job->has_grid) {
        snprintf(plan->note, sizeof(plan->note), "no bikes and no area yet");
        return;
    }
    forecast(job, &job->grid, plan);
    count_bikes(job, &job->grid, plan);
    route(job, plan);
}

void svc__plan_free(struct svc_plan *plan)
{
    if (!plan)
        return;
    for (size_t r = 0; r < plan->nroutes; r++) {
        for (size_t k = 0; k < plan->routes[r].nstops; k++)
            xfree(plan->routes[r].stops[k].bike_ids);
        xfree(plan->routes[r].stops);
    }
    xfree(plan->routes);
    xfree(plan->cells);
    xfree(plan);
}

ptrdiff_t svc__plan_find_cell(const struct svc_plan *plan, int64_t cell)
{
    return find_cell(plan->cells, plan->ncells, cell);
}
