/* SPDX-License-Identifier: MIT */
/*
 * Telemetry: what locks report about position, battery and lock state. It
 * reaches the fleet index at once; bike rows (and a riding trip's distance)
 * are written in a checkpoint every few seconds, not per report; positions
 * are buffered and written to the history in large batches, kept for the
 * retention window and then pruned. A crash loses at most one checkpoint
 * and one flush interval of telemetry, none of it ever acknowledged.
 */
#include "base/sys.h"
#include "svc/svc_int.h"
#include "base/clock.h"
#include "base/log.h"

#include <math.h>

/* Past this many buffered points the history is written at once. */
#define HISTORY_FLUSH_POINTS (1u << 20)
#define PRUNE_INTERVAL_MS (3600 * 1000)

static void flush_history(struct svc *s);

/* Submits n ops and keeps the highest lsn handed out. */
static void submit(struct svc *s, const struct store_op *ops, size_t n)
{
    uint64_t lsn = store_writer_submit(s->writer, ops, n);
    if (lsn > s->submitted_lsn)
        s->submitted_lsn = lsn;
}

void svc__telemetry(struct svc *s, const struct core_bike *b, bool moved)
{
    svc__index_bike(s, b);
    size_t idx = (size_t)b->id - 1;
    if (idx >= s->nreported) {
        size_t n = MAX(idx + 1, s->nreported * 2);
        s->reported = xrealloc(s->reported, n);
        memset(s->reported + s->nreported, 0, n - s->nreported);
        s->nreported = n;
    }
    if (!s->reported[idx]) {
        s->reported[idx] = 1;
        VEC_PUSH(s->dirty, s->ndirty, s->capdirty, b->id);
    }
    if (!moved)
        return;
    struct store_point p = {
        .ts_ms = b->last_report_ms,
        .bike_id = (uint32_t)b->id,
        .lat_e7 = (int32_t)lround(b->pos.lat_deg * 1e7),
        .lon_e7 = (int32_t)lround(b->pos.lon_deg * 1e7),
    };
    VEC_PUSH(s->hist, s->nhist, s->caphist, p);
    s->stats.positions++;
    if (s->nhist >= HISTORY_FLUSH_POINTS)
        flush_history(s);
}

/* Writes the bikes reported since the last checkpoint, and their trips. */
static void checkpoint(struct svc *s)
{
    s->nops = 0;
    for (size_t i = 0; i < s->ndirty; i++) {
        const struct core_bike *b = core_world_bike(s->world, s->dirty[i]);
        s->reported[s->dirty[i] - 1] = 0;
        if (!b)
            continue;
        struct store_op op = {.kind = STORE_OP_BIKE, .u.bike = *b};
        VEC_PUSH(s->ops, s->nops, s->capops, op);
        const struct core_trip *t =
            b->trip_id ? core_world_trip(s->world, b->trip_id) : NULL;
        if (t && t->state == CORE_TRIP_RIDING) {
            struct store_op top = {.kind = STORE_OP_TRIP, .u.trip = *t};
            VEC_PUSH(s->ops, s->nops, s->capops, top);
        }
    }
    s->ndirty = 0;
    if (s->nops)
        submit(s, s->ops, s->nops);
}

/* Hands the buffered positions to the writer. */
static void flush_history(struct svc *s)
{
    if (!s->nhist)
        return;
    struct store_op op = {.kind = STORE_OP_POSITIONS,
                          .u.positions = {s->hist, s->nhist}};
    s->stats.positions_flushed += s->nhist;
    /* The writer owns the points now, whatever submit returns. */
    s->hist = NULL;
    s->nhist = s->caphist = 0;
    submit(s, &op, 1);
}

static void on_checkpoint(struct net_timer *t)
{
    struct svc *s = t->ctx;
    checkpoint(s);
    net_timer_start(s->loop, t, s->cfg.checkpoint_ms, on_checkpoint, s);
}

static void on_flush(struct net_timer *t)
{
    struct svc *s = t->ctx;
    flush_history(s);
    net_timer_start(s->loop, t, s->cfg.history_flush_ms, on_flush, s);
}

