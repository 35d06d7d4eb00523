/* SPDX-License-Identifier: MIT */
/*
 * The JSON edge of the API: problem documents, typed access to request
 * bodies and query parameters, authentication, and the representations of
 * trips, reservations and pricing plans that several handlers share.
 */
#include "base/sys.h"
#include "api/api_int.h"
#include "base/clock.h"
#include "core/entity.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>

#define JSON_DEPTH_MAX 8

static void release_json(void *p)
{
    json_decref(p);
}

const char *api__status_text(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Unknown";
    }
}

void api__reply_json(struct api_req *req, struct api_resp *resp, int status,
                     json_t *obj)
{
    size_t flags = JSON_COMPACT | JSON_REAL_PRECISION(12);
    if (!obj) {
        api__reply_problem(req, resp, 500, "internal", NULL,
                           "cannot build the response");
        return;
    }
    size_t n = json_dumpb(obj, NULL, 0, flags);
    char *p = arena_alloc(req->arena, n + 1);
    json_dumpb(obj, p, n, flags);
    json_decref(obj);
    resp->status = status;
    resp->content_type = "application/json";
    resp->body = (struct str){p, n};
}

void api__reply_written(struct api_req *req, struct api_resp *resp,
                        const struct buf *b, bool ok)
{
    if (!ok) {
        api__reply_problem(req, resp, 500, "internal", NULL,
                           "the response does not fit");
        return;
    }
    resp->status = 200;
    resp->content_type = "application/json";
    resp->body =
        (struct str){arena_strndup(req->arena, b->data, b->len), b->len};
}

void api__reply_problem(struct api_req *req, struct api_resp *resp, int status,
                        const char *code, const char *field, const char *fmt,
                        ...)
{
    char detail[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    json_t *o = json_pack("{s:s, s:s, s:i, s:s, s:s}", "type", "about:blank",
                          "title", api__status_text(status), "status", status,
                          "detail", detail, "code", code);
    if (o && field && field[0])
        json_object_set_new(o, "field", json_string(field));
    api__reply_json(req, resp, status, o);
    resp->status = status;
    resp->content_type = "application/problem+json";
}

void api__reply_err(struct api_req *req, struct api_resp *resp, enum err e,
                    const struct err_detail *d)
{
    static const struct {
        int status;
        const char *code;
    } table[] = {
        [ERR_OK] = {500, "internal"},
        [ERR_INVALID] = {422, "invalid_field"},
        [ERR_NOT_FOUND] = {404, "not_found"},
        [ERR_CONFLICT] = {409, "conflict"},
        [ERR_TOO_BIG] = {413, "too_large"},
        [ERR_BUSY] = {503, "busy"},
        [ERR_IO] = {503, "unavailable"},
        [ERR_INTERNAL] = {500, "internal"},
    };
    size_t i = (size_t)e < ARRAY_LEN(table) ? (size_t)e : ERR_INTERNAL;
    const char *code = d && d->code[0] ? d->code : table[i].code;
    const char *msg = d && d->msg[0] ? d->msg : err_name(e);
    api__reply_problem(req, resp, table[i].status, code, d ? d->field : NULL,
                       "%s", msg);
}

void api__add_header(struct api_req *req, struct api_resp *resp,
                     const char *name, const char *value)
{
    ASSERT(resp->nextra < API_MAX_EXTRA_HEADERS);
    resp->extra_headers[resp->nextra++] =
        arena_printf(req->arena, "%s: %s", name, value);
}

/* Authentication */

static bool authenticate(struct api_ctx *ctx, struct api_req *req,
                         struct api_resp *resp, struct svc_principal *p)
{
    struct str h = req->authorization;
    if (h.len == 0) {
        api__reply_problem(req, resp, 401, "unauthorized", NULL,
                           "this needs an Authorization: Bearer token");
        api__add_header(req, resp, "WWW-Authenticate", "Bearer");
        return false;
    }
    if (h.len < 7 || !str_eq_nocase((struct str){h.ptr, 7}, "bearer ") ||
        svc_authenticate(ctx->svc, (struct str){h.ptr + 7, h.len - 7}, p) !=
            ERR_OK) {
        api__reply_problem(req, resp, 401, "invalid_token", NULL,
                           "the bearer token is not valid");
        api__add_header(req, resp, "WWW-Authenticate",
                        "Bearer error=\"invalid_token\"");
        return false;
    }
    return true;
}

bool api__auth_rider(struct api_ctx *ctx, struct api_req *req,
                     struct api_resp *resp, struct svc_principal *p)
{
    if (!authenticate(ctx, req, resp, p))
        return false;
    if (p->role != SVC_ROLE_RIDER) {
        api__reply_problem(req, resp, 403, "rider_only", NULL,
                           "this needs a rider token");
        return false;
    }
    return true;
}

bool api__auth_operator(struct api_ctx *ctx, struct api_req *req,
                        struct api_resp *resp, struct svc_principal *p)
{
    if (!authenticate(ctx, req, resp, p))
        return false;
    if (p->role != SVC_ROLE_OPERATOR) {
        api__reply_problem(req, resp, 403, "operator_only", NULL,
                           "this needs an operator token");
        return false;
    }
    return true;
}

/* Bodies */

/* Nesting depth of a JSON text, ignoring brackets inside strings. */
static size_t json_depth(struct str s)
{
    size_t depth = 0, max = 0;
    bool in_string = false;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            depth++;
            max = MAX(max, depth);
        } else if ((c == '}' || c == ']') && depth) {
            depth--;
        }
    }
    return max;
}

