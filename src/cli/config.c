/* SPDX-License-Identifier: MIT */
/*
 * The server configuration: defaults, and the JSON config file of
 * `spoke serve --config FILE` (keys in docs/operations.md).
 */
#include "base/sys.h"
#include "cli/cli.h"
#include "base/log.h"
#include "base/vec.h"
#include "dispatch/demand.h"

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

/* A number in a nested object: where it goes and its range. */
enum num_kind { NUM_INT32, NUM_INT64, NUM_SIZE, NUM_REAL, NUM_SECONDS };
struct num_key {
    const char *key;
    enum num_kind kind;
    double min, max;
    void *dst; /* NUM_SECONDS: an int64_t of milliseconds */
};

/*
 * Reads the members of the object at root[name] (absent: nothing to do)
 * into their destinations; every member must be one of keys or one of the
 * nested object names in nested (NULL-ended), which the caller reads.
 */
static bool numbers(json_t *root, const char *name, const struct num_key *keys,
                    size_t n, const char *const *nested, const char *path)
{
    json_t *obj = json_object_get(root, name);
    if (!obj)
        return true;
    if (!json_is_object(obj)) {
        fprintf(stderr, "spoke: config '%s': '%s' must be an object\n", path,
                name);
        return false;
    }
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        const struct num_key *k = NULL;
        for (size_t i = 0; i < n && !k; i++)
            if (strcmp(keys[i].key, key) == 0)
                k = &keys[i];
        bool other = false;
        for (size_t i = 0; nested && nested[i] && !other; i++)
            other = strcmp(nested[i], key) == 0;
        if (other)
            continue;
        if (!k) {
            fprintf(stderr, "spoke: config '%s': unknown key '%s.%s'\n", path,
                    name, key);
            return false;
        }
        double x = json_number_value(v);
        bool whole = k->kind != NUM_REAL;
        if (!json_is_number(v) || (whole && !json_is_integer(v)) ||
            !(x >= k->min && x <= k->max)) {
            fprintf(stderr,
                    "spoke: config '%s': '%s.%s' must be %s from %g to %g\n",
                    path, name, key, whole ? "an integer" : "a number", k->min,
                    k->max);
            return false;
        }
        switch (k->kind) {
        case NUM_INT32:
            *(int32_t *)k->dst = (int32_t)x;
            break;
        case NUM_INT64:
            *(int64_t *)k->dst = (int64_t)x;
            break;
        case NUM_SIZE:
            *(size_t *)k->dst = (size_t)x;
            break;
        case NUM_REAL:
            *(double *)k->dst = x;
            break;
        case NUM_SECONDS:
            *(int64_t *)k->dst = (int64_t)x * 1000;
            break;
        }
    }
    return true;
}

