/* SPDX-License-Identifier: MIT */
/*
 * A closed-loop HTTP/1.1 load generator for the HTTP kNN row: one thread, one
 * epoll, N keep-alive connections, each with exactly one request in flight
 * (no pipelining). Each request is
 *   GET /v1/bikes?lat=..&lon=..&radius_m=500&limit=10
 * around the next of the standard query centres. After a warm-up it counts
 * the responses that complete within the measured window and records each
 * one's latency (request written to response complete). Prints RESULT lines.
 *   http_load --addr IP:PORT [--conns N] [--seconds S] [--warmup S]
 */
#include "base/sys.h"
#include "bench/common.h"
#include "base/clock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define REQ_MAX 256
#define IN_MAX (64 * 1024)
#define CONNS_MAX 4096

struct conn {
    int fd;
    bool connecting;
    char req[REQ_MAX];
    size_t req_len, req_off;
    char in[IN_MAX];
    size_t in_len;
    size_t head_len; /* 0 until the header is complete */
    size_t body_len;
    int status;
    bool close_after;
    int64_t sent_ns;
};

struct load {
    int ep;
    struct sockaddr_in addr;
    struct conn *conns;
    size_t nconns;
    const struct geo_latlng *centres;
    size_t next_centre;
    int64_t window_start_ns, window_end_ns;
    /* Counted within the window only. */
    uint64_t *lat_ns;
    size_t nlat, caplat;
    uint64_t hits;
    uint64_t errors;
    uint64_t reconnects;
    bool error_shown;
};

static void conn_open(struct load *l, struct conn *c);

static void watch(struct load *l, struct conn *c, uint32_t events, int op)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(l->ep, op, c->fd, &ev) != 0)
        bench_die("epoll_ctl: %s", strerror(errno));
}

static void conn_close(struct load *l, struct conn *c)
{
    if (c->fd >= 0) {
        epoll_ctl(l->ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
}

static void conn_reopen(struct load *l, struct conn *c)
{
    conn_close(l, c);
    l->reconnects++;
    conn_open(l, c);
}

/* Writes what is left of the request; true once it is all out. */
static bool conn_write(struct load *l, struct conn *c)
{
    while (c->req_off < c->req_len) {
        ssize_t w = send(c->fd, c->req + c->req_off, c->req_len - c->req_off,
                         MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return false;
        if (w < 0) {
            conn_reopen(l, c);
            return false;
        }
        c->req_off += (size_t)w;
    }
    return true;
}

static void conn_request(struct load *l, struct conn *c)
{
    struct geo_latlng p = l->centres[l->next_centre];
    l->next_centre = (l->next_centre + 1) % BENCH_NCENTRES;
    int len = snprintf(c->req, sizeof(c->req),
                       "GET /v1/bikes?lat=%.7f&lon=%.7f&radius_m=%.0f&limit=%u"
                       " HTTP/1.1\r\nHost: bench\r\n\r\n",
                       p.lat_deg, p.lon_deg, BENCH_RADIUS_M, BENCH_K);
    ASSERT(len > 0 && (size_t)len < sizeof(c->req));
    c->req_len = (size_t)len;
    c->req_off = 0;
    c->in_len = 0;
    c->head_len = 0;
    c->body_len = 0;
    c->status = 0;
    c->close_after = false;
    c->sent_ns = clock_mono_ns();
    if (conn_write(l, c))
        watch(l, c, EPOLLIN, EPOLL_CTL_MOD);
    else if (c->fd >= 0)
        watch(l, c, EPOLLOUT, EPOLL_CTL_MOD);
}

static void conn_open(struct load *l, struct conn *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        bench_die("socket: %s", strerror(errno));
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (const struct sockaddr *)&l->addr, sizeof(l->addr)) !=
            0 &&
        errno != EINPROGRESS)
        bench_die("connect: %s", strerror(errno));
    c->connecting = true;
    watch(l, c, EPOLLOUT, EPOLL_CTL_ADD);
}

/* Finds the end of the header and reads status, length and Connection. */
static bool parse_head(struct conn *c)
{
    const char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (!end)
        return false;
    c->head_len = (size_t)(end - c->in) + 4;
    if (c->head_len < 12 || memcmp(c->in, "HTTP/1.", 7) != 0)
        return true; /* status stays 0: an error */
    c->status =
        (c->in[9] - '0') * 100 + (c->in[10] - '0') * 10 + (c->in[11] - '0');
    const char *line = (const char *)memchr(c->in, '\n', c->head_len) + 1;
    while (line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end + 2 - line));
        if (!eol)
            break;
        if (strncasecmp(line, "content-length:", 15) == 0)
            c->body_len = strtoul(line + 15, NULL, 10);
        else if (strncasecmp(line, "connection:", 11) == 0 &&
                 memmem(line, (size_t)(eol - line), "close", 5))
            c->close_after = true;
        line = eol + 1;
    }
    return true;
}

static size_t count_hits(const char *body, size_t len)
{
    size_t n = 0;
    const char *p = body, *end = body + len;
    for (;;) {
        p = memmem(p, (size_t)(end - p), "\"id\":", 5);
        if (!p)
            return n;
        n++;
        p += 5;
    }
}

