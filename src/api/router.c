/* SPDX-License-Identifier: MIT */
/* The route table of API v1 and the matcher. */
#include "base/sys.h"
#include "api/api_int.h"

static const struct api_route routes[] = {
    {API_GET, "/healthz", api__health},
    {API_GET, "/metrics", api__metrics},
    {API_POST, "/v1/riders", api__rider_create},
    {API_GET, "/v1/me", api__me},
    {API_GET, "/v1/bikes", api__bikes_near},
    {API_POST, "/v1/reservations", api__reservation_create},
    {API_GET, "/v1/reservations/{id}", api__reservation_get},
    {API_DELETE, "/v1/reservations/{id}", api__reservation_cancel},
    {API_POST, "/v1/trips", api__trip_create},
    {API_GET, "/v1/trips", api__trips_list},
    {API_GET, "/v1/trips/{id}", api__trip_get},
    {API_GET, "/v1/trips/{id}/route", api__trip_route},
    {API_POST, "/v1/ops/bikes", api__ops_bike_add},
    {API_GET, "/v1/ops/bikes", api__ops_bike_list},
    {API_GET, "/v1/ops/bikes/{id}", api__ops_bike_get},
    {API_POST, "/v1/ops/bikes/{id}/events", api__ops_bike_event},
    {API_GET, "/v1/ops/bikes/{id}/positions", api__ops_bike_positions},
    {API_GET, "/v1/ops/bikes/{id}/position", api__ops_bike_position_at},
    {API_GET, "/v1/ops/trips/{id}", api__ops_trip_get},
    {API_GET, "/v1/ops/trips/{id}/route", api__ops_trip_route},
    {API_POST, "/v1/ops/trips/{id}/end", api__ops_trip_end},
    {API_POST, "/v1/ops/bikes/{id}/inspect", api__ops_bike_inspect},
    {API_GET, "/v1/ops/plan", api__ops_plan_get},
    {API_POST, "/v1/ops/plan", api__ops_plan_request},
    {API_GET, "/v1/ops/plan/cells", api__ops_plan_cells},
    {API_GET, "/v1/ops/trucks", api__ops_trucks_list},
    {API_POST, "/v1/ops/trucks/{id}/pick-up", api__ops_truck_pick_up},
    {API_POST, "/v1/ops/trucks/{id}/drop-off", api__ops_truck_drop_off},
    {API_GET, "/v1/ops/tasks", api__ops_tasks},
    {API_GET, "/v1/ops/lock-policy", api__ops_lock_policy_get},
    {API_PUT, "/v1/ops/lock-policy", api__ops_lock_policy_put},
    {API_GET, "/v1/ops/pricing", api__ops_pricing_get},
    {API_PUT, "/v1/ops/pricing", api__ops_pricing_put},
};

/* Matches path against pattern, collecting {id} segments into params. */
static bool match(const char *pattern, struct str path, int64_t *params)
{
    struct str pat = str_from_cstr(pattern);
    size_t np = 0;
    /* Both start with '/': compare segment by segment. */
    struct str prest = pat, rest = path;
    while (prest.ptr && rest.ptr) {
        struct str pseg, seg;
        prest = str_cut(prest, '/', &pseg);
        rest = str_cut(rest, '/', &seg);
        if (str_eq_cstr(pseg, "{id}")) {
            int64_t v;
            /* Ids are positive decimal numbers without leading zeros. */
            if (!str_is_digits(seg) || seg.ptr[0] == '0' ||
                str_to_i64(seg, &v) != ERR_OK || np >= API_MAX_PARAMS)
                return false;
            params[np++] = v;
        } else if (!str_eq(pseg, seg)) {
            return false;
        }
    }
    return !prest.ptr && !rest.ptr;
}

api_handler_fn *api__route(struct api_req *req, struct api_resp *resp)
{
    bool path_known = false;
    enum api_method m = req->method == API_HEAD ? API_GET : req->method;
    for (size_t i = 0; i < ARRAY_LEN(routes); i++) {
        int64_t params[API_MAX_PARAMS] = {0};
        if (!match(routes[i].pattern, req->path, params))
            continue;
        path_known = true;
        if (routes[i].method == m) {
            memcpy(req->params, params, sizeof(params));
            return routes[i].handler;
        }
    }
    if (path_known)
        api__reply_problem(req, resp, 405, "method_not_allowed", NULL,
                           "this method is not allowed on '%.*s'",
                           (int)MIN(req->path.len, (size_t)200), req->path.ptr);
    else
        api__reply_problem(req, resp, 404, "route_not_found", NULL,
                           "no such route");
    return NULL;
}
