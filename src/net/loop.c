/* SPDX-License-Identifier: MIT */
/* epoll event loop with a timer heap, eventfd wakeups and deferred tasks. */
#include "base/sys.h"
#include "net/loop.h"
#include "base/clock.h"
#include "base/vec.h"

#include <errno.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define LOOP_MAX_EVENTS 256

struct deferred {
    net_task_fn *fn;
    void *ctx;
};

struct net_loop {
    int epfd;
    int wakefd;
    bool stopping;
    int64_t now_ms;
    uint64_t turn; /* counts loop turns */
    atomic_bool woken;
    net_task_fn *wake_fn;
    void *wake_ctx;
    struct net_timer **heap;
    size_t nheap, capheap;
    struct deferred *defer;
    size_t ndefer, capdefer;
};

enum err net_loop_new(struct net_loop **out, struct err_detail *d)
{
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        return err_set(d, ERR_IO, "", "cannot create epoll: %s",
                       strerror(errno));
    int wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wakefd < 0) {
        close(epfd);
        return err_set(d, ERR_IO, "", "cannot create eventfd: %s",
                       strerror(errno));
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, wakefd, &ev) != 0) {
        close(wakefd);
        close(epfd);
        return err_set(d, ERR_IO, "", "cannot watch eventfd: %s",
                       strerror(errno));
    }
    struct net_loop *loop = xcalloc(1, sizeof(*loop));
    loop->epfd = epfd;
    loop->wakefd = wakefd;
    loop->now_ms = clock_mono_ms();
    atomic_init(&loop->woken, false);
    *out = loop;
    return ERR_OK;
}

void net_loop_free(struct net_loop *loop)
{
    if (!loop)
        return;
    /* Deferred frees still pending belong to objects that must go. */
    for (size_t i = 0; i < loop->ndefer; i++)
        loop->defer[i].fn(loop->defer[i].ctx);
    close(loop->wakefd);
    close(loop->epfd);
    xfree(loop->heap);
    xfree(loop->defer);
    xfree(loop);
}

int64_t net_loop_now_ms(const struct net_loop *loop)
{
    return loop->now_ms;
}

void net_loop_stop(struct net_loop *loop)
{
    loop->stopping = true;
}

static uint32_t to_epoll(unsigned events)
{
    uint32_t e = 0;
    /* RDHUP only while reading: it stays raised after a half-close. */
    if (events & NET_READ)
        e |= EPOLLIN | EPOLLRDHUP;
    if (events & NET_WRITE)
        e |= EPOLLOUT;
    return e;
}

enum err net_io_start(struct net_loop *loop, struct net_io *io, int fd,
                      unsigned events, net_io_fn *cb, void *ctx)
{
    io->fd = fd;
    io->events = events;
    io->cb = cb;
    io->ctx = ctx;
    struct epoll_event ev = {.events = to_epoll(events), .data.ptr = io};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
        return ERR_IO;
    io->active = true;
    return ERR_OK;
}

enum err net_io_update(struct net_loop *loop, struct net_io *io,
                       unsigned events)
{
    if (!io->active)
        return ERR_IO;
    if (events == io->events)
        return ERR_OK;
    struct epoll_event ev = {.events = to_epoll(events), .data.ptr = io};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, io->fd, &ev) != 0)
        return ERR_IO;
    io->events = events;
    return ERR_OK;
}

void net_io_stop(struct net_loop *loop, struct net_io *io)
{
    /*
     * The memory holding io must outlive this turn (free it with
     * net_loop_defer): a later event of the same epoll batch may name it.
     */
    if (!io->active)
        return;
    /* Failure means the fd is already gone from the set; nothing to do. */
    (void)epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
    io->active = false;
}

/* Timer heap: heap_idx is 1-based so that 0 means "not armed". */

static void heap_set(struct net_loop *loop, size_t i, struct net_timer *t)
{
    loop->heap[i] = t;
    t->heap_idx = i + 1;
}

static void sift_up(struct net_loop *loop, size_t i)
{
    struct net_timer *t = loop->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (loop->heap[parent]->due_ms <= t->due_ms)
            break;
        heap_set(loop, i, loop->heap[parent]);
        i = parent;
    }
    heap_set(loop, i, t);
}

static void sift_down(struct net_loop *loop, size_t i)
{
    struct net_timer *t = loop->heap[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= loop->nheap)
            break;
        if (child + 1 < loop->nheap &&
            loop->heap[child + 1]->due_ms < loop->heap[child]->due_ms)
            child++;
        if (loop->heap[child]->due_ms >= t->due_ms)
            break;
        heap_set(loop, i, loop->heap[child]);
        i = child;
    }
    heap_set(loop, i, t);
}

