/* SPDX-License-Identifier: MIT */
/*
 * The server's planner at city scale (`make bench-plan`): a store holding
 * weeks of anonymous trips of the bench city, a fleet of available bikes
 * with maintenance tasks, and trucks; one plan made exactly as the server
 * makes it (svc/planner.c: history, forecast, targets, routes), timed step
 * by step, with the process's peak memory.
 *
 *   plan_bench [--bikes N] [--trips-per-day N] [--days N] [--trucks N]
 *              [--budget-ms N] [--emptied-pct P] [--db PATH]
 *
 * The bikes are where the bench city's trips go, except in P % (30) of the
 * 1 km blocks, which the fleet has left: there the plan finds deficits.
 *
 * The trips are imported once per (days, trips per day) into --db and kept
 * for the next run.
 */
#include "base/sys.h"
#include "bench/common.h"
#include "base/clock.h"
#include "dispatch/demand.h"
#include "store/store.h"
#include "svc/svc_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#define DAY_MS (86400 * INT64_C(1000))

/* Share of a day's trips starting in each hour: two commuting peaks. */
static double hour_weight(int h)
{
    double am = exp(-0.5 * pow((h - 8.0) / 1.3, 2));
    double pm = exp(-0.5 * pow((h - 18.0) / 1.8, 2));
    return 0.15 + am + 1.2 * pm;
}

/*
 * Whether a position is in one of the blocks (0.01 degree, about 1 km) the
 * fleet has left: share_pct in a hundred of them, chosen by a hash, so that
 * the plan has cells short of bikes as well as cells with too many.
 */
static bool emptied(struct geo_latlng p, uint64_t share_pct)
{
    uint64_t row = (uint64_t)(int64_t)floor(p.lat_deg * 100);
    uint64_t col = (uint64_t)(int64_t)floor(p.lon_deg * 100);
    uint64_t h = (row * UINT64_C(0x9E3779B97F4A7C15)) ^ (col + 0x632BE5AB);
    h ^= h >> 29;
    h *= UINT64_C(0xBF58476D1CE4E5B9);
    h ^= h >> 32;
    return h % 100 < share_pct;
}

/* Imports days x per_day synthetic trips ending now, unless done before. */
static void seed_trips(const char *db, uint64_t days, uint64_t per_day,
                       int64_t now_ms)
{
    char source[64];
    snprintf(source, sizeof(source), "bench-%" PRIu64 "x%" PRIu64, days,
             per_day);
    struct store *st = NULL;
    struct err_detail d;
    err_clear(&d);
    if (store_open(db, &st, &d) != ERR_OK)
        bench_die("plan_bench: %s", d.msg);
    store_close(st);
    struct store_trip_import *imp = NULL;
    enum err e = store_trip_import_begin(db, source, false, now_ms, &imp, &d);
    if (e == ERR_CONFLICT) {
        bench_note("reusing the %s trips in %s", source, db);
        store_trip_import_free(imp);
        return;
    }
    if (e != ERR_OK)
        bench_die("plan_bench: %s", d.msg);
    double wsum = 0;
    for (int h = 0; h < 24; h++)
        wsum += hour_weight(h);
    struct bench_city city;
    struct rng r;
    rng_seed(&r, 2024);
    bench_city_init(&city, BENCH_CITY, &r);
    double t0 = bench_now_s();
    int64_t day0 = now_ms - (int64_t)days * DAY_MS;
    day0 -= day0 % DAY_MS;
    for (uint64_t day = 0; day < days; day++) {
        for (int h = 0; h < 24; h++) {
            uint64_t n =
                (uint64_t)llround((double)per_day * hour_weight(h) / wsum);
            for (uint64_t i = 0; i < n; i++) {
                struct store_demand_trip t;
                t.started_ms = day0 + (int64_t)day * DAY_MS +
                               h * 3600 * INT64_C(1000) +
                               (int64_t)rng_below(&r, 3600000);
                t.ended_ms = t.started_ms + 300000 +
                             (int64_t)rng_below(&r, 1200000);
                t.start_pos = bench_city_point(&city, &r);
                t.end_pos = bench_city_point(&city, &r);
                if (t.ended_ms >= now_ms)
                    continue;
                if (store_trip_import_add(imp, &t, &d) != ERR_OK)
                    bench_die("plan_bench: %s", d.msg);
            }
        }
    }
    struct store_trip_import_result res;
    if (store_trip_import_finish(imp, true, &res, &d) != ERR_OK)
        bench_die("plan_bench: %s", d.msg);
    store_trip_import_free(imp);
    double dt = bench_now_s() - t0;
    bench_note("imported %zu trips in %.1f s (%.0f rows/s)", res.added, dt,
               (double)res.added / dt);
}

