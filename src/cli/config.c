/* SPDX-License-Identifier: MIT */
/*
 * The server configuration: defaults, and the JSON config file of
 * `spoke serve --config FILE` (keys in docs/operations.md).
 */
#include "base/sys.h"
#include "cli/cli.h"
#include "base/log.h"
#include "base/vec.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>

void cli_server_config_default(struct cli_server_config *c)
{
    memset(c, 0, sizeof(*c));
    c->http = "127.0.0.1:8080";
    c->locks = "127.0.0.1:9000";
    svc_config_default(&c->svc);
    c->svc.db_path = "spoke.db";
    gateway_config_default(&c->gw);
}

void cli_server_config_release(struct cli_server_config *c)
{
    for (size_t i = 0; i < ARRAY_LEN(c->owned); i++) {
        xfree(c->owned[i]);
        c->owned[i] = NULL;
    }
    geo_polygon_release(&c->svc.service_area);
}

static const char *own(struct cli_server_config *c, const char *s)
{
    for (size_t i = 0; i < ARRAY_LEN(c->owned); i++) {
        if (!c->owned[i]) {
            c->owned[i] = xstrndup(s, strlen(s));
            return c->owned[i];
        }
    }
    BUG("too many owned config strings");
}

/* Reads an optional integer in [min, max] into *out. */
static bool integer(json_t *root, const char *key, int64_t min, int64_t max,
                    int64_t *out, const char *path)
{
    json_t *v = json_object_get(root, key);
    if (!v)
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < min ||
        json_integer_value(v) > max) {
        fprintf(stderr,
                "spoke: config '%s': '%s' must be an integer from %" PRId64
                " to %" PRId64 "\n",
                path, key, min, max);
        return false;
    }
    *out = json_integer_value(v);
    return true;
}

/* Reads an optional duration given in seconds into *ms. */
static bool seconds(json_t *root, const char *key, int64_t min_s, int64_t max_s,
                    int64_t *ms, const char *path)
{
    int64_t v = *ms / 1000;
    if (!integer(root, key, min_s, max_s, &v, path))
        return false;
    *ms = v * 1000;
    return true;
}

static bool string(struct cli_server_config *c, json_t *root, const char *key,
                   const char **out, const char *path)
{
    json_t *v = json_object_get(root, key);
    if (!v)
        return true;
    if (!json_is_string(v)) {
        fprintf(stderr, "spoke: config '%s': '%s' must be a string\n", path,
                key);
        return false;
    }
    *out = own(c, json_string_value(v));
    return true;
}

static bool service_area(struct cli_server_config *c, json_t *root,
                         const char *path)
{
    json_t *ring = json_object_get(root, "service_area");
    if (!ring)
        return true;
    struct geo_latlng *v = NULL;
    size_t n = 0, cap = 0;
    bool ok = json_is_array(ring);
    size_t i;
    json_t *pt;
    json_array_foreach(ring, i, pt)
    {
        if (!ok)
            break;
        json_t *lon = json_array_get(pt, 0), *lat = json_array_get(pt, 1);
        ok = json_is_array(pt) && json_array_size(pt) == 2 &&
             json_is_number(lon) && json_is_number(lat);
        if (ok)
            VEC_PUSH(v, n, cap,
                     ((struct geo_latlng){json_number_value(lat),
                                          json_number_value(lon)}));
    }
    struct err_detail d;
    err_clear(&d);
    if (ok)
        ok = geo_polygon_init(&c->svc.service_area, v, n, &d) == ERR_OK;
    xfree(v);
    if (!ok)
        fprintf(stderr,
                "spoke: config '%s': 'service_area' must be a ring of "
                "[lon, lat] pairs (at least 3)%s%s\n",
                path, d.msg[0] ? ": " : "", d.msg);
    return ok;
}

static const char *const known_keys[] = {"http",
                                         "locks",
                                         "db",
                                         "log_level",
                                         "reservation_hold_s",
                                         "unlock_timeout_s",
                                         "unlock_key_valid_s",
                                         "missing_after_s",
                                         "lock_login_timeout_s",
                                         "lock_idle_timeout_s",
                                         "max_bad_frames",
                                         "service_area",
                                         "index_cell_m",
                                         "checkpoint_s",
                                         "history_flush_s",
                                         "history_retention_h",
                                         "gateway_workers",
                                         NULL};

bool cli_server_config_load(struct cli_server_config *c, const char *path)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        fprintf(stderr, "spoke: cannot read config '%s': %s (line %d)\n", path,
                jerr.text, jerr.line);
        return false;
    }
    bool ok = json_is_object(root);
    if (!ok)
        fprintf(stderr, "spoke: config '%s' must be a JSON object\n", path);
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        bool known = false;
        for (size_t i = 0; known_keys[i]; i++)
            known = known || strcmp(known_keys[i], key) == 0;
        if (ok && !known) {
            fprintf(stderr, "spoke: config '%s': unknown key '%s'\n", path,
                    key);
            ok = false;
        }
    }
    const char *level = NULL;
    int64_t bad = (int64_t)c->gw.max_bad_frames;
    int64_t workers = (int64_t)c->gw.workers;
    int64_t key_valid_s = c->svc.unlock_key_valid_s;
    int64_t retention_h = c->svc.history_retention_ms / 3600000;
    ok = ok && string(c, root, "http", &c->http, path) &&
         string(c, root, "locks", &c->locks, path) &&
         string(c, root, "db", &c->svc.db_path, path) &&
         string(c, root, "log_level", &level, path) &&
         seconds(root, "reservation_hold_s", 10, 86400,
                 &c->svc.reservation_hold_ms, path) &&
         seconds(root, "unlock_timeout_s", 1, 600, &c->svc.unlock_timeout_ms,
                 path) &&
         seconds(root, "missing_after_s", 60, 30 * 86400,
                 &c->svc.missing_after_ms, path) &&
         seconds(root, "lock_login_timeout_s", 1, 3600, &c->gw.login_timeout_ms,
                 path) &&
         seconds(root, "lock_idle_timeout_s", 10, 86400, &c->gw.idle_timeout_ms,
                 path) &&
         seconds(root, "checkpoint_s", 1, 3600, &c->svc.checkpoint_ms, path) &&
         seconds(root, "history_flush_s", 1, 3600, &c->svc.history_flush_ms,
                 path) &&
         integer(root, "history_retention_h", 1, 24 * 3660, &retention_h,
                 path) &&
         integer(root, "max_bad_frames", 0, 10000, &bad, path) &&
         integer(root, "gateway_workers", 0, 64, &workers, path) &&
         integer(root, "unlock_key_valid_s", 5, 3600, &key_valid_s, path) &&
         service_area(c, root, path);
    c->svc.unlock_key_valid_s = key_valid_s;
    c->svc.history_retention_ms = retention_h * 3600000;
    c->gw.max_bad_frames = (size_t)bad;
    c->gw.workers = (size_t)workers;
    json_t *cell = json_object_get(root, "index_cell_m");
    if (ok && cell) {
        double m = json_number_value(cell);
        ok = json_is_number(cell) && m >= 10 && m <= 1000;
        if (!ok)
            fprintf(stderr,
                    "spoke: config '%s': 'index_cell_m' must be 10 to "
                    "1000\n",
                    path);
        c->svc.index_cell_m = m;
    }
    enum log_level lv;
    if (ok && level) {
        ok = log_level_parse(level, &lv);
        if (ok)
            log_set_level(lv);
        else
            fprintf(stderr,
                    "spoke: config '%s': 'log_level' must be debug, info, "
                    "warn or error\n",
                    path);
    }
    json_decref(root);
    return ok;
}
