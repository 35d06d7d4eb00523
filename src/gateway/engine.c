/* SPDX-License-Identifier: MIT */
/*
 * The session engine: lock sessions on one loop, framing and decoding what
 * locks send, acknowledging it, the unlock handshake, and the session rules
 * (login, replacement, idle and bad-frame limits). It runs in the server
 * process, or in each gateway worker process (worker.c).
 */
#include "base/sys.h"
#include "gateway/gateway_int.h"
#include "base/imap.h"
#include "base/log.h"
#include "lock/lock.h"
#include "net/tcp.h"
#include "base/clock.h"

#include <sodium.h>

#include <stdio.h>

#define GW_SWEEP_MS 1000
#define GW_OUT_MAX 8192
/*
 * Input kept unconsumed: a partial frame, or while the owner decides on a
 * new session (workers), the frames that came with its first one.
 */
#define GW_IN_MAX (4 * LOCK_FRAME_MAX)

/*
 * Reports a session may have awaiting their acknowledgement (the owner's
 * gateway_ack); one more is dropped unread, and the lock sends it again.
 */
#define GW_ACKS_MAX 4

enum unlock_step { UNLOCK_IDLE, UNLOCK_KEY_REQUESTED, UNLOCK_SENT };

/* What the acknowledgement of a report echoes of it (the rest is s->hdr). */
struct pending_ack {
    char name[LOCK_NAME_MAX];
    uint8_t name_len;
    uint8_t dialect; /* enum lock_dialect */
    bool has_stamp;
    char stamp[LOCK_STAMP_LEN];
};

struct session {
    struct gateway__engine *gw;
    struct net_conn *nc;
    struct session *prev, *next;
    uint64_t serial; /* unique per session: the token of its acks */
    uint64_t imei;   /* 0 until the first valid frame */
    bool authed;
    bool closed;
    struct lock_header hdr; /* latest header from the lock, for replies */
    size_t bad_frames;
    int64_t opened_ms;
    bool asking;      /* waiting for the owner's verdict; its input is held */
    bool has_verdict; /* the owner's answer, until the session is admitted */
    struct gateway_admission verdict;
    bool secure; /* the lock speaks the secure dialect */
    unsigned char key[GATEWAY_KEY_BYTES];
    uint64_t rx_counter; /* highest counter accepted from the lock */
    uint64_t tx_counter; /* highest counter sent to it */
    enum unlock_step unlock;
    int64_t unlock_user;
    int64_t unlock_trip;
    int64_t unlock_time_s;
    struct pending_ack acks[GW_ACKS_MAX]; /* reports awaiting gateway_ack */
    uint8_t nacks;
};

struct gateway__engine {
    struct net_loop *loop;
    struct gateway_config cfg;
    const struct gateway_ops *ops;
    void *ctx;
    struct net_listener *listener;
    struct imap by_imei; /* imei -> authed session */
    gateway__engine_ask_fn *ask;
    struct imap asking; /* imei -> session waiting for a verdict */
    struct session *sessions;
    size_t nsessions;
    struct net_timer sweep;
    struct gateway_stats stats;
    uint64_t next_serial;
};

static void session_send(struct session *s, const char *frame, size_t len)
{
    if (!s->closed)
        net_conn_write(s->nc, frame, len);
}

static void log_session(const char *event, const struct session *s,
                        const char *why)
{
    char imei[16];
    snprintf(imei, sizeof(imei), "%015" PRIu64, s->imei);
    log_emit(LOG_INFO, event,
             LOG_FIELDS(LOG_STR("imei", s->authed ? imei : NULL),
                        LOG_STR("reason", why)));
}

/* Counts a malformed frame; closes the session past the limit. */
static void bad_frame(struct session *s, const char *why)
{
    s->gw->stats.bad_frames++;
    s->bad_frames++;
    if (s->bad_frames > s->gw->cfg.max_bad_frames) {
        s->gw->stats.rejected++;
        log_session("lock_session_dropped", s, why);
        net_conn_close(s->nc, NET_CLOSE_LOCAL);
    }
}

