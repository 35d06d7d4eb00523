/* SPDX-License-Identifier: MIT */
/*
 * The PostGIS rows of `make bench`, through libpq: loads the standard fleet
 * into
 *   CREATE TABLE bikes (id integer PRIMARY KEY,
 *                       geog geography(Point, 4326) NOT NULL)
 * with COPY, builds a GiST index on geog, measures the table and its
 * indexes, then times on C connections at once (one thread each), in
 * pipeline mode with prepared statements:
 *   kNN:    SELECT id FROM bikes WHERE ST_DWithin(geog, pt, 500)
 *           ORDER BY geog <-> pt LIMIT 10
 *           (pt = ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography),
 *           `depth` queries per round trip;
 *   update: UPDATE bikes SET geog = <point> WHERE id = $1, `batch` of them
 *           per transaction (BEGIN ... COMMIT sent as one pipeline), each
 *           connection moving its own bikes (id % C) so that no two
 *           transactions wait on each other.
 * Prints RESULT and INFO lines. Built only by `make bench` (needs libpq).
 *   pg_bench --conninfo STR [--bikes N] [--seconds S] [--conns C]
 *            [--depth D] [--batch B]
 */
#include "base/sys.h"
#include "bench/common.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define COPY_CHUNK (256 * 1024)

/* The point of the query, from $1 (lon) and $2 (lat). */
#define PT "ST_SetSRID(ST_MakePoint($1, $2), 4326)::geography"

static const char knn_sql[] =
    "SELECT id FROM bikes WHERE ST_DWithin(geog, " PT ", 500)"
    " ORDER BY geog <-> " PT " LIMIT 10";
static const char move_sql[] = "UPDATE bikes SET geog ="
                               " ST_SetSRID(ST_MakePoint($2, $3), 4326)"
                               "::geography WHERE id = $1";

static const char *conninfo;

static PGconn *connect_pg(void)
{
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK)
        bench_die("cannot connect to postgres: %s", PQerrorMessage(c));
    return c;
}

/* Runs sql and checks its status; the caller clears the result. */
static PGresult *exec(PGconn *c, const char *sql, ExecStatusType want)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != want)
        bench_die("postgres '%.60s': %s", sql, PQerrorMessage(c));
    return r;
}

static void run(PGconn *c, const char *sql)
{
    PQclear(exec(c, sql, PGRES_COMMAND_OK));
}

static double number(PGconn *c, const char *sql)
{
    PGresult *r = exec(c, sql, PGRES_TUPLES_OK);
    double v = strtod(PQgetvalue(r, 0, 0), NULL);
    PQclear(r);
    return v;
}

static void info(PGconn *c, const char *key, const char *sql)
{
    PGresult *r = exec(c, sql, PGRES_TUPLES_OK);
    bench_info(key, PQgetvalue(r, 0, 0));
    PQclear(r);
}

static void load(PGconn *c, const struct geo_latlng *fleet, size_t n)
{
    run(c, "SET client_min_messages = warning");
    run(c, "CREATE EXTENSION IF NOT EXISTS postgis");
    run(c, "DROP TABLE IF EXISTS bikes");
    run(c, "CREATE TABLE bikes (id integer PRIMARY KEY,"
           " geog geography(Point, 4326) NOT NULL)");
    PQclear(exec(c, "COPY bikes (id, geog) FROM STDIN", PGRES_COPY_IN));
    char *buf = xmalloc(COPY_CHUNK);
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(buf + len, COPY_CHUNK - len,
                         "%zu\tSRID=4326;POINT(%.7f %.7f)\n", i + 1,
                         fleet[i].lon_deg, fleet[i].lat_deg);
        ASSERT(w > 0 && (size_t)w < COPY_CHUNK - len);
        len += (size_t)w;
        if (COPY_CHUNK - len < 128 || i + 1 == n) {
            if (PQputCopyData(c, buf, (int)len) != 1)
                bench_die("COPY: %s", PQerrorMessage(c));
            len = 0;
        }
    }
    xfree(buf);
    if (PQputCopyEnd(c, NULL) != 1)
        bench_die("COPY: %s", PQerrorMessage(c));
    PGresult *r = PQgetResult(c);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        bench_die("COPY: %s", PQerrorMessage(c));
    PQclear(r);
    while ((r = PQgetResult(c)) != NULL)
        PQclear(r);
}

