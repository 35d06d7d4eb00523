/* SPDX-License-Identifier: MIT */
/*
 * Writes bikes of the standard fleet into a spoke database through the
 * store's public interface (store_open migrates, store_writer commits), the
 * way `spoke serve` would have stored them: ids first..first+n-1, state
 * available, a 15-digit lock IMEI and a unique QR code each, last reported
 * now (so none turns missing during a run). `make bench` uses it for the
 * 2M-bike database and for the small databases each `spoke sim locks`
 * process reads its share of the locks from.
 *   spoke_mkdb --db PATH [--bikes N] [--first ID]
 */
#include "base/sys.h"
#include "bench/common.h"
#include "base/clock.h"
#include "store/store.h"

#include <pthread.h>
#include <stdio.h>

/* Ops per submit; one batch is built while the previous one commits. */
#define BATCH 50000u

struct durable {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    uint64_t lsn;
    bool failed;
    char msg[160];
};

static void on_commit(void *ctx, uint64_t durable_lsn, enum err err,
                      const char *msg)
{
    struct durable *du = ctx;
    pthread_mutex_lock(&du->mu);
    du->lsn = durable_lsn;
    if (err != ERR_OK) {
        du->failed = true;
        snprintf(du->msg, sizeof(du->msg), "%s", msg ? msg : err_name(err));
    }
    pthread_cond_broadcast(&du->cond);
    pthread_mutex_unlock(&du->mu);
}

/* Waits until lsn is durable; exits on a failed commit. */
static void wait_durable(struct durable *du, uint64_t lsn)
{
    pthread_mutex_lock(&du->mu);
    while (du->lsn < lsn && !du->failed)
        pthread_cond_wait(&du->cond, &du->mu);
    bool failed = du->failed;
    pthread_mutex_unlock(&du->mu);
    if (failed)
        bench_die("commit failed: %s", du->msg);
}

int main(int argc, char **argv)
{
    const char *db = NULL, *bikes_s = NULL, *first_s = NULL;
    const struct bench_opt opts[] = {
        {"--db", &db}, {"--bikes", &bikes_s}, {"--first", &first_s}};
    const char *usage = "spoke_mkdb --db PATH [--bikes N] [--first ID]";
    bench_parse(argc, argv, 1, opts, ARRAY_LEN(opts), usage);
    if (!db)
        bench_die("usage: %s", usage);
    size_t n = bench_u64("--bikes", bikes_s, 2000000, 1, 10000000);
    size_t first = bench_u64("--first", first_s, 1, 1, 10000000);
    size_t last = first + n - 1;

    struct geo_latlng *fleet = bench_fleet_new(last);
    struct store *st = NULL;
    struct store_writer *w = NULL;
    struct err_detail d;
    err_clear(&d);
    if (store_open(db, &st, &d) != ERR_OK)
        bench_die("%s", d.msg);
    struct durable du = {.lsn = 0};
    pthread_mutex_init(&du.mu, NULL);
    pthread_cond_init(&du.cond, NULL);
    if (store_writer_start(db, 0, on_commit, &du, &w, &d) != ERR_OK)
        bench_die("%s", d.msg);

    double t0 = bench_now_s();
    int64_t now_ms = clock_wall_ms();
    struct store_op *ops = xcalloc(BATCH, sizeof(*ops));
    uint64_t lsn = 0;
    for (size_t id = first; id <= last;) {
        size_t k = 0;
        for (; k < BATCH && id <= last; k++, id++) {
            struct core_bike *b = &ops[k].u.bike;
            /* An int: the kind's enum type differs between store versions. */
            ops[k].kind = (int)CORE_CH_BIKE;
            memset(b, 0, sizeof(*b));
            b->id = (int64_t)id;
            bench_bike_qr(b->id, b->qr_code);
            b->imei = BENCH_IMEI_BASE + id;
            b->vtype =
                bench_bike_is_ebike(b->id) ? CORE_VT_EBIKE : CORE_VT_BICYCLE;
            b->state = CORE_VS_AVAILABLE;
            b->pos = fleet[id - 1];
            b->battery_pct = 80;
            b->last_report_ms = now_ms;
            b->lock_closed = true;
            b->created_ms = now_ms;
        }
        uint64_t l = store_writer_submit(w, ops, k);
        if (l == 0) {
            wait_durable(&du, UINT64_MAX);
            bench_die("the store writer stopped");
        }
        if (lsn)
            wait_durable(&du, lsn);
        lsn = l;
    }
    wait_durable(&du, lsn);
    store_writer_stop(w);
    store_close(st);
    bench_note("mkdb: %zu bikes (ids %zu..%zu) into '%s' in %.1f s", n, first,
               last, db, bench_now_s() - t0);
    xfree(ops);
    xfree(fleet);
    pthread_cond_destroy(&du.cond);
    pthread_mutex_destroy(&du.mu);
    return 0;
}