/* Binds an unauthenticated session to imei; false if it must close. */
/* Refuses the session's lock (why: for the log) and closes it. */
static void reject(struct session *s, uint64_t imei, const char *why)
{
    s->gw->stats.rejected++;
    s->imei = imei;
    log_emit(
        LOG_WARN, "lock_refused",
        LOG_FIELDS(LOG_I64("imei", (int64_t)imei), LOG_STR("reason", why)));
    net_conn_close(s->nc, NET_CLOSE_LOCAL);
}

/*
 * Binds the session to imei as the owner allowed (a), replacing an older
 * session of the lock.
 */
static void admit(struct session *s, uint64_t imei,
                  const struct gateway_admission *a)
{
    struct gateway__engine *gw = s->gw;
    s->secure = a->secure;
    if (a->secure) {
        memcpy(s->key, a->key, sizeof(s->key));
        s->rx_counter = a->rx_counter;
    }
    struct session *old = imap_get(&gw->by_imei, imei);
    if (old) {
        /* The lock reconnected: the new session wins. */
        gw->stats.replaced++;
        imap_del(&gw->by_imei, imei);
        old->authed = false;
        net_conn_close(old->nc, NET_CLOSE_LOCAL);
    }
    s->imei = imei;
    s->authed = true;
    imap_put(&gw->by_imei, imei, s);
    gw->ops->online(gw->ctx, imei, true);
}

/*
 * Asks the owner about the lock imei a new session names; its input is held,
 * unread, until gateway__engine_verdict.
 */
static void ask_owner(struct session *s, uint64_t imei, bool secure)
{
    struct gateway__engine *gw = s->gw;
    struct session *prev = imap_get(&gw->asking, imei);
    if (prev) {
        /* A newer connection of the lock asks instead. */
        imap_del(&gw->asking, imei);
        prev->asking = false;
        net_conn_close(prev->nc, NET_CLOSE_LOCAL);
    }
    s->asking = true;
    s->imei = imei;
    imap_put(&gw->asking, imei, s);
    net_conn_read_enable(s->nc, false);
    gw->ask(gw->ctx, imei, secure);
}

bool gateway__engine_verdict(struct gateway__engine *gw, uint64_t imei,
                             const struct gateway_admission *a)
{
    struct session *s = imap_del(&gw->asking, imei);
    if (!s)
        return false;
    s->asking = false;
    if (!a->admit) {
        reject(s, imei, "not admitted");
        return true;
    }
    s->verdict = *a;
    s->has_verdict = true;
    /* The held first frame comes again and is checked against the verdict. */
    net_conn_read_enable(s->nc, true);
    return true;
}

/*
 * Checks a secure frame: its MAC under key and a counter above the last
 * one accepted. The reason for a refusal goes to *why.
 */
static bool authentic(struct str frame, const struct lock_msg *m,
                      const unsigned char *key, uint64_t rx_counter,
                      const char **why)
{
    if (lock_secure_verify(frame, key, NULL) != ERR_OK) {
        *why = "bad MAC (spoofed)";
        return false;
    }
    if (m->hdr.counter <= rx_counter) {
        *why = "counter not above the last (replayed or reordered)";
        return false;
    }
    return true;
}

/*
 * The first frame of a session names its lock: the owner decides, at once
 * (admit) or later (ask; the frame is held). A secure lock's frame must be
 * authentic before the session may replace the lock's current one.
 * Returns false if the frame is held; *ok tells whether to go on with it.
 */
