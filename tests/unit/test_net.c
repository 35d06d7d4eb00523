/* SPDX-License-Identifier: MIT */
/* Tests for src/net: the loop's timers, wakeups and deferrals, addresses,
 * and buffered connections over real loopback sockets. */
#include "base/sys.h"
#include "tests/unit/harness.h"
#include "net/tcp.h"
#include "base/clock.h"

#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

static void stop_loop(struct net_timer *t)
{
    net_loop_stop(t->ctx);
}

/* Runs loop for about ms milliseconds. */
static void spin(struct net_loop *loop, int64_t ms)
{
    struct net_timer t = {0};
    net_timer_start(loop, &t, ms, stop_loop, loop);
    CHECK_OK(net_loop_run(loop));
    net_timer_stop(loop, &t);
}

static int order[8];
static size_t norder;

static void record(struct net_timer *t)
{
    order[norder++] = (int)(intptr_t)t->ctx;
}

TEST(timers_fire_in_order)
{
    struct net_loop *loop;
    CHECK_OK(net_loop_new(&loop, NULL));
    struct net_timer t[5] = {{0}};
    int64_t delays[5] = {30, 10, 20, 10, 40};
    for (int i = 0; i < 5; i++)
        net_timer_start(loop, &t[i], delays[i], record, (void *)(intptr_t)i);
    net_timer_stop(loop, &t[4]);
    CHECK(!net_timer_is_armed(&t[4]));
    net_timer_start(loop, &t[0], 5, record, (void *)(intptr_t)0); /* moved */
    spin(loop, 60);
    CHECK_EQ(norder, 4);
    CHECK_EQ(order[0], 0);
    CHECK_EQ(order[3], 2);
    CHECK(order[1] == 1 || order[1] == 3);
    net_loop_free(loop);
}

static void woken(void *ctx)
{
    (*(int *)ctx)++;
}

static void *wake_from_thread(void *p)
{
    net_loop_wakeup(p);
    net_loop_wakeup(p);
    return NULL;
}

struct rearm {
    struct net_loop *loop;
    int runs;
    int64_t delay;
};

static void rearm_self(struct net_timer *t)
{
    struct rearm *r = t->ctx;
    r->runs++;
    /* Work that outlasts the delay, then again: a timer that is always due. */
    int64_t until = clock_mono_ms() + 2;
    while (clock_mono_ms() < until)
        ;
    net_timer_start(r->loop, t, r->delay, rearm_self, r);
}

static void io_ready(struct net_io *io, unsigned events)
{
    (void)events;
    int *seen = io->ctx;
    (*seen)++;
}

TEST(timers_cannot_starve_io)
{
    /* Regression: timers re-armed by their callbacks kept the loop in its
     * timer phase forever, so sockets (and signals) were never read. */
    struct net_loop *loop;
    CHECK_OK(net_loop_new(&loop, NULL));
    struct rearm r0 = {loop, 0, 0}, r1 = {loop, 0, 1};
    struct net_timer t0 = {0}, t1 = {0};
    net_timer_start(loop, &t0, 0, rearm_self, &r0);
    net_timer_start(loop, &t1, 0, rearm_self, &r1);
    int fds[2];
    CHECK(pipe(fds) == 0);
    CHECK(write(fds[1], "x", 1) == 1);
    int seen = 0;
    struct net_io io = {0};
    CHECK_OK(net_io_start(loop, &io, fds[0], NET_READ, io_ready, &seen));
    spin(loop, 50);
    CHECK(seen > 0);
    CHECK(r0.runs > 1 && r1.runs > 1);
    net_timer_stop(loop, &t0);
    net_timer_stop(loop, &t1);
    net_io_stop(loop, &io);
    close(fds[0]);
    close(fds[1]);
    net_loop_free(loop);
}

TEST(wakeup_from_another_thread)
{
    struct net_loop *loop;
    CHECK_OK(net_loop_new(&loop, NULL));
    int count = 0;
    net_loop_on_wakeup(loop, woken, &count);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, wake_from_thread, loop) == 0);
    pthread_join(th, NULL);
    spin(loop, 20);
    CHECK_EQ(count, 1); /* two wakeups before it ran collapse into one */
    net_loop_free(loop);
}

static void deferred(void *ctx)
{
    (*(int *)ctx) += 10;
}

struct defer_probe {
    struct net_loop *loop;
    int value;
};