static void response_done(struct load *l, struct conn *c)
{
    int64_t now = clock_mono_ns();
    bool in_window = now >= l->window_start_ns && now < l->window_end_ns;
    bool ok = c->status == 200 && c->in_len == c->head_len + c->body_len;
    if (in_window) {
        if (ok) {
            if (l->nlat == l->caplat) {
                l->caplat = l->caplat ? l->caplat * 2 : 65536;
                l->lat_ns =
                    xreallocarray(l->lat_ns, l->caplat, sizeof(*l->lat_ns));
            }
            l->lat_ns[l->nlat++] = (uint64_t)(now - c->sent_ns);
            l->hits += count_hits(c->in + c->head_len, c->body_len);
        } else {
            l->errors++;
        }
    }
    if (!ok && !l->error_shown) {
        l->error_shown = true;
        bench_note("http: unexpected response (status %d): %.*s", c->status,
                   (int)(c->in_len < 300 ? c->in_len : 300), c->in);
    }
    if (c->close_after || !ok)
        conn_reopen(l, c);
    else
        conn_request(l, c);
}

static void conn_readable(struct load *l, struct conn *c)
{
    for (;;) {
        if (c->in_len == IN_MAX) {
            c->status = 0; /* too long: counted as an error */
            response_done(l, c);
            return;
        }
        ssize_t r = recv(c->fd, c->in + c->in_len, IN_MAX - c->in_len, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (r <= 0) {
            /* The server closed the connection mid-response. */
            l->errors += clock_mono_ns() >= l->window_start_ns;
            conn_reopen(l, c);
            return;
        }
        c->in_len += (size_t)r;
        if (!c->head_len && !parse_head(c))
            continue;
        if (c->in_len >= c->head_len + c->body_len) {
            response_done(l, c);
            return;
        }
    }
}

static void conn_event(struct load *l, struct conn *c, uint32_t events)
{
    if (c->connecting) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err)
            bench_die("cannot connect: %s", strerror(err));
        c->connecting = false;
        conn_request(l, c);
        return;
    }
    if (events & EPOLLOUT) {
        if (conn_write(l, c))
            watch(l, c, EPOLLIN, EPOLL_CTL_MOD);
        return;
    }
    conn_readable(l, c);
}

static void parse_addr(const char *s, struct sockaddr_in *out)
{
    const char *colon = strrchr(s, ':');
    char host[64];
    if (!colon || (size_t)(colon - s) >= sizeof(host))
        bench_die("--addr must be IPV4:PORT");
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    memset(out, 0, sizeof(*out));
    out->sin_family = AF_INET;
    out->sin_port =
        htons((uint16_t)bench_u64("--addr port", colon + 1, 0, 1, 65535));
    if (inet_pton(AF_INET, host, &out->sin_addr) != 1)
        bench_die("--addr must be IPV4:PORT");
}

int main(int argc, char **argv)
{
    const char *addr = NULL, *conns_s = NULL, *seconds_s = NULL,
               *warmup_s = NULL;
    const struct bench_opt opts[] = {{"--addr", &addr},
                                     {"--conns", &conns_s},
                                     {"--seconds", &seconds_s},
                                     {"--warmup", &warmup_s}};
    const char *usage = "http_load --addr IP:PORT [--conns N] [--seconds S] "
                        "[--warmup S]";
    bench_parse(argc, argv, 1, opts, ARRAY_LEN(opts), usage);
    if (!addr)
        bench_die("usage: %s", usage);
    struct load l = {0};
    parse_addr(addr, &l.addr);
    l.nconns = bench_u64("--conns", conns_s, 64, 1, CONNS_MAX);
    double seconds = bench_f64("--seconds", seconds_s, 10, 0.1, 600);
    double warmup = bench_f64("--warmup", warmup_s, 2, 0, 600);
    l.centres = bench_centres_new(BENCH_NCENTRES);
    l.ep = epoll_create1(EPOLL_CLOEXEC);
    if (l.ep < 0)
        bench_die("epoll_create1: %s", strerror(errno));
    l.conns = xcalloc(l.nconns, sizeof(*l.conns));
    int64_t start = clock_mono_ns();
    l.window_start_ns = start + (int64_t)(warmup * 1e9);
    l.window_end_ns = l.window_start_ns + (int64_t)(seconds * 1e9);
    for (size_t i = 0; i < l.nconns; i++)
        conn_open(&l, &l.conns[i]);

    struct epoll_event evs[256];
    while (clock_mono_ns() < l.window_end_ns) {
        int n = epoll_wait(l.ep, evs, ARRAY_LEN(evs), 100);
        if (n < 0 && errno != EINTR)
            bench_die("epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n; i++)
            conn_event(&l, evs[i].data.ptr, evs[i].events);
    }
    for (size_t i = 0; i < l.nconns; i++)
        conn_close(&l, &l.conns[i]);
    close(l.ep);

    double window_s = seconds;
    size_t ok = l.nlat;
    bench_result("http_conns", (double)l.nconns);
    bench_result("http_qps", (double)ok / window_s);
    bench_result("http_hits_avg", ok ? (double)l.hits / (double)ok : 0);
    bench_result("http_errors", (double)l.errors);
    bench_result("http_reconnects", (double)l.reconnects);
    bench_result("http_p50_ms", bench_percentile(l.lat_ns, ok, 50) * 1e-6);
    bench_result("http_p99_ms", bench_percentile(l.lat_ns, ok, 99) * 1e-6);
    bench_result("http_p999_ms", bench_percentile(l.lat_ns, ok, 99.9) * 1e-6);
    bench_note("http: %.0f requests/s over %zu connections, %" PRIu64 " errors",
               (double)ok / window_s, l.nconns, l.errors);
    xfree(l.lat_ns);
    xfree(l.conns);
    xfree((void *)l.centres);
    return 0;
}