static bool sign_in(struct session *s, struct str frame,
                    const struct lock_msg *m, bool *ok)
{
    struct gateway__engine *gw = s->gw;
    bool secure = m->hdr.dialect == LOCK_DIALECT_SECURE;
    *ok = false;
    if (!s->has_verdict) {
        if (gw->ask) {
            ask_owner(s, m->hdr.imei, secure);
            return false;
        }
        gw->ops->admit(gw->ctx, m->hdr.imei, secure, &s->verdict);
        s->has_verdict = true;
    } else if (m->hdr.imei != s->imei) {
        /* The answer was for the lock the first frame named. */
        reject(s, m->hdr.imei, "frame for another lock");
        return true;
    }
    const char *why = NULL;
    if (!s->verdict.admit) {
        reject(s, m->hdr.imei, "not admitted");
        return true;
    }
    if (s->verdict.secure != secure) {
        reject(s, m->hdr.imei,
               secure ? "no key for the secure dialect"
                      : "plain dialect refused");
        return true;
    }
    if (secure &&
        !authentic(frame, m, s->verdict.key, s->verdict.rx_counter, &why)) {
        s->gw->stats.bad_frames++;
        reject(s, m->hdr.imei, why);
        return true;
    }
    /* Sign-in callbacks may reply already: they echo this header. */
    s->hdr = m->hdr;
    admit(s, m->hdr.imei, &s->verdict);
    s->has_verdict = false;
    sodium_memzero(&s->verdict, sizeof(s->verdict));
    *ok = true;
    return true;
}

static void handle_key(struct session *s, const struct lock_key *k)
{
    if (s->unlock != UNLOCK_KEY_REQUESTED || k->op != LOCK_OP_UNLOCK ||
        k->user_id != s->unlock_user)
        return; /* a key nobody asked for: ignore it */
    char out[LOCK_BUILD_MAX];
    size_t len;
    if (lock_build_unlock(&s->hdr, k->key, s->unlock_user, s->unlock_time_s,
                          out, sizeof(out), &len, NULL) != ERR_OK) {
        bad_frame(s, "unusable unlock key");
        return;
    }
    s->unlock = UNLOCK_SENT;
    session_send(s, out, len);
}

static void handle_msg(struct session *s, const struct lock_msg *m)
{
    struct gateway__engine *gw = s->gw;
    struct core_bike_report r = {.battery_pct = -1, .lock_closed = -1};
    switch (m->cmd) {
    case LOCK_CMD_SIGN_IN:
        r.battery_pct = m->u.sign_in.battery_pct;
        gw->ops->report(gw->ctx, s->imei, &r);
        break;
    case LOCK_CMD_HEARTBEAT:
        r.battery_pct = m->u.heartbeat.battery_pct;
        r.lock_closed = m->u.heartbeat.is_locked ? 1 : 0;
        gw->ops->report(gw->ctx, s->imei, &r);
        break;
    case LOCK_CMD_POSITION:
        r.has_pos = m->u.position.is_valid;
        r.pos =
            (struct geo_latlng){m->u.position.lat_deg, m->u.position.lon_deg};
        gw->ops->report(gw->ctx, s->imei, &r);
        break;
    case LOCK_CMD_ALARM:
        gw->ops->alarm(gw->ctx, s->imei, (int)m->u.alarm.code, false);
        break;
    case LOCK_CMD_FAULT:
        gw->ops->alarm(gw->ctx, s->imei, (int)m->u.fault.code, true);
        break;
    case LOCK_CMD_KEY:
        handle_key(s, &m->u.key);
        break;
    case LOCK_CMD_UNLOCKED:
        if (s->unlock != UNLOCK_IDLE &&
            m->u.unlocked.user_id == s->unlock_user) {
            s->unlock = UNLOCK_IDLE;
            gw->ops->unlock_result(gw->ctx, s->imei, m->u.unlocked.user_id,
                                   m->u.unlocked.result == 0 ? GATEWAY_UNLOCKED
                                                             : GATEWAY_REFUSED);
        }
        break;
    case LOCK_CMD_SECURE_UNLOCKED:
        /* Kept first: the frame must not count as new after a restart. */
        gw->ops->counter(gw->ctx, s->imei, s->rx_counter);
        if (s->unlock != UNLOCK_IDLE &&
            m->u.secure_unlocked.trip_id == s->unlock_trip) {
            s->unlock = UNLOCK_IDLE;
            gw->ops->unlock_result(gw->ctx, s->imei, s->unlock_user,
                                   m->u.secure_unlocked.result == 0
                                       ? GATEWAY_UNLOCKED
                                       : GATEWAY_REFUSED);
        }
        break;
    case LOCK_CMD_LOCKED:
        if (s->secure)
            gw->ops->counter(gw->ctx, s->imei, s->rx_counter);
        r.lock_closed = 1;
        gw->ops->report(gw->ctx, s->imei, &r);
        gw->ops->locked(gw->ctx, s->imei, m->u.locked.user_id,
                        m->u.locked.ride_min);
        break;
    default:
        break; /* other commands carry nothing we use */
    }
}

