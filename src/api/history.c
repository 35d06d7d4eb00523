/* SPDX-License-Identifier: MIT */
/*
 * Position history: a bike's track and where it was at a time (operators),
 * and a trip's route (its rider, or operators).
 */
#include "base/sys.h"
#include "api/api_int.h"
#include "api/jsonw.h"
#include "base/clock.h"

#define TRACK_DEFAULT_MS (3600 * 1000)
#define TRACK_SPAN_MAX_MS (7 * 24 * 3600 * 1000LL)

/* Parses an optional RFC 3339 query parameter; 400 if malformed. */
static bool query_time(struct api_req *req, struct api_resp *resp,
                       const char *name, int64_t *out, bool *present)
{
    struct str v;
    *present = api__query_get(req, name, &v);
    if (!*present)
        return true;
    if (clock_parse_rfc3339(v, out) != ERR_OK) {
        api__reply_problem(req, resp, 400, "invalid_parameter", name,
                           "'%s' must be an RFC 3339 time, like "
                           "2026-11-29T10:43:17Z",
                           name);
        return false;
    }
    return true;
}

static bool put_time(struct buf *b, int64_t ms)
{
    char ts[25];
    clock_format_rfc3339(ms, ts);
    return api__jw_raw(b, "\"") && api__jw_raw(b, ts) && api__jw_raw(b, "\"");
}

/* Replies {"bike_id", ..., "points": [{"t", "lat", "lon"}]}. */
static void reply_points(struct api_ctx *ctx, struct api_req *req,
                         struct api_resp *resp, int64_t bike_id,
                         int64_t trip_id, const struct svc_point *pts, size_t n)
{
    struct buf *b = &ctx->scratch;
    buf_reset(b);
    bool ok = api__jw_raw(b, "{\"bike_id\":") && api__jw_i64(b, bike_id);
    if (trip_id)
        ok = ok && api__jw_raw(b, ",\"trip_id\":") && api__jw_i64(b, trip_id);
    ok = ok && api__jw_raw(b, ",\"points\":[");
    for (size_t i = 0; i < n && ok; i++) {
        ok = api__jw_raw(b, i ? ",{\"t\":" : "{\"t\":") &&
             put_time(b, pts[i].ts_ms) && api__jw_raw(b, ",\"lat\":") &&
             api__jw_fixed(b, pts[i].pos.lat_deg, 7) &&
             api__jw_raw(b, ",\"lon\":") &&
             api__jw_fixed(b, pts[i].pos.lon_deg, 7) && api__jw_raw(b, "}");
    }
    ok = ok && api__jw_raw(b, "]}");
    api__reply_written(req, resp, b, ok);
}

/* Replies with the points of bike_id from..to, at most limit. */
static void reply_track(struct api_ctx *ctx, struct api_req *req,
                        struct api_resp *resp, int64_t bike_id, int64_t trip_id,
                        int64_t from, int64_t to, size_t limit)
{
    struct svc_point *pts = arena_alloc(req->arena, limit * sizeof(*pts));
    size_t n = 0;
    enum err e = svc_positions(ctx->svc, bike_id, from, to, pts, limit, &n);
    if (e != ERR_OK) {
        struct err_detail d;
        err_setc(&d, e, e == ERR_NOT_FOUND ? "not_found" : "unavailable", "",
                 e == ERR_NOT_FOUND ? "no such bike"
                                    : "cannot read the position history");
        api__reply_err(req, resp, e, &d);
        return;
    }
    reply_points(ctx, req, resp, bike_id, trip_id, pts, n);
}

void api__ops_bike_positions(struct api_ctx *ctx, struct api_req *req,
                             struct api_resp *resp)
{
    struct svc_principal p;
    int64_t limit = 1000, from = 0, to = 0;
    bool has_from, has_to;
    if (!api__auth_operator(ctx, req, resp, &p) ||
        !query_time(req, resp, "from", &from, &has_from) ||
        !query_time(req, resp, "to", &to, &has_to) ||
        !api__query_i64(req, resp, "limit", true, 1, SVC_POINTS_MAX, &limit,
                        NULL))
        return;
    if (!has_to)
        to = clock_wall_ms();
    if (!has_from)
        from = to - TRACK_DEFAULT_MS;
    if (from > to || to - from > TRACK_SPAN_MAX_MS) {
        api__reply_problem(req, resp, 400, "invalid_parameter", "from",
                           "'from' must be before 'to', at most 7 days "
                           "apart");
        return;
    }
    reply_track(ctx, req, resp, req->params[0], 0, from, to, (size_t)limit);
}

void api__ops_bike_position_at(struct api_ctx *ctx, struct api_req *req,
                               struct api_resp *resp)
{
    struct svc_principal p;
    int64_t at = 0;
    bool has_at;
    if (!api__auth_operator(ctx, req, resp, &p) ||
        !query_time(req, resp, "at", &at, &has_at))
        return;
    if (!has_at) {
        api__reply_problem(req, resp, 400, "missing_parameter", "at",
                           "query parameter 'at' is required");
        return;
    }
    struct svc_point pt;
    enum err e = svc_position_at(ctx->svc, req->params[0], at, &pt);
    if (e == ERR_NOT_FOUND) {
        api__reply_problem(req, resp, 404, "no_position", NULL,
                           "no such bike, or no position reported before "
                           "then (within the retention window)");
        return;
    }
    if (e != ERR_OK) {
        api__reply_err(req, resp, e, NULL);
        return;
    }
    api__reply_json(req, resp, 200,
                    json_pack("{s:I, s:o, s:o, s:o, s:o}", "bike_id",
                              (json_int_t)req->params[0], "at", api__time(at),
                              "lat", api__coord(pt.pos.lat_deg), "lon",
                              api__coord(pt.pos.lon_deg), "reported_at",
                              api__time(pt.ts_ms)));
}

/* The route of trip t: what its bike reported while it rode. */
static void reply_route(struct api_ctx *ctx, struct api_req *req,
                        struct api_resp *resp, const struct core_trip *t)
{
    int64_t from = t->started_ms, to = t->ended_ms;
    if (!from) {
        reply_points(ctx, req, resp, t->bike_id, t->id, NULL, 0);
        return;
    }
    if (!to)
        to = clock_wall_ms();
    reply_track(ctx, req, resp, t->bike_id, t->id, from, to, SVC_POINTS_MAX);
}

void api__trip_route(struct api_ctx *ctx, struct api_req *req,
                     struct api_resp *resp)
{
    struct core_trip t;
    if (api__trip_of_path(ctx, req, resp, false, &t))
        reply_route(ctx, req, resp, &t);
}

void api__ops_trip_route(struct api_ctx *ctx, struct api_req *req,
                         struct api_resp *resp)
{
    struct core_trip t;
    if (api__trip_of_path(ctx, req, resp, true, &t))
        reply_route(ctx, req, resp, &t);
}
