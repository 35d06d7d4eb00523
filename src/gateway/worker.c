/* SPDX-License-Identifier: MIT */
/*
 * A gateway worker process: runs the session engine on its share of the
 * lock connections (the listening socket is shared with the other workers)
 * and relays between the engine and the gateway in the server process.
 */
#include "base/sys.h"
#include "gateway/gateway_int.h"
#include "base/log.h"

#include <signal.h>
#include <sys/prctl.h>

#define WORKER_STATS_MS 1000

struct worker {
    struct net_loop *loop;
    struct gateway__engine *engine;
    struct gateway__chan *chan;
    struct net_timer stats_timer;
};

/* Starts a message about imei. */
static void msg_for(struct gateway__msg_buf *m, enum gateway__msg type,
                    uint64_t imei)
{
    gateway__msg_begin(m, type);
    gateway__msg_u64(m, imei);
}

/* The engine's callbacks become messages to the gateway. */

static void w_report(void *ctx, uint64_t imei, const struct core_bike_report *r)
{
    struct worker *w = ctx;
    struct gateway__msg_buf m;
    msg_for(&m, GW_MSG_REPORT, imei);
    gateway__msg_u8(&m, r->has_pos);
    gateway__msg_f64(&m, r->pos.lat_deg);
    gateway__msg_f64(&m, r->pos.lon_deg);
    gateway__msg_u8(&m, (uint8_t)(int8_t)r->battery_pct);
    gateway__msg_u8(&m, (uint8_t)(int8_t)r->lock_closed);
    gateway__chan_send(w->chan, &m);
}

static void w_alarm(void *ctx, uint64_t imei, int code, bool fault)
{
    struct worker *w = ctx;
    struct gateway__msg_buf m;
    msg_for(&m, GW_MSG_ALARM, imei);
    gateway__msg_u64(&m, (uint64_t)(int64_t)code);
    gateway__msg_u8(&m, fault);
    gateway__chan_send(w->chan, &m);
}

static void unlock_result(struct worker *w, uint64_t imei, int64_t user,
                          enum gateway_unlock_outcome outcome)
{
    struct gateway__msg_buf m;
    msg_for(&m, GW_MSG_UNLOCK_RESULT, imei);
    gateway__msg_u64(&m, (uint64_t)user);
    gateway__msg_u8(&m, (uint8_t)outcome);
    gateway__chan_send(w->chan, &m);
}

static void w_unlock_result(void *ctx, uint64_t imei, int64_t user,
                            enum gateway_unlock_outcome outcome)
{
    unlock_result(ctx, imei, user, outcome);
}

static void w_locked(void *ctx, uint64_t imei, int64_t user, int64_t ride_min)
{
    struct worker *w = ctx;
    struct gateway__msg_buf m;
    msg_for(&m, GW_MSG_LOCKED, imei);
    gateway__msg_u64(&m, (uint64_t)user);
    gateway__msg_u64(&m, (uint64_t)ride_min);
    gateway__chan_send(w->chan, &m);
}

static void w_online(void *ctx, uint64_t imei, bool up)
{
    struct worker *w = ctx;
    struct gateway__msg_buf m;
    msg_for(&m, GW_MSG_ONLINE, imei);
    gateway__msg_u8(&m, up);
    gateway__chan_send(w->chan, &m);
}

static void w_ask(void *ctx, uint64_t imei, bool secure)
{
    struct worker *w = ctx;
    struct gateway__msg_buf m;
    msg_for(&m, GW_MSG_ASK, imei);
    gateway__msg_u8(&m, secure);
    gateway__chan_send(w->chan, &m);
}

static void w_counter(void *ctx, uint64_t imei, uint64_t rx_counter)
{
    struct worker *w = ctx;
    struct gateway__msg_buf m;
    msg_for(&m, GW_MSG_COUNTER, imei);
    gateway__msg_u64(&m, rx_counter);
    gateway__chan_send(w->chan, &m);
}

static void w_settle(void *ctx, uint64_t imei, uint64_t token)
{
    struct worker *w = ctx;
    struct gateway__msg_buf m;
    msg_for(&m, GW_MSG_SETTLE, imei);
    gateway__msg_u64(&m, token);
    gateway__chan_send(w->chan, &m);
}

static const struct gateway_ops worker_ops = {
    .counter = w_counter,
    .report = w_report,
    .alarm = w_alarm,
    .unlock_result = w_unlock_result,
    .locked = w_locked,
    .online = w_online,
    .settle = w_settle,
};

