/* SPDX-License-Identifier: MIT */
/*
 * The gateway its owner sees: the session engine on the owner's loop, or a
 * hub for worker processes that run the engines. The hub starts the workers
 * on a shared listening socket, relays their callbacks to the owner and the
 * owner's commands to the worker holding the lock, decides which lock may
 * stay (a known IMEI, its newest session), and restarts a worker that dies.
 */
#include "base/sys.h"
#include "gateway/gateway_int.h"
#include "base/imap.h"
#include "base/log.h"
#include "base/vec.h"
#include "net/tcp.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define RESPAWN_MS 1000
#define STOP_WAIT_MS 2000
/*
 * The tokens handed to the owner (ops->settle) name the worker (index + 1, in
 * the top byte) and the worker's own token, a session serial (the rest).
 */
#define HUB_TOKEN_SHIFT 56
#define HUB_TOKEN_SESSION ((UINT64_C(1) << HUB_TOKEN_SHIFT) - 1)
_Static_assert(GATEWAY_WORKERS_MAX < 255, "worker index fits the top byte");

extern char **environ;

struct worker {
    struct gateway *gw;
    size_t idx;
    pid_t pid;
    struct gateway__chan *chan;
    struct gateway_stats stats; /* its latest report */
    struct net_timer respawn;
};

struct gateway {
    struct net_loop *loop;
    struct gateway_config cfg;
    char listen[64];
    char addr[64];
    char exe[256];
    const struct gateway_ops *ops;
    void *ctx;
    struct gateway__engine *engine; /* in-process */
    int listen_fd;                  /* with workers: theirs, shared */
    struct worker *workers;
    size_t nworkers;
    struct imap owner;         /* imei -> worker index + 1 */
    struct gateway_stats past; /* counters of workers that exited */
    bool stopping;
};

void gateway_config_default(struct gateway_config *cfg)
{
    cfg->listen = "127.0.0.1:9000";
    cfg->login_timeout_ms = 30000;
    cfg->idle_timeout_ms = 600000;
    cfg->max_bad_frames = 16;
    cfg->max_sessions = 100000;
    cfg->workers = 0;
    cfg->worker_exe = "/proc/self/exe";
}

/* The hub */

static struct worker *owner_of(const struct gateway *gw, uint64_t imei)
{
    uintptr_t v = (uintptr_t)imap_get(&gw->owner, imei);
    return v ? &gw->workers[v - 1] : NULL;
}

static void send_imei(struct worker *w, enum gateway__msg type, uint64_t imei)
{
    struct gateway__msg_buf m;
    gateway__msg_begin(&m, type);
    gateway__msg_u64(&m, imei);
    if (w->chan)
        gateway__chan_send(w->chan, &m);
}

/* A worker asks whether a lock may connect: the owner decides. */
static void hub_ask(struct worker *w, uint64_t imei, bool secure)
{
    struct gateway *gw = w->gw;
    struct gateway_admission a = {0};
    gw->ops->admit(gw->ctx, imei, secure, &a);
    struct gateway__msg_buf m;
    gateway__msg_begin(&m, GW_MSG_VERDICT);
    gateway__msg_u64(&m, imei);
    gateway__msg_u8(&m, a.admit);
    gateway__msg_u8(&m, a.secure);
    for (size_t i = 0; i < GATEWAY_KEY_BYTES; i++)
        gateway__msg_u8(&m, a.key[i]);
    gateway__msg_u64(&m, a.rx_counter);
    gateway__chan_send(w->chan, &m);
}

/*
 * A worker admitted a lock (after checking its first frame against the
 * verdict): from now on it is the lock's owner.
 */
static void hub_online(struct worker *w, uint64_t imei)
{
    struct gateway *gw = w->gw;
    /* The newest session wins, as within one engine. */
    struct worker *prev = owner_of(gw, imei);
    if (prev && prev != w)
        send_imei(prev, GW_MSG_KICK, imei);
    imap_put(&gw->owner, imei, (void *)(uintptr_t)(w->idx + 1));
    gw->ops->online(gw->ctx, imei, true);
}

static void hub_offline(struct worker *w, uint64_t imei)
{
    struct gateway *gw = w->gw;
    if (owner_of(gw, imei) == w) {
        imap_del(&gw->owner, imei);
        gw->ops->online(gw->ctx, imei, false);
    }
}