/* The next counter of a frame to a secure lock: time-based, so that it
 * grows across restarts without being stored. */
static uint64_t next_tx(struct session *s)
{
    uint64_t now_us = (uint64_t)clock_wall_ms() * 1000;
    s->tx_counter = MAX(s->tx_counter + 1, now_us);
    return s->tx_counter;
}

/* Acknowledges the session's oldest report awaiting it. */
static void send_ack(struct session *s)
{
    struct pending_ack p = s->acks[0];
    memmove(s->acks, s->acks + 1, --s->nacks * sizeof(s->acks[0]));
    struct lock_msg m;
    memset(&m, 0, sizeof(m));
    m.hdr = s->hdr;
    m.hdr.dialect = (enum lock_dialect)p.dialect;
    m.hdr.has_stamp = p.has_stamp;
    memcpy(m.hdr.stamp, p.stamp, sizeof(p.stamp));
    m.hdr.stamp[LOCK_STAMP_LEN] = '\0';
    m.name = (struct str){p.name, p.name_len};
    char out[LOCK_BUILD_MAX];
    size_t len;
    enum err e = s->secure ? lock_build_secure_ack(&m, next_tx(s), s->key, out,
                                                   sizeof(out), &len, NULL)
                           : lock_build_ack(&m, out, sizeof(out), &len, NULL);
    if (e == ERR_OK)
        session_send(s, out, len);
}

/* Handles one frame; false if it is held (not consumed) for a verdict. */
static bool handle_frame(struct session *s, struct str frame)
{
    struct lock_msg m;
    struct err_detail d;
    if (lock_msg_parse(frame, &m, &d) != ERR_OK || m.hdr.is_to_lock) {
        bad_frame(s, "malformed frame");
        return true;
    }
    if (!s->authed) {
        bool ok;
        if (!sign_in(s, frame, &m, &ok))
            return false;
        if (!ok)
            return true;
    } else if (m.hdr.imei != s->imei) {
        bad_frame(s, "frame for another lock");
        return true;
    } else if ((m.hdr.dialect == LOCK_DIALECT_SECURE) != s->secure) {
        bad_frame(s, "frame in the wrong dialect");
        return true;
    } else if (s->secure) {
        const char *why;
        if (!authentic(frame, &m, s->key, s->rx_counter, &why)) {
            bad_frame(s, why);
            return true;
        }
    }
    bool needs_ack = lock_msg_needs_ack(&m);
    if (needs_ack && s->nacks == GW_ACKS_MAX) {
        bad_frame(s, "too many reports awaiting their acknowledgement");
        return true;
    }
    if (s->secure)
        s->rx_counter = m.hdr.counter;
    /* Replies echo the latest header. */
    s->hdr = m.hdr;
    s->gw->stats.frames++;
    handle_msg(s, &m);
    /*
     * The acknowledgement waits until the owner has made what the report
     * changed durable: a lock sends the report again until it sees one.
     */
    if (needs_ack && !s->closed) {
        struct pending_ack *p = &s->acks[s->nacks++];
        p->name_len = (uint8_t)MIN(m.name.len, sizeof(p->name));
        memcpy(p->name, m.name.ptr, p->name_len);
        p->dialect = (uint8_t)m.hdr.dialect;
        p->has_stamp = m.hdr.has_stamp;
        memcpy(p->stamp, m.hdr.stamp, sizeof(p->stamp));
        s->gw->ops->settle(s->gw->ctx, s->imei, s->serial);
    }
    return true;
}