/* The "dispatch" object: docs/operations.md lists its keys. */
static bool dispatch(struct svc_dispatch_config *c, json_t *root,
                     const char *path)
{
    int64_t seed = (int64_t)c->seed;
    int64_t min_ride_s = c->reward.min_duration_ms / 1000;
    int64_t silent_s = c->maint.silent_ms / 1000;
    int64_t idle_s = c->maint.idle_ms / 1000;
    const struct num_key keys[] = {
        {"cell_m", NUM_REAL, DEMAND_MIN_CELL_M, DEMAND_MAX_CELL_M, &c->cell_m},
        {"utc_offset_s", NUM_INT32, -50400, 50400, &c->utc_offset_s},
        {"history_days", NUM_INT64, 1, 366, &c->history_days},
        {"horizon_s", NUM_SECONDS, 900, 86400, &c->horizon_ms},
        {"service_level", NUM_REAL, 0.5, 0.999, &c->target.service_level},
        {"plan_interval_s", NUM_SECONDS, 10, 86400, &c->interval_ms},
        {"replan_min_s", NUM_SECONDS, 1, 86400, &c->replan_min_ms},
        {"route_budget_ms", NUM_INT64, 10, 600000, &c->budget_ms},
        {"seed", NUM_INT64, 0, 9007199254740991.0, &seed},
        {"route_iters", NUM_INT64, 0, 1e12, &c->route_iters},
        {"max_cell_sites", NUM_SIZE, 0, 90000, &c->max_cell_sites},
        {"max_task_sites", NUM_SIZE, 0, 10000, &c->max_task_sites},
        {"trucks", NUM_SIZE, 0, SVC_TRUCKS_MAX, &c->trucks},
        {"truck_capacity", NUM_INT32, 1, 1000, &c->truck_capacity},
        {"route_s", NUM_SECONDS, 60, 86400, &c->route_ms},
        {"shift_start_s", NUM_INT64, 0, 86400, &c->shift_start_s},
        {"shift_end_s", NUM_INT64, 0, 86400, &c->shift_end_s},
        {"speed_mps", NUM_REAL, 1, 40, &c->speed_mps},
        {"handle_s", NUM_INT32, 0, 3600, &c->handle_s},
    };
    const struct num_key depot[] = {
        {"lat", NUM_REAL, -85, 85, &c->depot.lat_deg},
        {"lon", NUM_REAL, -180, 180, &c->depot.lon_deg},
    };
    const struct num_key maint[] = {
        {"silent_s", NUM_INT64, 60, 30 * 86400, &silent_s},
        {"battery_low_pct", NUM_INT32, 0, 100, &c->maint.battery_low_pct},
        {"idle_s", NUM_INT64, 3600, 365 * 86400, &idle_s},
    };
    const struct num_key reward[] = {
        {"amount_cents", NUM_INT64, 0, 100000, &c->reward.amount_cents},
        {"min_duration_s", NUM_INT64, 0, 86400, &min_ride_s},
        {"min_distance_m", NUM_REAL, 0, 100000, &c->reward.min_distance_m},
        {"max_per_day", NUM_INT64, 0, 1000, &c->reward.max_per_day},
    };
    static const char *const nested[] = {"depot", "maintenance", "reward",
                                         NULL};
    json_t *obj = json_object_get(root, "dispatch");
    bool ok =
        numbers(root, "dispatch", keys, ARRAY_LEN(keys), nested, path) &&
        (!obj ||
         (numbers(obj, "depot", depot, ARRAY_LEN(depot), NULL, path) &&
          numbers(obj, "maintenance", maint, ARRAY_LEN(maint), NULL, path) &&
          numbers(obj, "reward", reward, ARRAY_LEN(reward), NULL, path)));
    if (ok && obj && json_object_get(obj, "depot")) {
        json_t *dp = json_object_get(obj, "depot");
        ok = json_object_get(dp, "lat") && json_object_get(dp, "lon");
        if (!ok)
            fprintf(stderr,
                    "spoke: config '%s': 'depot' needs 'lat' and 'lon'\n",
                    path);
        c->has_depot = ok;
    }
    c->seed = (uint64_t)seed;
    c->reward.min_duration_ms = min_ride_s * 1000;
    c->reward.utc_offset_s = c->utc_offset_s;
    c->maint.silent_ms = silent_s * 1000;
    c->maint.idle_ms = idle_s * 1000;
    struct err_detail d;
    err_clear(&d);
    if (ok && svc_dispatch_config_validate(c, &d) != ERR_OK) {
        fprintf(stderr, "spoke: config '%s': dispatch.%s: %s\n", path, d.field,
                d.msg);
        ok = false;
    }
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
                                         "search_flush_s",
                                         "demand_retention_days",
                                         "gateway_workers",
                                         "dispatch",
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
    int64_t demand_days = c->svc.demand_retention_ms / 86400000;
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
         seconds(root, "search_flush_s", 1, 3600, &c->svc.search_flush_ms,
                 path) &&
         integer(root, "demand_retention_days", 1, 3660, &demand_days, path) &&
         integer(root, "max_bad_frames", 0, 10000, &bad, path) &&
         integer(root, "gateway_workers", 0, GATEWAY_WORKERS_MAX, &workers,
                 path) &&
         integer(root, "unlock_key_valid_s", 5, 3600, &key_valid_s, path) &&
         service_area(c, root, path) && dispatch(&c->svc.dispatch, root, path);
    c->svc.unlock_key_valid_s = key_valid_s;
    c->svc.history_retention_ms = retention_h * 3600000;
    c->svc.demand_retention_ms = demand_days * 86400000;
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