static void hub_on_msg(void *ctx, struct gateway__msg_buf *m)
{
    struct worker *w = ctx;
    struct gateway *gw = w->gw;
    if (m->type == GW_MSG_STATS) {
        uint64_t *f[] = {&w->stats.sessions,   &w->stats.sessions_total,
                         &w->stats.frames,     &w->stats.bad_frames,
                         &w->stats.rejected,   &w->stats.replaced,
                         &w->stats.idle_closed};
        for (size_t i = 0; i < ARRAY_LEN(f); i++)
            *f[i] = gateway__msg_get_u64(m);
        return;
    }
    uint64_t imei = gateway__msg_get_u64(m);
    if (m->type == GW_MSG_ASK) {
        hub_ask(w, imei, gateway__msg_get_u8(m) != 0);
        return;
    }
    if (m->type == GW_MSG_ONLINE) {
        if (gateway__msg_get_u8(m))
            hub_online(w, imei);
        else
            hub_offline(w, imei);
        return;
    }
    /* Sessions this worker does not own (kicked, unknown) say nothing. */
    if (owner_of(gw, imei) != w)
        return;
    switch (m->type) {
    case GW_MSG_REPORT: {
        struct core_bike_report r;
        r.has_pos = gateway__msg_get_u8(m) != 0;
        r.pos.lat_deg = gateway__msg_get_f64(m);
        r.pos.lon_deg = gateway__msg_get_f64(m);
        r.battery_pct = (int8_t)gateway__msg_get_u8(m);
        r.lock_closed = (int8_t)gateway__msg_get_u8(m);
        gw->ops->report(gw->ctx, imei, &r);
        break;
    }
    case GW_MSG_ALARM: {
        int code = (int)(int64_t)gateway__msg_get_u64(m);
        gw->ops->alarm(gw->ctx, imei, code, gateway__msg_get_u8(m) != 0);
        break;
    }
    case GW_MSG_UNLOCK_RESULT: {
        int64_t user = (int64_t)gateway__msg_get_u64(m);
        uint8_t outcome = gateway__msg_get_u8(m);
        if (outcome <= GATEWAY_OFFLINE)
            gw->ops->unlock_result(gw->ctx, imei, user,
                                   (enum gateway_unlock_outcome)outcome);
        break;
    }
    case GW_MSG_COUNTER:
        gw->ops->counter(gw->ctx, imei, gateway__msg_get_u64(m));
        break;
    case GW_MSG_LOCKED: {
        int64_t user = (int64_t)gateway__msg_get_u64(m);
        int64_t ride_min = (int64_t)gateway__msg_get_u64(m);
        gw->ops->locked(gw->ctx, imei, user, ride_min);
        break;
    }
    case GW_MSG_SETTLE: {
        /* The ack goes back to this worker, whoever owns the lock then. */
        uint64_t token = gateway__msg_get_u64(m) & HUB_TOKEN_SESSION;
        gw->ops->settle(gw->ctx, imei,
                        (uint64_t)(w->idx + 1) << HUB_TOKEN_SHIFT | token);
        break;
    }
    default:
        log_emit(LOG_WARN, "gateway_bad_message",
                 LOG_FIELDS(LOG_I64("type", (int64_t)m->type)));
        break;
    }
}

static void add_stats(struct gateway_stats *to, const struct gateway_stats *s)
{
    to->sessions_total += s->sessions_total;
    to->frames += s->frames;
    to->bad_frames += s->bad_frames;
    to->rejected += s->rejected;
    to->replaced += s->replaced;
    to->idle_closed += s->idle_closed;
}

static void reap(struct worker *w, bool wait)
{
    if (w->pid <= 0)
        return;
    int status;
    pid_t r = waitpid(w->pid, &status, wait ? 0 : WNOHANG);
    if (r == w->pid || (r < 0 && errno == ECHILD))
        w->pid = 0;
}

static bool spawn_worker(struct worker *w);

static void respawn(struct net_timer *t)
{
    struct worker *w = t->ctx;
    if (!w->gw->stopping && !spawn_worker(w))
        net_timer_start(w->gw->loop, &w->respawn, RESPAWN_MS, respawn, w);
}

