/* SPDX-License-Identifier: MIT */
/* Reservations: hold a bike for a while (POST, GET, DELETE). */
#include "base/sys.h"
#include "api/api_int.h"

void api__reservation_create(struct api_ctx *ctx, struct api_req *req,
                             struct api_resp *resp)
{
    static const char *const fields[] = {"bike_id", NULL};
    struct svc_principal p;
    json_t *body;
    int64_t bike_id;
    if (!api__auth_rider(ctx, req, resp, &p) ||
        !api__body_object(req, resp, false, &body) ||
        !api__fields_known(req, resp, body, fields) ||
        !api__field_i64(req, resp, body, "bike_id", false, 1, INT64_MAX,
                        &bike_id, NULL))
        return;
    struct core_reservation r;
    struct err_detail d;
    err_clear(&d);
    enum err e = svc_reserve(ctx->svc, p.id, bike_id, &r, &resp->wait_lsn, &d);
    if (e != ERR_OK) {
        api__reply_err(req, resp, e, &d);
        return;
    }
    api__reply_json(req, resp, 201, api__reservation_json(&r));
    api__add_header(
        req, resp, "Location",
        arena_printf(req->arena, "/v1/reservations/%" PRId64, r.id));
}

void api__reservation_get(struct api_ctx *ctx, struct api_req *req,
                          struct api_resp *resp)
{
    struct svc_principal p;
    if (!api__auth_rider(ctx, req, resp, &p))
        return;
    struct core_reservation r;
    struct err_detail d;
    err_clear(&d);
    enum err e = svc_reservation_get(ctx->svc, p.id, req->params[0], &r,
                                     &resp->wait_lsn, &d);
    if (e != ERR_OK) {
        api__reply_err(req, resp, e, &d);
        return;
    }
    api__reply_json(req, resp, 200, api__reservation_json(&r));
}

void api__reservation_cancel(struct api_ctx *ctx, struct api_req *req,
                             struct api_resp *resp)
{
    struct svc_principal p;
    if (!api__auth_rider(ctx, req, resp, &p))
        return;
    struct core_reservation r;
    struct err_detail d;
    err_clear(&d);
    enum err e = svc_reservation_cancel(ctx->svc, p.id, req->params[0], &r,
                                        &resp->wait_lsn, &d);
    if (e != ERR_OK) {
        api__reply_err(req, resp, e, &d);
        return;
    }
    api__reply_json(req, resp, 200, api__reservation_json(&r));
}