/* Commands from the gateway */

static void on_msg(void *ctx, struct gateway__msg_buf *m)
{
    struct worker *w = ctx;
    uint64_t imei = gateway__msg_get_u64(m);
    switch (m->type) {
    case GW_MSG_UNLOCK: {
        int64_t user = (int64_t)gateway__msg_get_u64(m);
        int64_t trip = (int64_t)gateway__msg_get_u64(m);
        int64_t now_s = (int64_t)gateway__msg_get_u64(m);
        int64_t valid_s = (int64_t)gateway__msg_get_u64(m);
        enum err e =
            gateway__engine_unlock(w->engine, imei, user, trip, now_s, valid_s);
        if (e == ERR_NOT_FOUND)
            unlock_result(w, imei, user, GATEWAY_OFFLINE);
        else if (e == ERR_BUSY)
            unlock_result(w, imei, user, GATEWAY_BUSY);
        else if (e != ERR_OK)
            unlock_result(w, imei, user, GATEWAY_REFUSED);
        break;
    }
    case GW_MSG_CANCEL:
        gateway__engine_unlock_cancel(w->engine, imei);
        break;
    case GW_MSG_ACK:
        gateway__engine_ack(w->engine, imei, gateway__msg_get_u64(m));
        break;
    case GW_MSG_KICK:
        gateway__engine_kick(w->engine, imei);
        break;
    case GW_MSG_VERDICT: {
        struct gateway_admission a;
        a.admit = gateway__msg_get_u8(m) != 0;
        a.secure = gateway__msg_get_u8(m) != 0;
        for (size_t i = 0; i < GATEWAY_KEY_BYTES; i++)
            a.key[i] = gateway__msg_get_u8(m);
        a.rx_counter = gateway__msg_get_u64(m);
        /* The session says online itself once its first frame checks out. */
        gateway__engine_verdict(w->engine, imei, &a);
        break;
    }
    default:
        log_emit(LOG_WARN, "gateway_worker_bad_message",
                 LOG_FIELDS(LOG_I64("type", (int64_t)m->type)));
        break;
    }
}

static void on_close(void *ctx)
{
    /* The server went away or told us to stop. */
    struct worker *w = ctx;
    net_loop_stop(w->loop);
}

static void send_stats(struct net_timer *t)
{
    struct worker *w = t->ctx;
    struct gateway_stats st;
    gateway__engine_stats(w->engine, &st);
    struct gateway__msg_buf m;
    gateway__msg_begin(&m, GW_MSG_STATS);
    gateway__msg_u64(&m, st.sessions);
    gateway__msg_u64(&m, st.sessions_total);
    gateway__msg_u64(&m, st.frames);
    gateway__msg_u64(&m, st.bad_frames);
    gateway__msg_u64(&m, st.rejected);
    gateway__msg_u64(&m, st.replaced);
    gateway__msg_u64(&m, st.idle_closed);
    gateway__chan_send(w->chan, &m);
    net_timer_start(w->loop, t, WORKER_STATS_MS, send_stats, w);
}

int gateway_worker_run(int ipc_fd, int listen_fd,
                       const struct gateway_config *cfg)
{
    /* Die with the server; Ctrl-C is the server's to handle. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
        log_emit(LOG_WARN, "gateway_worker_no_deathsig", 0, NULL);
    signal(SIGINT, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    struct worker w = {0};
    struct err_detail d;
    if (net_loop_new(&w.loop, &d) != ERR_OK) {
        log_emit(LOG_ERROR, "gateway_worker_failed",
                 LOG_FIELDS(LOG_STR("error", d.msg)));
        return 1;
    }
    w.chan = gateway__chan_new(w.loop, ipc_fd, on_msg, on_close, &w);
    if (!w.chan) {
        net_loop_free(w.loop);
        return 1;
    }
    w.engine =
        gateway__engine_new(w.loop, listen_fd, cfg, &worker_ops, w_ask, &w);
    net_timer_start(w.loop, &w.stats_timer, WORKER_STATS_MS, send_stats, &w);
    enum err e = net_loop_run(w.loop);
    net_timer_stop(w.loop, &w.stats_timer);
    gateway__engine_free(w.engine);
    gateway__chan_free(w.chan);
    net_loop_free(w.loop);
    return e == ERR_OK ? 0 : 1;
}
