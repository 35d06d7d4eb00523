/* SPDX-License-Identifier: MIT */
/* Finding bikes: GET /v1/bikes, the nearest available ones. */
#include "base/sys.h"
#include "api/api_int.h"
#include "api/jsonw.h"

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
    svc_search_log(ctx->svc, q.center, n > 0);
    /* The hottest response: written by hand, see jsonw.h. */
    struct buf *b = &ctx->scratch;
    buf_reset(b);
    bool ok = api__jw_raw(b, "{\"bikes\":[");
    for (size_t i = 0; i < n && ok; i++) {
        const struct core_bike *bk = &hits[i].bike;
        ok = api__jw_raw(b, i ? ",{\"id\":" : "{\"id\":") &&
             api__jw_i64(b, bk->id) && api__jw_raw(b, ",\"lat\":") &&
             api__jw_fixed(b, bk->pos.lat_deg, 7) &&
             api__jw_raw(b, ",\"lon\":") &&
             api__jw_fixed(b, bk->pos.lon_deg, 7) &&
             api__jw_raw(b, ",\"distance_m\":") &&
             api__jw_fixed(b, hits[i].distance_m, 1) &&
             api__jw_raw(b, ",\"vehicle_type\":\"") &&
             api__jw_raw(b, core_vtype_name(bk->vtype)) &&
             api__jw_raw(b, "\",\"battery_pct\":");
        if (ok && bk->battery_pct >= 0)
            ok = api__jw_i64(b, bk->battery_pct);
        else if (ok)
            ok = api__jw_raw(b, "null");
        if (ok && hits[i].reward_cents > 0)
            ok = api__jw_raw(b, ",\"reward_cents\":") &&
                 api__jw_i64(b, hits[i].reward_cents);
        ok = ok && api__jw_raw(b, "}");
    }
    ok = ok && api__jw_raw(b, "]}");
    /*
     * No wait for durability here: every position report rewrites a bike,
     * so a search would almost always wait for a commit. Availability in a
     * search is a hint; the unlock is the authoritative, durable check.
     */
    api__reply_written(req, resp, b, ok);
}