static void defer_from_timer(struct net_timer *t)
{
    struct defer_probe *p = t->ctx;
    net_loop_defer(p->loop, deferred, &p->value);
    /* Not yet: deferred tasks run at the end of the turn. */
    CHECK_EQ(p->value, 0);
    p->value = 1;
}

TEST(defer_runs_after_callbacks)
{
    struct defer_probe p = {0};
    CHECK_OK(net_loop_new(&p.loop, NULL));
    struct net_timer t = {0};
    net_timer_start(p.loop, &t, 1, defer_from_timer, &p);
    spin(p.loop, 10);
    CHECK_EQ(p.value, 11);
    /* Pending deferred tasks run when the loop is freed. */
    net_loop_defer(p.loop, deferred, &p.value);
    net_loop_free(p.loop);
    CHECK_EQ(p.value, 21);
}

TEST(addr_parse)
{
    struct sockaddr_storage ss;
    socklen_t len;
    char out[64];
    CHECK_OK(net_addr_parse("127.0.0.1:8080", &ss, &len, NULL));
    net_addr_format(&ss, out, sizeof(out));
    CHECK_STR(out, "127.0.0.1:8080");
    CHECK_OK(net_addr_parse(":9000", &ss, &len, NULL));
    net_addr_format(&ss, out, sizeof(out));
    CHECK_STR(out, "0.0.0.0:9000");
    CHECK_OK(net_addr_parse("[::1]:80", &ss, &len, NULL));
    net_addr_format(&ss, out, sizeof(out));
    CHECK_STR(out, "[::1]:80");
    CHECK_OK(net_addr_parse("localhost:1", &ss, &len, NULL));
    struct err_detail d;
    CHECK_ERR(net_addr_parse("127.0.0.1", &ss, &len, &d), ERR_INVALID);
    CHECK_ERR(net_addr_parse("127.0.0.1:70000", &ss, &len, &d), ERR_INVALID);
    CHECK_ERR(net_addr_parse("example.com:80", &ss, &len, &d), ERR_INVALID);
    int fd;
    CHECK_ERR(net_listen("256.0.0.1:0", false, &fd, &d), ERR_INVALID);
}

/* An echo server that consumes whole lines only. */
struct echo {
    struct net_loop *loop;
    struct net_conn *conn;
    size_t closes;
    enum net_close_reason why;
    size_t drained;
};

static size_t echo_on_data(struct net_conn *c, const char *data, size_t len)
{
    size_t used = 0;
    for (size_t i = 0; i < len; i++) {
        if (data[i] == '\n') {
            if (i - used == 4 && memcmp(data + used, "quit", 4) == 0) {
                net_conn_write(c, "bye\n", 4);
                net_conn_close_after_write(c);
                return i + 1;
            }
            net_conn_write(c, data + used, i + 1 - used);
            used = i + 1;
        }
    }
    return used;
}

static void echo_on_close(struct net_conn *c, enum net_close_reason why)
{
    struct echo *e = net_conn_ctx(c);
    e->closes++;
    e->why = why;
    e->conn = NULL;
}

static void echo_on_drained(struct net_conn *c)
{
    struct echo *e = net_conn_ctx(c);
    e->drained++;
}

static const struct net_conn_ops echo_ops = {
    .on_data = echo_on_data,
    .on_drained = echo_on_drained,
    .on_close = echo_on_close,
};

static void echo_accept(void *ctx, int fd, const struct sockaddr_storage *p)
{
    struct echo *e = ctx;
    (void)p;
    e->conn = net_conn_new(e->loop, fd, &echo_ops, e, 16, 1 << 20);
}

/* A listening echo server and a connected blocking client socket. */
static int echo_setup(struct echo *e, struct net_listener **l)
{
    memset(e, 0, sizeof(*e));
    CHECK_OK(net_loop_new(&e->loop, NULL));
    int lfd;
    CHECK_OK(net_listen("127.0.0.1:0", false, &lfd, NULL));
    char addr[64];
    CHECK_OK(net_local_addr(lfd, addr, sizeof(addr)));
    *l = net_listener_new(e->loop, lfd, echo_accept, e);
    int fd;
    CHECK_OK(net_connect(addr, NULL, &fd, NULL));
    spin(e->loop, 20);
    CHECK(e->conn != NULL);
    return fd;
}

static size_t recv_all(int fd, char *out, size_t cap)
{
    size_t n = 0;
    for (;;) {
        ssize_t r = recv(fd, out + n, cap - n, MSG_DONTWAIT);
        if (r <= 0)
            return n;
        n += (size_t)r;
    }
}