/* Adds n trips started in [from_ms, to_ms) as a source of their own. */
static void append_trips(const char *db, int64_t from_ms, int64_t to_ms,
                         uint64_t n)
{
    char source[64];
    snprintf(source, sizeof(source), "bench-live-%" PRId64, from_ms);
    struct store_trip_import *imp = NULL;
    struct err_detail d;
    err_clear(&d);
    if (store_trip_import_begin(db, source, false, to_ms, &imp, &d) != ERR_OK)
        bench_die("plan_bench: %s", d.msg);
    struct bench_city city;
    struct rng r;
    rng_seed(&r, (uint64_t)from_ms);
    bench_city_init(&city, BENCH_CITY, &r);
    for (uint64_t i = 0; i < n; i++) {
        struct store_demand_trip t;
        t.started_ms = from_ms + (int64_t)rng_below(&r, (uint64_t)(to_ms - from_ms));
        t.ended_ms = MIN(t.started_ms + 300000, to_ms - 1);
        t.start_pos = bench_city_point(&city, &r);
        t.end_pos = bench_city_point(&city, &r);
        if (store_trip_import_add(imp, &t, &d) != ERR_OK)
            bench_die("plan_bench: %s", d.msg);
    }
    struct store_trip_import_result res;
    if (store_trip_import_finish(imp, true, &res, &d) != ERR_OK)
        bench_die("plan_bench: %s", d.msg);
    store_trip_import_free(imp);
}

/* Whether two plans have the same cells, forecasts and targets. */
static bool same_targets(const struct svc_plan *a, const struct svc_plan *b)
{
    if (a->ncells != b->ncells || a->history_events != b->history_events ||
        a->surplus != b->surplus || a->deficit != b->deficit)
        return false;
    for (size_t i = 0; i < a->ncells; i++) {
        const struct svc_plan_cell *x = &a->cells[i], *y = &b->cells[i];
        if (x->cell != y->cell || x->target != y->target ||
            x->rentals != y->rentals || x->returns != y->returns)
            return false;
    }
    return true;
}

