/* SPDX-License-Identifier: MIT */
/*
 * `spoke sim locks`: a fleet of simulated smart locks, each a real TCP
 * client of the lock gateway speaking the Omni protocol (sim/simlock.h).
 * The demo runs the same fleet on a thread of its own.
 */
#include "base/sys.h"
#include "cli/cli.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/rng.h"
#include "net/tcp.h"
#include "sim/simlock.h"
#include "store/store.h"

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>

#define SIM_OUT_MAX 65536
#define SIM_SOURCES_MAX 64

struct sim_client {
    struct cli_simfleet *fleet;
    struct sim_lock lock;
    struct net_conn *nc;
    struct net_timer timer; /* the lock's next tick, or a reconnect */
    size_t source;
};

struct cli_simfleet {
    struct net_loop *loop;
    char addr[64];
    char sources[SIM_SOURCES_MAX][48];
    size_t nsources;
    struct sim_client *clients;
    size_t n;
    struct rng rng;
    struct buf scratch;
    pthread_t thread;
    bool threaded;
    bool stopping;
    uint64_t connects;
};

static void client_connect(struct sim_client *c);

static void client_flush(struct sim_client *c)
{
    struct buf *b = &c->fleet->scratch;
    if (b->len && c->nc)
        net_conn_write(c->nc, b->data, b->len);
    buf_reset(b);
}

static void client_tick(struct net_timer *t)
{
    struct sim_client *c = t->ctx;
    if (!c->nc) {
        client_connect(c);
        return;
    }
    int64_t now = clock_wall_ms();
    sim_lock_tick(&c->lock, now, &c->fleet->scratch);
    client_flush(c);
    if (!c->nc)
        return; /* closed by the write: the reconnect delay stands */
    int64_t next = sim_lock_next_ms(&c->lock) - clock_wall_ms();
    net_timer_start(c->fleet->loop, &c->timer, MAX(next, 10), client_tick, c);
}

static size_t client_on_data(struct net_conn *nc, const char *data, size_t len)
{
    struct sim_client *c = net_conn_ctx(nc);
    size_t off = 0;
    for (;;) {
        struct str frame;
        size_t used = 0;
        enum lock_scan r = lock_frame_scan(data + off, len - off,
                                           LOCK_FRAME_MAX, &frame, &used);
        if (r == LOCK_SCAN_FRAME)
            sim_lock_on_frame(&c->lock, frame, clock_wall_ms(),
                              &c->fleet->scratch);
        off += used;
        if (r == LOCK_SCAN_NEED_MORE)
            break;
    }
    client_flush(c);
    if (!c->nc)
        return off; /* closed by the write: the reconnect delay stands */
    /* A ride may have started: its first position is due soon. */
    int64_t next = sim_lock_next_ms(&c->lock) - clock_wall_ms();
    net_timer_start(c->fleet->loop, &c->timer, MAX(next, 10), client_tick, c);
    return off;
}

static void client_on_close(struct net_conn *nc, enum net_close_reason why)
{
    struct sim_client *c = net_conn_ctx(nc);
    (void)why;
    c->nc = NULL;
    if (c->fleet->stopping)
        return;
    /* Reconnect after 1 to 3 s, as real locks back off. */
    int64_t delay = 1000 + (int64_t)rng_below(&c->fleet->rng, 2000);
    net_timer_start(c->fleet->loop, &c->timer, delay, client_tick, c);
}

static const struct net_conn_ops client_ops = {
    .on_data = client_on_data,
    .on_close = client_on_close,
};

static void client_connect(struct sim_client *c)
{
    struct cli_simfleet *f = c->fleet;
    int fd;
    struct err_detail d;
    const char *src = f->nsources ? f->sources[c->source % f->nsources] : NULL;
    if (net_connect(f->addr, src, &fd, &d) != ERR_OK) {
        net_timer_start(f->loop, &c->timer, 2000, client_tick, c);
        return;
    }
    c->nc =
        net_conn_new(f->loop, fd, &client_ops, c, LOCK_FRAME_MAX, SIM_OUT_MAX);
    if (!c->nc) {
        net_timer_start(f->loop, &c->timer, 2000, client_tick, c);
        return;
    }
    f->connects++;
    sim_lock_connected(&c->lock, clock_wall_ms(), &f->scratch);
    client_flush(c);
    /* A write that failed closed it: the reconnect delay stands. */
    if (!c->nc)
        return;
    int64_t next = sim_lock_next_ms(&c->lock) - clock_wall_ms();
    net_timer_start(f->loop, &c->timer, MAX(next, 10), client_tick, c);
}