static size_t session_on_data(struct net_conn *nc, const char *data, size_t len)
{
    struct session *s = net_conn_ctx(nc);
    size_t off = 0;
    while (!s->closed && !s->asking) {
        struct str frame;
        size_t used = 0;
        enum lock_scan r = lock_frame_scan(data + off, len - off,
                                           LOCK_FRAME_MAX, &frame, &used);
        if (r == LOCK_SCAN_FRAME) {
            if (!handle_frame(s, frame))
                break; /* held: it and the rest wait for the verdict */
        } else if (r == LOCK_SCAN_GARBAGE) {
            bad_frame(s, "garbage between frames");
        } else if (r == LOCK_SCAN_TOO_LONG) {
            bad_frame(s, "frame too long");
        }
        off += used;
        if (r == LOCK_SCAN_NEED_MORE)
            break;
    }
    return s->closed ? len : off;
}

static void session_free(void *p)
{
    xfree(p);
}

static void session_on_close(struct net_conn *nc, enum net_close_reason why)
{
    struct session *s = net_conn_ctx(nc);
    struct gateway__engine *gw = s->gw;
    (void)why;
    s->closed = true;
    if (s->prev)
        s->prev->next = s->next;
    else
        gw->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    gw->nsessions--;
    if (s->asking && imap_get(&gw->asking, s->imei) == s)
        imap_del(&gw->asking, s->imei);
    if (s->authed && s->secure)
        gw->ops->counter(gw->ctx, s->imei, s->rx_counter);
    if (s->authed && imap_get(&gw->by_imei, s->imei) == s) {
        imap_del(&gw->by_imei, s->imei);
        gw->ops->online(gw->ctx, s->imei, false);
    }
    gw->stats.sessions = gw->by_imei.count;
    net_loop_defer(gw->loop, session_free, s);
}

static const struct net_conn_ops session_ops = {
    .on_data = session_on_data,
    .on_close = session_on_close,
};

static void on_accept(void *ctx, int fd, const struct sockaddr_storage *peer)
{
    struct gateway__engine *gw = ctx;
    (void)peer;
    struct session *s = xcalloc(1, sizeof(*s));
    s->gw = gw;
    s->serial = ++gw->next_serial;
    s->opened_ms = net_loop_now_ms(gw->loop);
    s->nc = net_conn_new(gw->loop, fd, &session_ops, s, GW_IN_MAX, GW_OUT_MAX);
    if (!s->nc) {
        xfree(s);
        return;
    }
    s->next = gw->sessions;
    if (gw->sessions)
        gw->sessions->prev = s;
    gw->sessions = s;
    gw->nsessions++;
    gw->stats.sessions_total++;
    if (gw->nsessions > gw->cfg.max_sessions) {
        gw->stats.rejected++;
        net_conn_close(s->nc, NET_CLOSE_LOCAL);
    }
}

/* Closes sessions that never signed in or went quiet. */
static void sweep(struct net_timer *t)
{
    struct gateway__engine *gw = t->ctx;
    int64_t now = net_loop_now_ms(gw->loop);
    for (struct session *s = gw->sessions, *next; s; s = next) {
        next = s->next;
        if (!s->authed && now - s->opened_ms > gw->cfg.login_timeout_ms) {
            gw->stats.rejected++;
            net_conn_close(s->nc, NET_CLOSE_LOCAL);
        } else if (now - net_conn_last_rx_ms(s->nc) > gw->cfg.idle_timeout_ms) {
            gw->stats.idle_closed++;
            log_session("lock_session_idle", s, "idle timeout");
            net_conn_close(s->nc, NET_CLOSE_LOCAL);
        }
    }
    net_timer_start(gw->loop, &gw->sweep, GW_SWEEP_MS, sweep, gw);
}