void net_timer_stop(struct net_loop *loop, struct net_timer *t)
{
    if (!t->heap_idx)
        return;
    size_t i = t->heap_idx - 1;
    t->heap_idx = 0;
    struct net_timer *last = loop->heap[--loop->nheap];
    if (i == loop->nheap)
        return;
    heap_set(loop, i, last);
    sift_down(loop, i);
    sift_up(loop, last->heap_idx - 1);
}

void net_timer_start(struct net_loop *loop, struct net_timer *t,
                     int64_t delay_ms, net_timer_fn *cb, void *ctx)
{
    net_timer_stop(loop, t);
    /*
     * From the clock now, not the turn's cached time: work done since the
     * turn began (loading a store, say) must not make the timer early. The
     * turn's time stays as it is: it bounds which timers this turn runs.
     */
    t->due_ms = clock_mono_ms() + (delay_ms > 0 ? delay_ms : 0);
    t->armed_turn = loop->turn;
    t->cb = cb;
    t->ctx = ctx;
    VEC_RESERVE1(loop->heap, loop->nheap, loop->capheap);
    loop->heap[loop->nheap] = t;
    t->heap_idx = ++loop->nheap;
    sift_up(loop, loop->nheap - 1);
}

void net_loop_on_wakeup(struct net_loop *loop, net_task_fn *fn, void *ctx)
{
    loop->wake_fn = fn;
    loop->wake_ctx = ctx;
}

void net_loop_wakeup(struct net_loop *loop)
{
    if (atomic_exchange(&loop->woken, true))
        return;
    uint64_t one = 1;
    /* EAGAIN means the counter is already non-zero: the loop will wake. */
    ssize_t w = write(loop->wakefd, &one, sizeof(one));
    (void)w;
}

void net_loop_defer(struct net_loop *loop, net_task_fn *fn, void *ctx)
{
    VEC_PUSH(loop->defer, loop->ndefer, loop->capdefer,
             ((struct deferred){fn, ctx}));
}

/*
 * Runs the timers due at the turn's time, except those armed during this
 * turn: however callbacks re-arm themselves, the turn ends and sockets are
 * read again. (A re-armed timer that is already due runs next turn.)
 */
static void run_timers(struct net_loop *loop)
{
    while (loop->nheap && loop->heap[0]->due_ms <= loop->now_ms &&
           loop->heap[0]->armed_turn != loop->turn) {
        struct net_timer *t = loop->heap[0];
        net_timer_stop(loop, t);
        t->cb(t);
    }
}

static void run_deferred(struct net_loop *loop)
{
    /* Tasks may defer more tasks; run until none is left. */
    for (size_t i = 0; i < loop->ndefer; i++)
        loop->defer[i].fn(loop->defer[i].ctx);
    loop->ndefer = 0;
}

static int next_timeout_ms(const struct net_loop *loop)
{
    if (loop->ndefer)
        return 0;
    if (!loop->nheap)
        return 1000;
    int64_t wait = loop->heap[0]->due_ms - clock_mono_ms();
    if (wait < 0)
        return 0;
    return wait > 1000 ? 1000 : (int)wait;
}

enum err net_loop_run(struct net_loop *loop)
{
    struct epoll_event events[LOOP_MAX_EVENTS];
    loop->stopping = false;
    while (!loop->stopping) {
        int n = epoll_wait(loop->epfd, events, LOOP_MAX_EVENTS,
                           next_timeout_ms(loop));
        if (n < 0 && errno != EINTR)
            return ERR_IO;
        loop->now_ms = clock_mono_ms();
        loop->turn++;
        bool woken = false;
        for (int i = 0; i < n; i++) {
            struct net_io *io = events[i].data.ptr;
            if (!io) {
                woken = true;
                continue;
            }
            unsigned ev = 0;
            if (events[i].events & EPOLLIN)
                ev |= NET_READ;
            if (events[i].events & EPOLLOUT)
                ev |= NET_WRITE;
            if (events[i].events & (EPOLLERR | EPOLLHUP | EPOLLRDHUP))
                ev |= NET_HUP;
            /* An earlier callback of this turn may have stopped it. */
            if (io->active)
                io->cb(io, ev);
        }
        run_timers(loop);
        if (woken) {
            uint64_t count;
            ssize_t r = read(loop->wakefd, &count, sizeof(count));
            (void)r;
            atomic_store(&loop->woken, false);
            if (loop->wake_fn)
                loop->wake_fn(loop->wake_ctx);
        }
        run_deferred(loop);
    }
    return ERR_OK;
}
