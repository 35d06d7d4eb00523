/* SPDX-License-Identifier: MIT */
/*
 * `spoke demo`: a small seeded city on the embedded store, ready to ride
 * with curl: a fresh database, an operator token, a few hundred bikes
 * around People's Square in Shanghai, and one simulated smart lock per bike
 * connected to the gateway over TCP.
 */
#include "base/sys.h"
#include "cli/cli.h"
#include "base/clock.h"
#include "base/rng.h"
#include "sim/simlock.h"
#include "store/store.h"

#include <math.h>
#include <stdio.h>
#include <unistd.h>

#define DEMO_CENTER_LAT 31.2304
#define DEMO_CENTER_LON 121.4737
#define DEMO_HALF_DEG 0.05
#define DEMO_FIRST_IMEI UINT64_C(860000000000001)

static void remove_db(const char *db)
{
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < ARRAY_LEN(suffixes); i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s%s", db, suffixes[i]);
        unlink(path);
    }
}

/* Registers n bikes scattered around the centre; returns false on error. */
static bool seed(struct svc *svc, size_t n, struct sim_lock_config *cfgs,
                 int64_t ride_s)
{
    struct rng r;
    rng_seed(&r, 2017);
    for (size_t i = 0; i < n; i++) {
        char qr[32], imei[32];
        snprintf(qr, sizeof(qr), "SH%05zu", i + 1);
        snprintf(imei, sizeof(imei), "%015" PRIu64, DEMO_FIRST_IMEI + i);
        /* Denser near the centre, as bikes are in a real city. */
        double spread = i % 3 ? 0.006 : 0.02;
        struct geo_latlng p = {DEMO_CENTER_LAT + rng_normal(&r) * spread * 0.9,
                               DEMO_CENTER_LON + rng_normal(&r) * spread};
        p.lat_deg = MIN(MAX(p.lat_deg, DEMO_CENTER_LAT - 0.045),
                        DEMO_CENTER_LAT + 0.045);
        p.lon_deg = MIN(MAX(p.lon_deg, DEMO_CENTER_LON - 0.045),
                        DEMO_CENTER_LON + 0.045);
        struct svc_bike_spec spec = {
            .qr_code = str_from_cstr(qr),
            .lock_imei = str_from_cstr(imei),
            .pos = p,
            .vtype = i % 5 == 0 ? CORE_VT_EBIKE : CORE_VT_BICYCLE,
        };
        struct core_bike b;
        uint64_t lsn;
        struct err_detail d;
        if (svc_bike_add(svc, &spec, &b, NULL, &lsn, &d) != ERR_OK) {
            fprintf(stderr, "spoke: cannot seed bike %s: %s\n", qr, d.msg);
            return false;
        }
        sim_lock_config_default(&cfgs[i]);
        cfgs[i].imei = b.imei;
        cfgs[i].pos = b.pos;
        cfgs[i].ride_ms = ride_s * 1000;
        cfgs[i].battery_pct = 40 + (int)rng_below(&r, 61);
    }
    return true;
}

#define DEMO_HISTORY_DAYS 14
#define DEMO_TRIPS_PER_DAY 900
#define DEMO_UTC_OFFSET_S (8 * 3600)

/* A point about r_deg from the centre in a random direction. */
static struct geo_latlng around(struct rng *r, double r_deg)
{
    double a = rng_range(r, 0, 2 * 3.14159265358979);
    double d = r_deg * (0.5 + rng_unit(r));
    return (struct geo_latlng){DEMO_CENTER_LAT + d * sin(a) * 0.9,
                               DEMO_CENTER_LON + d * cos(a)};
}

/*
 * Two weeks of anonymous trips, as an operator would import from its old
 * system (`spoke import trips`): commuters ride into the centre in the
 * morning and out in the evening, the rest ride anywhere; so the plan has
 * cells short of bikes and cells with too many at any hour.
 */
static bool seed_history(const char *db)
{
    struct store_trip_import *imp = NULL;
    struct err_detail d;
    err_clear(&d);
    int64_t now = clock_wall_ms();
    if (store_trip_import_begin(db, "demo history", false, now, &imp, &d) !=
        ERR_OK) {
        fprintf(stderr, "spoke: cannot seed the demand history: %s\n", d.msg);
        return false;
    }
    struct rng r;
    rng_seed(&r, 1999);
    int64_t day_ms = 86400 * INT64_C(1000);
    bool ok = true;
    for (int day = DEMO_HISTORY_DAYS; day > 0 && ok; day--) {
        for (int i = 0; i < DEMO_TRIPS_PER_DAY && ok; i++) {
            struct store_demand_trip t;
            t.started_ms = now - day * day_ms + (int64_t)rng_below(&r, day_ms);
            int64_t local_h =
                ((t.started_ms / 1000 + DEMO_UTC_OFFSET_S) / 3600) % 24;
            struct geo_latlng outer = around(&r, 0.03),
                              inner = around(&r, 0.006);
            bool am = local_h >= 7 && local_h < 10;
            bool pm = local_h >= 17 && local_h < 20;
            t.start_pos = am ? outer : pm ? inner : around(&r, 0.02);
            t.end_pos = am ? inner : pm ? outer : around(&r, 0.02);
            t.ended_ms = t.started_ms + 240000 + (int64_t)rng_below(&r, 900000);
            if (t.ended_ms < now)
                ok = store_trip_import_add(imp, &t, &d) == ERR_OK;
        }
    }
    struct store_trip_import_result res;
    if (ok)
        ok = store_trip_import_finish(imp, true, &res, &d) == ERR_OK;
    if (!ok)
        fprintf(stderr, "spoke: cannot seed the demand history: %s\n", d.msg);
    store_trip_import_free(imp);
    return ok;
}

