/* SPDX-License-Identifier: MIT */
/*
 * Operator endpoints under /v1/ops/: fleet registration and listing, bike
 * state events, forced trip ends, and pricing.
 */
#include "base/sys.h"
#include "api/api_int.h"
#include "gateway/gateway.h"

#include <sodium.h>

#define FLEET_PAGE_DEFAULT 100
#define FLEET_PAGE_MAX 1000

json_t *api__ops_bike_now(struct api_ctx *ctx, const struct core_bike *b)
{
    struct svc_bike_view v = {.bike = *b};
    svc_bike_get(ctx->svc, b->id, &v);
    return api__ops_bike_json(&v);
}

json_t *api__ops_bike_json(const struct svc_bike_view *v)
{
    const struct core_bike *b = &v->bike;
    char imei[16];
    core_imei_format(b->imei, imei);
    json_t *o = json_pack(
        "{s:I, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:b, s:o, s:o, s:o, "
        "s:o}",
        "id", (json_int_t)b->id, "qr_code", b->qr_code, "lock_imei", imei,
        "vehicle_type", core_vtype_name(b->vtype), "state",
        core_vstate_name(b->state), "lat", api__coord(b->pos.lat_deg), "lon",
        api__coord(b->pos.lon_deg), "battery_pct",
        b->battery_pct >= 0 ? json_integer(b->battery_pct) : json_null(),
        "last_report_at", api__time(b->last_report_ms), "lock_online",
        v->lock_online, "lock_closed",
        b->last_report_ms ? json_boolean(b->lock_closed) : json_null(),
        "trip_id", b->trip_id ? json_integer(b->trip_id) : json_null(),
        "reservation_id",
        b->reservation_id ? json_integer(b->reservation_id) : json_null(),
        "created_at", api__time(b->created_ms));
    if (!o)
        return NULL;
    json_object_set_new(o, "lock_dialect",
                        json_string(v->lock_secure ? "secure" : "plain"));
    json_t *alarms = json_array();
    if (b->alarms & CORE_ALARM_FAULT)
        json_array_append_new(alarms, json_string("fault"));
    if (b->alarms & CORE_ALARM_FALL)
        json_array_append_new(alarms, json_string("fall"));
    json_object_set_new(o, "alarms", alarms);
    json_object_set_new(o, "truck_id",
                        b->truck_id ? json_integer(b->truck_id) : json_null());
    json_object_set_new(o, "last_used_at", api__time(b->last_use_ms));
    return o;
}

void api__ops_bike_add(struct api_ctx *ctx, struct api_req *req,
                       struct api_resp *resp)
{
    static const char *const fields[] = {
        "qr_code",      "lock_imei",   "lat", "lon",
        "vehicle_type", "secure_lock", NULL};
    struct svc_principal p;
    json_t *body;
    struct svc_bike_spec spec = {.vtype = CORE_VT_BICYCLE};
    struct str vtype = {NULL, 0};
    bool has_vtype = false;
    if (!api__auth_operator(ctx, req, resp, &p) ||
        !api__body_object(req, resp, false, &body) ||
        !api__fields_known(req, resp, body, fields) ||
        !api__field_str(req, resp, body, "qr_code", false, CORE_QR_MAX,
                        &spec.qr_code, NULL) ||
        !api__field_str(req, resp, body, "lock_imei", false, 32,
                        &spec.lock_imei, NULL) ||
        !api__field_f64(req, resp, body, "lat", false, -90, 90,
                        &spec.pos.lat_deg, NULL) ||
        !api__field_f64(req, resp, body, "lon", false, -180, 180,
                        &spec.pos.lon_deg, NULL) ||
        !api__field_str(req, resp, body, "vehicle_type", true, 16, &vtype,
                        &has_vtype) ||
        !api__field_bool(req, resp, body, "secure_lock", true, &spec.secure,
                         NULL))
        return;
    if (has_vtype && core_vtype_parse(vtype, &spec.vtype) != ERR_OK) {
        api__reply_problem(req, resp, 422, "invalid_field", "vehicle_type",
                           "vehicle_type must be 'bicycle' or 'ebike'");
        return;
    }
    struct core_bike b;
    unsigned char key[SVC_LOCK_KEY_BYTES];
    struct err_detail d;
    err_clear(&d);
    enum err e = svc_bike_add(ctx->svc, &spec, &b, key, &resp->wait_lsn, &d);
    if (e != ERR_OK) {
        api__reply_err(req, resp, e, &d);
        return;
    }
    json_t *o = api__ops_bike_now(ctx, &b);
    if (o && spec.secure) {
        /* Shown this once, to be provisioned into the lock. */
        char hex[2 * SVC_LOCK_KEY_BYTES + 1];
        sodium_bin2hex(hex, sizeof(hex), key, sizeof(key));
        json_object_set_new(o, "lock_key", json_string(hex));
        api__add_header(req, resp, "Cache-Control", "no-store");
    }
    api__reply_json(req, resp, 201, o);
    api__add_header(req, resp, "Location",
                    arena_printf(req->arena, "/v1/ops/bikes/%" PRId64, b.id));
}

