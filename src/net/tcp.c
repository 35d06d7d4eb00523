/* SPDX-License-Identifier: MIT */
/* Address parsing, listeners and buffered non-blocking connections. */
#include "base/sys.h"
#include "net/tcp.h"
#include "base/str.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <unistd.h>

#define ACCEPT_BURST 64
#define ACCEPT_BACKOFF_MS 100
#define READ_BURST 4
#define SCRATCH_BYTES 65536

/* Reads land here first, so idle connections keep no buffer. */
static _Thread_local char scratch[SCRATCH_BYTES];

enum err net_addr_parse(const char *hostport, struct sockaddr_storage *ss,
                        socklen_t *len, struct err_detail *d)
{
    struct str s = str_from_cstr(hostport);
    const char *colon = s.len ? strrchr(hostport, ':') : NULL;
    if (!colon)
        return err_set(d, ERR_INVALID, "address",
                       "address '%s' is not HOST:PORT", hostport);
    struct str host = {hostport, (size_t)(colon - hostport)};
    struct str port_s = str_from_cstr(colon + 1);
    int64_t port;
    if (str_to_i64(port_s, &port) != ERR_OK || port < 0 || port > 65535)
        return err_set(d, ERR_INVALID, "address", "address '%s' has a bad port",
                       hostport);
    char hostbuf[64];
    bool v6 =
        host.len >= 2 && host.ptr[0] == '[' && host.ptr[host.len - 1] == ']';
    if (v6)
        host = (struct str){host.ptr + 1, host.len - 2};
    if (host.len >= sizeof(hostbuf))
        return err_set(d, ERR_INVALID, "address", "address '%s' has a bad host",
                       hostport);
    memcpy(hostbuf, host.ptr, host.len);
    hostbuf[host.len] = '\0';
    memset(ss, 0, sizeof(*ss));
    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, hostbuf, &a->sin6_addr) != 1)
            return err_set(d, ERR_INVALID, "address",
                           "address '%s' has a bad IPv6 host", hostport);
        *len = sizeof(*a);
        return ERR_OK;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    if (host.len == 0) {
        a->sin_addr.s_addr = htonl(INADDR_ANY);
    } else if (strcmp(hostbuf, "localhost") == 0) {
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else if (inet_pton(AF_INET, hostbuf, &a->sin_addr) != 1) {
        return err_set(d, ERR_INVALID, "address",
                       "address '%s' needs a numeric host", hostport);
    }
    *len = sizeof(*a);
    return ERR_OK;
}

void net_addr_format(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
        port = ntohs(a->sin6_port);
        snprintf(out, cap, "[%s]:%u", host, port);
        return;
    }
    const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
    port = ntohs(a->sin_port);
    snprintf(out, cap, "%s:%u", host, port);
}

enum err net_listen(const char *hostport, bool reuseport, int *fd,
                    struct err_detail *d)
{
    struct sockaddr_storage ss;
    socklen_t len;
    enum err e = net_addr_parse(hostport, &ss, &len, d);
    if (e != ERR_OK)
        return e;
    int s = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0)
        return err_set(d, ERR_IO, "address", "cannot create socket: %s",
                       strerror(errno));
    int one = 1;
    if (setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        (reuseport &&
         setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) ||
        bind(s, (struct sockaddr *)&ss, len) != 0 || listen(s, 4096) != 0) {
        e = err_set(d, ERR_IO, "address", "cannot listen on '%s': %s", hostport,
                    strerror(errno));
        close(s);
        return e;
    }
    *fd = s;
    return ERR_OK;
}

enum err net_local_addr(int fd, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return ERR_IO;
    net_addr_format(&ss, out, cap);
    return ERR_OK;
}

enum err net_connect(const char *hostport, const char *src, int *fd,
                     struct err_detail *d)
{
    struct sockaddr_storage ss, local;
    socklen_t len, local_len;
    enum err e = net_addr_parse(hostport, &ss, &len, d);
    if (e != ERR_OK)
        return e;
    if (src) {
        char buf[80];
        snprintf(buf, sizeof(buf), "%s:0", src);
        e = net_addr_parse(buf, &local, &local_len, d);
        if (e != ERR_OK)
            return e;
    }
    int s = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0)
        return err_set(d, ERR_IO, "", "cannot create socket: %s",
                       strerror(errno));
    int one = 1;
    /* Lets many sockets from distinct source addresses share ports. */
    if (src && (setsockopt(s, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
                           sizeof(one)) != 0 ||
                bind(s, (struct sockaddr *)&local, local_len) != 0)) {
        e = err_set(d, ERR_IO, "", "cannot bind to '%s': %s", src,
                    strerror(errno));
        close(s);
        return e;
    }
    if (setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0 ||
        (connect(s, (struct sockaddr *)&ss, len) != 0 &&
         errno != EINPROGRESS)) {
        e = err_set(d, ERR_IO, "", "cannot connect to '%s': %s", hostport,
                    strerror(errno));
        close(s);
        return e;
    }
    *fd = s;
    return ERR_OK;
}