/* The worker went away: its locks are offline until they reconnect. */
static void hub_on_close(void *ctx)
{
    struct worker *w = ctx;
    struct gateway *gw = w->gw;
    gateway__chan_free(w->chan);
    w->chan = NULL;
    add_stats(&gw->past, &w->stats);
    memset(&w->stats, 0, sizeof(w->stats));
    reap(w, false);
    if (gw->stopping)
        return;
    log_emit(LOG_ERROR, "gateway_worker_lost",
             LOG_FIELDS(LOG_I64("worker", (int64_t)w->idx)));
    size_t pos = 0;
    uint64_t imei;
    void *val;
    uint64_t *gone = NULL;
    size_t ngone = 0, capgone = 0;
    while (imap_next(&gw->owner, &pos, &imei, &val)) {
        if ((uintptr_t)val == w->idx + 1)
            VEC_PUSH(gone, ngone, capgone, imei);
    }
    for (size_t i = 0; i < ngone; i++) {
        imap_del(&gw->owner, gone[i]);
        gw->ops->online(gw->ctx, gone[i], false);
    }
    xfree(gone);
    net_timer_start(gw->loop, &w->respawn, RESPAWN_MS, respawn, w);
}

static bool spawn_worker(struct worker *w)
{
    struct gateway *gw = w->gw;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
                   sv) != 0)
        return false;
    char num[5][24];
    snprintf(num[0], sizeof(num[0]), "%" PRId64, gw->cfg.login_timeout_ms);
    snprintf(num[1], sizeof(num[1]), "%" PRId64, gw->cfg.idle_timeout_ms);
    snprintf(num[2], sizeof(num[2]), "%zu", gw->cfg.max_bad_frames);
    snprintf(num[3], sizeof(num[3]), "%zu", gw->cfg.max_sessions);
    snprintf(num[4], sizeof(num[4]), "%zu", w->idx);
    char *argv[] = {gw->exe,
                    "gateway-worker",
                    "--ipc-fd",
                    "3",
                    "--listen-fd",
                    "4",
                    "--login-timeout-ms",
                    num[0],
                    "--idle-timeout-ms",
                    num[1],
                    "--max-bad-frames",
                    num[2],
                    "--max-sessions",
                    num[3],
                    "--index",
                    num[4],
                    NULL};
    posix_spawn_file_actions_t fa;
    bool ok = posix_spawn_file_actions_init(&fa) == 0;
    /* dup2 leaves the copies open across exec, the originals close. */
    ok = ok && posix_spawn_file_actions_adddup2(&fa, sv[1], 3) == 0 &&
         posix_spawn_file_actions_adddup2(&fa, gw->listen_fd, 4) == 0;
    pid_t pid = -1;
    ok = ok && posix_spawn(&pid, gw->exe, &fa, NULL, argv, environ) == 0;
    posix_spawn_file_actions_destroy(&fa);
    close(sv[1]);
    if (!ok) {
        close(sv[0]);
        log_emit(LOG_ERROR, "gateway_worker_spawn_failed",
                 LOG_FIELDS(LOG_STR("exe", gw->exe),
                            LOG_STR("error", strerror(errno))));
        return false;
    }
    w->pid = pid;
    w->chan = gateway__chan_new(gw->loop, sv[0], hub_on_msg, hub_on_close, w);
    return w->chan != NULL;
}

static void stop_workers(struct gateway *gw)
{
    gw->stopping = true;
    for (size_t i = 0; i < gw->nworkers; i++) {
        struct worker *w = &gw->workers[i];
        net_timer_stop(gw->loop, &w->respawn);
        gateway__chan_free(w->chan); /* the worker sees EOF and exits */
        w->chan = NULL;
    }
    /* Give them a moment to close their sessions, then insist. */
    for (int waited = 0; waited < STOP_WAIT_MS; waited += 10) {
        bool all = true;
        for (size_t i = 0; i < gw->nworkers; i++) {
            reap(&gw->workers[i], false);
            all = all && gw->workers[i].pid == 0;
        }
        if (all)
            return;
        usleep(10 * 1000);
    }
    for (size_t i = 0; i < gw->nworkers; i++) {
        if (gw->workers[i].pid > 0) {
            kill(gw->workers[i].pid, SIGKILL);
            reap(&gw->workers[i], true);
        }
    }
}

/* The facade */

