/* SPDX-License-Identifier: MIT */
/*
 * TCP listeners and buffered connections on a net_loop.
 *
 * A connection reads into a per-loop scratch buffer and hands the bytes to
 * its owner, which says how many it consumed; only the unconsumed tail is
 * kept, so an idle connection holds no buffer memory. Writes go straight to
 * the socket when possible and queue the rest, up to a cap.
 */
#ifndef NET_TCP_H
#define NET_TCP_H

#include "base/sys.h"
#include "base/err.h"
#include "base/buf.h"
#include "net/loop.h"

#include <sys/socket.h>

/*
 * Parses "HOST:PORT", "[IPV6]:PORT" or ":PORT" (all interfaces) into ss.
 * Numeric hosts and "localhost" only (no DNS on the serving path).
 * ERR_INVALID with a message if malformed.
 */
enum err net_addr_parse(const char *hostport, struct sockaddr_storage *ss,
                        socklen_t *len, struct err_detail *d);

/* Formats ss as "HOST:PORT" into out (at least 64 bytes). */
void net_addr_format(const struct sockaddr_storage *ss, char *out, size_t cap);

/*
 * Opens a non-blocking listening socket on hostport (port 0 picks a free
 * port; net_local_addr tells which). reuseport sets SO_REUSEPORT so several
 * processes can share the port. ERR_INVALID for a bad address, ERR_IO if
 * the socket cannot be bound.
 */
enum err net_listen(const char *hostport, bool reuseport, int *fd,
                    struct err_detail *d);

/* Writes the bound address of fd as "HOST:PORT" into out (>= 64 bytes). */
enum err net_local_addr(int fd, char *out, size_t cap);

/*
 * Opens a non-blocking TCP connection to hostport from source address src
 * (NULL: any), e.g. to spread many client sockets over 127.0.0.x. The
 * connect completes in the background. ERR_INVALID / ERR_IO.
 */
enum err net_connect(const char *hostport, const char *src, int *fd,
                     struct err_detail *d);

struct net_listener;

/* Called for each accepted socket (already non-blocking). */
typedef void net_accept_fn(void *ctx, int fd,
                           const struct sockaddr_storage *peer);

/*
 * Starts accepting on the listening fd (which the listener then owns).
 * When the process runs out of file descriptors it pauses accepting for a
 * moment instead of spinning.
 */
struct net_listener *net_listener_new(struct net_loop *loop, int fd,
                                      net_accept_fn *cb, void *ctx);

/* Stops accepting, closes the fd and frees; NULL is a no-op. */
void net_listener_free(struct net_listener *l);

struct net_conn;

enum net_close_reason {
    NET_CLOSE_LOCAL,    /* the owner closed it */
    NET_CLOSE_PEER,     /* orderly shutdown by the peer */
    NET_CLOSE_ERROR,    /* socket error */
    NET_CLOSE_OVERFLOW, /* a buffer cap was hit */
};

struct net_conn_ops {
    /*
     * New bytes arrived: data[0..len) is everything unconsumed so far.
     * Returns how many bytes (from the start) the owner consumed; the rest
     * is kept for the next call (up to in_max, else the connection closes
     * with NET_CLOSE_OVERFLOW). The owner may close the connection inside.
     */
    size_t (*on_data)(struct net_conn *c, const char *data, size_t len);
    /*
     * The peer finished sending (half-close). Optional: without it the
     * connection closes with NET_CLOSE_PEER; with it, reading stops and the
     * owner may still write, then close.
     */
    void (*on_eof)(struct net_conn *c);
    /* All queued output was written. Optional. */
    void (*on_drained)(struct net_conn *c);
    /* The connection closed; called once. The owner drops its reference. */
    void (*on_close)(struct net_conn *c, enum net_close_reason why);
};

/*
 * Wraps the connected socket fd (taking ownership) and starts reading.
 * in_max caps the input kept unconsumed after on_data, out_max the queued
 * output. Returns NULL (fd closed) if the loop cannot watch the socket.
 */
struct net_conn *net_conn_new(struct net_loop *loop, int fd,
                              const struct net_conn_ops *ops, void *ctx,
                              size_t in_max, size_t out_max);

void *net_conn_ctx(const struct net_conn *c);
void net_conn_set_ctx(struct net_conn *c, void *ctx);
struct net_loop *net_conn_loop(const struct net_conn *c);
int net_conn_fd(const struct net_conn *c);
/* Loop time of the last byte received. */
int64_t net_conn_last_rx_ms(const struct net_conn *c);
/* Bytes queued for writing. */
size_t net_conn_pending(const struct net_conn *c);
/* Bytes of kept input plus queued output (for memory accounting). */
size_t net_conn_buffered(const struct net_conn *c);

/*
 * Writes n bytes (queued if the socket is full). ERR_TOO_BIG if the queue
 * would pass out_max: the connection is then closed with
 * NET_CLOSE_OVERFLOW. ERR_IO if it is closed or the socket failed.
 */
enum err net_conn_write(struct net_conn *c, const void *data, size_t n);

/* Stops (false) or resumes (true) reading, for backpressure. */
void net_conn_read_enable(struct net_conn *c, bool on);

/* Closes once the queued output is written. */
void net_conn_close_after_write(struct net_conn *c);

/*
 * Closes now: stops watching, closes the fd, calls on_close, and frees the
 * connection at the end of the loop turn. Safe to call twice.
 */
void net_conn_close(struct net_conn *c, enum net_close_reason why);

bool net_conn_is_closed(const struct net_conn *c);

#endif