/* Listener */

struct net_listener {
    struct net_loop *loop;
    struct net_io io;
    struct net_timer backoff;
    net_accept_fn *cb;
    void *ctx;
};

static void listener_resume(struct net_timer *t)
{
    struct net_listener *l = t->ctx;
    if (net_io_update(l->loop, &l->io, NET_READ) != ERR_OK)
        net_timer_start(l->loop, &l->backoff, ACCEPT_BACKOFF_MS,
                        listener_resume, l);
}

static void listener_on_io(struct net_io *io, unsigned events)
{
    struct net_listener *l = io->ctx;
    (void)events;
    for (int i = 0; i < ACCEPT_BURST; i++) {
        struct sockaddr_storage peer;
        socklen_t len = sizeof(peer);
        int fd = accept4(io->fd, (struct sockaddr *)&peer, &len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            int one = 1;
            (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            l->cb(l->ctx, fd, &peer);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
            errno == ENOMEM) {
            /* Out of descriptors: stop accepting briefly, don't spin. */
            (void)net_io_update(l->loop, &l->io, 0);
            net_timer_start(l->loop, &l->backoff, ACCEPT_BACKOFF_MS,
                            listener_resume, l);
        }
        return;
    }
}

struct net_listener *net_listener_new(struct net_loop *loop, int fd,
                                      net_accept_fn *cb, void *ctx)
{
    struct net_listener *l = xcalloc(1, sizeof(*l));
    l->loop = loop;
    l->cb = cb;
    l->ctx = ctx;
    if (net_io_start(loop, &l->io, fd, NET_READ, listener_on_io, l) != ERR_OK)
        BUG("cannot watch listening socket %d", fd);
    return l;
}

void net_listener_free(struct net_listener *l)
{
    if (!l)
        return;
    net_timer_stop(l->loop, &l->backoff);
    net_io_stop(l->loop, &l->io);
    close(l->io.fd);
    xfree(l);
}

/* Connection */

struct net_conn {
    struct net_loop *loop;
    struct net_io io;
    const struct net_conn_ops *ops;
    void *ctx;
    struct buf in;
    size_t in_max;
    struct buf out;
    int64_t last_rx_ms;
    bool reading;
    bool closed;
    bool close_after_write;
    bool redeliver_queued;
};

static void conn_on_io(struct net_io *io, unsigned events);

struct net_conn *net_conn_new(struct net_loop *loop, int fd,
                              const struct net_conn_ops *ops, void *ctx,
                              size_t in_max, size_t out_max)
{
    struct net_conn *c = xcalloc(1, sizeof(*c));
    c->loop = loop;
    c->ops = ops;
    c->ctx = ctx;
    c->in_max = in_max;
    buf_init(&c->in, in_max + SCRATCH_BYTES);
    buf_init(&c->out, out_max);
    c->last_rx_ms = net_loop_now_ms(loop);
    c->reading = true;
    if (net_io_start(loop, &c->io, fd, NET_READ, conn_on_io, c) != ERR_OK) {
        /* Cannot happen for a fresh socket; fail closed all the same. */
        c->io.fd = fd;
        c->closed = true;
        close(fd);
        net_loop_defer(loop, xfree, c);
        return NULL;
    }
    return c;
}

void *net_conn_ctx(const struct net_conn *c)
{
    return c->ctx;
}

void net_conn_set_ctx(struct net_conn *c, void *ctx)
{
    c->ctx = ctx;
}

struct net_loop *net_conn_loop(const struct net_conn *c)
{
    return c->loop;
}

int net_conn_fd(const struct net_conn *c)
{
    return c->io.fd;
}

int64_t net_conn_last_rx_ms(const struct net_conn *c)
{
    return c->last_rx_ms;
}

size_t net_conn_pending(const struct net_conn *c)
{
    return c->out.len;
}

size_t net_conn_buffered(const struct net_conn *c)
{
    return c->in.cap + c->out.cap;
}

bool net_conn_is_closed(const struct net_conn *c)
{
    return c->closed;
}

static void conn_free(void *p)
{
    struct net_conn *c = p;
    buf_release(&c->in);
    buf_release(&c->out);
    xfree(c);
}

void net_conn_close(struct net_conn *c, enum net_close_reason why)
{
    if (c->closed)
        return;
    c->closed = true;
    net_io_stop(c->loop, &c->io);
    close(c->io.fd);
    c->ops->on_close(c, why);
    net_loop_defer(c->loop, conn_free, c);
}

static unsigned wanted_events(const struct net_conn *c)
{
    return (c->reading ? NET_READ : 0) | (c->out.len ? NET_WRITE : 0);
}

static void update_events(struct net_conn *c)
{
    if (!c->closed &&
        net_io_update(c->loop, &c->io, wanted_events(c)) != ERR_OK)
        net_conn_close(c, NET_CLOSE_ERROR);
}

/* Writes as much of the queue as the socket takes. */
static void flush(struct net_conn *c)
{
    while (c->out.len) {
        ssize_t w = send(c->io.fd, c->out.data, c->out.len, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                net_conn_close(c, NET_CLOSE_ERROR);
            break;
        }
        buf_consume(&c->out, (size_t)w);
    }
    if (c->closed)
        return;
    if (c->out.len == 0) {
        buf_release(&c->out);
        if (c->close_after_write) {
            net_conn_close(c, NET_CLOSE_LOCAL);
            return;
        }
        if (c->ops->on_drained)
            c->ops->on_drained(c);
    }
    update_events(c);
}

enum err net_conn_write(struct net_conn *c, const void *data, size_t n)
{
    if (c->closed)
        return ERR_IO;
    size_t off = 0;
    if (c->out.len == 0) {
        while (off < n) {
            ssize_t w =
                send(c->io.fd, (const char *)data + off, n - off, MSG_NOSIGNAL);
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    break;
                net_conn_close(c, NET_CLOSE_ERROR);
                return ERR_IO;
            }
            off += (size_t)w;
        }
        if (off == n)
            return ERR_OK;
    }
    if (buf_append(&c->out, (const char *)data + off, n - off) != ERR_OK) {
        net_conn_close(c, NET_CLOSE_OVERFLOW);
        return ERR_TOO_BIG;
    }
    update_events(c);
    return ERR_OK;
}

