/* SPDX-License-Identifier: MIT */
/*
 * Private to api/: the request and response records, the handler
 * signature, the route table, and helpers for JSON bodies and problem
 * documents. Everything a request allocates comes from its arena.
 */
#ifndef API_API_INT_H
#define API_API_INT_H

#include "base/sys.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/str.h"
#include "api/api.h"
#include "svc/svc.h"

#include <jansson.h>

#define API_MAX_PARAMS 2
#define API_MAX_EXTRA_HEADERS 4

enum api_method {
    API_GET,
    API_POST,
    API_PUT,
    API_DELETE,
    API_PATCH,
    API_HEAD,
    API_OTHER
};

struct api_req {
    struct arena *arena;
    enum api_method method;
    struct str path;  /* without the query */
    struct str query; /* after '?', or empty */
    struct str authorization;
    struct str content_type;
    struct str idem_key;
    bool has_idem_key;
    struct str body;
    int64_t params[API_MAX_PARAMS]; /* the {id} segments of the route */
};

struct api_resp {
    int status;
    const char *content_type;
    struct str body;
    const char *extra_headers[API_MAX_EXTRA_HEADERS]; /* "Name: value" */
    size_t nextra;
    uint64_t wait_lsn; /* send only once this lsn is durable */
};

/* Everything a handler can reach. */
struct api_ctx {
    struct svc *svc;
    struct gateway *gw;
    struct api_stats *stats;
    struct buf scratch; /* for responses written by hand (jsonw.h) */
};

struct api_stats {
    uint64_t requests;
    uint64_t by_class[6]; /* 1xx .. 5xx at index 1..5 */
    uint64_t connections_open;
    uint64_t connections_total;
    uint64_t parse_errors;
};

typedef void api_handler_fn(struct api_ctx *ctx, struct api_req *req,
                            struct api_resp *resp);

struct api_route {
    enum api_method method;
    const char *pattern; /* "/v1/trips/{id}": {id} is a positive int64 */
    api_handler_fn *handler;
};

/*
 * Finds the handler for req, filling req->params. Replies 404
 * route_not_found, or 405 method_not_allowed if the path exists with other
 * methods; returns NULL then.
 */
api_handler_fn *api__route(struct api_req *req, struct api_resp *resp);

/* Handlers, one file per resource. */
api_handler_fn api__health, api__metrics;
api_handler_fn api__rider_create, api__me;
api_handler_fn api__bikes_near;
api_handler_fn api__reservation_create, api__reservation_get,
    api__reservation_cancel;
api_handler_fn api__trip_create, api__trip_get, api__trips_list;
api_handler_fn api__ops_bike_add, api__ops_bike_list, api__ops_bike_get,
    api__ops_bike_event, api__ops_trip_end, api__ops_trip_get,
    api__ops_pricing_get, api__ops_pricing_put;
api_handler_fn api__ops_lock_policy_get, api__ops_lock_policy_put;
api_handler_fn api__ops_bike_positions, api__ops_bike_position_at,
    api__trip_route, api__ops_trip_route;
api_handler_fn api__ops_plan_get, api__ops_plan_request, api__ops_plan_cells,
    api__ops_trucks_list, api__ops_truck_pick_up, api__ops_truck_drop_off,
    api__ops_bike_inspect, api__ops_tasks;

/* Replies */

/* The reason phrase of an HTTP status ("Not Found"). */
const char *api__status_text(int status);

/* Replies with obj (a reference is stolen) as the JSON body. */
void api__reply_json(struct api_req *req, struct api_resp *resp, int status,
                     json_t *obj);

/*
 * Replies 200 with the JSON written into b by hand (jsonw.h), copied into
 * the arena; if !ok (it did not fit), a 500 problem instead.
 */
void api__reply_written(struct api_req *req, struct api_resp *resp,
                        const struct buf *b, bool ok);

/*
 * Replies with an RFC 9457 problem document: {"type", "title", "status",
 * "detail", "code", "field"?}. code is the stable machine-readable error.
 */
