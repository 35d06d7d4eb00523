/* SPDX-License-Identifier: MIT */
/*
 * The event loop: epoll readiness callbacks, one-shot timers on a min-heap,
 * a cross-thread wakeup, and deferred frees that run after the current batch
 * of events. One loop per thread; every function except net_loop_wakeup
 * must be called on the loop's own thread.
 */
#ifndef NET_LOOP_H
#define NET_LOOP_H

#include "base/sys.h"
#include "base/err.h"

struct net_loop;
struct net_io;
struct net_timer;

enum net_events {
    NET_READ = 1u << 0,
    NET_WRITE = 1u << 1,
    NET_HUP = 1u << 2, /* reported only: peer hung up or error */
};

typedef void net_io_fn(struct net_io *io, unsigned events);
typedef void net_timer_fn(struct net_timer *t);
typedef void net_task_fn(void *ctx);

/* A watched file descriptor; caller-owned, usually embedded. */
struct net_io {
    int fd;
    unsigned events; /* NET_READ | NET_WRITE currently requested */
    net_io_fn *cb;
    void *ctx;
    bool active;
};

/* A one-shot timer; caller-owned, usually embedded. Zero-initialise it. */
struct net_timer {
    int64_t due_ms;
    uint64_t armed_turn; /* the loop turn it was armed in */
    size_t heap_idx;     /* position in the heap + 1; 0 when not armed */
    net_timer_fn *cb;
    void *ctx;
};

/* Creates a loop. ERR_IO if epoll or eventfd cannot be created. */
enum err net_loop_new(struct net_loop **out, struct err_detail *d);

/* Frees the loop (watched fds are not closed); NULL is a no-op. */
void net_loop_free(struct net_loop *loop);

/*
 * Runs until net_loop_stop. Each turn waits for events or the next timer,
 * runs io callbacks, then due timers, then the wakeup callback if woken,
 * then deferred frees. ERR_IO if epoll_wait fails for another reason than
 * EINTR.
 */
enum err net_loop_run(struct net_loop *loop);

/* Makes net_loop_run return after the current turn. */
void net_loop_stop(struct net_loop *loop);

/* The loop's monotonic clock in ms, refreshed every turn. */
int64_t net_loop_now_ms(const struct net_loop *loop);

/*
 * Starts watching io->fd for events (NET_READ/NET_WRITE); io->cb runs with
 * the events that are ready. ERR_IO if epoll refuses the fd.
 */
enum err net_io_start(struct net_loop *loop, struct net_io *io, int fd,
                      unsigned events, net_io_fn *cb, void *ctx);

/* Changes the requested events. ERR_IO if epoll refuses. */
enum err net_io_update(struct net_loop *loop, struct net_io *io,
                       unsigned events);

/* Stops watching (does not close the fd). Safe on an inactive io. */
void net_io_stop(struct net_loop *loop, struct net_io *io);

/*
 * Arms t to run cb once delay_ms from now (re-arming moves it); the delay
 * counts from this call, not from the start of the loop turn. A timer armed
 * from a callback runs in a later turn, even with delay 0.
 */
void net_timer_start(struct net_loop *loop, struct net_timer *t,
                     int64_t delay_ms, net_timer_fn *cb, void *ctx);

/* Disarms t; safe if it is not armed. */
void net_timer_stop(struct net_loop *loop, struct net_timer *t);

static inline bool net_timer_is_armed(const struct net_timer *t)
{
    return t->heap_idx != 0;
}

/*
 * Sets the callback that runs on the loop thread after net_loop_wakeup.
 * Several wakeups before it runs collapse into one call.
 */
void net_loop_on_wakeup(struct net_loop *loop, net_task_fn *fn, void *ctx);

/* Wakes the loop from any thread. Async-signal-safe. */
void net_loop_wakeup(struct net_loop *loop);

/*
 * Runs fn(ctx) at the end of the current turn, after every callback of the
 * turn has run: the way to free an object that a later event of the same
 * turn may still name.
 */
void net_loop_defer(struct net_loop *loop, net_task_fn *fn, void *ctx);

#endif