/*
 * Hands kept plus new input to the owner; false if the conn closed. The
 * kept tail may grow by one read while being handed over; what stays after
 * the owner consumed must fit in_max.
 */
static bool deliver(struct net_conn *c, const char *data, size_t n)
{
    if (c->in.len == 0 && n) {
        size_t used = c->ops->on_data(c, data, n);
        if (c->closed)
            return false;
        ASSERT(used <= n);
        if (n - used > c->in_max) {
            net_conn_close(c, NET_CLOSE_OVERFLOW);
            return false;
        }
        if (used < n)
            buf_append(&c->in, data + used, n - used);
        return true;
    }
    if (n && buf_append(&c->in, data, n) != ERR_OK) {
        net_conn_close(c, NET_CLOSE_OVERFLOW);
        return false;
    }
    if (c->in.len == 0)
        return true;
    size_t used = c->ops->on_data(c, c->in.data, c->in.len);
    if (c->closed)
        return false;
    ASSERT(used <= c->in.len);
    buf_consume(&c->in, used);
    if (c->in.len > c->in_max) {
        net_conn_close(c, NET_CLOSE_OVERFLOW);
        return false;
    }
    buf_shrink(&c->in);
    return true;
}

static void read_some(struct net_conn *c)
{
    for (int i = 0; i < READ_BURST && c->reading && !c->closed; i++) {
        ssize_t n = recv(c->io.fd, scratch, sizeof(scratch), 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                net_conn_close(c, NET_CLOSE_ERROR);
            return;
        }
        if (n == 0) {
            if (!c->ops->on_eof) {
                net_conn_close(c, NET_CLOSE_PEER);
                return;
            }
            c->reading = false;
            update_events(c);
            c->ops->on_eof(c);
            return;
        }
        c->last_rx_ms = net_loop_now_ms(c->loop);
        if (!deliver(c, scratch, (size_t)n))
            return;
        if ((size_t)n < sizeof(scratch))
            return;
    }
}

static void conn_on_io(struct net_io *io, unsigned events)
{
    struct net_conn *c = io->ctx;
    if (events & NET_WRITE)
        flush(c);
    if (c->closed)
        return;
    if (c->reading && (events & (NET_READ | NET_HUP))) {
        read_some(c); /* a read sees the EOF or the error */
    } else if (events & NET_HUP) {
        /* Not reading, so this is EPOLLHUP or EPOLLERR: the socket died. */
        net_conn_close(c, NET_CLOSE_ERROR);
    }
}

static void redeliver(void *p)
{
    struct net_conn *c = p;
    c->redeliver_queued = false;
    if (!c->closed && c->reading && c->in.len)
        deliver(c, NULL, 0);
}

void net_conn_read_enable(struct net_conn *c, bool on)
{
    if (c->closed || c->reading == on)
        return;
    c->reading = on;
    update_events(c);
    /* Input kept while paused gets no new read event: hand it over. */
    if (on && c->in.len && !c->redeliver_queued) {
        c->redeliver_queued = true;
        net_loop_defer(c->loop, redeliver, c);
    }
}

void net_conn_close_after_write(struct net_conn *c)
{
    if (c->closed)
        return;
    if (c->out.len == 0) {
        net_conn_close(c, NET_CLOSE_LOCAL);
        return;
    }
    c->close_after_write = true;
    c->reading = false;
    update_events(c);
}