enum err gateway_new(struct net_loop *loop, const struct gateway_config *cfg,
                     const struct gateway_ops *ops, void *ctx,
                     struct gateway **out, struct err_detail *d)
{
    if (cfg->workers > GATEWAY_WORKERS_MAX)
        return err_set(d, ERR_INVALID, "gateway_workers",
                       "at most %d gateway workers", GATEWAY_WORKERS_MAX);
    int fd = -1;
    enum err e = net_listen(cfg->listen, false, &fd, d);
    if (e != ERR_OK)
        return e;
    struct gateway *gw = xcalloc(1, sizeof(*gw));
    gw->loop = loop;
    gw->cfg = *cfg;
    snprintf(gw->listen, sizeof(gw->listen), "%s", cfg->listen);
    gw->cfg.listen = gw->listen;
    snprintf(gw->exe, sizeof(gw->exe), "%s",
             cfg->worker_exe ? cfg->worker_exe : "/proc/self/exe");
    gw->cfg.worker_exe = gw->exe;
    gw->ops = ops;
    gw->ctx = ctx;
    gw->listen_fd = -1;
    imap_init(&gw->owner);
    if (net_local_addr(fd, gw->addr, sizeof(gw->addr)) != ERR_OK)
        snprintf(gw->addr, sizeof(gw->addr), "%s", cfg->listen);
    if (cfg->workers == 0) {
        gw->engine = gateway__engine_new(loop, fd, &gw->cfg, ops, NULL, ctx);
        *out = gw;
        return ERR_OK;
    }
    gw->listen_fd = fd;
    gw->nworkers = cfg->workers;
    gw->workers = xcalloc(gw->nworkers, sizeof(*gw->workers));
    for (size_t i = 0; i < gw->nworkers; i++) {
        gw->workers[i].gw = gw;
        gw->workers[i].idx = i;
        if (!spawn_worker(&gw->workers[i])) {
            e = err_set(d, ERR_IO, "gateway_workers",
                        "cannot start gateway worker '%s': %s", gw->exe,
                        strerror(errno));
            gateway_free(gw);
            return e;
        }
    }
    *out = gw;
    return ERR_OK;
}

void gateway_free(struct gateway *gw)
{
    if (!gw)
        return;
    gateway__engine_free(gw->engine);
    if (gw->workers) {
        stop_workers(gw);
        xfree(gw->workers);
    }
    if (gw->listen_fd >= 0)
        close(gw->listen_fd);
    imap_release(&gw->owner);
    xfree(gw);
}

const char *gateway_address(const struct gateway *gw)
{
    return gw->addr;
}

bool gateway_is_online(const struct gateway *gw, uint64_t imei)
{
    if (gw->engine)
        return gateway__engine_is_online(gw->engine, imei);
    return owner_of(gw, imei) != NULL;
}

enum err gateway_unlock(struct gateway *gw, uint64_t imei, int64_t user_id,
                        int64_t trip_id, int64_t now_s, int64_t key_valid_s)
{
    if (gw->engine)
        return gateway__engine_unlock(gw->engine, imei, user_id, trip_id, now_s,
                                      key_valid_s);
    struct worker *w = owner_of(gw, imei);
    if (!w || !w->chan)
        return ERR_NOT_FOUND;
    struct gateway__msg_buf m;
    gateway__msg_begin(&m, GW_MSG_UNLOCK);
    gateway__msg_u64(&m, imei);
    gateway__msg_u64(&m, (uint64_t)user_id);
    gateway__msg_u64(&m, (uint64_t)trip_id);
    gateway__msg_u64(&m, (uint64_t)now_s);
    gateway__msg_u64(&m, (uint64_t)key_valid_s);
    gateway__chan_send(w->chan, &m);
    return ERR_OK;
}

void gateway_unlock_cancel(struct gateway *gw, uint64_t imei)
{
    if (gw->engine) {
        gateway__engine_unlock_cancel(gw->engine, imei);
        return;
    }
    struct worker *w = owner_of(gw, imei);
    if (w)
        send_imei(w, GW_MSG_CANCEL, imei);
}

void gateway_ack(struct gateway *gw, uint64_t imei, uint64_t token)
{
    if (gw->engine) {
        gateway__engine_ack(gw->engine, imei, token);
        return;
    }
    uint64_t idx = token >> HUB_TOKEN_SHIFT;
    if (idx == 0 || idx > gw->nworkers || !gw->workers[idx - 1].chan)
        return;
    struct gateway__msg_buf m;
    gateway__msg_begin(&m, GW_MSG_ACK);
    gateway__msg_u64(&m, imei);
    gateway__msg_u64(&m, token & HUB_TOKEN_SESSION);
    gateway__chan_send(gw->workers[idx - 1].chan, &m);
}

void gateway_stats(const struct gateway *gw, struct gateway_stats *out)
{
    if (gw->engine) {
        gateway__engine_stats(gw->engine, out);
        return;
    }
    *out = gw->past;
    for (size_t i = 0; i < gw->nworkers; i++)
        add_stats(out, &gw->workers[i].stats);
    out->sessions = gw->owner.count;
}
