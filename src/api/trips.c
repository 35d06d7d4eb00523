/* SPDX-License-Identifier: MIT */
/* Trips: unlock a bike (POST /v1/trips) and read one's own trips. */
#include "base/sys.h"
#include "api/api_int.h"

void api__trip_create(struct api_ctx *ctx, struct api_req *req,
                      struct api_resp *resp)
{
    static const char *const fields[] = {"bike_id", "qr_code", NULL};
    struct svc_principal p;
    json_t *body;
    struct svc_trip_request tr = {0};
    bool has_id = false, has_qr = false;
    if (!api__auth_rider(ctx, req, resp, &p) ||
        !api__body_object(req, resp, false, &body) ||
        !api__fields_known(req, resp, body, fields) ||
        !api__field_i64(req, resp, body, "bike_id", true, 1, INT64_MAX,
                        &tr.bike_id, &has_id) ||
        !api__field_str(req, resp, body, "qr_code", true, CORE_QR_MAX,
                        &tr.qr_code, &has_qr))
        return;
    if (has_id == has_qr) {
        api__reply_problem(req, resp, 422, "missing_field", "bike_id",
                           "give exactly one of 'bike_id' and 'qr_code'");
        return;
    }
    struct err_detail d;
    err_clear(&d);
    if (req->has_idem_key) {
        enum err e = core_idem_key_validate(req->idem_key, &d);
        if (e != ERR_OK) {
            api__reply_problem(req, resp, 400, "invalid_idempotency_key",
                               "Idempotency-Key", "%s", d.msg);
            return;
        }
        tr.idem_key = req->idem_key;
    }
    struct core_trip t;
    bool replayed = false;
    enum err e =
        svc_trip_start(ctx->svc, p.id, &tr, &t, &replayed, &resp->wait_lsn, &d);
    if (e != ERR_OK) {
        api__reply_err(req, resp, e, &d);
        return;
    }
    api__reply_json(req, resp, 202, api__trip_json(&t));
    api__add_header(req, resp, "Location",
                    arena_printf(req->arena, "/v1/trips/%" PRId64, t.id));
    if (replayed)
        api__add_header(req, resp, "Idempotent-Replayed", "true");
}

bool api__trip_of_path(struct api_ctx *ctx, struct api_req *req,
                       struct api_resp *resp, bool operator,
                       struct core_trip * t)
{
    struct svc_principal p;
    if (operator? !api__auth_operator(ctx, req, resp, &p)
                : !api__auth_rider(ctx, req, resp, &p))
        return false;
    struct err_detail d;
    err_clear(&d);
    enum err e = svc_trip_get(ctx->svc, operator? 0 : p.id, req->params[0], t,
                              &resp->wait_lsn, &d);
    if (e != ERR_OK) {
        api__reply_err(req, resp, e, &d);
        return false;
    }
    return true;
}

void api__trip_get(struct api_ctx *ctx, struct api_req *req,
                   struct api_resp *resp)
{
    struct core_trip t;
    if (api__trip_of_path(ctx, req, resp, false, &t))
        api__reply_json(req, resp, 200, api__trip_json(&t));
}

void api__trips_list(struct api_ctx *ctx, struct api_req *req,
                     struct api_resp *resp)
{
    struct svc_principal p;
    int64_t limit = 20, before = 0;
    if (!api__auth_rider(ctx, req, resp, &p) ||
        !api__query_i64(req, resp, "limit", true, 1, SVC_TRIPS_PAGE_MAX, &limit,
                        NULL) ||
        !api__query_i64(req, resp, "before", true, 1, INT64_MAX, &before, NULL))
        return;
    struct core_trip *trips =
        arena_alloc(req->arena, (size_t)limit * sizeof(*trips));
    size_t n = 0;
    struct err_detail d;
    err_clear(&d);
    enum err e =
        svc_trips_list(ctx->svc, p.id, before, trips, (size_t)limit, &n, &d);
    if (e != ERR_OK) {
        api__reply_err(req, resp, e, &d);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(arr, api__trip_json(&trips[i]));
        resp->wait_lsn = MAX(resp->wait_lsn, trips[i].lsn);
    }
    json_t *o = json_pack("{s:o}", "trips", arr);
    json_object_set_new(o, "next_before",
                        n == (size_t)limit ? json_integer(trips[n - 1].id)
                                           : json_null());
    api__reply_json(req, resp, 200, o);
}
