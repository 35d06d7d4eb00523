/* SPDX-License-Identifier: MIT */
/*
 * The Redis rows of `make bench`, through hiredis: loads the standard fleet
 * into one geo set (GEOADD, member = bike id), reads used_memory before and
 * after, then times on C connections at once (one thread each), every
 * connection keeping `depth` commands in flight:
 *   GEOSEARCH bikes FROMLONLAT lon lat BYRADIUS 500 m ASC COUNT 10
 * around the standard query centres, and GEOADD bikes lon lat id for the
 * standard moves (each connection moves its own bikes: id % C). Prints
 * RESULT lines. Built only by `make bench` (needs libhiredis-dev).
 *   redis_bench --port P [--host H] [--bikes N] [--seconds S] [--conns C]
 *               [--depth D]
 */
#include "base/sys.h"
#include "bench/common.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define KEY "bikes"
#define LOAD_MEMBERS 1000u /* members per GEOADD while loading */
#define LOAD_DEPTH 16u

static const char *host = "127.0.0.1";
static int port;

static redisContext *connect_redis(void)
{
    redisContext *c = redisConnect(host, port);
    if (!c || c->err)
        bench_die("cannot connect to redis %s:%d: %s", host, port,
                  c ? c->errstr : "out of memory");
    return c;
}

static redisReply *command(redisContext *c, const char *cmd)
{
    redisReply *r = redisCommand(c, cmd);
    if (!r || r->type == REDIS_REPLY_ERROR)
        bench_die("redis '%s': %s", cmd, r ? r->str : c->errstr);
    return r;
}

static double used_memory(redisContext *c)
{
    redisReply *r = command(c, "INFO memory");
    const char *p = strstr(r->str, "used_memory:");
    double v = p ? strtod(p + strlen("used_memory:"), NULL) : 0;
    freeReplyObject(r);
    return v;
}

/* Redis's own mean time per call of cmd (INFO commandstats), in µs. */
static double usec_per_call(redisContext *c, const char *cmd)
{
    char key[64];
    snprintf(key, sizeof(key), "cmdstat_%s:", cmd);
    redisReply *r = command(c, "INFO commandstats");
    const char *p = strstr(r->str, key);
    p = p ? strstr(p, "usec_per_call=") : NULL;
    double v = p ? strtod(p + strlen("usec_per_call="), NULL) : 0;
    freeReplyObject(r);
    return v;
}

static redisReply *get_reply(redisContext *c)
{
    void *r = NULL;
    if (redisGetReply(c, &r) != REDIS_OK)
        bench_die("redis: %s", c->errstr);
    return r;
}

static void load(redisContext *c, const struct geo_latlng *fleet, size_t n)
{
    /* "GEOADD" KEY then lon lat member per bike. */
    size_t cap = 2 + 3 * LOAD_MEMBERS;
    const char **argv = xcalloc(cap, sizeof(*argv));
    size_t *lens = xcalloc(cap, sizeof(*lens));
    char(*text)[3][24] = xcalloc(LOAD_MEMBERS, sizeof(*text));
    size_t i = 0, inflight = 0;
    while (i < n || inflight) {
        if (i < n && inflight < LOAD_DEPTH) {
            size_t argc = 2;
            argv[0] = "GEOADD";
            argv[1] = KEY;
            for (size_t k = 0; k < LOAD_MEMBERS && i < n; k++, i++) {
                char(*t)[24] = text[k];
                snprintf(t[0], 24, "%.7f", fleet[i].lon_deg);
                snprintf(t[1], 24, "%.7f", fleet[i].lat_deg);
                snprintf(t[2], 24, "%zu", i + 1);
                for (size_t j = 0; j < 3; j++)
                    argv[argc++] = t[j];
            }
            for (size_t j = 0; j < argc; j++)
                lens[j] = strlen(argv[j]);
            /* hiredis copies the arguments into its output buffer. */
            redisAppendCommandArgv(c, (int)argc, argv, lens);
            inflight++;
            continue;
        }
        redisReply *r = get_reply(c);
        if (r->type == REDIS_REPLY_ERROR)
            bench_die("GEOADD: %s", r->str);
        freeReplyObject(r);
        inflight--;
    }
    xfree(text);
    xfree(lens);
    xfree(argv);
}

