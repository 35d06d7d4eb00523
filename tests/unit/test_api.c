/* SPDX-License-Identifier: MIT */
/*
 * Tests for src/api's pure parts: the route matcher, JSON body and field
 * checks, query parameters and problem documents. The HTTP server itself is
 * exercised end to end by tests/api and tests/integration.
 */
#include "base/sys.h"
#include "tests/unit/harness.h"
#include "api/api_int.h"
#include "api/jsonw.h"

struct rq {
    struct arena arena;
    struct api_req req;
    struct api_resp resp;
};

static void rq_init(struct rq *r, enum api_method m, const char *path,
                    const char *query, const char *body)
{
    memset(r, 0, sizeof(*r));
    arena_init(&r->arena);
    r->req.arena = &r->arena;
    r->req.method = m;
    r->req.path = str_from_cstr(path);
    r->req.query = str_from_cstr(query);
    r->req.body = str_from_cstr(body);
    r->req.content_type = STR_LIT("application/json; charset=utf-8");
}

/* The "code" member of the problem document in the response. */
static const char *problem_code(struct rq *r)
{
    json_t *o = json_loadb(r->resp.body.ptr, r->resp.body.len, 0, NULL);
    CHECK(o != NULL);
    const char *code =
        arena_strndup(&r->arena, json_string_value(json_object_get(o, "code")),
                      strlen(json_string_value(json_object_get(o, "code"))));
    CHECK_EQ(json_integer_value(json_object_get(o, "status")), r->resp.status);
    json_decref(o);
    return code;
}

TEST(route_matching)
{
    struct rq r;
    rq_init(&r, API_GET, "/v1/trips/42", "", "");
    CHECK(api__route(&r.req, &r.resp) == api__trip_get);
    CHECK_EQ(r.req.params[0], 42);
    arena_release(&r.arena);

    rq_init(&r, API_POST, "/v1/ops/bikes/7/events", "", "");
    CHECK(api__route(&r.req, &r.resp) == api__ops_bike_event);
    CHECK_EQ(r.req.params[0], 7);
    arena_release(&r.arena);

    rq_init(&r, API_HEAD, "/healthz", "", "");
    CHECK(api__route(&r.req, &r.resp) == api__health);
    arena_release(&r.arena);

    static const char *const bad_ids[] = {"/v1/trips/0",
                                          "/v1/trips/007",
                                          "/v1/trips/-1",
                                          "/v1/trips/x",
                                          "/v1/trips/99999999999999999999",
                                          "/v1/trips/1/",
                                          "/v1/trips//1"};
    for (size_t i = 0; i < ARRAY_LEN(bad_ids); i++) {
        rq_init(&r, API_GET, bad_ids[i], "", "");
        CHECK(api__route(&r.req, &r.resp) == NULL);
        CHECK_EQ(r.resp.status, 404);
        CHECK_STR(problem_code(&r), "route_not_found");
        arena_release(&r.arena);
    }
    rq_init(&r, API_DELETE, "/v1/trips/3", "", "");
    CHECK(api__route(&r.req, &r.resp) == NULL);
    CHECK_EQ(r.resp.status, 405);
    CHECK_STR(problem_code(&r), "method_not_allowed");
    arena_release(&r.arena);
}

TEST(body_object_checks)
{
    struct rq r;
    json_t *o;
    rq_init(&r, API_POST, "/", "", "{\"a\": [1, {\"b\": 2}]}");
    CHECK(api__body_object(&r.req, &r.resp, false, &o));
    arena_release(&r.arena); /* drops the parsed JSON too */

    static const char *const broken[] = {
        "{",           "[1,2]",
        "\"x\"",       "{\"a\":1,\"a\":2}",
        "{\"a\":1} x", "[[[[[[[[[[1]]]]]]]]]]"};
    for (size_t i = 0; i < ARRAY_LEN(broken); i++) {
        rq_init(&r, API_POST, "/", "", broken[i]);
        CHECK(!api__body_object(&r.req, &r.resp, false, &o));
        CHECK_EQ(r.resp.status, 400);
        CHECK_STR(problem_code(&r), "invalid_json");
        CHECK_STR(r.resp.content_type, "application/problem+json");
        arena_release(&r.arena);
    }
    /* Brackets inside strings do not count as nesting. */
    rq_init(&r, API_POST, "/", "", "{\"a\": \"[[[[[[[[[[\\\"\"}");
    CHECK(api__body_object(&r.req, &r.resp, false, &o));
    arena_release(&r.arena);

    rq_init(&r, API_POST, "/", "", "{}");
    r.req.content_type = STR_LIT("text/plain");
    CHECK(!api__body_object(&r.req, &r.resp, false, &o));
    CHECK_EQ(r.resp.status, 415);
    arena_release(&r.arena);

    rq_init(&r, API_POST, "/", "", "");
    CHECK(api__body_object(&r.req, &r.resp, true, &o));
    CHECK(json_object_size(o) == 0);
    arena_release(&r.arena);
}