bool api__body_object(struct api_req *req, struct api_resp *resp, bool empty_ok,
                      json_t **out)
{
    if (req->body.len == 0 && empty_ok) {
        *out = json_object();
        arena_on_drop(req->arena, release_json, *out);
        return true;
    }
    if (req->body.len == 0) {
        api__reply_problem(req, resp, 400, "invalid_json", NULL,
                           "this needs a JSON object as the body");
        return false;
    }
    struct str ct = req->content_type;
    struct str media;
    str_cut(ct, ';', &media);
    while (media.len && media.ptr[media.len - 1] == ' ')
        media.len--;
    if (!str_eq_nocase(media, "application/json")) {
        api__reply_problem(req, resp, 415, "unsupported_media_type", NULL,
                           "send the body as application/json");
        return false;
    }
    if (json_depth(req->body) > JSON_DEPTH_MAX) {
        api__reply_problem(req, resp, 400, "invalid_json", NULL,
                           "the JSON nests deeper than %d levels",
                           JSON_DEPTH_MAX);
        return false;
    }
    json_error_t jerr;
    json_t *o =
        json_loadb(req->body.ptr, req->body.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!o) {
        api__reply_problem(req, resp, 400, "invalid_json", NULL,
                           "the body is not valid JSON: %s (line %d, "
                           "column %d)",
                           jerr.text, jerr.line, jerr.column);
        return false;
    }
    arena_on_drop(req->arena, release_json, o);
    if (!json_is_object(o)) {
        api__reply_problem(req, resp, 400, "invalid_json", NULL,
                           "the body must be a JSON object");
        return false;
    }
    *out = o;
    return true;
}

/* Looks name up; replies missing_field if it must be there. */
static bool lookup(struct api_req *req, struct api_resp *resp, json_t *obj,
                   const char *name, bool optional, json_t **v, bool *present)
{
    *v = json_object_get(obj, name);
    if (present)
        *present = *v != NULL && !json_is_null(*v);
    if (*v && !json_is_null(*v))
        return true;
    *v = NULL;
    if (optional)
        return true;
    api__reply_problem(req, resp, 422, "missing_field", name,
                       "'%s' is required", name);
    return false;
}

bool api__field_i64(struct api_req *req, struct api_resp *resp, json_t *obj,
                    const char *name, bool optional, int64_t min, int64_t max,
                    int64_t *out, bool *present)
{
    json_t *v;
    if (!lookup(req, resp, obj, name, optional, &v, present))
        return false;
    if (!v)
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < min ||
        json_integer_value(v) > max) {
        api__reply_problem(req, resp, 422, "invalid_field", name,
                           "'%s' must be an integer from %" PRId64
                           " to %" PRId64,
                           name, min, max);
        return false;
    }
    *out = json_integer_value(v);
    return true;
}