/* Parses "127.0.0.1,127.0.0.2" or "127.0.0.1-127.0.0.20". */
static bool parse_sources(struct cli_simfleet *f, const char *spec)
{
    unsigned a, b, c, lo, hi;
    if (sscanf(spec, "%u.%u.%u.%u-%*u.%*u.%*u.%u", &a, &b, &c, &lo, &hi) == 5 &&
        lo <= hi && hi < 256 && hi - lo < SIM_SOURCES_MAX) {
        for (unsigned x = lo; x <= hi; x++)
            snprintf(f->sources[f->nsources++], sizeof(f->sources[0]),
                     "%u.%u.%u.%u", a, b, c, x);
        return true;
    }
    struct str rest = str_from_cstr(spec);
    while (rest.ptr && f->nsources < SIM_SOURCES_MAX) {
        struct str one;
        rest = str_cut(rest, ',', &one);
        if (one.len == 0 || one.len >= sizeof(f->sources[0]))
            return false;
        memcpy(f->sources[f->nsources], one.ptr, one.len);
        f->sources[f->nsources++][one.len] = '\0';
    }
    return !rest.ptr;
}

struct cli_simfleet *cli_simfleet_new(const char *addr, const char *sources,
                                      const struct sim_lock_config *cfgs,
                                      size_t n, uint64_t seed)
{
    struct cli_simfleet *f = xcalloc(1, sizeof(*f));
    struct err_detail d;
    if (net_loop_new(&f->loop, &d) != ERR_OK) {
        fprintf(stderr, "spoke: %s\n", d.msg);
        xfree(f);
        return NULL;
    }
    snprintf(f->addr, sizeof(f->addr), "%s", addr);
    if (sources && !parse_sources(f, sources)) {
        fprintf(stderr, "spoke: bad --sources '%s'\n", sources);
        net_loop_free(f->loop);
        xfree(f);
        return NULL;
    }
    rng_seed(&f->rng, seed);
    buf_init(&f->scratch, SIM_OUT_MAX);
    f->clients = xcalloc(n ? n : 1, sizeof(*f->clients));
    f->n = n;
    for (size_t i = 0; i < n; i++) {
        struct sim_client *c = &f->clients[i];
        c->fleet = f;
        c->source = i;
        sim_lock_init(&c->lock, &cfgs[i], seed + i);
        /* Spread the first connections over a second. */
        net_timer_start(f->loop, &c->timer, (int64_t)rng_below(&f->rng, 1000),
                        client_tick, c);
    }
    return f;
}

static void *fleet_thread(void *p)
{
    struct cli_simfleet *f = p;
    net_loop_run(f->loop);
    return NULL;
}

bool cli_simfleet_start_thread(struct cli_simfleet *f)
{
    f->threaded = pthread_create(&f->thread, NULL, fleet_thread, f) == 0;
    return f->threaded;
}

static void stop_task(void *p)
{
    struct cli_simfleet *f = p;
    net_loop_stop(f->loop);
}

void cli_simfleet_free(struct cli_simfleet *f)
{
    if (!f)
        return;
    if (f->threaded) {
        net_loop_on_wakeup(f->loop, stop_task, f);
        net_loop_wakeup(f->loop);
        pthread_join(f->thread, NULL);
    }
    f->stopping = true;
    for (size_t i = 0; i < f->n; i++) {
        struct sim_client *c = &f->clients[i];
        net_timer_stop(f->loop, &c->timer);
        if (c->nc)
            net_conn_close(c->nc, NET_CLOSE_LOCAL);
    }
    net_loop_free(f->loop);
    buf_release(&f->scratch);
    xfree(f->clients);
    xfree(f);
}

/* The bikes to simulate, read from the store. */
struct load_ctx {
    struct sim_lock_config *cfgs;
    size_t n, cap;
    size_t skip; /* bikes to pass over first */
    const struct sim_lock_config *base;
};

static enum err load_bike(void *ctx, const struct core_bike *b)
{
    struct load_ctx *lc = ctx;
    if (lc->skip) {
        lc->skip--;
        return ERR_OK;
    }
    if (lc->n == lc->cap)
        return ERR_OK;
    struct sim_lock_config *c = &lc->cfgs[lc->n++];
    *c = *lc->base;
    c->imei = b->imei;
    c->pos = b->pos;
    return ERR_OK;
}

