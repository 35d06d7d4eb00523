/* SPDX-License-Identifier: MIT */
/*
 * The running service: start-up (rebuilding the world and the fleet index
 * from the store), persisting every change through the group-commit writer,
 * acting once writes are durable, timers, and authentication. The ride
 * itself (trips, reservations, lock events) is in ride.c.
 */
#include "base/sys.h"
#include "svc/svc_int.h"
#include "base/clock.h"
#include "base/log.h"
#include "gateway/gateway.h"

#include <sodium.h>
#include <stdio.h>

#define INDEX_MARGIN_DEG 0.05
#define INDEX_EMPTY_HALF_DEG 0.25

void svc_config_default(struct svc_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->reservation_hold_ms = 10 * 60 * 1000;
    cfg->unlock_timeout_ms = 30 * 1000;
    cfg->unlock_key_valid_s = 60;
    cfg->missing_after_ms = 6 * 60 * 60 * 1000;
    cfg->sweep_interval_ms = 60 * 1000;
    cfg->checkpoint_ms = 10 * 1000;
    cfg->history_flush_ms = 10 * 1000;
    cfg->history_retention_ms = 7 * 24 * 3600 * 1000LL;
    cfg->search_flush_ms = 60 * 1000;
    cfg->demand_retention_ms = 400 * 24 * 3600 * 1000LL;
    cfg->index_cell_m = GEO_INDEX_DEFAULT_CELL_M;
    svc_dispatch_config_default(&cfg->dispatch);
}

/* Durability */

/* Runs on the writer thread: publish, then wake the loop. */
static void on_commit(void *ctx, uint64_t durable_lsn, enum err err,
                      const char *msg)
{
    struct svc *s = ctx;
    if (err != ERR_OK) {
        pthread_mutex_lock(&s->fail_mu);
        snprintf(s->fail_msg, sizeof(s->fail_msg), "%s", msg ? msg : "");
        pthread_mutex_unlock(&s->fail_mu);
        atomic_store(&s->failed, true);
    } else {
        atomic_store(&s->shared_durable, durable_lsn);
        atomic_fetch_add(&s->commits, 1);
    }
    net_loop_wakeup(s->loop);
}

/* Runs on the loop thread after a commit or a failure. */
static void on_wakeup(void *ctx)
{
    struct svc *s = ctx;
    svc__dispatch_wakeup(s);
    if (atomic_load(&s->failed) && !s->stopped) {
        char msg[sizeof(s->fail_msg)];
        pthread_mutex_lock(&s->fail_mu);
        memcpy(msg, s->fail_msg, sizeof(msg));
        pthread_mutex_unlock(&s->fail_mu);
        log_emit(LOG_ERROR, "store_commit_failed",
                 LOG_FIELDS(LOG_STR("error", msg),
                            LOG_I64("durable_lsn", (int64_t)s->durable_lsn)));
        s->stopped = true;
        net_loop_stop(s->loop);
        return;
    }
    uint64_t durable = atomic_load(&s->shared_durable);
    if (durable <= s->durable_lsn)
        return;
    s->durable_lsn = durable;
    svc__run_after(s);
    core_world_collect(s->world, durable);
    if (s->on_durable)
        s->on_durable(s->on_durable_ctx, durable);
}

uint64_t svc_durable_lsn(const struct svc *s)
{
    return s->durable_lsn;
}

void svc_on_durable(struct svc *s, svc_durable_fn *fn, void *ctx)
{
    s->on_durable = fn;
    s->on_durable_ctx = ctx;
}

bool svc_has_failed(const struct svc *s)
{
    return s->stopped;
}

void svc__after(struct svc *s, uint64_t lsn, enum svc_after_kind kind,
                int64_t id, uint64_t token)
{
    struct svc_after a = {lsn, kind, id, token};
    VEC_PUSH(s->afters, s->nafters, s->capafters, a);
}

void svc__run_after(struct svc *s)
{
    /* Entries are in lsn order; run the durable prefix. */
    size_t i = 0;
    while (i < s->nafters && s->afters[i].lsn <= s->durable_lsn) {
        struct svc_after a = s->afters[i++];
        svc__after_durable(s, &a);
    }
    if (i == 0)
        return;
    memmove(s->afters, s->afters + i, (s->nafters - i) * sizeof(*s->afters));
    s->nafters -= i;
}

/* Persisting changes */

void svc__index_bike(struct svc *s, const struct core_bike *b)
{
    struct geo_index_attrs attrs = {.state = (unsigned)b->state,
                                    .type = (unsigned)b->vtype,
                                    .battery_pct = b->battery_pct};
    struct err_detail d;
    if (geo_index_put(s->index, (uint32_t)b->id, b->pos, attrs, &d) != ERR_OK)
        log_emit(
            LOG_ERROR, "index_put_failed",
            LOG_FIELDS(LOG_I64("bike_id", b->id), LOG_STR("error", d.msg)));
}

