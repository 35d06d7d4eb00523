/* SPDX-License-Identifier: MIT */
/*
 * Tests for src/gateway with fake owner callbacks and real loopback lock
 * connections: sign-in, acks, the unlock handshake, bad frames, replacement.
 */
#include "base/sys.h"
#include "tests/unit/harness.h"
#include "gateway/gateway.h"
#include "net/tcp.h"

#include <sys/socket.h>
#include <unistd.h>

#define KNOWN UINT64_C(123456789012345)

struct owner {
    struct gateway *gw;
    bool unlock_on_online; /* as the service does for a pending trip */
    size_t reports, alarms, online, offline, locked;
    int battery;
    bool has_pos;
    int unlock_results;
    bool unlocked;
    int64_t user;
    bool hold_acks; /* keep the tokens instead of acknowledging at once */
    uint64_t held[8];
    size_t nheld;
};

static void admit(void *ctx, uint64_t imei, bool secure,
                  struct gateway_admission *out)
{
    (void)ctx;
    memset(out, 0, sizeof(*out));
    out->admit = imei == KNOWN && !secure;
}

static void counter(void *ctx, uint64_t imei, uint64_t rx)
{
    (void)ctx;
    (void)imei;
    (void)rx;
}

static void report(void *ctx, uint64_t imei, const struct core_bike_report *r)
{
    struct owner *o = ctx;
    (void)imei;
    o->reports++;
    if (r->battery_pct >= 0)
        o->battery = r->battery_pct;
    o->has_pos = o->has_pos || r->has_pos;
}

static void alarm_cb(void *ctx, uint64_t imei, int code, bool fault)
{
    struct owner *o = ctx;
    (void)imei;
    (void)code;
    (void)fault;
    o->alarms++;
}

static void unlock_result(void *ctx, uint64_t imei, int64_t user,
                          enum gateway_unlock_outcome outcome)
{
    struct owner *o = ctx;
    (void)imei;
    o->unlock_results++;
    o->unlocked = outcome == GATEWAY_UNLOCKED;
    o->user = user;
}

static void locked(void *ctx, uint64_t imei, int64_t user, int64_t min)
{
    struct owner *o = ctx;
    (void)imei;
    (void)user;
    (void)min;
    o->locked++;
}

static void online(void *ctx, uint64_t imei, bool up)
{
    struct owner *o = ctx;
    (void)imei;
    if (up)
        o->online++;
    else
        o->offline++;
    if (up && o->unlock_on_online)
        CHECK_OK(gateway_unlock(o->gw, imei, 5, 50, 1700000000, 60));
}

static void settle(void *ctx, uint64_t imei, uint64_t token)
{
    struct owner *o = ctx;
    CHECK_EQ(imei, KNOWN);
    if (!o->hold_acks) {
        gateway_ack(o->gw, imei, token);
        return;
    }
    CHECK(o->nheld < ARRAY_LEN(o->held));
    o->held[o->nheld++] = token;
}

static const struct gateway_ops ops = {.admit = admit,
                                       .counter = counter,
                                       .report = report,
                                       .alarm = alarm_cb,
                                       .unlock_result = unlock_result,
                                       .locked = locked,
                                       .online = online,
                                       .settle = settle};

static void stop_loop(struct net_timer *t)
{
    net_loop_stop(t->ctx);
}

static void spin(struct net_loop *loop, int64_t ms)
{
    struct net_timer t = {0};
    net_timer_start(loop, &t, ms, stop_loop, loop);
    CHECK_OK(net_loop_run(loop));
    net_timer_stop(loop, &t);
}

struct env {
    struct net_loop *loop;
    struct gateway *gw;
    struct owner o;
};

static void env_init_workers(struct env *e, size_t max_bad, size_t workers)
{
    memset(e, 0, sizeof(*e));
    CHECK_OK(net_loop_new(&e->loop, NULL));
    struct gateway_config cfg;
    gateway_config_default(&cfg);
    cfg.listen = "127.0.0.1:0";
    cfg.max_bad_frames = max_bad;
    cfg.workers = workers; /* this test binary, as gateway-worker */
    CHECK_OK(gateway_new(e->loop, &cfg, &ops, &e->o, &e->gw, NULL));
    e->o.gw = e->gw;
}

