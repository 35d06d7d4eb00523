/* SPDX-License-Identifier: MIT */
/*
 * The search log: every search of GET /v1/bikes is counted in memory by
 * (minute, 0.001-degree square, found a bike or not), and the counts go to
 * the store as one STORE_OP_SEARCHES every search_flush_ms. Searches that
 * found nothing are the lost demand the forecast reads. Nothing about the
 * rider, the token or the exact position is kept. Also here: the hourly
 * prune of the demand history past its retention.
 */
#include "base/sys.h"
#include "svc/svc_int.h"
#include "base/clock.h"

#include <math.h>

#define MINUTE_MS 60000
#define SQUARES_PER_DEG 1000 /* squares of 0.001 degree: ~110 m */

/*
 * Open aggregates kept at most; one more and the log is written at once, so
 * that searches sprayed over the planet cannot grow memory without bound.
 */
#define SEARCH_OPEN_MAX (1u << 20)

#define DEMAND_PRUNE_INTERVAL_MS (3600 * 1000)

/*
 * An aggregate's key: found in bit 0, the square's column (0 .. 359,999)
 * in bits 1-19, its row (0 .. 179,999) in bits 20-37, and the low 26 bits
 * of the minute above them. The log never holds minutes 2^26 apart.
 */
#define KEY_MINUTE_BITS 26

/* The square of a coordinate: floor(deg * 1000), a point on a boundary
 * (or within 1e-10 degree of it) in the square north or east of it. */
static int64_t square(double deg, int64_t lo, int64_t hi)
{
    int64_t i = (int64_t)floor(deg * SQUARES_PER_DEG + 1e-7);
    return i < lo ? lo : i > hi ? hi : i;
}

void svc_search_log(struct svc *s, struct geo_latlng center, bool found)
{
    int64_t minute = clock_wall_ms() / MINUTE_MS;
    int64_t row =
        square(center.lat_deg, -90 * SQUARES_PER_DEG, 90 * SQUARES_PER_DEG - 1);
    int64_t col = square(center.lon_deg, -180 * SQUARES_PER_DEG,
                         180 * SQUARES_PER_DEG - 1);
    uint64_t key =
        ((uint64_t)minute & ((UINT64_C(1) << KEY_MINUTE_BITS) - 1)) << 38 |
        (uint64_t)(row + 90 * SQUARES_PER_DEG) << 20 |
        (uint64_t)(col + 180 * SQUARES_PER_DEG) << 1 | (uint64_t)found;
    s->stats.searches++;
    uintptr_t at = (uintptr_t)imap_get(&s->search_keys, key);
    if (at) {
        struct store_search *a = &s->search_v[at - 1];
        if (a->n < UINT32_MAX)
            a->n++;
        return;
    }
    struct store_search a = {
        .ts_ms = minute * MINUTE_MS,
        .lat = ((double)row + 0.5) / SQUARES_PER_DEG,
        .lon = ((double)col + 0.5) / SQUARES_PER_DEG,
        .found = found,
        .n = 1,
    };
    VEC_PUSH(s->search_v, s->nsearch, s->capsearch, a);
    imap_put(&s->search_keys, key, (void *)(uintptr_t)s->nsearch);
    if (s->nsearch >= SEARCH_OPEN_MAX)
        svc__searchlog_flush(s);
}

void svc__searchlog_flush(struct svc *s)
{
    if (!s->nsearch)
        return;
    struct store_op op = {.kind = STORE_OP_SEARCHES,
                          .u.searches = {s->search_v, s->nsearch}};
    s->stats.search_rows += s->nsearch;
    /* The writer owns the aggregates now, whatever submit returns. */
    s->search_v = NULL;
    s->nsearch = s->capsearch = 0;
    imap_release(&s->search_keys);
    uint64_t lsn = store_writer_submit(s->writer, &op, 1);
    if (lsn > s->submitted_lsn)
        s->submitted_lsn = lsn;
}

/*
 * The delay to the next multiple of the flush interval in wall-clock time:
 * with the default minute the log is written just after each minute ends,
 * so an aggregate is nearly always written whole, as one row.
 */
static int64_t flush_delay_ms(const struct svc *s)
{
    int64_t every =
        s->cfg.search_flush_ms > 0 ? s->cfg.search_flush_ms : MINUTE_MS;
    return every - clock_wall_ms() % every;
}

static void on_search_flush(struct net_timer *t)
{
    struct svc *s = t->ctx;
    svc__searchlog_flush(s);
    net_timer_start(s->loop, t, flush_delay_ms(s), on_search_flush, s);
}

static void on_demand_prune(struct net_timer *t)
{
    struct svc *s = t->ctx;
    struct store_op op = {.kind = STORE_OP_DEMAND_PRUNE,
                          .u.before_ms =
                              clock_wall_ms() - s->cfg.demand_retention_ms};
    uint64_t lsn = store_writer_submit(s->writer, &op, 1);
    if (lsn > s->submitted_lsn)
        s->submitted_lsn = lsn;
    net_timer_start(s->loop, t, DEMAND_PRUNE_INTERVAL_MS, on_demand_prune, s);
}

void svc__searchlog_start(struct svc *s)
{
    net_timer_start(s->loop, &s->search_timer, flush_delay_ms(s),
                    on_search_flush, s);
    net_timer_start(s->loop, &s->demand_prune_timer, 0, on_demand_prune, s);
}

void svc__searchlog_stop(struct svc *s)
{
    net_timer_stop(s->loop, &s->search_timer);
    net_timer_stop(s->loop, &s->demand_prune_timer);
    svc__searchlog_flush(s);
}