void api__ops_bike_list(struct api_ctx *ctx, struct api_req *req,
                        struct api_resp *resp)
{
    struct svc_principal p;
    int64_t limit = FLEET_PAGE_DEFAULT, after = 0;
    if (!api__auth_operator(ctx, req, resp, &p) ||
        !api__query_i64(req, resp, "limit", true, 1, FLEET_PAGE_MAX, &limit,
                        NULL) ||
        !api__query_i64(req, resp, "after", true, 0, INT64_MAX, &after, NULL))
        return;
    struct str state_s;
    enum core_vstate state = CORE_VS_AVAILABLE;
    bool all = !api__query_get(req, "state", &state_s);
    if (!all && core_vstate_parse(state_s, &state) != ERR_OK) {
        api__reply_problem(req, resp, 400, "invalid_parameter", "state",
                           "state must be an MDS vehicle state");
        return;
    }
    struct svc_bike_view *views =
        arena_alloc(req->arena, (size_t)limit * sizeof(*views));
    size_t n = svc_bike_list(ctx->svc, after, all, state, views, (size_t)limit);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(arr, api__ops_bike_json(&views[i]));
        /* Like a single bike: wait until what is shown is durable. */
        resp->wait_lsn = MAX(resp->wait_lsn, views[i].bike.lsn);
    }
    json_t *o = json_pack("{s:o}", "bikes", arr);
    json_object_set_new(o, "next_after",
                        n == (size_t)limit ? json_integer(views[n - 1].bike.id)
                                           : json_null());
    api__reply_json(req, resp, 200, o);
}

void api__ops_bike_get(struct api_ctx *ctx, struct api_req *req,
                       struct api_resp *resp)
{
    struct svc_principal p;
    if (!api__auth_operator(ctx, req, resp, &p))
        return;
    struct svc_bike_view v;
    if (svc_bike_get(ctx->svc, req->params[0], &v) != ERR_OK) {
        api__reply_problem(req, resp, 404, "not_found", NULL, "no such bike");
        return;
    }
    resp->wait_lsn = v.bike.lsn;
    api__reply_json(req, resp, 200, api__ops_bike_json(&v));
}

void api__ops_bike_event(struct api_ctx *ctx, struct api_req *req,
                         struct api_resp *resp)
{
    static const char *const fields[] = {"event", NULL};
    struct svc_principal p;
    json_t *body;
    struct str ev_s;
    if (!api__auth_operator(ctx, req, resp, &p) ||
        !api__body_object(req, resp, false, &body) ||
        !api__fields_known(req, resp, body, fields) ||
        !api__field_str(req, resp, body, "event", false, 32, &ev_s, NULL))
        return;
    enum core_vevent ev;
    if (core_vevent_parse(ev_s, &ev) != ERR_OK) {
        api__reply_problem(req, resp, 422, "invalid_field", "event",
                           "event must be an MDS vehicle event type");
        return;
    }
    struct core_bike b;
    struct err_detail d;
    err_clear(&d);
    enum err e =
        svc_bike_event(ctx->svc, req->params[0], ev, &b, &resp->wait_lsn, &d);
    if (e != ERR_OK) {
        api__reply_err(req, resp, e, &d);
        return;
    }
    api__reply_json(req, resp, 200, api__ops_bike_now(ctx, &b));
}