size_t cli_simfleet_from_db(const char *db, const struct sim_lock_config *base,
                            size_t skip, struct sim_lock_config *cfgs,
                            size_t cap)
{
    struct store *st;
    struct err_detail d;
    if (store_open(db, &st, &d) != ERR_OK) {
        fprintf(stderr, "spoke: %s\n", d.msg);
        return 0;
    }
    struct load_ctx lc = {cfgs, 0, cap, skip, base};
    store_load_bikes(st, load_bike, &lc);
    store_close(st);
    return lc.n;
}

static volatile sig_atomic_t stop_flag;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void check_stop(struct net_timer *t)
{
    struct cli_simfleet *f = t->ctx;
    if (stop_flag) {
        net_loop_stop(f->loop);
        return;
    }
    net_timer_start(f->loop, t, 200, check_stop, f);
}

int cmd_sim(int argc, char **argv)
{
    const char *locks = "127.0.0.1:9000", *db = "spoke.db", *count_s = NULL,
               *ride_s = NULL, *sources = NULL, *heartbeat_s = NULL,
               *report_ms_s = NULL, *offset_s = NULL;
    const struct cli_opt opts[] = {
        {"--locks", "HOST:PORT", "the lock gateway (default 127.0.0.1:9000)",
         &locks, NULL},
        {"--db", "PATH", "read the bikes (IMEI, position) from this database",
         &db, NULL},
        {"--count", "N", "simulate the first N bikes (default all)", &count_s,
         NULL},
        {"--offset", "N", "skip the first N bikes (several simulators)",
         &offset_s, NULL},
        {"--ride-s", "S", "seconds a ride lasts before the lock closes",
         &ride_s, NULL},
        {"--heartbeat-s", "S", "seconds between heartbeats (default 30)",
         &heartbeat_s, NULL},
        {"--report-ms", "MS",
         "an idle lock reports its position every MS ms (default: never)",
         &report_ms_s, NULL},
        {"--sources", "ADDRS",
         "source addresses, e.g. 127.0.0.1-127.0.0.8, to pass the port limit",
         &sources, NULL},
    };
    if (argc < 3 || strcmp(argv[2], "locks") != 0) {
        fprintf(stderr, "usage: spoke sim locks [options] (see "
                        "spoke sim locks --help)\n");
        return 2;
    }
    int rc = cli_parse("spoke sim locks [options]",
                       "Connects one simulated smart lock per bike of the "
                       "database to the lock gateway.\nEach signs in, "
                       "heartbeats, answers unlocks, rides and locks again.",
                       argc, argv, 3, opts, ARRAY_LEN(opts));
    if (rc)
        return rc == 2 ? 0 : 2;
    int64_t count = 1000000, ride = 20, hb = 30, report_ms = 0, offset = 0;
    if ((count_s && !cli_i64("--count", count_s, 1, 10000000, &count)) ||
        (ride_s && !cli_i64("--ride-s", ride_s, 1, 86400, &ride)) ||
        (heartbeat_s && !cli_i64("--heartbeat-s", heartbeat_s, 1, 3600, &hb)) ||
        (report_ms_s &&
         !cli_i64("--report-ms", report_ms_s, 10, 3600000, &report_ms)) ||
        (offset_s && !cli_i64("--offset", offset_s, 0, INT64_MAX, &offset)))
        return 2;
    struct sim_lock_config base;
    sim_lock_config_default(&base);
    base.ride_ms = ride * 1000;
    base.heartbeat_ms = hb * 1000;
    base.report_ms = report_ms;
    struct sim_lock_config *cfgs = xcalloc((size_t)count, sizeof(*cfgs));
    size_t n =
        cli_simfleet_from_db(db, &base, (size_t)offset, cfgs, (size_t)count);
    if (n == 0) {
        fprintf(stderr, "spoke: no bikes to simulate in '%s'\n", db);
        xfree(cfgs);
        return 1;
    }
    struct cli_simfleet *f =
        cli_simfleet_new(locks, sources, cfgs, n, (uint64_t)clock_wall_ms());
    xfree(cfgs);
    if (!f)
        return 2;
    signal(SIGINT, on_stop_signal);
    signal(SIGTERM, on_stop_signal);
    signal(SIGPIPE, SIG_IGN);
    struct net_timer stop_timer = {0};
    net_timer_start(f->loop, &stop_timer, 200, check_stop, f);
    log_emit(LOG_INFO, "sim_locks",
             LOG_FIELDS(LOG_I64("count", (int64_t)n), LOG_STR("locks", locks)));
    net_loop_run(f->loop);
    net_timer_stop(f->loop, &stop_timer);
    cli_simfleet_free(f);
    return 0;
}
