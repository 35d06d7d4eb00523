/* SPDX-License-Identifier: MIT */
/*
 * Dispatch for operators: the rebalancing plan (GET/POST /v1/ops/plan,
 * /v1/ops/plan/cells), the trucks and their crews' confirmations
 * (/v1/ops/trucks...), maintenance tasks (/v1/ops/tasks) and inspections.
 */
#include "base/sys.h"
#include "api/api_int.h"

#include <math.h>

#define CELLS_PAGE_DEFAULT 500
#define CELLS_PAGE_MAX 5000
#define TASKS_PAGE_DEFAULT 100
#define TASKS_PAGE_MAX 1000

static json_t *point(struct geo_latlng p)
{
    return json_pack("{s:o, s:o}", "lat", api__coord(p.lat_deg), "lon",
                     api__coord(p.lon_deg));
}

static json_t *task_json(const struct maint_task *t, struct geo_latlng pos)
{
    return json_pack("{s:I, s:s, s:i, s:o, s:o, s:o}", "bike_id",
                     (json_int_t)t->bike_id, "kind", maint_kind_name(t->kind),
                     "priority", t->priority, "since", api__time(t->since_ms),
                     "lat", api__coord(pos.lat_deg), "lon",
                     api__coord(pos.lon_deg));
}

static json_t *stop_json(const struct svc_plan_stop *st, size_t seq)
{
    json_t *o = json_pack(
        "{s:I, s:s, s:o, s:o, s:i, s:i, s:I}", "seq", (json_int_t)seq, "action",
        svc_stop_action_name(st->action), "lat", api__coord(st->pos.lat_deg),
        "lon", api__coord(st->pos.lon_deg), "bikes", st->bikes, "done",
        st->done, "eta_s", (json_int_t)st->eta_s);
    if (st->action == SVC_STOP_TASK) {
        json_object_set_new(o, "task", task_json(&st->task, st->pos));
        return o;
    }
    json_object_set_new(o, "cell", json_integer(st->cell));
    if (st->action == SVC_STOP_PICK_UP) {
        json_t *ids = json_array();
        for (size_t i = 0; i < st->nbike_ids; i++)
            json_array_append_new(ids, json_integer(st->bike_ids[i]));
        json_object_set_new(o, "bike_ids", ids);
    }
    return o;
}

static json_t *route_json(const struct svc_plan_route *r)
{
    json_t *stops = json_array();
    for (size_t k = 0; k < r->nstops; k++)
        json_array_append_new(stops, stop_json(&r->stops[k], k + 1));
    return json_pack("{s:i, s:o, s:i, s:i, s:f, s:I, s:o}", "truck_id",
                     r->truck_id, "start", point(r->start), "load", r->load,
                     "broken", r->broken, "metres", round(r->metres), "seconds",
                     (json_int_t)r->seconds, "stops", stops);
}

static bool plan_ready(struct api_ctx *ctx, struct api_req *req,
                       struct api_resp *resp, const struct svc_plan **out)
{
    struct svc_principal p;
    if (!api__auth_operator(ctx, req, resp, &p))
        return false;
    *out = svc_plan_current(ctx->svc);
    if (!*out) {
        api__add_header(req, resp, "Retry-After", "2");
        api__reply_problem(req, resp, 503, "plan_not_ready", NULL,
                           "the first plan is still being made");
        return false;
    }
    return true;
}

void api__ops_plan_get(struct api_ctx *ctx, struct api_req *req,
                       struct api_resp *resp)
{
    const struct svc_plan *pl;
    if (!plan_ready(ctx, req, resp, &pl))
        return;
    json_t *routes = json_array();
    for (size_t r = 0; r < pl->nroutes; r++)
        json_array_append_new(routes, route_json(&pl->routes[r]));
    json_t *summary = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f}", "cells",
        (json_int_t)pl->ncells, "surplus_bikes", (json_int_t)pl->surplus,
        "deficit_bikes", (json_int_t)pl->deficit, "bikes_moved",
        (json_int_t)pl->bikes_moved, "tasks", (json_int_t)pl->tasks,
        "tasks_planned", (json_int_t)pl->tasks_planned, "history_events",
        (json_int_t)pl->history_events, "value", round(pl->value), "metres",
        round(pl->metres));
    json_object_set_new(summary, "history_incremental",
                        json_boolean(pl->history_incremental));
    json_object_set_new(summary, "route_iters",
                        json_integer((json_int_t)pl->route_iters));
    json_object_set_new(summary, "route_deadline",
                        json_boolean(pl->route_deadline));
    json_t *timings = json_pack(
        "{s:I, s:I, s:I, s:I}", "snapshot", (json_int_t)pl->snapshot_ms, "load",
        (json_int_t)pl->load_ms, "forecast", (json_int_t)pl->forecast_ms,
        "route", (json_int_t)pl->route_ms);
    json_t *o = json_pack(
        "{s:I, s:o, s:I, s:f, s:f, s:o, s:o, s:o, s:o}", "plan_id",
        (json_int_t)pl->id, "created_at", api__time(pl->created_ms),
        "horizon_s", (json_int_t)(pl->horizon_ms / 1000), "service_level",
        pl->service_level, "cell_m", pl->cell_m, "summary", summary,
        "timings_ms", timings, "note",
        pl->note[0] ? json_string(pl->note) : json_null(), "trucks", routes);
    api__reply_json(req, resp, 200, o);
}