/* Reads one statement's result (then its NULL); returns it. */
static PGresult *next_result(PGconn *c, ExecStatusType want)
{
    PGresult *r = PQgetResult(c);
    if (PQresultStatus(r) != want)
        bench_die("postgres: %s (%s)", PQerrorMessage(c),
                  PQresStatus(PQresultStatus(r)));
    PGresult *end = PQgetResult(c);
    if (end)
        bench_die("postgres: more results than expected");
    return r;
}

static void send_prepared(PGconn *c, const char *name, int n,
                          const char *const *vals)
{
    if (PQsendQueryPrepared(c, name, n, vals, NULL, NULL, 0) != 1)
        bench_die("postgres: %s", PQerrorMessage(c));
}

static void send_plain(PGconn *c, const char *sql)
{
    if (PQsendQueryParams(c, sql, 0, NULL, NULL, NULL, NULL, 0) != 1)
        bench_die("postgres: %s", PQerrorMessage(c));
}

static void sync_end(PGconn *c)
{
    PGresult *r = PQgetResult(c);
    if (PQresultStatus(r) != PGRES_PIPELINE_SYNC)
        bench_die("postgres: expected a pipeline sync, got %s",
                  PQresStatus(PQresultStatus(r)));
    PQclear(r);
}

/* One round trip of depth kNN queries. */
static void knn_round(PGconn *c, struct bench_worker *w)
{
    char lon[24], lat[24];
    const char *vals[2] = {lon, lat};
    for (size_t j = 0; j < w->depth; j++) {
        struct geo_latlng p = w->centres[w->next];
        w->next = (w->next + 1) % BENCH_NCENTRES;
        snprintf(lon, sizeof(lon), "%.7f", p.lon_deg);
        snprintf(lat, sizeof(lat), "%.7f", p.lat_deg);
        send_prepared(c, "knn", 2, vals);
    }
    if (PQpipelineSync(c) != 1)
        bench_die("postgres: %s", PQerrorMessage(c));
    for (size_t j = 0; j < w->depth; j++) {
        PGresult *r = next_result(c, PGRES_TUPLES_OK);
        w->hits += (uint64_t)PQntuples(r);
        PQclear(r);
    }
    sync_end(c);
    w->ops += w->depth;
}

/* One transaction of depth moves of this connection's bikes. */
static void move_round(PGconn *c, struct bench_worker *w)
{
    char id[16], lon[24], lat[24];
    const char *vals[3] = {id, lon, lat};
    send_plain(c, "BEGIN");
    for (size_t j = 0; j < w->depth; j++) {
        const struct bench_move *mv;
        do {
            mv = &w->moves[w->next];
            w->next = (w->next + 1) % BENCH_NMOVES;
        } while (mv->id % w->nthreads != w->tid);
        snprintf(id, sizeof(id), "%" PRIu32, mv->id);
        snprintf(lon, sizeof(lon), "%.7f", mv->pos.lon_deg);
        snprintf(lat, sizeof(lat), "%.7f", mv->pos.lat_deg);
        send_prepared(c, "move", 3, vals);
    }
    send_plain(c, "COMMIT");
    if (PQpipelineSync(c) != 1)
        bench_die("postgres: %s", PQerrorMessage(c));
    PQclear(next_result(c, PGRES_COMMAND_OK));
    for (size_t j = 0; j < w->depth; j++) {
        PGresult *r = next_result(c, PGRES_COMMAND_OK);
        if (strcmp(PQcmdTuples(r), "1") != 0)
            bench_die("postgres: an update changed %s rows", PQcmdTuples(r));
        PQclear(r);
    }
    PQclear(next_result(c, PGRES_COMMAND_OK));
    sync_end(c);
    w->ops += w->depth;
}

static void *worker_run(void *p)
{
    struct bench_worker *w = p;
    PGconn *c = connect_pg();
    static const Oid knn_types[] = {701, 701};      /* float8 */
    static const Oid move_types[] = {23, 701, 701}; /* int4, float8 */
    PGresult *r = w->job == BENCH_JOB_KNN
                      ? PQprepare(c, "knn", knn_sql, 2, knn_types)
                      : PQprepare(c, "move", move_sql, 3, move_types);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        bench_die("prepare: %s", PQerrorMessage(c));
    PQclear(r);
    if (PQenterPipelineMode(c) != 1)
        bench_die("postgres: cannot enter pipeline mode");
    pthread_barrier_wait(w->start);
    double t0 = bench_now_s(), t = t0;
    while (t - t0 < w->seconds) {
        if (w->job == BENCH_JOB_KNN)
            knn_round(c, w);
        else
            move_round(c, w);
        t = bench_now_s();
    }
    w->elapsed_s = t - t0;
    PQexitPipelineMode(c);
    PQfinish(c);
    return NULL;
}

