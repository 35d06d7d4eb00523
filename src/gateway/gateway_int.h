/* SPDX-License-Identifier: MIT */
/*
 * Private to gateway/: the session engine (engine.c) that both the
 * in-process gateway and the worker processes run, and the messages the
 * gateway and its workers exchange (ipc.c).
 */
#ifndef GATEWAY_GATEWAY_INT_H
#define GATEWAY_GATEWAY_INT_H

#include "base/sys.h"
#include "base/buf.h"
#include "gateway/gateway.h"

struct gateway__engine;

/*
 * Asks the owner whether imei may connect, having spoken the secure dialect
 * or not (see gateway__engine_verdict).
 */
typedef void gateway__engine_ask_fn(void *ctx, uint64_t imei, bool secure);

/*
 * Serves lock sessions accepted on listen_fd (taken over; shared with other
 * processes is fine) on loop, reporting through ops. cfg is copied. A new
 * session is admitted by ops->admit, or, if ask is not NULL, by asking:
 * its input is then held until gateway__engine_verdict.
 */
struct gateway__engine *gateway__engine_new(
    struct net_loop *loop, int listen_fd, const struct gateway_config *cfg,
    const struct gateway_ops *ops, gateway__engine_ask_fn *ask, void *ctx);

/*
 * The owner's answer for imei: the waiting session is admitted as a says
 * (if it spoke the dialect a expects) or closed. False if no session waits
 * for imei any more.
 */
bool gateway__engine_verdict(struct gateway__engine *e, uint64_t imei,
                             const struct gateway_admission *a);
/* Closes every session and the listener; NULL is a no-op. */
void gateway__engine_free(struct gateway__engine *e);
bool gateway__engine_is_online(const struct gateway__engine *e, uint64_t imei);
/* As gateway_unlock. */
enum err gateway__engine_unlock(struct gateway__engine *e, uint64_t imei,
                                int64_t user_id, int64_t trip_id, int64_t now_s,
                                int64_t key_valid_s);
void gateway__engine_unlock_cancel(struct gateway__engine *e, uint64_t imei);
/* As gateway_ack; token is the session's (ops->settle). */
void gateway__engine_ack(struct gateway__engine *e, uint64_t imei,
                         uint64_t token);
/* Closes imei's session without telling the owner it went offline. */
void gateway__engine_kick(struct gateway__engine *e, uint64_t imei);
void gateway__engine_stats(const struct gateway__engine *e,
                           struct gateway_stats *out);

/*
 * Messages between the gateway and a worker: a 3-byte header (u16 length
 * of the body, u8 type), then the body's fields little-endian.
 */
enum gateway__msg {
    /* worker to gateway */
    GW_MSG_ASK = 1,       /* imei u64, secure u8: may this lock connect? */
    GW_MSG_ONLINE,        /* imei u64, up u8: admitted, or closed */
    GW_MSG_REPORT,        /* imei u64, has_pos u8, lat f64, lon f64,
                             battery i8, lock_closed i8 */
    GW_MSG_ALARM,         /* imei u64, code i32, fault u8 */
    GW_MSG_UNLOCK_RESULT, /* imei u64, user i64, outcome u8 */
    GW_MSG_LOCKED,        /* imei u64, user i64, ride_min i64 */
    GW_MSG_STATS,         /* the worker's struct gateway_stats, 7 × u64 */
    /* gateway to worker */
    GW_MSG_UNLOCK,  /* imei u64, user i64, trip i64, now_s i64, valid_s i64 */
    GW_MSG_CANCEL,  /* imei u64 */
    GW_MSG_KICK,    /* imei u64: another session (or nobody) owns it */
    GW_MSG_VERDICT, /* imei u64, admit u8, secure u8, key 32 × u8,
                       rx_counter u64: the answer to GW_MSG_ASK */
    GW_MSG_COUNTER, /* imei u64, rx_counter u64 (worker to gateway) */
    GW_MSG_SETTLE,  /* imei u64, token u64 (worker to gateway): ops->settle */
    GW_MSG_ACK,     /* imei u64, token u64: gateway_ack */
};

#define GATEWAY__MSG_HEADER 3
#define GATEWAY__MSG_BODY_MAX 64

/* A message being built or read: its type and body. */
struct gateway__msg_buf {
    enum gateway__msg type;
    unsigned char body[GATEWAY__MSG_BODY_MAX];
    size_t len; /* bytes of the body */
    size_t pos; /* read position */
};

void gateway__msg_begin(struct gateway__msg_buf *m, enum gateway__msg type);
void gateway__msg_u64(struct gateway__msg_buf *m, uint64_t v);
void gateway__msg_f64(struct gateway__msg_buf *m, double v);
void gateway__msg_u8(struct gateway__msg_buf *m, uint8_t v);
/* Appends the framed message to out (ERR_TOO_BIG if out is full). */
enum err gateway__msg_put(const struct gateway__msg_buf *m, struct buf *out);

/*
 * Takes one message from the front of data[0..len): true and *used bytes
 * if a whole one is there (m ready to read from its start), false if more
 * bytes are needed. A message longer than GATEWAY__MSG_BODY_MAX is a bug
 * of the peer: ERR_INVALID in *e.
 */
bool gateway__msg_take(const char *data, size_t len, struct gateway__msg_buf *m,
                       size_t *used, enum err *e);
/* Readers: each returns 0 past the end of the body. */
uint64_t gateway__msg_get_u64(struct gateway__msg_buf *m);
double gateway__msg_get_f64(struct gateway__msg_buf *m);
uint8_t gateway__msg_get_u8(struct gateway__msg_buf *m);

/*
 * A channel: one end of the socketpair between the gateway and a worker.
 * Messages sent during a loop turn go out together at its end.
 */
struct gateway__chan;

typedef void gateway__chan_msg_fn(void *ctx, struct gateway__msg_buf *m);
typedef void gateway__chan_close_fn(void *ctx);

/* Wraps the connected socket fd (taken over). */
struct gateway__chan *gateway__chan_new(struct net_loop *loop, int fd,
                                        gateway__chan_msg_fn *on_msg,
                                        gateway__chan_close_fn *on_close,
                                        void *ctx);
/* Queues m; a full queue (the peer stopped reading) closes the channel. */
void gateway__chan_send(struct gateway__chan *c,
                        const struct gateway__msg_buf *m);
/* Closes the channel (on_close is not called) and frees it; NULL no-op. */
void gateway__chan_free(struct gateway__chan *c);

#endif