void api__ops_plan_request(struct api_ctx *ctx, struct api_req *req,
                           struct api_resp *resp)
{
    struct svc_principal p;
    if (!api__auth_operator(ctx, req, resp, &p))
        return;
    const struct svc_plan *cur = svc_plan_current(ctx->svc);
    uint64_t next = svc_plan_request(ctx->svc);
    api__reply_json(
        req, resp, 202,
        json_pack("{s:I, s:o}", "next_plan_id", (json_int_t)next,
                  "current_plan_id",
                  cur ? json_integer((json_int_t)cur->id) : json_null()));
}

void api__ops_plan_cells(struct api_ctx *ctx, struct api_req *req,
                         struct api_resp *resp)
{
    const struct svc_plan *pl;
    int64_t after = -1, limit = CELLS_PAGE_DEFAULT;
    if (!plan_ready(ctx, req, resp, &pl) ||
        !api__query_i64(req, resp, "after", true, -1, INT64_MAX, &after,
                        NULL) ||
        !api__query_i64(req, resp, "limit", true, 1, CELLS_PAGE_MAX, &limit,
                        NULL))
        return;
    json_t *cells = json_array();
    int64_t last = -1;
    size_t n = 0;
    for (size_t i = 0; i < pl->ncells && n < (size_t)limit; i++) {
        const struct svc_plan_cell *c = &pl->cells[i];
        if (c->cell <= after)
            continue;
        json_array_append_new(
            cells,
            json_pack("{s:I, s:o, s:o, s:i, s:i, s:i, s:i, s:f, s:f}", "cell",
                      (json_int_t)c->cell, "lat", api__coord(c->center.lat_deg),
                      "lon", api__coord(c->center.lon_deg), "available",
                      c->available, "target", c->target, "surplus", c->surplus,
                      "deficit", c->deficit, "forecast_rentals",
                      round(c->rentals * 100) / 100, "forecast_returns",
                      round(c->returns * 100) / 100));
        last = c->cell;
        n++;
    }
    bool more = n == (size_t)limit && last < pl->cells[pl->ncells - 1].cell;
    api__reply_json(req, resp, 200,
                    json_pack("{s:I, s:o, s:o}", "plan_id", (json_int_t)pl->id,
                              "cells", cells, "next_after",
                              more ? json_integer(last) : json_null()));
}

static json_t *truck_json(const struct svc_truck *t)
{
    return json_pack("{s:i, s:o, s:o, s:i, s:i}", "truck_id", t->id, "lat",
                     api__coord(t->pos.lat_deg), "lon",
                     api__coord(t->pos.lon_deg), "load", t->load, "broken",
                     t->broken);
}

void api__ops_trucks_list(struct api_ctx *ctx, struct api_req *req,
                          struct api_resp *resp)
{
    struct svc_principal p;
    if (!api__auth_operator(ctx, req, resp, &p))
        return;
    json_t *arr = json_array();
    size_t n = svc_truck_count(ctx->svc);
    for (size_t i = 0; i < n; i++) {
        struct svc_truck t;
        if (ALWAYS(svc_truck_get(ctx->svc, (int32_t)i + 1, &t) == ERR_OK))
            json_array_append_new(arr, truck_json(&t));
    }
    api__reply_json(req, resp, 200, json_pack("{s:o}", "trucks", arr));
}

static void crew_reply(struct api_ctx *ctx, struct api_req *req,
                       struct api_resp *resp, enum err e,
                       const struct err_detail *d,
                       const struct svc_crew_result *r)
{
    if (e != ERR_OK) {
        api__reply_err(req, resp, e, d);
        return;
    }
    api__reply_json(req, resp, 200,
                    json_pack("{s:o, s:o, s:b}", "bike",
                              api__ops_bike_now(ctx, &r->bike), "truck",
                              truck_json(&r->truck), "on_plan", r->on_plan));
}