bool api__field_f64(struct api_req *req, struct api_resp *resp, json_t *obj,
                    const char *name, bool optional, double min, double max,
                    double *out, bool *present)
{
    json_t *v;
    if (!lookup(req, resp, obj, name, optional, &v, present))
        return false;
    if (!v)
        return true;
    double x = json_number_value(v);
    if (!json_is_number(v) || !isfinite(x) || x < min || x > max) {
        api__reply_problem(req, resp, 422, "invalid_field", name,
                           "'%s' must be a number from %g to %g", name, min,
                           max);
        return false;
    }
    *out = x;
    return true;
}

bool api__field_str(struct api_req *req, struct api_resp *resp, json_t *obj,
                    const char *name, bool optional, size_t max_len,
                    struct str *out, bool *present)
{
    json_t *v;
    if (!lookup(req, resp, obj, name, optional, &v, present))
        return false;
    if (!v)
        return true;
    if (!json_is_string(v) || json_string_length(v) > max_len) {
        api__reply_problem(req, resp, 422, "invalid_field", name,
                           "'%s' must be a string of at most %zu bytes", name,
                           max_len);
        return false;
    }
    *out = (struct str){json_string_value(v), json_string_length(v)};
    return true;
}

bool api__field_bool(struct api_req *req, struct api_resp *resp, json_t *obj,
                     const char *name, bool optional, bool *out, bool *present)
{
    json_t *v;
    if (!lookup(req, resp, obj, name, optional, &v, present))
        return false;
    if (!v)
        return true;
    if (!json_is_boolean(v)) {
        api__reply_problem(req, resp, 422, "invalid_field", name,
                           "'%s' must be true or false", name);
        return false;
    }
    *out = json_is_true(v);
    return true;
}

bool api__fields_known(struct api_req *req, struct api_resp *resp, json_t *obj,
                       const char *const *names)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        bool known = false;
        for (size_t i = 0; names[i]; i++)
            known = known || strcmp(key, names[i]) == 0;
        if (!known) {
            api__reply_problem(req, resp, 422, "unknown_field", key,
                               "unknown field '%s'", key);
            return false;
        }
    }
    return true;
}

/* Query parameters */

bool api__query_get(const struct api_req *req, const char *name,
                    struct str *out)
{
    struct str rest = req->query;
    while (rest.ptr && rest.len) {
        struct str pair, key;
        rest = str_cut(rest, '&', &pair);
        struct str value = str_cut(pair, '=', &key);
        if (str_eq_cstr(key, name)) {
            *out = value.ptr ? value : (struct str){"", 0};
            return true;
        }
    }
    return false;
}

/*
 * Finds query parameter name: true with *v set if present; true with v->ptr
 * NULL if absent but optional; false (after a 400) if absent and required.
 */
static bool query_lookup(struct api_req *req, struct api_resp *resp,
                         const char *name, bool optional, struct str *v,
                         bool *present)
{
    bool has = api__query_get(req, name, v);
    if (present)
        *present = has;
    if (has)
        return true;
    v->ptr = NULL;
    if (optional)
        return true;
    api__reply_problem(req, resp, 400, "missing_parameter", name,
                       "query parameter '%s' is required", name);
    return false;
}

bool api__query_f64(struct api_req *req, struct api_resp *resp,
                    const char *name, bool optional, double min, double max,
                    double *out, bool *present)
{
    struct str v;
    double x;
    if (!query_lookup(req, resp, name, optional, &v, present))
        return false;
    if (!v.ptr)
        return true;
    if (str_to_f64(v, &x) != ERR_OK || x < min || x > max) {
        api__reply_problem(req, resp, 400, "invalid_parameter", name,
                           "query parameter '%s' must be a number from %g "
                           "to %g",
                           name, min, max);
        return false;
    }
    *out = x;
    return true;
}

bool api__query_i64(struct api_req *req, struct api_resp *resp,
                    const char *name, bool optional, int64_t min, int64_t max,
                    int64_t *out, bool *present)
{
    struct str v;
    int64_t x;
    if (!query_lookup(req, resp, name, optional, &v, present))
        return false;
    if (!v.ptr)
        return true;
    if (str_to_i64(v, &x) != ERR_OK || x < min || x > max) {
        api__reply_problem(req, resp, 400, "invalid_parameter", name,
                           "query parameter '%s' must be an integer from "
                           "%" PRId64 " to %" PRId64,
                           name, min, max);
        return false;
    }
    *out = x;
    return true;
}

