/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the API's request-facing parsers: the route matcher,
 * query parameters, JSON bodies (depth scan, jansson, typed fields) and the
 * problem documents they produce. Input: a method byte, then path, query and
 * body separated by NUL bytes.
 */
#include "base/sys.h"
#include "api/api_int.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct str part(const uint8_t **p, const uint8_t *end)
{
    const uint8_t *start = *p;
    const uint8_t *nul = memchr(start, 0, (size_t)(end - start));
    const uint8_t *stop = nul ? nul : end;
    *p = nul ? nul + 1 : end;
    return (struct str){(const char *)start, (size_t)(stop - start)};
}

/* Every response must be a complete problem or JSON document. */
static void check_response(const struct api_resp *resp)
{
    if (!resp->body.len)
        return;
    json_t *o = json_loadb(resp->body.ptr, resp->body.len, 0, NULL);
    if (!o || !json_is_object(o))
        abort();
    json_decref(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 70000)
        return 0;
    const uint8_t *p = data + 1, *end = data + size;
    struct arena arena;
    arena_init(&arena);
    struct api_req req = {.arena = &arena};
    struct api_resp resp = {0};
    req.method = (enum api_method)(data[0] % (API_OTHER + 1));
    req.path = part(&p, end);
    req.query = part(&p, end);
    req.body = part(&p, end);
    req.content_type = STR_LIT("application/json");
    if (api__route(&req, &resp) == NULL)
        check_response(&resp);
    double f;
    int64_t i;
    bool present;
    api__query_f64(&req, &resp, "lat", true, -90, 90, &f, &present);
    api__query_i64(&req, &resp, "limit", true, 1, 100, &i, &present);
    check_response(&resp);
    json_t *o;
    if (api__body_object(&req, &resp, true, &o)) {
        static const char *const known[] = {"bike_id", "qr_code", NULL};
        struct str s;
        bool b;
        api__field_i64(&req, &resp, o, "bike_id", true, 1, INT64_MAX, &i,
                       &present);
        api__field_str(&req, &resp, o, "qr_code", true, 32, &s, &present);
        api__field_f64(&req, &resp, o, "lat", true, -90, 90, &f, &present);
        api__field_bool(&req, &resp, o, "charge", true, &b, &present);
        api__fields_known(&req, &resp, o, known);
    }
    check_response(&resp);
    arena_release(&arena);
    return 0;
}