void api__ops_trip_get(struct api_ctx *ctx, struct api_req *req,
                       struct api_resp *resp)
{
    struct core_trip t;
    if (!api__trip_of_path(ctx, req, resp, true, &t))
        return;
    json_t *o = api__trip_json(&t);
    json_object_set_new(o, "rider_id", json_integer(t.rider_id));
    api__reply_json(req, resp, 200, o);
}

void api__ops_trip_end(struct api_ctx *ctx, struct api_req *req,
                       struct api_resp *resp)
{
    static const char *const fields[] = {"charge", NULL};
    struct svc_principal p;
    json_t *body;
    bool charge = true;
    if (!api__auth_operator(ctx, req, resp, &p) ||
        !api__body_object(req, resp, true, &body) ||
        !api__fields_known(req, resp, body, fields) ||
        !api__field_bool(req, resp, body, "charge", true, &charge, NULL))
        return;
    struct core_trip t;
    struct err_detail d;
    err_clear(&d);
    enum err e = svc_trip_force_end(ctx->svc, req->params[0], charge, &t,
                                    &resp->wait_lsn, &d);
    if (e != ERR_OK) {
        api__reply_err(req, resp, e, &d);
        return;
    }
    json_t *o = api__trip_json(&t);
    json_object_set_new(o, "rider_id", json_integer(t.rider_id));
    api__reply_json(req, resp, 200, o);
}

void api__ops_pricing_get(struct api_ctx *ctx, struct api_req *req,
                          struct api_resp *resp)
{
    struct svc_principal p;
    if (!api__auth_operator(ctx, req, resp, &p))
        return;
    api__reply_json(req, resp, 200, api__pricing_json(svc_pricing(ctx->svc)));
}

/* Converts a decimal amount in currency units to whole cents, exactly. */
static bool to_cents(struct api_req *req, struct api_resp *resp,
                     const char *field, double amount, int64_t *cents)
{
    double c = amount * 100.0;
    double r = (double)(int64_t)(c + (c >= 0 ? 0.5 : -0.5));
    if (c - r > 1e-6 || r - c > 1e-6) {
        api__reply_problem(req, resp, 422, "invalid_field", field,
                           "'%s' must be a whole number of cents", field);
        return false;
    }
    *cents = (int64_t)r;
    return true;
}

static bool parse_segment(struct api_req *req, struct api_resp *resp, json_t *o,
                          struct core_price_segment *s)
{
    static const char *const fields[] = {"start", "rate", "interval", "end",
                                         NULL};
    double rate;
    if (!json_is_object(o)) {
        api__reply_problem(req, resp, 422, "invalid_field", "per_min_pricing",
                           "each segment must be an object");
        return false;
    }
    return api__fields_known(req, resp, o, fields) &&
           api__field_i64(req, resp, o, "start", false, 0, 100000,
                          &s->start_min, NULL) &&
           api__field_f64(req, resp, o, "rate", false, 0, 10000, &rate, NULL) &&
           to_cents(req, resp, "rate", rate, &s->rate_cents) &&
           api__field_i64(req, resp, o, "interval", false, 1, 1440,
                          &s->interval_min, NULL) &&
           api__field_i64(req, resp, o, "end", true, 1, 100000, &s->end_min,
                          NULL);
}