void api__reply_problem(struct api_req *req, struct api_resp *resp, int status,
                        const char *code, const char *field, const char *fmt,
                        ...) SYS_PRINTF(6, 7);

/*
 * Replies with the problem for a failed svc/core call: the status from the
 * error code (one table), the reason from d->code if set.
 */
void api__reply_err(struct api_req *req, struct api_resp *resp, enum err e,
                    const struct err_detail *d);

/* Adds a response header line "Name: value" (copied into the arena). */
void api__add_header(struct api_req *req, struct api_resp *resp,
                     const char *name, const char *value);

/* Auth: fills p, or replies 401 (missing/bad token) or 403 and fails. */
bool api__auth_rider(struct api_ctx *ctx, struct api_req *req,
                     struct api_resp *resp, struct svc_principal *p);
bool api__auth_operator(struct api_ctx *ctx, struct api_req *req,
                        struct api_resp *resp, struct svc_principal *p);

/*
 * The trip of the path (req->params[0]) for a rider, their own trips only,
 * or with operator for an operator, any trip: fills t, or replies the
 * auth or lookup error and fails (trips.c).
 */
bool api__trip_of_path(struct api_ctx *ctx, struct api_req *req,
                       struct api_resp *resp, bool operator,
                       struct core_trip * t);

/* JSON bodies */

/*
 * Parses req->body as a JSON object (decref'd when the request ends).
 * Replies 415 unsupported_media_type unless the type is application/json,
 * 400 invalid_json for broken or non-object JSON (depth capped), and fails.
 * An empty body gives an empty object when empty_ok.
 */
bool api__body_object(struct api_req *req, struct api_resp *resp, bool empty_ok,
                      json_t **out);

/*
 * Typed field access on a parsed body. Each fails with a 422 problem
 * (missing_field / invalid_field naming the field) when the value is absent
 * (unless optional: then *present is false) or of the wrong type/range.
 */
bool api__field_i64(struct api_req *req, struct api_resp *resp, json_t *obj,
                    const char *name, bool optional, int64_t min, int64_t max,
                    int64_t *out, bool *present);
bool api__field_f64(struct api_req *req, struct api_resp *resp, json_t *obj,
                    const char *name, bool optional, double min, double max,
                    double *out, bool *present);
bool api__field_str(struct api_req *req, struct api_resp *resp, json_t *obj,
                    const char *name, bool optional, size_t max_len,
                    struct str *out, bool *present);
bool api__field_bool(struct api_req *req, struct api_resp *resp, json_t *obj,
                     const char *name, bool optional, bool *out, bool *present);
/* Replies 422 unknown_field if obj has a member not in names (NULL-ended). */
bool api__fields_known(struct api_req *req, struct api_resp *resp, json_t *obj,
                       const char *const *names);

/* Query parameters: name=value pairs, percent-decoding not needed here. */
bool api__query_get(const struct api_req *req, const char *name,
                    struct str *out);
/* Typed query parameters; 400 invalid_parameter on a bad value. */
bool api__query_f64(struct api_req *req, struct api_resp *resp,
                    const char *name, bool optional, double min, double max,
                    double *out, bool *present);
bool api__query_i64(struct api_req *req, struct api_resp *resp,
                    const char *name, bool optional, int64_t min, int64_t max,
                    int64_t *out, bool *present);

/* Representations shared by handlers */

/* "2026-11-29T10:43:17.123Z" in the arena, or JSON null for 0. */
json_t *api__time(int64_t wall_ms);
json_t *api__trip_json(const struct core_trip *t);
json_t *api__reservation_json(const struct core_reservation *r);
json_t *api__pricing_json(const struct core_pricing *p);
/* A bike as operators see it. */
json_t *api__ops_bike_json(const struct svc_bike_view *v);
/* The same of b after a change: with its lock's state now (ops.c). */
json_t *api__ops_bike_now(struct api_ctx *ctx, const struct core_bike *b);
/* Coordinates rounded to 7 decimals (about 1 cm). */
json_t *api__coord(double deg);

#endif