int main(int argc, char **argv)
{
    const char *bikes_s = NULL, *tpd_s = NULL, *days_s = NULL,
               *trucks_s = NULL, *budget_s = NULL, *empty_s = NULL,
               *db = "/tmp/spoke-plan-bench.db";
    const struct bench_opt opts[] = {
        {"--bikes", &bikes_s},   {"--trips-per-day", &tpd_s},
        {"--days", &days_s},     {"--trucks", &trucks_s},
        {"--budget-ms", &budget_s}, {"--db", &db},
        {"--emptied-pct", &empty_s},
    };
    bench_parse(argc, argv, 1, opts, ARRAY_LEN(opts),
                "plan_bench [--bikes N] [--trips-per-day N] [--days N] "
                "[--trucks N] [--budget-ms N] [--emptied-pct P] [--db PATH]");
    uint64_t nbikes = bench_u64("--bikes", bikes_s, 2000000, 1, 10000000);
    uint64_t per_day =
        bench_u64("--trips-per-day", tpd_s, 1000000, 1, 10000000);
    uint64_t days = bench_u64("--days", days_s, 28, 1, 366);
    uint64_t ntrucks = bench_u64("--trucks", trucks_s, 100, 0, 1000);
    uint64_t budget = bench_u64("--budget-ms", budget_s, 2000, 10, 600000);
    uint64_t empty_pct = bench_u64("--emptied-pct", empty_s, 30, 0, 90);
    int64_t now = clock_wall_ms();
    seed_trips(db, days, per_day, now);

    struct svc_plan_job job = {0};
    atomic_bool cancel;
    atomic_init(&cancel, false);
    job.id = 1;
    job.now_ms = now;
    job.db_path = (char *)db;
    job.cancel = &cancel;
    svc_dispatch_config_default(&job.cfg);
    job.cfg.history_days = (int64_t)days;
    job.cfg.trucks = ntrucks;
    job.cfg.budget_ms = (int64_t)budget;
    struct geo_bbox area = {BENCH_MIN_LAT_DEG, BENCH_MIN_LON_DEG,
                            BENCH_MAX_LAT_DEG, BENCH_MAX_LON_DEG};
    job.has_grid =
        demand_grid_init(&job.grid, area, job.cfg.cell_m, NULL) == ERR_OK;
    job.depot = (struct geo_latlng){(area.min_lat_deg + area.max_lat_deg) / 2,
                                    (area.min_lon_deg + area.max_lon_deg) / 2};
    struct geo_latlng *fleet = bench_fleet_new(nbikes);
    /* The fleet as the day left it: no bikes in the emptied blocks, their
     * bikes elsewhere (drawn from the same city, outside those blocks). */
    struct bench_city city;
    struct rng r;
    rng_seed(&r, 7);
    bench_city_init(&city, BENCH_CITY, &r);
    uint64_t moved_away = 0;
    for (uint64_t i = 0; i < nbikes; i++) {
        if (!emptied(fleet[i], empty_pct))
            continue;
        do
            fleet[i] = bench_city_point(&city, &r);
        while (emptied(fleet[i], empty_pct));
        moved_away++;
    }
    bench_note("%" PRIu64 " bikes moved out of the %" PRIu64
               "%% emptied blocks",
               moved_away, empty_pct);
    job.avail = xmalloc(nbikes * sizeof(*job.avail));
    job.navail = nbikes;
    for (uint64_t i = 0; i < nbikes; i++)
        job.avail[i] = (struct svc_plan_bike){(int64_t)i + 1, fleet[i]};
    /* One bike in a hundred needs a crew: low batteries. */
    job.tasks_total = nbikes / 100;
    job.ntasks = MIN(job.tasks_total, job.cfg.max_task_sites);
    job.tasks = xcalloc(MAX(job.ntasks, (size_t)1), sizeof(*job.tasks));
    for (size_t i = 0; i < job.ntasks; i++)
        job.tasks[i] = (struct svc_task){
            .task = {.bike_id = (int64_t)i * 100 + 1,
                     .kind = MAINT_BATTERY,
                     .priority = MAINT_BATTERY + 1},
            .pos = fleet[i * 100]};
    job.ntrucks = ntrucks;
    job.trucks = xcalloc(MAX(ntrucks, (uint64_t)1), sizeof(*job.trucks));
    for (size_t i = 0; i < ntrucks; i++)
        job.trucks[i] = (struct svc_truck){.id = (int32_t)i + 1,
                                           .pos = job.depot};

    double t0 = bench_now_s();
    svc__planner_run(&job);
    double total = bench_now_s() - t0;
    const struct svc_plan *p = job.plan;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    bench_info("plan_note", p->note[0] ? p->note : "none");
    bench_result("plan_bikes", (double)nbikes);
    bench_result("plan_history_events", (double)p->history_events);
    bench_result("plan_cells", (double)p->ncells);
    bench_result("plan_load_s", (double)p->load_ms / 1000);
    bench_result("plan_forecast_s", (double)p->forecast_ms / 1000);
    bench_result("plan_route_s", (double)p->route_ms / 1000);
    bench_result("plan_total_s", total);
    bench_result("plan_surplus", (double)p->surplus);
    bench_result("plan_deficit", (double)p->deficit);
    bench_result("plan_bikes_moved", (double)p->bikes_moved);
    bench_result("plan_tasks_planned", (double)p->tasks_planned);
    bench_result("plan_peak_rss_mb", (double)ru.ru_maxrss / 1024);
    printf("\n| step | seconds |\n|---|---|\n"
           "| read %zu demand events | %.2f |\n"
           "| forecast and targets, %zu cells | %.2f |\n"
           "| routes, %" PRIu64 " trucks | %.2f |\n"
           "| total (with bike counts) | %.2f |\n\n"
           "surplus %" PRId64 ", deficit %" PRId64 ", moved %" PRId64
           ", tasks planned %zu of %zu; peak RSS %.0f MB\n",
           p->history_events, (double)p->load_ms / 1000, p->ncells,
           (double)p->forecast_ms / 1000, ntrucks, (double)p->route_ms / 1000,
           total, p->surplus, p->deficit, p->bikes_moved, p->tasks_planned,
           job.ntasks, (double)ru.ru_maxrss / 1024);

    /*
     * 15 minutes later, with the trips of those minutes: the next plan
     * reads on from this one's history; the same plan from scratch must
     * agree with it.
     */
    int64_t later = now + 15 * 60 * 1000;
    append_trips(db, now, later, per_day / 96);
    svc__plan_free(job.plan);
    job.plan = NULL;
    job.now_ms = later;
    t0 = bench_now_s();
    svc__planner_run(&job);
    double next_total = bench_now_s() - t0;
    struct svc_plan *next = job.plan;
    job.plan = NULL;
    svc__plan_history_free(job.history);
    job.history = NULL;
    svc__planner_run(&job);
    bool same = same_targets(next, job.plan);
    bench_result("plan_next_load_s", (double)next->load_ms / 1000);
    bench_result("plan_next_total_s", next_total);
    bench_result("plan_next_same_as_scratch", same);
    printf("next plan, 15 min and %" PRIu64 " trips later, reading on from "
           "the last one's history (incremental: %s): read %.2f s, total "
           "%.2f s; the same plan from scratch: read %.2f s; same cells, "
           "forecasts and targets: %s\n",
           per_day / 96, next->history_incremental ? "yes" : "no",
           (double)next->load_ms / 1000, next_total,
           (double)job.plan->load_ms / 1000, same ? "yes" : "NO");
    svc__plan_free(next);
    svc__plan_free(job.plan);
    svc__plan_history_free(job.history);
    xfree(job.avail);
    xfree(job.tasks);
    xfree(job.trucks);
    xfree(fleet);
    return 0;
}