uint64_t svc__persist(struct svc *s)
{
    const struct core_change *ch;
    size_t n = core_world_changes(s->world, &ch);
    if (n == 0)
        return 0;
    s->nops = 0;
    for (size_t i = 0; i < n; i++) {
        struct store_op op = {.kind = (enum store_op_kind)ch[i].kind};
        switch (ch[i].kind) {
        case CORE_CH_BIKE:
            op.u.bike = *ch[i].u.bike;
            svc__index_bike(s, ch[i].u.bike);
            break;
        case CORE_CH_RIDER:
            op.u.rider = *ch[i].u.rider;
            break;
        case CORE_CH_TRIP:
        case CORE_CH_CHARGE:
            op.u.trip = *ch[i].u.trip;
            break;
        case CORE_CH_RESERVATION:
            op.u.res = *ch[i].u.res;
            break;
        case CORE_CH_PRICING:
            op.u.pricing = *ch[i].u.pricing;
            break;
        case CORE_CH_EVENT:
            op.u.event = ch[i].u.event;
            break;
        }
        VEC_PUSH(s->ops, s->nops, s->capops, op);
    }
    uint64_t lsn = store_writer_submit(s->writer, s->ops, s->nops);
    if (lsn == 0) {
        /* The writer failed; the wakeup stops the loop. */
        lsn = UINT64_MAX;
    }
    s->submitted_lsn = lsn == UINT64_MAX ? s->submitted_lsn : lsn;
    for (size_t i = 0; i < n; i++) {
        switch (ch[i].kind) {
        case CORE_CH_BIKE:
            ch[i].u.bike->lsn = lsn;
            break;
        case CORE_CH_RIDER:
            ch[i].u.rider->lsn = lsn;
            break;
        case CORE_CH_TRIP:
            ch[i].u.trip->lsn = lsn;
            break;
        case CORE_CH_RESERVATION:
            ch[i].u.res->lsn = lsn;
            break;
        case CORE_CH_CHARGE:
            s->stats.fare_cents_charged += (uint64_t)ch[i].u.trip->fare_cents;
            break;
        case CORE_CH_PRICING:
        case CORE_CH_EVENT:
            break;
        }
    }
    core_world_changes_clear(s->world);
    return lsn;
}

/* Start-up */

static enum err load_bike(void *ctx, const struct core_bike *b)
{
    return core_world_restore_bike(ctx, b);
}

static enum err load_rider(void *ctx, const struct core_rider *r)
{
    return core_world_restore_rider(ctx, r);
}

static enum err load_res(void *ctx, const struct core_reservation *r)
{
    return core_world_restore_reservation(ctx, r);
}

static enum err load_trip(void *ctx, const struct core_trip *t)
{
    return core_world_restore_trip(ctx, t);
}

/* Counts the stored pricing versions while restoring them. */
struct pricing_load {
    struct core_world *w;
    size_t n;
};

static enum err load_pricing(void *ctx, const struct core_pricing *p)
{
    struct pricing_load *pl = ctx;
    pl->n++;
    return core_world_restore_pricing(pl->w, p);
}

/*
 * A new database gets the built-in plan as its version 1, so that every
 * trip's pricing version names a plan stored beside it.
 */
static void store_default_pricing(struct svc *s)
{
    struct core_pricing p = *core_world_pricing(s->world);
    p.created_ms = clock_wall_ms();
    core_world_restore_pricing(s->world, &p);
    struct store_op op = {.kind = STORE_OP_PRICING, .u.pricing = p};
    s->submitted_lsn = store_writer_submit(s->writer, &op, 1);
}

static enum err load_world(struct svc *s, struct err_detail *d)
{
    int64_t max_trip = 0, max_res = 0;
    enum err e = store_load_bikes(s->store, load_bike, s->world);
    if (e == ERR_OK)
        e = store_load_riders(s->store, load_rider, s->world);
    struct pricing_load pl = {s->world, 0};
    if (e == ERR_OK)
        e = store_load_pricing(s->store, load_pricing, &pl);
    s->plans_loaded = pl.n;
    if (e == ERR_OK)
        e = store_load_active_reservations(s->store, load_res, s->world);
    if (e == ERR_OK)
        e = store_load_active_trips(s->store, load_trip, s->world);
    if (e == ERR_OK)
        e = store_max_ids(s->store, &max_trip, &max_res);
    if (e == ERR_OK)
        e = svc__locks_load(s);
    if (e != ERR_OK)
        return err_set(d, e, "", "cannot rebuild the world from '%s': %s",
                       s->cfg.db_path, err_name(e));
    core_world_restore_ids(s->world, max_trip, max_res);
    s->stats.riders = core_world_rider_count(s->world);
    return ERR_OK;
}