static void on_prune(struct net_timer *t)
{
    struct svc *s = t->ctx;
    struct store_op op = {.kind = STORE_OP_PRUNE,
                          .u.before_ms =
                              clock_wall_ms() - s->cfg.history_retention_ms};
    submit(s, &op, 1);
    net_timer_start(s->loop, t, PRUNE_INTERVAL_MS, on_prune, s);
}

void svc__telemetry_start(struct svc *s)
{
    net_timer_start(s->loop, &s->checkpoint_timer, s->cfg.checkpoint_ms,
                    on_checkpoint, s);
    net_timer_start(s->loop, &s->flush_timer, s->cfg.history_flush_ms, on_flush,
                    s);
    net_timer_start(s->loop, &s->prune_timer, 0, on_prune, s);
}

void svc__telemetry_stop(struct svc *s)
{
    net_timer_stop(s->loop, &s->checkpoint_timer);
    net_timer_stop(s->loop, &s->flush_timer);
    net_timer_stop(s->loop, &s->prune_timer);
    checkpoint(s);
    flush_history(s);
}

/* Queries */

static struct svc_point point_of(const struct store_point *p)
{
    return (struct svc_point){p->ts_ms, {p->lat_e7 / 1e7, p->lon_e7 / 1e7}};
}

enum err svc_positions(struct svc *s, int64_t bike_id, int64_t from_ms,
                       int64_t to_ms, struct svc_point *out, size_t cap,
                       size_t *n)
{
    if (!core_world_bike(s->world, bike_id))
        return ERR_NOT_FOUND;
    cap = MIN(cap, (size_t)SVC_POINTS_MAX);
    struct store_point *pts = xmalloc(MAX(cap, (size_t)1) * sizeof(*pts));
    size_t got = 0;
    enum err e =
        store_positions_get(s->store, bike_id, from_ms, to_ms, pts, cap, &got);
    if (e == ERR_OK) {
        for (size_t i = 0; i < got; i++)
            out[i] = point_of(&pts[i]);
        /* The buffer holds newer points than the store, in time order. */
        for (size_t i = 0; i < s->nhist && got < cap; i++) {
            const struct store_point *p = &s->hist[i];
            if (p->bike_id == (uint32_t)bike_id && p->ts_ms >= from_ms &&
                p->ts_ms <= to_ms)
                out[got++] = point_of(p);
        }
        *n = got;
    }
    xfree(pts);
    return e;
}

enum err svc_position_at(struct svc *s, int64_t bike_id, int64_t at_ms,
                         struct svc_point *out)
{
    if (!core_world_bike(s->world, bike_id))
        return ERR_NOT_FOUND;
    /* The newest buffered point at or before at_ms wins. */
    for (size_t i = s->nhist; i-- > 0;) {
        const struct store_point *p = &s->hist[i];
        if (p->bike_id == (uint32_t)bike_id && p->ts_ms <= at_ms) {
            *out = point_of(p);
            return ERR_OK;
        }
    }
    /*
     * Else look back through the store in growing windows; within a window,
     * page forward so that the newest point is the last one read.
     */
    enum { PAGE = 1024 };
    struct store_point *pts = xmalloc(PAGE * sizeof(*pts));
    enum err e = ERR_OK;
    bool found = false;
    int64_t span = 15 * 60 * 1000;
    int64_t oldest = at_ms - s->cfg.history_retention_ms;
    for (int64_t from = at_ms - span; !found && e == ERR_OK;
         from = MAX(at_ms - span, oldest)) {
        int64_t start = from;
        size_t got;
        do {
            e = store_positions_get(s->store, bike_id, start, at_ms, pts, PAGE,
                                    &got);
            if (e == ERR_OK && got) {
                *out = point_of(&pts[got - 1]);
                found = true;
                start = pts[got - 1].ts_ms + 1;
            }
        } while (e == ERR_OK && got == PAGE);
        if (from <= oldest)
            break;
        span *= 8;
    }
    xfree(pts);
    if (e != ERR_OK)
        return e;
    return found ? ERR_OK : ERR_NOT_FOUND;
}