int cmd_demo(int argc, char **argv)
{
    const char *db = "spoke-demo.db", *http = "127.0.0.1:8080",
               *locks = "127.0.0.1:9000", *bikes_s = NULL, *ride_s = NULL;
    const struct cli_opt opts[] = {
        {"--db", "PATH", "database to create afresh (default spoke-demo.db)",
         &db, NULL},
        {"--http", "HOST:PORT", "HTTP API address (default 127.0.0.1:8080)",
         &http, NULL},
        {"--locks", "HOST:PORT",
         "lock gateway address (default 127.0.0.1:9000)", &locks, NULL},
        {"--bikes", "N", "bikes in the city (default 300)", &bikes_s, NULL},
        {"--ride-s", "S", "seconds each simulated ride lasts (default 30)",
         &ride_s, NULL},
    };
    int rc = cli_parse("spoke demo [options]",
                       "Runs a small seeded city: the server, a few hundred "
                       "bikes around People's Square\n(Shanghai), and a "
                       "simulated smart lock per bike connected over TCP.",
                       argc, argv, 2, opts, ARRAY_LEN(opts));
    if (rc)
        return rc == 2 ? 0 : 2;
    int64_t nbikes = 300, ride = 30;
    if ((bikes_s && !cli_i64("--bikes", bikes_s, 1, 100000, &nbikes)) ||
        (ride_s && !cli_i64("--ride-s", ride_s, 5, 3600, &ride)))
        return 2;
    remove_db(db);
    char token[SVC_TOKEN_LEN];
    if (!cli_token_create(db, "demo operator", token, sizeof(token)) ||
        !seed_history(db))
        return 1;
    struct cli_server_config c;
    cli_server_config_default(&c);
    c.http = http;
    c.locks = locks;
    c.svc.db_path = db;
    c.svc.dispatch.utc_offset_s = DEMO_UTC_OFFSET_S;
    c.svc.dispatch.reward.utc_offset_s = DEMO_UTC_OFFSET_S;
    c.svc.dispatch.depot =
        (struct geo_latlng){DEMO_CENTER_LAT - 0.02, DEMO_CENTER_LON + 0.02};
    c.svc.dispatch.has_depot = true;
    struct geo_latlng ring[4] = {
        {DEMO_CENTER_LAT - DEMO_HALF_DEG, DEMO_CENTER_LON - DEMO_HALF_DEG},
        {DEMO_CENTER_LAT - DEMO_HALF_DEG, DEMO_CENTER_LON + DEMO_HALF_DEG},
        {DEMO_CENTER_LAT + DEMO_HALF_DEG, DEMO_CENTER_LON + DEMO_HALF_DEG},
        {DEMO_CENTER_LAT + DEMO_HALF_DEG, DEMO_CENTER_LON - DEMO_HALF_DEG},
    };
    int exit_code = 1;
    struct cli_server *srv = NULL;
    struct cli_simfleet *fleet = NULL;
    struct sim_lock_config *cfgs = xcalloc((size_t)nbikes, sizeof(*cfgs));
    if (geo_polygon_init(&c.svc.service_area, ring, 4, NULL) != ERR_OK ||
        !cli_server_start(&c, &srv))
        goto out;
    if (!seed(cli_server_svc(srv), (size_t)nbikes, cfgs, ride))
        goto out;
    fleet =
        cli_simfleet_new(cli_server_locks(srv), NULL, cfgs, (size_t)nbikes, 42);
    if (!fleet || !cli_simfleet_start_thread(fleet))
        goto out;
    const char *h = cli_server_http(srv);
    printf(
        "\nspoke demo: %" PRId64 " bikes around People's Square, Shanghai, "
        "each with a simulated lock on %s\n\n"
        "  API       http://%s\n"
        "  operator  export OP=%s\n\n"
        "Ride with curl (README.md, 'Ride with curl'):\n"
        "  export API=http://%s\n"
        "  T=$(curl -s -X POST $API/v1/riders | sed "
        "'s/.*\"token\":\"\\([^\"]*\\)\".*/\\1/')\n"
        "  curl -s \"$API/v1/bikes?lat=%.4f&lon=%.4f&radius_m=300&limit=3\"\n"
        "  curl -s -X POST $API/v1/trips -H \"Authorization: Bearer $T\" "
        "-H 'Content-Type: application/json' -H 'Idempotency-Key: ride-1' "
        "-d '{\"bike_id\": 1}'\n"
        "  sleep %" PRId64 "; curl -s $API/v1/trips -H \"Authorization: "
        "Bearer $T\"\n\n"
        "Dispatch (two weeks of trips were seeded; docs/dispatch.md):\n"
        "  curl -s $API/v1/ops/plan -H \"Authorization: Bearer $OP\"\n"
        "  curl -s $API/v1/ops/tasks -H \"Authorization: Bearer $OP\"\n\n"
        "Ctrl-C stops the demo.\n\n",
        nbikes, cli_server_locks(srv), h, token, h, DEMO_CENTER_LAT,
        DEMO_CENTER_LON, ride + 5);
    fflush(stdout);
    exit_code = cli_server_run(srv);
    srv = NULL;
out:
    cli_simfleet_free(fleet);
    cli_server_free(srv);
    cli_server_config_release(&c);
    xfree(cfgs);
    return exit_code;
}