/* The region the fleet index covers: the service area, else the fleet. */
static struct geo_bbox index_region(struct svc *s)
{
    if (s->cfg.service_area.n) {
        struct geo_bbox b = s->cfg.service_area.bbox;
        b.min_lat_deg -= INDEX_MARGIN_DEG;
        b.min_lon_deg -= INDEX_MARGIN_DEG;
        b.max_lat_deg += INDEX_MARGIN_DEG;
        b.max_lon_deg += INDEX_MARGIN_DEG;
        return b;
    }
    struct geo_bbox b = {90, 180, -90, -180};
    int64_t max = core_world_bike_max_id(s->world);
    for (int64_t id = 1; id <= max; id++) {
        const struct core_bike *bike = core_world_bike(s->world, id);
        if (!bike)
            continue;
        b.min_lat_deg = MIN(b.min_lat_deg, bike->pos.lat_deg);
        b.max_lat_deg = MAX(b.max_lat_deg, bike->pos.lat_deg);
        b.min_lon_deg = MIN(b.min_lon_deg, bike->pos.lon_deg);
        b.max_lon_deg = MAX(b.max_lon_deg, bike->pos.lon_deg);
    }
    if (b.min_lat_deg > b.max_lat_deg)
        b = (struct geo_bbox){-INDEX_EMPTY_HALF_DEG, -INDEX_EMPTY_HALF_DEG,
                              INDEX_EMPTY_HALF_DEG, INDEX_EMPTY_HALF_DEG};
    b.min_lat_deg = MAX(-85.0, b.min_lat_deg - INDEX_MARGIN_DEG);
    b.max_lat_deg = MIN(85.0, b.max_lat_deg + INDEX_MARGIN_DEG);
    b.min_lon_deg = MAX(-180.0, b.min_lon_deg - INDEX_MARGIN_DEG);
    b.max_lon_deg = MIN(180.0, b.max_lon_deg + INDEX_MARGIN_DEG);
    return b;
}

static enum err build_index(struct svc *s, struct err_detail *d)
{
    struct geo_bbox region = index_region(s);
    double cell_m = s->cfg.index_cell_m > 0 ? s->cfg.index_cell_m
                                            : GEO_INDEX_DEFAULT_CELL_M;
    enum err e;
    /* A region too large for the cell size gets coarser cells. */
    for (;;) {
        e = geo_index_new(region, cell_m, &s->index, d);
        if (e != ERR_TOO_BIG || cell_m * 2 > GEO_INDEX_MAX_CELL_M)
            break;
        cell_m *= 2;
    }
    if (e != ERR_OK)
        return e;
    int64_t max = core_world_bike_max_id(s->world);
    for (int64_t id = 1; id <= max; id++) {
        const struct core_bike *b = core_world_bike(s->world, id);
        if (b)
            svc__index_bike(s, b);
    }
    return ERR_OK;
}

static void sweep(struct net_timer *t)
{
    struct svc *s = t->ctx;
    size_t n = core_world_mark_missing(s->world, clock_wall_ms(),
                                       s->cfg.missing_after_ms);
    if (n) {
        svc__persist(s);
        log_emit(LOG_INFO, "bikes_missing",
                 LOG_FIELDS(LOG_I64("count", (int64_t)n)));
    }
    net_timer_start(s->loop, &s->sweep, s->cfg.sweep_interval_ms, sweep, s);
}

enum err svc_new(struct net_loop *loop, const struct svc_config *cfg,
                 struct svc **out, struct err_detail *d)
{
    if (sodium_init() < 0)
        return err_set(d, ERR_INTERNAL, "", "cannot initialise libsodium");
    struct svc *s = xcalloc(1, sizeof(*s));
    s->loop = loop;
    s->cfg = *cfg;
    s->cfg.service_area = (struct geo_polygon){0};
    s->world = core_world_new();
    imap_init(&s->unlocks);
    imap_init(&s->res_timers);
    smap_init(&s->operators);
    imap_init(&s->secrets);
    imap_init(&s->search_keys);
    pthread_mutex_init(&s->fail_mu, NULL);
    atomic_init(&s->shared_durable, 0);
    atomic_init(&s->failed, false);
    atomic_init(&s->commits, 0);
    enum err e = ERR_OK;
    if (cfg->service_area.n)
        e = geo_polygon_init(&s->cfg.service_area, cfg->service_area.v,
                             cfg->service_area.n, d);
    if (e == ERR_OK)
        e = store_open(cfg->db_path, &s->store, d);
    if (e == ERR_OK)
        e = load_world(s, d);
    if (e == ERR_OK)
        e = build_index(s, d);
    if (e == ERR_OK)
        e = store_writer_start(cfg->db_path, 0, on_commit, s, &s->writer, d);
    if (e != ERR_OK) {
        svc_free(s);
        return e;
    }
    if (s->plans_loaded == 0)
        store_default_pricing(s);
    net_loop_on_wakeup(loop, on_wakeup, s);
    svc__ride_restore(s);
    svc__telemetry_start(s);
    svc__searchlog_start(s);
    svc__dispatch_start(s);
    net_timer_start(loop, &s->sweep, s->cfg.sweep_interval_ms, sweep, s);
    *out = s;
    return ERR_OK;
}

