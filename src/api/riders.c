/* SPDX-License-Identifier: MIT */
/* Rider sign-up and the rider's own profile (POST /v1/riders, GET /v1/me). */
#include "base/sys.h"
#include "api/api_int.h"

static json_t *rider_json(const struct core_rider *r)
{
    return json_pack(
        "{s:I, s:I, s:o, s:o, s:o}", "id", (json_int_t)r->id, "balance_cents",
        (json_int_t)r->balance_cents, "created_at", api__time(r->created_ms),
        "active_trip_id", r->trip_id ? json_integer(r->trip_id) : json_null(),
        "reservation_id",
        r->reservation_id ? json_integer(r->reservation_id) : json_null());
}

void api__rider_create(struct api_ctx *ctx, struct api_req *req,
                       struct api_resp *resp)
{
    static const char *const fields[] = {NULL};
    json_t *body;
    if (!api__body_object(req, resp, true, &body) ||
        !api__fields_known(req, resp, body, fields))
        return;
    struct core_rider r;
    char token[SVC_TOKEN_LEN];
    struct err_detail d;
    err_clear(&d);
    enum err e = svc_rider_create(ctx->svc, &r, token, &resp->wait_lsn, &d);
    if (e != ERR_OK) {
        api__reply_err(req, resp, e, &d);
        return;
    }
    json_t *o = rider_json(&r);
    json_object_set_new(o, "token", json_string(token));
    api__reply_json(req, resp, 201, o);
    api__add_header(req, resp, "Location",
                    arena_printf(req->arena, "/v1/riders/%" PRId64, r.id));
    api__add_header(req, resp, "Cache-Control", "no-store");
}

void api__me(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp)
{
    struct svc_principal p;
    if (!api__auth_rider(ctx, req, resp, &p))
        return;
    struct core_rider r;
    if (svc_rider_get(ctx->svc, p.id, &r) != ERR_OK) {
        api__reply_problem(req, resp, 404, "not_found", NULL, "no such rider");
        return;
    }
    resp->wait_lsn = r.lsn;
    api__reply_json(req, resp, 200, rider_json(&r));
}