struct gateway__engine *gateway__engine_new(
    struct net_loop *loop, int listen_fd, const struct gateway_config *cfg,
    const struct gateway_ops *ops, gateway__engine_ask_fn *ask, void *ctx)
{
    struct gateway__engine *gw = xcalloc(1, sizeof(*gw));
    gw->ask = ask;
    imap_init(&gw->asking);
    gw->loop = loop;
    gw->cfg = *cfg;
    gw->cfg.listen = NULL;
    gw->ops = ops;
    gw->ctx = ctx;
    /* Time-based, so that a restarted worker's serials are new too. */
    gw->next_serial = (uint64_t)clock_wall_ms() * 1000;
    imap_init(&gw->by_imei);
    gw->listener = net_listener_new(loop, listen_fd, on_accept, gw);
    net_timer_start(loop, &gw->sweep, GW_SWEEP_MS, sweep, gw);
    return gw;
}

void gateway__engine_free(struct gateway__engine *gw)
{
    if (!gw)
        return;
    net_timer_stop(gw->loop, &gw->sweep);
    net_listener_free(gw->listener);
    while (gw->sessions)
        net_conn_close(gw->sessions->nc, NET_CLOSE_LOCAL);
    imap_release(&gw->by_imei);
    imap_release(&gw->asking);
    xfree(gw);
}

bool gateway__engine_is_online(const struct gateway__engine *gw, uint64_t imei)
{
    return imap_get(&gw->by_imei, imei) != NULL;
}

enum err gateway__engine_unlock(struct gateway__engine *gw, uint64_t imei,
                                int64_t user_id, int64_t trip_id, int64_t now_s,
                                int64_t key_valid_s)
{
    struct session *s = imap_get(&gw->by_imei, imei);
    if (!s)
        return ERR_NOT_FOUND;
    /*
     * Only an unlock still waiting for its key blocks another user's. One
     * already sent does not: the owner asks again only after giving up on
     * it (timeout), and its late result, for the old user, is ignored.
     */
    if (s->unlock == UNLOCK_KEY_REQUESTED && s->unlock_user != user_id)
        return ERR_BUSY;
    struct lock_header h = s->hdr;
    char out[LOCK_BUILD_MAX];
    size_t len;
    if (s->secure) {
        /*
         * No key exchange: one command, bound to this lock (the MAC), this
         * trip and an expiry, and single-use (the lock accepts each counter
         * once).
         */
        h.counter = next_tx(s);
        if (lock_build_secure_unlock(&h, trip_id, user_id, now_s + key_valid_s,
                                     s->key, out, sizeof(out), &len,
                                     NULL) != ERR_OK)
            return ERR_INTERNAL;
        s->unlock = UNLOCK_SENT;
    } else {
        if (h.dialect == LOCK_DIALECT_CMDR &&
            lock_stamp_format(now_s, h.stamp) != ERR_OK)
            return ERR_INTERNAL;
        if (lock_build_unlock_request(&h, key_valid_s, user_id, now_s, out,
                                      sizeof(out), &len, NULL) != ERR_OK)
            return ERR_INTERNAL;
        s->unlock = UNLOCK_KEY_REQUESTED;
    }
    s->unlock_user = user_id;
    s->unlock_trip = trip_id;
    s->unlock_time_s = now_s;
    session_send(s, out, len);
    return ERR_OK;
}

void gateway__engine_unlock_cancel(struct gateway__engine *gw, uint64_t imei)
{
    struct session *s = imap_get(&gw->by_imei, imei);
    if (s && s->unlock == UNLOCK_KEY_REQUESTED)
        s->unlock = UNLOCK_IDLE;
}

void gateway__engine_ack(struct gateway__engine *gw, uint64_t imei,
                         uint64_t token)
{
    struct session *s = imap_get(&gw->by_imei, imei);
    if (s && s->serial == token && s->nacks > 0)
        send_ack(s);
}

void gateway__engine_stats(const struct gateway__engine *gw,
                           struct gateway_stats *out)
{
    *out = gw->stats;
    out->sessions = gw->by_imei.count;
}

void gateway__engine_kick(struct gateway__engine *gw, uint64_t imei)
{
    struct session *s = imap_get(&gw->by_imei, imei);
    if (!s)
        return;
    /* The owner decided already; it hears no offline for this one. */
    imap_del(&gw->by_imei, imei);
    s->authed = false;
    net_conn_close(s->nc, NET_CLOSE_LOCAL);
}