static void env_init(struct env *e, size_t max_bad)
{
    env_init_workers(e, max_bad, 0);
}

static void env_free(struct env *e)
{
    gateway_free(e->gw);
    net_loop_free(e->loop);
}

static int lock_connect(struct env *e)
{
    int fd;
    CHECK_OK(net_connect(gateway_address(e->gw), NULL, &fd, NULL));
    spin(e->loop, 10);
    return fd;
}

static void say(struct env *e, int fd, const char *text)
{
    size_t n = strlen(text);
    CHECK(send(fd, text, n, MSG_NOSIGNAL) == (ssize_t)n);
    spin(e->loop, 15);
}

/* What the server sent since the last call, or "" (and "EOF" if closed). */
static const char *heard(int fd)
{
    static char buf[2048];
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
    if (n == 0)
        return "EOF";
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

TEST(gateway_sign_in_and_acks)
{
    struct env e;
    env_init(&e, 4);
    int fd = lock_connect(&e);
    say(&e, fd, "*SCOR,OM,123456789012345,Q0,412,80,28#\n");
    CHECK(gateway_is_online(e.gw, KNOWN));
    CHECK_EQ(e.o.online, 1);
    CHECK_EQ(e.o.battery, 80);
    say(&e, fd,
        "*SCOR,OM,123456789012345,D0,0,120001.0,A,2457.8101,N,"
        "12125.5393,E,8,0.8,010124,10.0,M,A#\n");
    CHECK(e.o.has_pos);
    CHECK_STR(heard(fd), "");
    say(&e, fd, "*SCOR,OM,123456789012345,W0,2#\n");
    CHECK_STR(heard(fd), "\xff\xff*SCOS,OM,123456789012345,W0#\n");
    CHECK_EQ(e.o.alarms, 1);
    say(&e, fd, "*CMDR,OM,123456789012345,000000000000,L1,0,0,0#\n");
    CHECK_STR(heard(fd), "\xff\xff*CMDS,OM,123456789012345,000000000000,L1#\n");
    CHECK_EQ(e.o.locked, 1);
    close(fd);
    spin(e.loop, 15);
    CHECK(!gateway_is_online(e.gw, KNOWN));
    CHECK_EQ(e.o.offline, 1);
    env_free(&e);
}

TEST(gateway_unknown_lock_is_dropped)
{
    struct env e;
    env_init(&e, 4);
    int fd = lock_connect(&e);
    say(&e, fd, "*SCOR,OM,999999999999999,Q0,412,80,28#\n");
    CHECK_STR(heard(fd), "EOF");
    CHECK_EQ(e.o.online, 0);
    struct gateway_stats st;
    gateway_stats(e.gw, &st);
    CHECK_EQ(st.rejected, 1);
    close(fd);
    env_free(&e);
}

TEST(gateway_unlock_handshake)
{
    struct env e;
    env_init(&e, 4);
    CHECK_ERR(gateway_unlock(e.gw, KNOWN, 7, 100, 1700000000, 60),
              ERR_NOT_FOUND);
    int fd = lock_connect(&e);
    say(&e, fd, "*SCOR,OM,123456789012345,H0,1,412,28,80,0#\n");
    CHECK_OK(gateway_unlock(e.gw, KNOWN, 7, 100, 1700000000, 60));
    spin(e.loop, 10);
    CHECK_STR(heard(fd),
              "\xff\xff*SCOS,OM,123456789012345,R0,0,60,7,1700000000#\n");
    CHECK_ERR(gateway_unlock(e.gw, KNOWN, 8, 100, 1700000000, 60), ERR_BUSY);
    /* A key for another user is ignored; the right one gets the unlock. */
    say(&e, fd, "*SCOR,OM,123456789012345,R0,0,55,8,1700000001#\n");
    CHECK_STR(heard(fd), "");
    say(&e, fd, "*SCOR,OM,123456789012345,R0,0,4321,7,1700000001#\n");
    CHECK_STR(heard(fd),
              "\xff\xff*SCOS,OM,123456789012345,L0,4321,7,1700000000#\n");
    say(&e, fd, "*SCOR,OM,123456789012345,L0,0,7,1700000002#\n");
    CHECK_STR(heard(fd), "\xff\xff*SCOS,OM,123456789012345,L0#\n");
    CHECK_EQ(e.o.unlock_results, 1);
    CHECK(e.o.unlocked);
    CHECK_EQ(e.o.user, 7);
    /* A cancelled unlock ignores a late key. */
    CHECK_OK(gateway_unlock(e.gw, KNOWN, 9, 100, 1700000000, 60));
    spin(e.loop, 10);
    heard(fd);
    gateway_unlock_cancel(e.gw, KNOWN);
    say(&e, fd, "*SCOR,OM,123456789012345,R0,0,1111,9,1700000003#\n");
    CHECK_STR(heard(fd), "");
    close(fd);
    env_free(&e);
}

TEST(gateway_bad_frames_and_replacement)
{
    struct env e;
    env_init(&e, 3);
    int fd = lock_connect(&e);
    say(&e, fd, "*SCOR,OM,123456789012345,Q0,412,80,28#\n");
    say(&e, fd, "hello\n*SCOR,OM,12,Q0#\n*SCOR,OM,123456789012345,H0,x#\n");
    CHECK_STR(heard(fd), "");
    struct gateway_stats st;
    gateway_stats(e.gw, &st);
    CHECK_EQ(st.bad_frames, 3);
    /* Still served after three bad frames. */
    say(&e, fd, "*SCOR,OM,123456789012345,W0,1#\n");
    CHECK_STR(heard(fd), "\xff\xff*SCOS,OM,123456789012345,W0#\n");
    /* The same lock connects again: the old session goes. */
    int fd2 = lock_connect(&e);
    say(&e, fd2, "*SCOR,OM,123456789012345,Q0,412,81,28#\n");
    CHECK_STR(heard(fd), "EOF");
    CHECK(gateway_is_online(e.gw, KNOWN));
    CHECK_EQ(e.o.online, 2); /* told again: the old session's output is lost */
    CHECK_EQ(e.o.offline, 0);
    /*
     * Bad inputs on this session: the oversized frame, the stray '#' after
     * it, one run of junk; still served. A fourth closes it.
     */
    char big[700];
    memset(big, 'A', sizeof(big));
    big[0] = '*';
    big[sizeof(big) - 1] = '\0';
    say(&e, fd2, big);
    say(&e, fd2, "#\n*SCOR,OM,123456789012345,W0,1#\n");
    CHECK_STR(heard(fd2), "\xff\xff*SCOS,OM,123456789012345,W0#\n");
    say(&e, fd2, "junk#junk#");
    CHECK_STR(heard(fd2), "");
    CHECK(gateway_is_online(e.gw, KNOWN));
    say(&e, fd2, "*SCOR,OM,123456789012345,H0,oops#");
    CHECK_STR(heard(fd2), "EOF");
    CHECK_EQ(e.o.offline, 1);
    close(fd);
    close(fd2);
    env_free(&e);
}

TEST(gateway_unlock_from_sign_in)
{
    /* A trip waiting for its lock gets the unlock as the lock signs in. */
    struct env e;
    env_init(&e, 4);
    e.o.unlock_on_online = true;
    int fd = lock_connect(&e);
    say(&e, fd, "*CMDR,XY,123456789012345,240101120000,Q0,412,80,28#\n");
    const char *got = heard(fd);
    const char *prefix = "\xff\xff*CMDS,XY,123456789012345,";
    CHECK(strncmp(got, prefix, strlen(prefix)) == 0);
    CHECK(strstr(got, ",R0,0,60,5,1700000000#\n") != NULL);
    close(fd);
    env_free(&e);
}

/* Runs the loop until cond holds (a worker's message may take a while). */
#define SPIN_UNTIL(e, cond)                                                    \
    do {                                                                       \
        for (int i_ = 0; i_ < 300 && !(cond); i_++)                            \
            spin((e)->loop, 10);                                               \
        CHECK(cond);                                                           \
    } while (0)

/* Reads what the server sent within a while, or "" / "EOF". */
static const char *heard_within(struct env *e, int fd)
{
    for (int i = 0; i < 100; i++) {
        const char *got = heard(fd);
        if (got[0])
            return got;
        spin(e->loop, 10);
    }
    return "";
}

static uint64_t frames_seen(const struct gateway *gw)
{
    struct gateway_stats st;
    gateway_stats(gw, &st);
    return st.frames;
}

TEST(gateway_workers_relay)
{
    struct env e;
    env_init_workers(&e, 4, 2);
    /* An unknown lock is kicked by the hub. */
    int bad = lock_connect(&e);
    CHECK(send(bad, "*SCOR,OM,999999999999999,Q0,412,80,28#\n", 38,
               MSG_NOSIGNAL) == 38);
    CHECK_STR(heard_within(&e, bad), "EOF");
    close(bad);
    /* A known lock: reports and acks go through its worker. */
    int fd = lock_connect(&e);
    CHECK(send(fd, "*SCOR,OM,123456789012345,Q0,412,80,28#\n", 38,
               MSG_NOSIGNAL) == 38);
    SPIN_UNTIL(&e, gateway_is_online(e.gw, KNOWN));
    CHECK_EQ(e.o.online, 1);
    SPIN_UNTIL(&e, e.o.battery == 80);
    say(&e, fd, "*SCOR,OM,123456789012345,W0,2#\n");
    CHECK_STR(heard_within(&e, fd), "\xff\xff*SCOS,OM,123456789012345,W0#\n");
    SPIN_UNTIL(&e, e.o.alarms == 1);
    /* The unlock goes to the lock's worker and its outcome comes back. */
    CHECK_OK(gateway_unlock(e.gw, KNOWN, 7, 100, 1700000000, 60));
    CHECK_STR(heard_within(&e, fd),
              "\xff\xff*SCOS,OM,123456789012345,R0,0,60,7,1700000000#\n");
    say(&e, fd, "*SCOR,OM,123456789012345,R0,0,4321,7,1700000001#\n");
    CHECK_STR(heard_within(&e, fd),
              "\xff\xff*SCOS,OM,123456789012345,L0,4321,7,1700000000#\n");
    say(&e, fd, "*SCOR,OM,123456789012345,L0,0,7,1700000002#\n");
    CHECK_STR(heard_within(&e, fd), "\xff\xff*SCOS,OM,123456789012345,L0#\n");
    SPIN_UNTIL(&e, e.o.unlock_results == 1);
    CHECK(e.o.unlocked);
    /* Reconnections (on either worker) replace the session; the hub keeps
     * one owner and says online again. */
    int fds[4];
    for (int i = 0; i < 4; i++) {
        fds[i] = lock_connect(&e);
        CHECK(send(fds[i], "*SCOR,OM,123456789012345,Q0,412,81,28#\n", 38,
                   MSG_NOSIGNAL) == 38);
        SPIN_UNTIL(&e, e.o.online == (size_t)(2 + i));
        CHECK_STR(heard_within(&e, i ? fds[i - 1] : fd), "EOF");
    }
    CHECK(gateway_is_online(e.gw, KNOWN));
    CHECK_EQ(e.o.offline, 0);
    /* Q0, W0, R0, L0, four Q0s; none from the unknown lock. Workers
     * report their counts once a second. */
    SPIN_UNTIL(&e, frames_seen(e.gw) >= 8);
    CHECK_EQ(frames_seen(e.gw), 8);
    close(fds[3]);
    SPIN_UNTIL(&e, e.o.offline == 1);
    CHECK(!gateway_is_online(e.gw, KNOWN));
    CHECK_ERR(gateway_unlock(e.gw, KNOWN, 7, 100, 1700000000, 60),
              ERR_NOT_FOUND);
    for (int i = 0; i < 3; i++)
        close(fds[i]);
    close(fd);
    env_free(&e);
}

/*
 * Reports wait for the owner's gateway_ack, in order; a full queue drops
 * the next one unread; a token of a replaced session acknowledges nothing.
 */
static void check_held_acks(size_t workers)
{
    struct env e;
    env_init_workers(&e, 8, workers);
    e.o.hold_acks = true;
    int fd = lock_connect(&e);
    CHECK(send(fd, "*SCOR,OM,123456789012345,Q0,412,80,28#\n", 38,
               MSG_NOSIGNAL) == 38);
    SPIN_UNTIL(&e, gateway_is_online(e.gw, KNOWN));
    say(&e, fd, "*CMDR,OM,123456789012345,000000000001,L1,0,0,0#\n");
    SPIN_UNTIL(&e, e.o.nheld == 1);
    CHECK_EQ(e.o.locked, 1);
    spin(e.loop, 50);
    CHECK_STR(heard(fd), ""); /* acted on, not acknowledged */
    for (int i = 2; i <= 5; i++) {
        char w0[64];
        snprintf(w0, sizeof(w0), "*SCOR,OM,123456789012345,W0,%d#\n", i);
        say(&e, fd, w0);
    }
    /* The fifth awaiting report was dropped: three more W0 came through. */
    SPIN_UNTIL(&e, e.o.alarms == 3 && e.o.nheld == 4);
    spin(e.loop, 50);
    CHECK_EQ(e.o.alarms, 3);
    CHECK_STR(heard(fd), "");
    gateway_ack(e.gw, KNOWN, e.o.held[0]);
    CHECK_STR(heard_within(&e, fd),
              "\xff\xff*CMDS,OM,123456789012345,000000000001,L1#\n");
    gateway_ack(e.gw, KNOWN, e.o.held[1]);
    CHECK_STR(heard_within(&e, fd), "\xff\xff*SCOS,OM,123456789012345,W0#\n");
    /* A new session: the old one's tokens acknowledge nothing on it. */
    int fd2 = lock_connect(&e);
    CHECK(send(fd2, "*SCOR,OM,123456789012345,Q0,412,80,28#\n", 38,
               MSG_NOSIGNAL) == 38);
    SPIN_UNTIL(&e, e.o.online == 2);
    say(&e, fd2, "*SCOR,OM,123456789012345,W0,9#\n");
    SPIN_UNTIL(&e, e.o.nheld == 5);
    gateway_ack(e.gw, KNOWN, e.o.held[2]);
    gateway_ack(e.gw, KNOWN, e.o.held[3]);
    spin(e.loop, 50);
    CHECK_STR(heard(fd2), "");
    gateway_ack(e.gw, KNOWN, e.o.held[4]);
    CHECK_STR(heard_within(&e, fd2), "\xff\xff*SCOS,OM,123456789012345,W0#\n");
    close(fd);
    close(fd2);
    env_free(&e);
}

TEST(gateway_acks_wait_for_the_owner)
{
    check_held_acks(0);
}

TEST(gateway_workers_acks_wait_for_the_owner)
{
    check_held_acks(2);
}

const struct test_case test_suite_gateway[] = {
    CASE(gateway_acks_wait_for_the_owner),
    CASE(gateway_workers_acks_wait_for_the_owner),
    CASE(gateway_workers_relay),
    CASE(gateway_unlock_from_sign_in),
    CASE(gateway_sign_in_and_acks),
    CASE(gateway_unknown_lock_is_dropped),
    CASE(gateway_unlock_handshake),
    CASE(gateway_bad_frames_and_replacement),
    {0},
};