void svc_free(struct svc *s)
{
    if (!s)
        return;
    net_timer_stop(s->loop, &s->sweep);
    svc__dispatch_stop(s);
    svc__ride_release(s);
    if (s->writer) {
        svc__telemetry_stop(s);
        svc__searchlog_stop(s);
    }
    store_writer_stop(s->writer);
    net_loop_on_wakeup(s->loop, NULL, NULL);
    store_close(s->store);
    geo_index_free(s->index);
    core_world_free(s->world);
    geo_polygon_release(&s->cfg.service_area);
    size_t pos = 0;
    struct str key;
    void *val;
    while (smap_next(&s->operators, &pos, &key, &val))
        xfree(val);
    smap_release(&s->operators);
    svc__locks_release(s);
    imap_release(&s->unlocks);
    imap_release(&s->res_timers);
    imap_release(&s->search_keys);
    xfree(s->search_v);
    pthread_mutex_destroy(&s->fail_mu);
    xfree(s->afters);
    xfree(s->reported);
    xfree(s->dirty);
    xfree(s->hist);
    xfree(s->ops);
    xfree(s);
}

void svc_set_gateway(struct svc *s, struct gateway *gw)
{
    s->gw = gw;
}

/* Authentication */

void svc__token_hash(struct str token,
                     unsigned char hash[CORE_TOKEN_HASH_BYTES])
{
    crypto_generichash(hash, CORE_TOKEN_HASH_BYTES,
                       (const unsigned char *)token.ptr, token.len, NULL, 0);
}

bool svc__token_is_wellformed(struct str token)
{
    if (token.len != SVC_TOKEN_LEN - 1)
        return false;
    for (size_t i = 0; i < token.len; i++) {
        char c = token.ptr[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (!ok)
            return false;
    }
    return true;
}

void svc_token_new(char token[SVC_TOKEN_LEN],
                   unsigned char hash[CORE_TOKEN_HASH_BYTES])
{
    unsigned char raw[32];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2base64(token, SVC_TOKEN_LEN, raw, sizeof(raw),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    svc__token_hash(str_from_cstr(token), hash);
}

/* An operator token found in the store, cached by its hash. */
struct operator
{
    unsigned char hash[CORE_TOKEN_HASH_BYTES];
    int64_t id;
};

enum err svc_authenticate(struct svc *s, struct str token,
                          struct svc_principal *out)
{
    if (!svc__token_is_wellformed(token))
        return ERR_INVALID;
    unsigned char hash[CORE_TOKEN_HASH_BYTES];
    svc__token_hash(token, hash);
    const struct core_rider *r = core_world_rider_by_token(s->world, hash);
    if (r) {
        *out = (struct svc_principal){SVC_ROLE_RIDER, r->id};
        return ERR_OK;
    }
    struct str key = {(const char *)hash, sizeof(hash)};
    struct operator* op = smap_get(&s->operators, key);
    if (!op) {
        /* Operators are created by `spoke token create`, maybe just now. */
        enum store_role role;
        int64_t id;
        if (store_token_lookup(s->store, hash, &role, &id) != ERR_OK ||
            role != STORE_ROLE_OPERATOR)
            return ERR_NOT_FOUND;
        op = xmalloc(sizeof(*op));
        memcpy(op->hash, hash, sizeof(hash));
        op->id = id;
        smap_put(&s->operators,
                 (struct str){(const char *)op->hash, sizeof(op->hash)}, op);
    }
    *out = (struct svc_principal){SVC_ROLE_OPERATOR, op->id};
    return ERR_OK;
}

/* Stats */

void svc_stats(struct svc *s, struct svc_stats *out)
{
    *out = s->stats;
    int64_t max = core_world_bike_max_id(s->world);
    for (int64_t id = 1; id <= max; id++) {
        const struct core_bike *b = core_world_bike(s->world, id);
        if (b)
            out->bikes_by_state[b->state]++;
    }
    out->durable_lsn = s->durable_lsn;
    out->submitted_lsn = MAX(s->submitted_lsn, s->durable_lsn);
    out->commits_batches = atomic_load(&s->commits);
    if (s->gw) {
        struct gateway_stats gs;
        gateway_stats(s->gw, &gs);
        out->locks_online = gs.sessions;
        out->lock_frames = gs.frames;
    }
}