static void append_next(redisContext *c, struct bench_worker *w)
{
    char a[24], b[24], m[24];
    if (w->job == BENCH_JOB_KNN) {
        struct geo_latlng p = w->centres[w->next];
        w->next = (w->next + 1) % BENCH_NCENTRES;
        snprintf(a, sizeof(a), "%.7f", p.lon_deg);
        snprintf(b, sizeof(b), "%.7f", p.lat_deg);
        snprintf(m, sizeof(m), "%.0f", BENCH_RADIUS_M);
        char k[8];
        snprintf(k, sizeof(k), "%u", BENCH_K);
        const char *argv[] = {
            "GEOSEARCH", KEY, "FROMLONLAT", a,       b, "BYRADIUS",
            m,           "m", "ASC",        "COUNT", k};
        size_t lens[ARRAY_LEN(argv)];
        for (size_t j = 0; j < ARRAY_LEN(argv); j++)
            lens[j] = strlen(argv[j]);
        redisAppendCommandArgv(c, (int)ARRAY_LEN(argv), argv, lens);
        return;
    }
    /* The next move of one of this connection's bikes. */
    const struct bench_move *mv;
    do {
        mv = &w->moves[w->next];
        w->next = (w->next + 1) % BENCH_NMOVES;
    } while (mv->id % w->nthreads != w->tid);
    snprintf(a, sizeof(a), "%.7f", mv->pos.lon_deg);
    snprintf(b, sizeof(b), "%.7f", mv->pos.lat_deg);
    snprintf(m, sizeof(m), "%" PRIu32, mv->id);
    const char *argv[] = {"GEOADD", KEY, a, b, m};
    size_t lens[ARRAY_LEN(argv)];
    for (size_t j = 0; j < ARRAY_LEN(argv); j++)
        lens[j] = strlen(argv[j]);
    redisAppendCommandArgv(c, (int)ARRAY_LEN(argv), argv, lens);
}

static void *worker_run(void *p)
{
    struct bench_worker *w = p;
    redisContext *c = connect_redis();
    pthread_barrier_wait(w->start);
    double t0 = bench_now_s(), t = t0;
    size_t inflight = 0;
    for (; inflight < w->depth; inflight++)
        append_next(c, w);
    while (inflight) {
        redisReply *r = get_reply(c);
        if (r->type == REDIS_REPLY_ERROR)
            bench_die("redis: %s", r->str);
        if (w->job == BENCH_JOB_KNN && r->type == REDIS_REPLY_ARRAY)
            w->hits += r->elements;
        freeReplyObject(r);
        w->ops++;
        inflight--;
        t = bench_now_s();
        if (t - t0 < w->seconds) {
            append_next(c, w);
            inflight++;
        }
    }
    w->elapsed_s = t - t0;
    redisFree(c);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *host_s = NULL, *port_s = NULL, *bikes_s = NULL,
               *seconds_s = NULL, *conns_s = NULL, *depth_s = NULL;
    const struct bench_opt opts[] = {
        {"--host", &host_s},       {"--port", &port_s},   {"--bikes", &bikes_s},
        {"--seconds", &seconds_s}, {"--conns", &conns_s}, {"--depth", &depth_s},
    };
    const char *usage = "redis_bench --port P [--host H] [--bikes N] "
                        "[--seconds S] [--conns C] [--depth D]";
    bench_parse(argc, argv, 1, opts, ARRAY_LEN(opts), usage);
    if (!port_s)
        bench_die("usage: %s", usage);
    if (host_s)
        host = host_s;
    port = (int)bench_u64("--port", port_s, 0, 1, 65535);
    size_t nbikes = bench_u64("--bikes", bikes_s, 2000000, 1, 100000000);
    double seconds = bench_f64("--seconds", seconds_s, 5, 0.1, 600);
    size_t nconns = bench_u64("--conns", conns_s, 2, 1, BENCH_CONNS_MAX);
    size_t depth = bench_u64("--depth", depth_s, 64, 1, 100000);

    struct geo_latlng *fleet = bench_fleet_new(nbikes);
    struct geo_latlng *centres = bench_centres_new(BENCH_NCENTRES);
    struct bench_move *moves = bench_moves_new(fleet, nbikes, BENCH_NMOVES);

    redisContext *c = connect_redis();
    freeReplyObject(command(c, "FLUSHALL"));
    double mem0 = used_memory(c);
    double t0 = bench_now_s();
    load(c, fleet, nbikes);
    double load_s = bench_now_s() - t0;
    double mem1 = used_memory(c);
    redisReply *r = command(c, "ZCARD " KEY);
    if (r->type != REDIS_REPLY_INTEGER || (size_t)r->integer != nbikes)
        bench_die("redis holds %lld bikes, not %zu", r->integer, nbikes);
    freeReplyObject(r);
    bench_note("redis: %zu bikes loaded in %.1f s", nbikes, load_s);
    bench_result("redis_load_s", load_s);
    bench_result("redis_bytes_per_bike", (mem1 - mem0) / (double)nbikes);

    double hits = 0;
    double q = bench_run_workers(worker_run, BENCH_JOB_KNN, nconns, depth,
                                 seconds, centres, NULL, &hits);
    bench_note("redis: GEOSEARCH %.0f queries/s, %.2f hits", q, hits);
    bench_result("redis_knn_qps", q);
    bench_result("redis_knn_hits_avg", hits);
    bench_result("redis_knn_usec_per_call", usec_per_call(c, "geosearch"));
    double u = bench_run_workers(worker_run, BENCH_JOB_MOVE, nconns, depth,
                                 seconds, NULL, moves, NULL);
    bench_note("redis: GEOADD %.0f updates/s", u);
    bench_result("redis_update_ups", u);
    bench_result("redis_update_usec_per_call", usec_per_call(c, "geoadd"));

    redisFree(c);
    xfree(moves);
    xfree(centres);
    xfree(fleet);
    return 0;
}