/* Representations */

json_t *api__time(int64_t wall_ms)
{
    if (wall_ms == 0)
        return json_null();
    char ts[25];
    clock_format_rfc3339(wall_ms, ts);
    return json_string(ts);
}

json_t *api__coord(double deg)
{
    return json_real(round(deg * 1e7) / 1e7);
}

static json_t *position(struct geo_latlng p)
{
    return json_pack("{s:o, s:o}", "lat", api__coord(p.lat_deg), "lon",
                     api__coord(p.lon_deg));
}

json_t *api__trip_json(const struct core_trip *t)
{
    bool done = t->state == CORE_TRIP_ENDED || t->state == CORE_TRIP_FAILED;
    bool started = t->started_ms != 0;
    int64_t end_ms = t->ended_ms;
    json_t *o =
        json_pack("{s:I, s:I, s:s, s:o, s:o, s:o, s:o, s:o, s:f}", "id",
                  (json_int_t)t->id, "bike_id", (json_int_t)t->bike_id, "state",
                  core_trip_state_name(t->state), "requested_at",
                  api__time(t->requested_ms), "started_at",
                  api__time(t->started_ms), "ended_at", api__time(t->ended_ms),
                  "start", started ? position(t->start_pos) : json_null(),
                  "end", done && started ? position(t->end_pos) : json_null(),
                  "distance_m", round(t->distance_m * 10) / 10);
    if (!o)
        return NULL;
    json_object_set_new(o, "duration_s",
                        started && end_ms
                            ? json_integer((end_ms - t->started_ms) / 1000)
                            : json_null());
    if (t->state == CORE_TRIP_ENDED) {
        json_object_set_new(o, "fare",
                            json_pack("{s:I, s:s, s:b, s:I}", "amount_cents",
                                      (json_int_t)t->fare_cents, "currency",
                                      t->currency, "charged", t->charged,
                                      "pricing_version",
                                      (json_int_t)t->pricing_version));
    } else {
        json_object_set_new(o, "fare", json_null());
    }
    json_object_set_new(o, "reason",
                        t->reason[0] ? json_string(t->reason) : json_null());
    json_object_set_new(
        o, "reward",
        t->reward_offer_cents > 0
            ? json_pack("{s:I, s:I, s:s}", "offer_cents",
                        (json_int_t)t->reward_offer_cents, "amount_cents",
                        (json_int_t)t->reward_cents, "status",
                        t->reward_note[0] ? t->reward_note : "pending")
            : json_null());
    return o;
}

json_t *api__reservation_json(const struct core_reservation *r)
{
    return json_pack(
        "{s:I, s:I, s:s, s:o, s:o, s:o}", "id", (json_int_t)r->id, "bike_id",
        (json_int_t)r->bike_id, "state", core_res_state_name(r->state),
        "created_at", api__time(r->created_ms), "expires_at",
        api__time(r->expires_ms), "ended_at", api__time(r->ended_ms));
}

/* Cents as a decimal amount in currency units, the GBFS way. */
static json_t *amount(int64_t cents)
{
    return json_real((double)cents / 100.0);
}

json_t *api__pricing_json(const struct core_pricing *p)
{
    json_t *segs = json_array();
    for (size_t i = 0; i < p->nsegments; i++) {
        const struct core_price_segment *s = &p->segments[i];
        json_t *o = json_pack(
            "{s:I, s:o, s:I}", "start", (json_int_t)s->start_min, "rate",
            amount(s->rate_cents), "interval", (json_int_t)s->interval_min);
        if (o && s->end_min)
            json_object_set_new(o, "end", json_integer(s->end_min));
        json_array_append_new(segs, o);
    }
    return json_pack("{s:s, s:s, s:s, s:o, s:b, s:o, s:I, s:o}", "plan_id",
                     p->plan_id, "name", p->name, "currency", p->currency,
                     "price", amount(p->unlock_cents), "is_taxable", 0,
                     "per_min_pricing", segs, "version", (json_int_t)p->version,
                     "created_at", api__time(p->created_ms));
}