TEST(conn_keeps_partial_input)
{
    struct echo e;
    struct net_listener *l;
    int fd = echo_setup(&e, &l);
    CHECK(send(fd, "hel", 3, 0) == 3);
    spin(e.loop, 10);
    CHECK(send(fd, "lo\nab", 5, 0) == 5);
    spin(e.loop, 10);
    char buf[64];
    size_t n = recv_all(fd, buf, sizeof(buf));
    CHECK_EQ(n, 6);
    CHECK(memcmp(buf, "hello\n", 6) == 0);
    CHECK(send(fd, "c\nquit\n", 7, 0) == 7);
    spin(e.loop, 20);
    n = recv_all(fd, buf, sizeof(buf));
    CHECK_EQ(n, 8);
    CHECK(memcmp(buf, "abc\nbye\n", 8) == 0);
    CHECK_EQ(e.closes, 1);
    CHECK_EQ(e.why, NET_CLOSE_LOCAL);
    close(fd);
    net_listener_free(l);
    net_loop_free(e.loop);
}

TEST(conn_overflow_closes)
{
    struct echo e;
    struct net_listener *l;
    int fd = echo_setup(&e, &l);
    /* 40 bytes without a newline: more than the 16 the server keeps. */
    CHECK(send(fd, "0123456789012345678901234567890123456789", 40, 0) == 40);
    spin(e.loop, 20);
    CHECK_EQ(e.closes, 1);
    CHECK_EQ(e.why, NET_CLOSE_OVERFLOW);
    close(fd);
    net_listener_free(l);
    net_loop_free(e.loop);
}

TEST(conn_peer_close_and_pause)
{
    struct echo e;
    struct net_listener *l;
    int fd = echo_setup(&e, &l);
    net_conn_read_enable(e.conn, false);
    CHECK(send(fd, "x\n", 2, 0) == 2);
    spin(e.loop, 20);
    char buf[16];
    CHECK_EQ(recv_all(fd, buf, sizeof(buf)), 0);
    net_conn_read_enable(e.conn, true);
    spin(e.loop, 20);
    CHECK_EQ(recv_all(fd, buf, sizeof(buf)), 2);
    close(fd);
    spin(e.loop, 20);
    CHECK_EQ(e.closes, 1);
    CHECK_EQ(e.why, NET_CLOSE_PEER);
    net_listener_free(l);
    net_loop_free(e.loop);
}

TEST(conn_queues_large_writes)
{
    struct echo e;
    struct net_listener *l;
    int fd = echo_setup(&e, &l);
    /* More than the socket buffers hold: the rest waits for EPOLLOUT. */
    size_t big = 8u << 20;
    char *data = xmalloc(big);
    memset(data, 'z', big);
    CHECK_ERR(net_conn_write(e.conn, data, big), ERR_TOO_BIG);
    CHECK_EQ(e.why, NET_CLOSE_OVERFLOW);
    close(fd);
    net_listener_free(l);
    net_loop_free(e.loop);
    fd = echo_setup(&e, &l);
    /* Write until the socket is full and the connection queues. */
    size_t sent = 0;
    for (int i = 0; i < 1000 && net_conn_pending(e.conn) == 0; i++) {
        CHECK_OK(net_conn_write(e.conn, data, 65536));
        sent += 65536;
    }
    CHECK(net_conn_pending(e.conn) > 0);
    size_t got = 0;
    char *sink = xmalloc(big);
    for (int i = 0; i < 400 && got < sent; i++) {
        spin(e.loop, 5);
        got += recv_all(fd, sink, big);
    }
    CHECK_EQ(got, sent);
    CHECK_EQ(net_conn_pending(e.conn), 0);
    CHECK(e.drained >= 1);
    xfree(sink);
    xfree(data);
    net_conn_close(e.conn, NET_CLOSE_LOCAL);
    close(fd);
    net_listener_free(l);
    net_loop_free(e.loop);
}

const struct test_case test_suite_net[] = {
    CASE(timers_fire_in_order),
    CASE(timers_cannot_starve_io),
    CASE(wakeup_from_another_thread),
    CASE(defer_runs_after_callbacks),
    CASE(addr_parse),
    CASE(conn_keeps_partial_input),
    CASE(conn_overflow_closes),
    CASE(conn_peer_close_and_pause),
    CASE(conn_queues_large_writes),
    {0},
};