void api__ops_pricing_put(struct api_ctx *ctx, struct api_req *req,
                          struct api_resp *resp)
{
    static const char *const fields[] = {
        "plan_id",         "name",       "currency", "price",
        "per_min_pricing", "is_taxable", NULL};
    struct svc_principal p;
    json_t *body;
    struct str plan_id, name, currency;
    double price;
    if (!api__auth_operator(ctx, req, resp, &p) ||
        !api__body_object(req, resp, false, &body) ||
        !api__fields_known(req, resp, body, fields) ||
        !api__field_str(req, resp, body, "plan_id", false, CORE_PLAN_ID_MAX,
                        &plan_id, NULL) ||
        !api__field_str(req, resp, body, "name", false, CORE_PLAN_NAME_MAX,
                        &name, NULL) ||
        !api__field_str(req, resp, body, "currency", false, 3, &currency,
                        NULL) ||
        !api__field_f64(req, resp, body, "price", false, 0, 10000, &price,
                        NULL))
        return;
    struct core_pricing plan;
    memset(&plan, 0, sizeof(plan));
    memcpy(plan.plan_id, plan_id.ptr, plan_id.len);
    memcpy(plan.name, name.ptr, name.len);
    memcpy(plan.currency, currency.ptr, currency.len);
    if (!to_cents(req, resp, "price", price, &plan.unlock_cents))
        return;
    json_t *segs = json_object_get(body, "per_min_pricing");
    if (segs && !json_is_null(segs)) {
        if (!json_is_array(segs) ||
            json_array_size(segs) > CORE_PRICING_SEGMENTS_MAX) {
            api__reply_problem(req, resp, 422, "invalid_field",
                               "per_min_pricing",
                               "per_min_pricing must be an array of at most "
                               "%d segments",
                               CORE_PRICING_SEGMENTS_MAX);
            return;
        }
        plan.nsegments = json_array_size(segs);
        for (size_t i = 0; i < plan.nsegments; i++) {
            if (!parse_segment(req, resp, json_array_get(segs, i),
                               &plan.segments[i]))
                return;
        }
    }
    struct core_pricing out;
    struct err_detail d;
    err_clear(&d);
    enum err e = svc_pricing_set(ctx->svc, &plan, &out, &resp->wait_lsn, &d);
    if (e != ERR_OK) {
        api__reply_err(req, resp, e, &d);
        return;
    }
    api__reply_json(req, resp, 200, api__pricing_json(&out));
}

/* Lock policy: which vehicle types need secure locks. */

static json_t *policy_json(const bool require[CORE_VT_COUNT])
{
    json_t *types = json_array();
    for (int t = 0; t < CORE_VT_COUNT; t++) {
        if (require[t])
            json_array_append_new(
                types, json_string(core_vtype_name((enum core_vtype)t)));
    }
    return json_pack("{s:o}", "require_secure", types);
}

void api__ops_lock_policy_get(struct api_ctx *ctx, struct api_req *req,
                              struct api_resp *resp)
{
    struct svc_principal p;
    if (!api__auth_operator(ctx, req, resp, &p))
        return;
    bool require[CORE_VT_COUNT];
    svc_lock_policy(ctx->svc, require);
    api__reply_json(req, resp, 200, policy_json(require));
}

void api__ops_lock_policy_put(struct api_ctx *ctx, struct api_req *req,
                              struct api_resp *resp)
{
    static const char *const fields[] = {"require_secure", NULL};
    struct svc_principal p;
    json_t *body;
    if (!api__auth_operator(ctx, req, resp, &p) ||
        !api__body_object(req, resp, false, &body) ||
        !api__fields_known(req, resp, body, fields))
        return;
    json_t *types = json_object_get(body, "require_secure");
    bool require[CORE_VT_COUNT] = {false};
    size_t i;
    json_t *t;
    bool ok = json_is_array(types);
    json_array_foreach(types, i, t)
    {
        enum core_vtype vt;
        if (!json_is_string(t) ||
            core_vtype_parse(str_from_cstr(json_string_value(t)), &vt) !=
                ERR_OK) {
            ok = false;
            break;
        }
        require[vt] = true;
    }
    if (!ok) {
        api__reply_problem(req, resp, 422, "invalid_field", "require_secure",
                           "require_secure must be a list of vehicle types "
                           "('bicycle', 'ebike')");
        return;
    }
    if (svc_lock_policy_set(ctx->svc, require, &resp->wait_lsn) != ERR_OK) {
        api__reply_err(req, resp, ERR_IO, NULL);
        return;
    }
    api__reply_json(req, resp, 200, policy_json(require));
}
