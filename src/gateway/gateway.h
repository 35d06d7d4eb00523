/* SPDX-License-Identifier: MIT */
/*
 * The smart-lock gateway: a TCP listener speaking the Omni lock protocol
 * (lock/), one session per connected lock, keyed by IMEI. It runs the
 * unlock handshake (R0 request, key reply, L0 with the key), reports what
 * locks say to its owner through callbacks, and acknowledges a report when
 * the owner says it is durable. It knows nothing of trips or riders.
 *
 * The sessions run on the owner's loop, or (workers > 0) in that many
 * worker processes sharing the listening socket, each holding its share of
 * the sessions (a process may hold only so many sockets); the gateway then
 * relays between them and the owner over socketpairs. The owner sees the
 * same callbacks either way.
 *
 * Sessions: a lock must send a valid frame naming a known IMEI before the
 * login timeout; frames naming another IMEI than the session's are dropped;
 * a lock that connects again replaces its old session; sessions idle past
 * the idle timeout close; each malformed or oversized frame is counted and
 * skipped, and a session closes after too many of them.
 */
#ifndef GATEWAY_GATEWAY_H
#define GATEWAY_GATEWAY_H

#include "base/sys.h"
#include "base/err.h"
#include "core/world.h"
#include "net/loop.h"

struct gateway;

/* The most worker processes a gateway may have (cfg.workers). */
#define GATEWAY_WORKERS_MAX 64

struct gateway_config {
    const char *listen;       /* "HOST:PORT" */
    int64_t login_timeout_ms; /* default 30 s */
    int64_t idle_timeout_ms;  /* default 10 min */
    size_t max_bad_frames;    /* default 16 */
    size_t max_sessions;      /* default 100,000, per process */
    size_t workers;           /* worker processes (0: in-process, default) */
    const char *worker_exe;   /* binary run as `EXE gateway-worker ...` */
};

/* How an unlock ended, as the lock (or the gateway) said. */
enum gateway_unlock_outcome {
    GATEWAY_UNLOCKED, /* the lock opened */
    GATEWAY_REFUSED,  /* the lock said no */
    GATEWAY_BUSY,     /* another user's unlock still waits for its key */
    GATEWAY_OFFLINE,  /* the lock was gone by the time the unlock came */
};

void gateway_config_default(struct gateway_config *cfg);

#define GATEWAY_KEY_BYTES 32

/* The owner's answer to a lock that wants to connect. */
struct gateway_admission {
    bool admit;
    bool secure; /* its frames must be in the secure dialect */
    unsigned char key[GATEWAY_KEY_BYTES]; /* the lock's key, if secure */
    uint64_t rx_counter; /* a secure frame must count above this */
};

/* What the gateway tells its owner. imei is the lock's; ctx is the owner's. */
struct gateway_ops {
    /*
     * May this lock connect? secure says which dialect its first frame
     * spoke. Fills out; called once per new session.
     */
    void (*admit)(void *ctx, uint64_t imei, bool secure,
                  struct gateway_admission *out);
    /*
     * The highest counter accepted from a secure lock, for the owner to
     * keep: after frames that change a trip (L0, L1), and when its session
     * ends.
     */
    void (*counter)(void *ctx, uint64_t imei, uint64_t rx_counter);
    /* Sign-in, heartbeat or position: what the lock reported. */
    void (*report)(void *ctx, uint64_t imei, const struct core_bike_report *r);
    /* W0 alarm (fault false) or E0 fault (fault true) with its code. */
    void (*alarm)(void *ctx, uint64_t imei, int code, bool fault);
    /* The outcome of an unlock started by gateway_unlock. */
    void (*unlock_result)(void *ctx, uint64_t imei, int64_t user_id,
                          enum gateway_unlock_outcome outcome);
    /* The lock reports it was locked (L1). */
    void (*locked)(void *ctx, uint64_t imei, int64_t user_id, int64_t ride_min);
    /*
     * The lock awaits the acknowledgement of the report it just sent (L0,
     * L1, W0, E0; its callbacks came first). The owner calls gateway_ack
     * with token once what they changed is durable, and before that the
     * lock sees no acknowledgement (it sends the report again later).
     */
    void (*settle)(void *ctx, uint64_t imei, uint64_t token);
    /*
     * A session for the IMEI came up (also when it replaced an older one:
     * whatever was sent to the old one may be lost) or went away.
     */
    void (*online)(void *ctx, uint64_t imei, bool online);
};

/*
 * Listens on cfg->listen (copied) and serves locks on loop, or starts
 * cfg->workers worker processes that do. ERR_INVALID / ERR_IO if the
 * address cannot be used or a worker cannot start.
 */
enum err gateway_new(struct net_loop *loop, const struct gateway_config *cfg,
                     const struct gateway_ops *ops, void *ctx,
                     struct gateway **out, struct err_detail *d);

/* Closes every session and the listener; NULL is a no-op. */
void gateway_free(struct gateway *gw);

/* The bound address, "HOST:PORT". */
const char *gateway_address(const struct gateway *gw);

bool gateway_is_online(const struct gateway *gw, uint64_t imei);

/*
 * Starts the unlock handshake with the lock: sends R0 (unlock, key valid
 * for key_valid_s, user_id, now_s), answers its key with L0, and reports the
 * outcome through ops->unlock_result. A secure lock instead gets one
 * single-use L0 bound to trip_id and expiring at now_s + key_valid_s.
 * ERR_NOT_FOUND if the lock is not connected; ERR_BUSY if an unlock for another
 * user still waits for its key. An unlock already sent is superseded (its owner
 * gave up on it). With workers, busy and offline may also come as an outcome
 * later.
 */
enum err gateway_unlock(struct gateway *gw, uint64_t imei, int64_t user_id,
                        int64_t trip_id, int64_t now_s, int64_t key_valid_s);

/*
 * Gives up an unlock whose key the lock has not sent yet, so that a late key
 * does not open the lock. Once the unlock itself went out, its result is
 * still reported. No-op if none is pending.
 */
void gateway_unlock_cancel(struct gateway *gw, uint64_t imei);

/*
 * Acknowledges the report that ops->settle named by token. The reports of
 * a lock are acknowledged in the order they were settled; a token of a
 * session that has ended is ignored.
 */
void gateway_ack(struct gateway *gw, uint64_t imei, uint64_t token);

struct gateway_stats {
    uint64_t sessions;
    uint64_t sessions_total;
    uint64_t frames;
    uint64_t bad_frames;
    uint64_t rejected; /* unknown IMEI, login timeout, too many bad frames */
    uint64_t replaced;
    uint64_t idle_closed;
};

void gateway_stats(const struct gateway *gw, struct gateway_stats *out);

/*
 * The body of `spoke gateway-worker`: serves the sessions on listen_fd and
 * relays to the gateway over ipc_fd until that closes. Returns the exit
 * code. cfg->listen is not used.
 */
int gateway_worker_run(int ipc_fd, int listen_fd,
                       const struct gateway_config *cfg);

#endif