/* Shows the plan of the kNN query at the first centre on stderr. */
static void explain(PGconn *c, struct geo_latlng p)
{
    char sql[512];
    snprintf(sql, sizeof(sql),
             "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT id FROM bikes"
             " WHERE ST_DWithin(geog, ST_SetSRID(ST_MakePoint(%.7f, %.7f),"
             " 4326)::geography, 500) ORDER BY geog <-> ST_SetSRID("
             "ST_MakePoint(%.7f, %.7f), 4326)::geography LIMIT 10",
             p.lon_deg, p.lat_deg, p.lon_deg, p.lat_deg);
    PGresult *r = exec(c, sql, PGRES_TUPLES_OK);
    for (int i = 0; i < PQntuples(r); i++)
        bench_note("pg plan: %s", PQgetvalue(r, i, 0));
    PQclear(r);
}

int main(int argc, char **argv)
{
    const char *bikes_s = NULL, *seconds_s = NULL, *conns_s = NULL,
               *depth_s = NULL, *batch_s = NULL;
    const struct bench_opt opts[] = {
        {"--conninfo", &conninfo}, {"--bikes", &bikes_s},
        {"--seconds", &seconds_s}, {"--conns", &conns_s},
        {"--depth", &depth_s},     {"--batch", &batch_s},
    };
    const char *usage = "pg_bench --conninfo STR [--bikes N] [--seconds S] "
                        "[--conns C] [--depth D] [--batch B]";
    bench_parse(argc, argv, 1, opts, ARRAY_LEN(opts), usage);
    if (!conninfo)
        bench_die("usage: %s", usage);
    size_t nbikes = bench_u64("--bikes", bikes_s, 2000000, 1, 100000000);
    double seconds = bench_f64("--seconds", seconds_s, 5, 0.1, 600);
    size_t nconns = bench_u64("--conns", conns_s, 2, 1, BENCH_CONNS_MAX);
    size_t depth = bench_u64("--depth", depth_s, 64, 1, 100000);
    size_t batch = bench_u64("--batch", batch_s, 1000, 1, 100000);

    struct geo_latlng *fleet = bench_fleet_new(nbikes);
    struct geo_latlng *centres = bench_centres_new(BENCH_NCENTRES);
    struct bench_move *moves = bench_moves_new(fleet, nbikes, BENCH_NMOVES);

    PGconn *c = connect_pg();
    double t0 = bench_now_s();
    load(c, fleet, nbikes);
    double load_s = bench_now_s() - t0;
    t0 = bench_now_s();
    run(c, "CREATE INDEX bikes_geog ON bikes USING gist (geog)");
    double index_s = bench_now_s() - t0;
    run(c, "VACUUM (ANALYZE) bikes");
    info(c, "postgres_version", "SHOW server_version");
    info(c, "postgis_version", "SELECT postgis_lib_version()");
    bench_note("pg: %zu bikes copied in %.1f s, GiST index built in %.1f s",
               nbikes, load_s, index_s);
    bench_result("pg_load_s", load_s);
    bench_result("pg_index_s", index_s);
    double n = (double)nbikes;
    bench_result("pg_bytes_per_bike",
                 number(c, "SELECT pg_total_relation_size('bikes')") / n);
    bench_result("pg_table_bytes_per_bike",
                 number(c, "SELECT pg_relation_size('bikes')") / n);
    bench_result("pg_gist_bytes_per_bike",
                 number(c, "SELECT pg_relation_size('bikes_geog')") / n);
    explain(c, centres[0]);

    double hits = 0;
    double q = bench_run_workers(worker_run, BENCH_JOB_KNN, nconns, depth,
                                 seconds, centres, NULL, &hits);
    bench_note("pg: kNN %.0f queries/s, %.2f hits", q, hits);
    bench_result("pg_knn_qps", q);
    bench_result("pg_knn_hits_avg", hits);
    double u = bench_run_workers(worker_run, BENCH_JOB_MOVE, nconns, batch,
                                 seconds, NULL, moves, NULL);
    bench_note("pg: UPDATE %.0f updates/s", u);
    bench_result("pg_update_ups", u);
    bench_result("pg_bytes_per_bike_after_updates",
                 number(c, "SELECT pg_total_relation_size('bikes')") / n);

    PQfinish(c);
    xfree(moves);
    xfree(centres);
    xfree(fleet);
    return 0;
}