/* A truck id in the path past int32 is no truck at all. */
static bool truck_param(struct api_req *req, struct api_resp *resp)
{
    if (req->params[0] <= INT32_MAX)
        return true;
    api__reply_problem(req, resp, 404, "truck_not_found", NULL,
                       "no such truck");
    return false;
}

void api__ops_truck_pick_up(struct api_ctx *ctx, struct api_req *req,
                            struct api_resp *resp)
{
    static const char *const fields[] = {"bike_id", "maintenance", NULL};
    struct svc_principal p;
    json_t *body;
    int64_t bike_id;
    bool maintenance = false;
    if (!api__auth_operator(ctx, req, resp, &p) ||
        !api__body_object(req, resp, false, &body) ||
        !api__fields_known(req, resp, body, fields) ||
        !api__field_i64(req, resp, body, "bike_id", false, 1, INT64_MAX,
                        &bike_id, NULL) ||
        !api__field_bool(req, resp, body, "maintenance", true, &maintenance,
                         NULL))
        return;
    if (!truck_param(req, resp))
        return;
    struct svc_crew_result r;
    struct err_detail d;
    err_clear(&d);
    enum err e = svc_crew_pick_up(ctx->svc, (int32_t)req->params[0], bike_id,
                                  maintenance, &r, &resp->wait_lsn, &d);
    crew_reply(ctx, req, resp, e, &d, &r);
}

void api__ops_truck_drop_off(struct api_ctx *ctx, struct api_req *req,
                             struct api_resp *resp)
{
    static const char *const fields[] = {"bike_id", "lat", "lon", NULL};
    struct svc_principal p;
    json_t *body;
    int64_t bike_id;
    struct geo_latlng pos;
    if (!api__auth_operator(ctx, req, resp, &p) ||
        !api__body_object(req, resp, false, &body) ||
        !api__fields_known(req, resp, body, fields) ||
        !api__field_i64(req, resp, body, "bike_id", false, 1, INT64_MAX,
                        &bike_id, NULL) ||
        !api__field_f64(req, resp, body, "lat", false, -90, 90, &pos.lat_deg,
                        NULL) ||
        !api__field_f64(req, resp, body, "lon", false, -180, 180, &pos.lon_deg,
                        NULL))
        return;
    if (!truck_param(req, resp))
        return;
    struct svc_crew_result r;
    struct err_detail d;
    err_clear(&d);
    enum err e = svc_crew_drop_off(ctx->svc, (int32_t)req->params[0], bike_id,
                                   pos, &r, &resp->wait_lsn, &d);
    crew_reply(ctx, req, resp, e, &d, &r);
}

void api__ops_bike_inspect(struct api_ctx *ctx, struct api_req *req,
                           struct api_resp *resp)
{
    struct svc_principal p;
    json_t *body;
    if (!api__auth_operator(ctx, req, resp, &p) ||
        !api__body_object(req, resp, true, &body))
        return;
    static const char *const fields[] = {NULL};
    if (!api__fields_known(req, resp, body, fields))
        return;
    struct core_bike b;
    struct err_detail d;
    err_clear(&d);
    enum err e =
        svc_bike_inspect(ctx->svc, req->params[0], &b, &resp->wait_lsn, &d);
    if (e != ERR_OK) {
        api__reply_err(req, resp, e, &d);
        return;
    }
    api__reply_json(req, resp, 200, api__ops_bike_now(ctx, &b));
}

void api__ops_tasks(struct api_ctx *ctx, struct api_req *req,
                    struct api_resp *resp)
{
    struct svc_principal p;
    int64_t limit = TASKS_PAGE_DEFAULT;
    if (!api__auth_operator(ctx, req, resp, &p) ||
        !api__query_i64(req, resp, "limit", true, 1, TASKS_PAGE_MAX, &limit,
                        NULL))
        return;
    struct svc_task *tasks =
        arena_alloc(req->arena, (size_t)limit * sizeof(*tasks));
    size_t total = 0;
    size_t n = svc_tasks(ctx->svc, tasks, (size_t)limit, &total);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, task_json(&tasks[i].task, tasks[i].pos));
    api__reply_json(
        req, resp, 200,
        json_pack("{s:I, s:o}", "total", (json_int_t)total, "tasks", arr));
}