TEST(typed_fields)
{
    struct rq r;
    json_t *o;
    rq_init(&r, API_POST, "/", "",
            "{\"n\": 5, \"f\": 1.5, \"s\": \"abc\", \"b\": true, \"z\": null}");
    CHECK(api__body_object(&r.req, &r.resp, false, &o));
    int64_t n = 0;
    double f = 0;
    struct str s = {0};
    bool b = false, present = true;
    CHECK(api__field_i64(&r.req, &r.resp, o, "n", false, 1, 10, &n, NULL));
    CHECK_EQ(n, 5);
    CHECK(api__field_f64(&r.req, &r.resp, o, "n", false, 0, 10, &f, NULL));
    CHECK_NEAR(f, 5.0, 0);
    CHECK(api__field_str(&r.req, &r.resp, o, "s", false, 3, &s, NULL));
    CHECK(str_eq_cstr(s, "abc"));
    CHECK(api__field_bool(&r.req, &r.resp, o, "b", false, &b, NULL));
    CHECK(b);
    CHECK(api__field_i64(&r.req, &r.resp, o, "z", true, 0, 1, &n, &present));
    CHECK(!present);
    CHECK(!api__field_i64(&r.req, &r.resp, o, "f", false, 0, 10, &n, NULL));
    CHECK_EQ(r.resp.status, 422);
    CHECK_STR(problem_code(&r), "invalid_field");
    CHECK(!api__field_str(&r.req, &r.resp, o, "s", false, 2, &s, NULL));
    CHECK(!api__field_i64(&r.req, &r.resp, o, "n", false, 6, 10, &n, NULL));
    CHECK(
        !api__field_f64(&r.req, &r.resp, o, "missing", false, 0, 1, &f, NULL));
    CHECK_STR(problem_code(&r), "missing_field");
    static const char *const known[] = {"n", "f", "s", "b", NULL};
    CHECK(!api__fields_known(&r.req, &r.resp, o, known));
    CHECK_STR(problem_code(&r), "unknown_field");
    arena_release(&r.arena);
}

TEST(query_parameters)
{
    struct rq r;
    rq_init(&r, API_GET, "/v1/bikes", "lat=31.5&lon=-121&limit=3&flag", "");
    double lat = 0, lon = 0;
    int64_t limit = 0;
    bool present = false;
    CHECK(api__query_f64(&r.req, &r.resp, "lat", false, -90, 90, &lat, NULL));
    CHECK_NEAR(lat, 31.5, 0);
    CHECK(api__query_f64(&r.req, &r.resp, "lon", false, -180, 180, &lon, NULL));
    CHECK(api__query_i64(&r.req, &r.resp, "limit", true, 1, 100, &limit,
                         &present));
    CHECK(present);
    CHECK_EQ(limit, 3);
    struct str v;
    CHECK(api__query_get(&r.req, "flag", &v));
    CHECK_EQ(v.len, 0);
    CHECK(!api__query_f64(&r.req, &r.resp, "lon", false, 0, 10, &lon, NULL));
    CHECK_EQ(r.resp.status, 400);
    CHECK_STR(problem_code(&r), "invalid_parameter");
    CHECK(
        !api__query_f64(&r.req, &r.resp, "radius_m", false, 0, 1, &lon, NULL));
    CHECK_STR(problem_code(&r), "missing_parameter");
    arena_release(&r.arena);
}

TEST(reply_err_maps_codes)
{
    struct rq r;
    rq_init(&r, API_GET, "/", "", "");
    struct err_detail d;
    err_setc(&d, ERR_CONFLICT, "bike_unavailable", "bike_id", "taken");
    api__reply_err(&r.req, &r.resp, ERR_CONFLICT, &d);
    CHECK_EQ(r.resp.status, 409);
    CHECK_STR(problem_code(&r), "bike_unavailable");
    err_clear(&d);
    api__reply_err(&r.req, &r.resp, ERR_IO, &d);
    CHECK_EQ(r.resp.status, 503);
    api__reply_err(&r.req, &r.resp, ERR_NOT_FOUND, NULL);
    CHECK_EQ(r.resp.status, 404);
    CHECK_STR(problem_code(&r), "not_found");
    arena_release(&r.arena);
}

/* The buffer's text, NUL-terminated, for comparing. */
static const char *written(struct buf *b)
{
    CHECK_OK(buf_append(b, "", 1)); /* NUL for CHECK_STR */
    return b->data;
}

TEST(json_writer)
{
    struct buf b;
    buf_init(&b, 256);
    CHECK(api__jw_fixed(&b, 31.2304160, 7));
    CHECK_STR(written(&b), "31.230416");
    buf_reset(&b);
    CHECK(api__jw_fixed(&b, -0.00000004, 7));
    CHECK_STR(written(&b), "0.0"); /* rounds to zero: no "-0.0" */
    buf_reset(&b);
    CHECK(api__jw_fixed(&b, -121.47, 7));
    CHECK_STR(written(&b), "-121.47");
    buf_reset(&b);
    CHECK(api__jw_fixed(&b, 40.0, 1));
    CHECK_STR(written(&b), "40.0");
    buf_reset(&b);
    CHECK(api__jw_fixed(&b, 39.96, 1));
    CHECK_STR(written(&b), "40.0");
    buf_reset(&b);
    CHECK(api__jw_i64(&b, INT64_MIN));
    CHECK_STR(written(&b), "-9223372036854775808");
    buf_reset(&b);
    CHECK(!api__jw_fixed(&b, 1e300, 1));
    /* A full buffer makes every call fail. */
    struct buf small;
    buf_init(&small, 4);
    CHECK(!api__jw_raw(&small, "{\"bikes\""));
    buf_release(&small);
    buf_release(&b);
}

const struct test_case test_suite_api[] = {
    CASE(json_writer),
    CASE(route_matching),
    CASE(body_object_checks),
    CASE(typed_fields),
    CASE(query_parameters),
    CASE(reply_err_maps_codes),
    {0},
};
