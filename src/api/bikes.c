/* SPDX-License-Identifier: MIT */
/* Finding bikes: GET /v1/bikes, the nearest available ones. */
#include "base/sys.h"
#include "api/api_int.h"

#include <math.h>

#define NEAR_DEFAULT_RADIUS_M 500.0
#define NEAR_DEFAULT_LIMIT 10

void api__bikes_near(struct api_ctx *ctx, struct api_req *req,
                     struct api_resp *resp)
{
    struct svc_near_query q = {.radius_m = NEAR_DEFAULT_RADIUS_M,
                               .limit = NEAR_DEFAULT_LIMIT};
    int64_t limit = NEAR_DEFAULT_LIMIT;
    if (!api__query_f64(req, resp, "lat", false, -90, 90, &q.center.lat_deg,
                        NULL) ||
        !api__query_f64(req, resp, "lon", false, -180, 180, &q.center.lon_deg,
                        NULL) ||
        !api__query_f64(req, resp, "radius_m", true, 1, SVC_NEAR_RADIUS_MAX_M,
                        &q.radius_m, NULL) ||
        !api__query_i64(req, resp, "limit", true, 1, SVC_NEAR_LIMIT_MAX, &limit,
                        NULL))
        return;
    q.limit = (size_t)limit;
    struct svc_near_hit *hits =
        arena_alloc(req->arena, q.limit * sizeof(*hits));
    size_t n = 0;
    struct err_detail d;
    err_clear(&d);
    enum err e = svc_bikes_near(ctx->svc, &q, hits, &n, &d);
    if (e != ERR_OK) {
        api__reply_err(req, resp, e, &d);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        const struct core_bike *b = &hits[i].bike;
        json_t *o = json_pack(
            "{s:I, s:o, s:o, s:f, s:s, s:o}", "id", (json_int_t)b->id, "lat",
            api__coord(b->pos.lat_deg), "lon", api__coord(b->pos.lon_deg),
            "distance_m", round(hits[i].distance_m * 10) / 10, "vehicle_type",
            core_vtype_name(b->vtype), "battery_pct",
            b->battery_pct >= 0 ? json_integer(b->battery_pct) : json_null());
        json_array_append_new(arr, o);
    }
    /*
     * No wait for durability here: every position report rewrites a bike,
     * so a search would almost always wait for a commit. Availability in a
     * search is a hint; the unlock is the authoritative, durable check.
     */
    api__reply_json(req, resp, 200, json_pack("{s:o}", "bikes", arr));
}
