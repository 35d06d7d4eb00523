/* SPDX-License-Identifier: MIT */
/*
 * The live world: containers, lookups, and the ride rules. Each mutation
 * marks its records dirty once and appends them to the change list.
 */
#include "base/sys.h"
#include "core/world.h"
#include "base/imap.h"
#include "base/smap.h"
#include "base/vec.h"
#include "core/reward.h"

#include <stdio.h>

/* Room for "<rider id>/<key>": 20 digits, a slash, the key. */
#define IDEM_MAP_KEY_MAX (21 + CORE_IDEM_KEY_MAX)

/* Bike records are kept in blocks of this many, by id: no pointer array,
 * no heap chunk each (docs: bench/RESULTS.md, memory per bike). */
#define BIKE_BLOCK 4096

struct wbike {
    struct core_bike b;
    bool dirty;
};

struct wrider {
    struct core_rider r;
    bool dirty;
};

struct wtrip {
    struct core_trip t;
    char idem_map_key[IDEM_MAP_KEY_MAX + 1];
    bool dirty;
    bool retired;
};

struct wres {
    struct core_reservation r;
    bool dirty;
    bool retired;
};

/*
 * The QR-code map: open addressing over (hash, record), the key read from
 * the record (16 bytes a slot, where an smap slot holds the key too).
 * Codes are never removed or changed, so there are no tombstones.
 */
struct qr_slot {
    uint64_t hash;
    struct wbike *wb; /* NULL: empty */
};

struct core_world {
    struct wbike **bike_blocks; /* record of id at [(id-1) / BIKE_BLOCK]
                                   [(id-1) % BIKE_BLOCK]; id 0 there: a gap */
    size_t nbikes;              /* the highest id */
    size_t nblocks, capblocks;
    struct imap bike_by_imei;
    struct qr_slot *qr_slots; /* NULL until the first bike */
    size_t qr_cap, qr_count;  /* qr_cap a power of two */

    struct wrider **riders; /* index id - 1 */
    size_t nriders, capriders;
    struct smap rider_by_token;

    struct imap trips;     /* id -> wtrip, active and retired */
    struct smap trip_idem; /* "<rider>/<key>" -> wtrip */
    struct wtrip **retired_trips;
    size_t nretired_trips, capretired_trips;
    int64_t next_trip_id;

    struct imap reservations; /* id -> wres, active and retired */
    struct wres **retired_res;
    size_t nretired_res, capretired_res;
    int64_t next_res_id;

    struct core_pricing *plans; /* index version - 1 */
    size_t nplans, capplans;

    struct core_change *changes;
    size_t nchanges, capchanges;
};

#define WBIKE(p) ((struct wbike *)((char *)(p)-offsetof(struct wbike, b)))
#define WRIDER(p) ((struct wrider *)((char *)(p)-offsetof(struct wrider, r)))
#define WTRIP(p) ((struct wtrip *)((char *)(p)-offsetof(struct wtrip, t)))
#define WRES(p) ((struct wres *)((char *)(p)-offsetof(struct wres, r)))

struct core_world *core_world_new(void)
{
    struct core_world *w = xcalloc(1, sizeof(*w));
    imap_init(&w->bike_by_imei);
    smap_init(&w->rider_by_token);
    imap_init(&w->trips);
    smap_init(&w->trip_idem);
    imap_init(&w->reservations);
    w->next_trip_id = 1;
    w->next_res_id = 1;
    struct core_pricing p;
    core_pricing_default(&p);
    p.version = 1;
    VEC_PUSH(w->plans, w->nplans, w->capplans, p);
    return w;
}

void core_world_free(struct core_world *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->nblocks; i++)
        xfree(w->bike_blocks[i]);
    for (size_t i = 0; i < w->nriders; i++)
        xfree(w->riders[i]);
    size_t pos = 0;
    uint64_t key;
    void *val;
    while (imap_next(&w->trips, &pos, &key, &val))
        xfree(val);
    pos = 0;
    while (imap_next(&w->reservations, &pos, &key, &val))
        xfree(val);
    xfree(w->bike_blocks);
    xfree(w->qr_slots);
    xfree(w->riders);
    xfree(w->retired_trips);
    xfree(w->retired_res);
    xfree(w->plans);
    xfree(w->changes);
    imap_release(&w->bike_by_imei);
    smap_release(&w->rider_by_token);
    imap_release(&w->trips);
    smap_release(&w->trip_idem);
    imap_release(&w->reservations);
    xfree(w);
}

/* Change tracking */

static void push_change(struct core_world *w, struct core_change c)
{
    VEC_PUSH(w->changes, w->nchanges, w->capchanges, c);
}

static void touch_bike(struct core_world *w, struct core_bike *b)
{
    struct wbike *wb = WBIKE(b);
    if (!wb->dirty) {
        wb->dirty = true;
        push_change(w, (struct core_change){CORE_CH_BIKE, {.bike = b}});
    }
}

static void touch_rider(struct core_world *w, struct core_rider *r)
{
    struct wrider *wr = WRIDER(r);
    if (!wr->dirty) {
        wr->dirty = true;
        push_change(w, (struct core_change){CORE_CH_RIDER, {.rider = r}});
    }
}

static void touch_trip(struct core_world *w, struct core_trip *t)
{
    struct wtrip *wt = WTRIP(t);
    if (!wt->dirty) {
        wt->dirty = true;
        push_change(w, (struct core_change){CORE_CH_TRIP, {.trip = t}});
    }
}

static void touch_res(struct core_world *w, struct core_reservation *r)
{
    struct wres *wr = WRES(r);
    if (!wr->dirty) {
        wr->dirty = true;
        push_change(w, (struct core_change){CORE_CH_RESERVATION, {.res = r}});
    }
}

size_t core_world_changes(const struct core_world *w,
                          const struct core_change **out)
{
    *out = w->changes;
    return w->nchanges;
}

void core_world_changes_clear(struct core_world *w)
{
    for (size_t i = 0; i < w->nchanges; i++) {
        struct core_change *c = &w->changes[i];
        switch (c->kind) {
        case CORE_CH_BIKE:
            WBIKE(c->u.bike)->dirty = false;
            break;
        case CORE_CH_RIDER:
            WRIDER(c->u.rider)->dirty = false;
            break;
        case CORE_CH_TRIP:
            WTRIP(c->u.trip)->dirty = false;
            break;
        case CORE_CH_RESERVATION:
            WRES(c->u.res)->dirty = false;
            break;
        case CORE_CH_CHARGE:
        case CORE_CH_PRICING:
        case CORE_CH_EVENT:
            break;
        }
    }
    w->nchanges = 0;
}

/*
 * Moves bike b through event e, recording the event. The caller has checked
 * that the transition is legal, so a failure here is a bug.
 */
static void bike_apply(struct core_world *w, struct core_bike *b,
                       enum core_vevent e, int64_t now_ms)
{
    enum core_vstate to;
    if (core_vstate_next(b->state, e, &to, NULL) != ERR_OK)
        BUG("illegal transition %s --%s->", core_vstate_name(b->state),
            core_vevent_name(e));
    b->state = to;
    touch_bike(w, b);
    struct core_vehicle_event ev = {.bike_id = b->id,
                                    .event = e,
                                    .state = to,
                                    .ts_ms = now_ms,
                                    .pos = b->pos,
                                    .trip_id = b->trip_id};
    push_change(w, (struct core_change){CORE_CH_EVENT, {.event = ev}});
}

/* Lookups */

/* The record of bike id, or NULL. */
static struct wbike *bike_rec(const struct core_world *w, int64_t id)
{
    if (id < 1 || (uint64_t)id > w->nbikes)
        return NULL;
    size_t i = (size_t)id - 1;
    struct wbike *wb = &w->bike_blocks[i / BIKE_BLOCK][i % BIKE_BLOCK];
    return wb->b.id ? wb : NULL;
}

struct core_bike *core_world_bike(const struct core_world *w, int64_t id)
{
    struct wbike *wb = bike_rec(w, id);
    return wb ? &wb->b : NULL;
}

struct core_bike *core_world_bike_by_imei(const struct core_world *w,
                                          uint64_t imei)
{
    struct wbike *wb = imap_get(&w->bike_by_imei, imei);
    return wb ? &wb->b : NULL;
}

struct core_bike *core_world_bike_by_qr(const struct core_world *w,
                                        struct str qr)
{
    if (!w->qr_cap)
        return NULL;
    uint64_t h = smap_hash(qr.ptr, qr.len);
    size_t mask = w->qr_cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        const struct qr_slot *sl = &w->qr_slots[i];
        if (!sl->wb)
            return NULL;
        if (sl->hash == h && str_eq(str_from_cstr(sl->wb->b.qr_code), qr))
            return &sl->wb->b;
    }
}

static void qr_insert(struct qr_slot *slots, size_t cap, uint64_t h,
                      struct wbike *wb)
{
    size_t mask = cap - 1, i = (size_t)h & mask;
    while (slots[i].wb)
        i = (i + 1) & mask;
    slots[i] = (struct qr_slot){h, wb};
}

/* Adds wb under its QR code (not there yet), keeping the load <= 3/4. */
static void qr_put(struct core_world *w, struct wbike *wb)
{
    if ((w->qr_count + 1) * 4 > w->qr_cap * 3) {
        size_t cap = w->qr_cap ? w->qr_cap * 2 : 64;
        struct qr_slot *slots = xcalloc(cap, sizeof(*slots));
        for (size_t i = 0; i < w->qr_cap; i++) {
            if (w->qr_slots[i].wb)
                qr_insert(slots, cap, w->qr_slots[i].hash, w->qr_slots[i].wb);
        }
        xfree(w->qr_slots);
        w->qr_slots = slots;
        w->qr_cap = cap;
    }
    const char *qr = wb->b.qr_code;
    qr_insert(w->qr_slots, w->qr_cap, smap_hash(qr, strlen(qr)), wb);
    w->qr_count++;
}

int64_t core_world_bike_max_id(const struct core_world *w)
{
    return (int64_t)w->nbikes;
}

struct core_rider *core_world_rider(const struct core_world *w, int64_t id)
{
    if (id < 1 || (uint64_t)id > w->nriders || !w->riders[id - 1])
        return NULL;
    return &w->riders[id - 1]->r;
}

size_t core_world_rider_count(const struct core_world *w)
{
    size_t n = 0;
    for (size_t i = 0; i < w->nriders; i++)
        n += w->riders[i] != NULL;
    return n;
}

static struct str hash_key(const unsigned char *hash)
{
    return (struct str){(const char *)hash, CORE_TOKEN_HASH_BYTES};
}

struct core_rider *
core_world_rider_by_token(const struct core_world *w,
                          const unsigned char hash[CORE_TOKEN_HASH_BYTES])
{
    struct wrider *wr = smap_get(&w->rider_by_token, hash_key(hash));
    return wr ? &wr->r : NULL;
}

struct core_trip *core_world_trip(const struct core_world *w, int64_t id)
{
    struct wtrip *wt = imap_get(&w->trips, (uint64_t)id);
    return wt ? &wt->t : NULL;
}

static size_t idem_map_key(char *out, size_t cap, int64_t rider_id,
                           struct str key)
{
    int n =
        snprintf(out, cap, "%" PRId64 "/%.*s", rider_id, (int)key.len, key.ptr);
    ASSERT(n > 0 && (size_t)n < cap);
    return (size_t)n;
}

struct core_trip *core_world_trip_by_idem(const struct core_world *w,
                                          int64_t rider_id, struct str key)
{
    char buf[IDEM_MAP_KEY_MAX + 1];
    if (key.len == 0 || key.len > CORE_IDEM_KEY_MAX)
        return NULL;
    size_t n = idem_map_key(buf, sizeof(buf), rider_id, key);
    struct wtrip *wt = smap_get(&w->trip_idem, (struct str){buf, n});
    return wt ? &wt->t : NULL;
}

struct core_reservation *core_world_reservation(const struct core_world *w,
                                                int64_t id)
{
    struct wres *wr = imap_get(&w->reservations, (uint64_t)id);
    return wr ? &wr->r : NULL;
}

const struct core_pricing *core_world_pricing(const struct core_world *w)
{
    return &w->plans[w->nplans - 1];
}

const struct core_pricing *
core_world_pricing_version(const struct core_world *w, int64_t version)
{
    if (version < 1 || (uint64_t)version > w->nplans)
        return NULL;
    return &w->plans[version - 1];
}

/* Restore */

/* The zeroed record for a new bike id (not taken), blocks made as needed. */
static struct wbike *new_bike_rec(struct core_world *w, int64_t id)
{
    size_t i = (size_t)id - 1;
    while (w->nblocks <= i / BIKE_BLOCK) {
        VEC_PUSH(w->bike_blocks, w->nblocks, w->capblocks,
                 xcalloc(BIKE_BLOCK, sizeof(struct wbike)));
    }
    w->nbikes = MAX(w->nbikes, i + 1);
    return &w->bike_blocks[i / BIKE_BLOCK][i % BIKE_BLOCK];
}

/* Makes the filled record wb findable by IMEI and QR code. */
static void index_bike(struct core_world *w, struct wbike *wb)
{
    imap_put(&w->bike_by_imei, wb->b.imei, wb);
    qr_put(w, wb);
}

enum err core_world_restore_bike(struct core_world *w,
                                 const struct core_bike *b)
{
    if (b->id < 1 || core_world_bike(w, b->id) ||
        core_world_bike_by_imei(w, b->imei) ||
        core_world_bike_by_qr(w, str_from_cstr(b->qr_code)))
        return ERR_CONFLICT;
    struct wbike *wb = new_bike_rec(w, b->id);
    wb->b = *b;
    wb->b.trip_id = 0;
    wb->b.reservation_id = 0;
    index_bike(w, wb);
    return ERR_OK;
}

static void put_rider(struct core_world *w, struct wrider *wr)
{
    size_t idx = (size_t)wr->r.id - 1;
    while (w->nriders <= idx) {
        VEC_PUSH(w->riders, w->nriders, w->capriders, NULL);
    }
    w->riders[idx] = wr;
    smap_put(&w->rider_by_token, hash_key(wr->r.token_hash), wr);
}

enum err core_world_restore_rider(struct core_world *w,
                                  const struct core_rider *r)
{
    if (r->id < 1 || core_world_rider(w, r->id) ||
        core_world_rider_by_token(w, r->token_hash))
        return ERR_CONFLICT;
    struct wrider *wr = xcalloc(1, sizeof(*wr));
    wr->r = *r;
    wr->r.trip_id = 0;
    wr->r.reservation_id = 0;
    put_rider(w, wr);
    return ERR_OK;
}

enum err core_world_restore_reservation(struct core_world *w,
                                        const struct core_reservation *r)
{
    struct core_rider *rider = core_world_rider(w, r->rider_id);
    struct core_bike *bike = core_world_bike(w, r->bike_id);
    if (!rider || !bike)
        return ERR_NOT_FOUND;
    if (r->state != CORE_RES_ACTIVE || core_world_reservation(w, r->id) ||
        rider->reservation_id || bike->reservation_id)
        return ERR_CONFLICT;
    struct wres *wr = xcalloc(1, sizeof(*wr));
    wr->r = *r;
    imap_put(&w->reservations, (uint64_t)r->id, wr);
    rider->reservation_id = r->id;
    bike->reservation_id = r->id;
    if (r->id >= w->next_res_id)
        w->next_res_id = r->id + 1;
    return ERR_OK;
}

static void index_idem(struct core_world *w, struct wtrip *wt)
{
    struct str key = str_from_cstr(wt->t.idem_key);
    if (key.len == 0)
        return;
    size_t n = idem_map_key(wt->idem_map_key, sizeof(wt->idem_map_key),
                            wt->t.rider_id, key);
    smap_put(&w->trip_idem, (struct str){wt->idem_map_key, n}, wt);
}

enum err core_world_restore_trip(struct core_world *w,
                                 const struct core_trip *t)
{
    struct core_rider *rider = core_world_rider(w, t->rider_id);
    struct core_bike *bike = core_world_bike(w, t->bike_id);
    if (!rider || !bike)
        return ERR_NOT_FOUND;
    if (!core_trip_is_active(t) || core_world_trip(w, t->id) ||
        rider->trip_id || bike->trip_id)
        return ERR_CONFLICT;
    struct wtrip *wt = xcalloc(1, sizeof(*wt));
    wt->t = *t;
    imap_put(&w->trips, (uint64_t)t->id, wt);
    index_idem(w, wt);
    rider->trip_id = t->id;
    bike->trip_id = t->id;
    if (t->id >= w->next_trip_id)
        w->next_trip_id = t->id + 1;
    return ERR_OK;
}

enum err core_world_restore_pricing(struct core_world *w,
                                    const struct core_pricing *p)
{
    /* Version 1 replaces the built-in default; later ones must follow. */
    if (p->version == 1) {
        w->plans[0] = *p;
        return ERR_OK;
    }
    if (p->version != (int64_t)w->nplans + 1)
        return ERR_CONFLICT;
    VEC_PUSH(w->plans, w->nplans, w->capplans, *p);
    return ERR_OK;
}

void core_world_restore_ids(struct core_world *w, int64_t max_trip_id,
                            int64_t max_reservation_id)
{
    if (max_trip_id >= w->next_trip_id)
        w->next_trip_id = max_trip_id + 1;
    if (max_reservation_id >= w->next_res_id)
        w->next_res_id = max_reservation_id + 1;
}

/* Rules */

enum err core_world_add_bike(struct core_world *w, struct str qr, uint64_t imei,
                             enum core_vtype vtype, struct geo_latlng pos,
                             int64_t now_ms, struct core_bike **out,
                             struct err_detail *d)
{
    enum err e = core_qr_validate(qr, d);
    if (e != ERR_OK)
        return e;
    if (!geo_latlng_is_valid(pos))
        return err_set(d, ERR_INVALID, "lat", "not a valid position");
    if ((unsigned)vtype >= CORE_VT_COUNT)
        return err_set(d, ERR_INVALID, "vehicle_type", "unknown type");
    if (core_world_bike_by_qr(w, qr))
        return err_setc(d, ERR_CONFLICT, "qr_code_taken", "qr_code",
                        "another bike has qr_code '%.*s'", (int)qr.len, qr.ptr);
    if (core_world_bike_by_imei(w, imei))
        return err_setc(d, ERR_CONFLICT, "lock_imei_taken", "lock_imei",
                        "another bike has lock %015" PRIu64, imei);
    struct wbike *wb = new_bike_rec(w, (int64_t)w->nbikes + 1);
    struct core_bike *b = &wb->b;
    b->id = (int64_t)w->nbikes;
    memcpy(b->qr_code, qr.ptr, qr.len);
    b->imei = imei;
    b->vtype = vtype;
    b->state = CORE_VS_AVAILABLE;
    b->pos = pos;
    b->battery_pct = -1;
    b->created_ms = now_ms;
    index_bike(w, wb);
    touch_bike(w, b);
    *out = b;
    return ERR_OK;
}

enum err core_world_add_rider(struct core_world *w,
                              const unsigned char hash[CORE_TOKEN_HASH_BYTES],
                              int64_t now_ms, struct core_rider **out,
                              struct err_detail *d)
{
    if (core_world_rider_by_token(w, hash))
        return err_set(d, ERR_CONFLICT, "token", "token already in use");
    struct wrider *wr = xcalloc(1, sizeof(*wr));
    wr->r.id = (int64_t)w->nriders + 1;
    memcpy(wr->r.token_hash, hash, CORE_TOKEN_HASH_BYTES);
    wr->r.created_ms = now_ms;
    put_rider(w, wr);
    touch_rider(w, &wr->r);
    *out = &wr->r;
    return ERR_OK;
}

enum err core_world_reserve(struct core_world *w, struct core_rider *rider,
                            struct core_bike *bike, int64_t now_ms,
                            int64_t hold_ms, struct core_reservation **out,
                            struct err_detail *d)
{
    if (rider->trip_id)
        return err_setc(d, ERR_CONFLICT, "rider_on_trip", "",
                        "you are on a trip already");
    if (rider->reservation_id)
        return err_setc(d, ERR_CONFLICT, "reservation_exists", "",
                        "you hold reservation %" PRId64 " already",
                        rider->reservation_id);
    if (bike->state != CORE_VS_AVAILABLE)
        return err_setc(d, ERR_CONFLICT, "bike_unavailable", "bike_id",
                        "bike %" PRId64 " is not available", bike->id);
    struct wres *wr = xcalloc(1, sizeof(*wr));
    struct core_reservation *r = &wr->r;
    r->id = w->next_res_id++;
    r->rider_id = rider->id;
    r->bike_id = bike->id;
    r->state = CORE_RES_ACTIVE;
    r->created_ms = now_ms;
    r->expires_ms = now_ms + hold_ms;
    imap_put(&w->reservations, (uint64_t)r->id, wr);
    rider->reservation_id = r->id;
    bike->reservation_id = r->id;
    touch_res(w, r);
    touch_rider(w, rider);
    bike_apply(w, bike, CORE_VE_RESERVATION_START, now_ms);
    *out = r;
    return ERR_OK;
}

/* Ends res as `how`, releasing rider and bike; the caller checked state. */
static void res_finish(struct core_world *w, struct core_reservation *res,
                       enum core_res_state how, int64_t now_ms)
{
    res->state = how;
    res->ended_ms = now_ms;
    touch_res(w, res);
    struct core_rider *rider = core_world_rider(w, res->rider_id);
    if (ALWAYS(rider) && rider->reservation_id == res->id) {
        rider->reservation_id = 0;
        touch_rider(w, rider);
    }
    struct core_bike *bike = core_world_bike(w, res->bike_id);
    if (ALWAYS(bike) && bike->reservation_id == res->id) {
        bike->reservation_id = 0;
        if (how != CORE_RES_USED)
            bike_apply(w, bike, CORE_VE_RESERVATION_CANCEL, now_ms);
        else
            touch_bike(w, bike);
    }
    struct wres *wr = WRES(res);
    wr->retired = true;
    VEC_PUSH(w->retired_res, w->nretired_res, w->capretired_res, wr);
}

enum err core_world_reservation_end(struct core_world *w,
                                    struct core_reservation *res,
                                    enum core_res_state how, int64_t now_ms,
                                    struct err_detail *d)
{
    if (how != CORE_RES_CANCELLED && how != CORE_RES_EXPIRED)
        return err_set(d, ERR_INVALID, "state",
                       "a reservation ends as cancelled or expired");
    if (res->state != CORE_RES_ACTIVE)
        return err_setc(d, ERR_CONFLICT, "reservation_not_active", "",
                        "reservation %" PRId64 " is %s already", res->id,
                        core_res_state_name(res->state));
    res_finish(w, res, how, now_ms);
    return ERR_OK;
}

enum err core_world_trip_start(struct core_world *w, struct core_rider *rider,
                               struct core_bike *bike, struct str idem_key,
                               int64_t now_ms, struct core_trip **out,
                               struct err_detail *d)
{
    if (idem_key.len) {
        enum err e = core_idem_key_validate(idem_key, d);
        if (e != ERR_OK)
            return e;
    }
    if (rider->trip_id)
        return err_setc(d, ERR_CONFLICT, "rider_on_trip", "",
                        "you are on trip %" PRId64 " already", rider->trip_id);
    bool own_reservation = bike->state == CORE_VS_RESERVED &&
                           bike->reservation_id == rider->reservation_id &&
                           rider->reservation_id != 0;
    if (bike->state != CORE_VS_AVAILABLE && !own_reservation)
        return err_setc(d, ERR_CONFLICT, "bike_unavailable", "bike_id",
                        "bike %" PRId64 " is not available", bike->id);
    if (rider->reservation_id) {
        struct core_reservation *res =
            core_world_reservation(w, rider->reservation_id);
        if (ALWAYS(res))
            res_finish(w, res,
                       own_reservation ? CORE_RES_USED : CORE_RES_CANCELLED,
                       now_ms);
    }
    struct wtrip *wt = xcalloc(1, sizeof(*wt));
    struct core_trip *t = &wt->t;
    t->id = w->next_trip_id++;
    t->rider_id = rider->id;
    t->bike_id = bike->id;
    t->state = CORE_TRIP_UNLOCKING;
    if (idem_key.len)
        memcpy(t->idem_key, idem_key.ptr, idem_key.len);
    t->requested_ms = now_ms;
    t->start_pos = bike->pos;
    const struct core_pricing *plan = core_world_pricing(w);
    t->pricing_version = plan->version;
    memcpy(t->currency, plan->currency, sizeof(t->currency));
    imap_put(&w->trips, (uint64_t)t->id, wt);
    index_idem(w, wt);
    rider->trip_id = t->id;
    bike->trip_id = t->id;
    touch_trip(w, t);
    touch_rider(w, rider);
    bike_apply(w, bike, CORE_VE_TRIP_START, now_ms);
    *out = t;
    return ERR_OK;
}

enum err core_world_trip_unlocked(struct core_world *w, struct core_trip *t,
                                  int64_t now_ms, struct err_detail *d)
{
    if (t->state != CORE_TRIP_UNLOCKING)
        return err_setc(d, ERR_CONFLICT, "trip_not_unlocking", "",
                        "trip %" PRId64 " is %s", t->id,
                        core_trip_state_name(t->state));
    struct core_bike *bike = core_world_bike(w, t->bike_id);
    t->state = CORE_TRIP_RIDING;
    t->started_ms = now_ms;
    if (ALWAYS(bike))
        t->start_pos = bike->pos;
    touch_trip(w, t);
    return ERR_OK;
}

/* Releases the trip's rider and bike and retires it; state already final. */
static void trip_finish(struct core_world *w, struct core_trip *t,
                        enum core_vevent e, int64_t now_ms)
{
    struct core_rider *rider = core_world_rider(w, t->rider_id);
    if (ALWAYS(rider) && rider->trip_id == t->id) {
        rider->trip_id = 0;
        touch_rider(w, rider);
    }
    struct core_bike *bike = core_world_bike(w, t->bike_id);
    if (ALWAYS(bike) && bike->trip_id == t->id) {
        bike_apply(w, bike, e, now_ms);
        bike->trip_id = 0;
    }
    touch_trip(w, t);
    struct wtrip *wt = WTRIP(t);
    wt->retired = true;
    VEC_PUSH(w->retired_trips, w->nretired_trips, w->capretired_trips, wt);
}

static void set_reason(struct core_trip *t, const char *reason)
{
    snprintf(t->reason, sizeof(t->reason), "%s", reason);
}

enum err core_world_trip_fail(struct core_world *w, struct core_trip *t,
                              const char *reason, int64_t now_ms,
                              struct err_detail *d)
{
    if (t->state != CORE_TRIP_UNLOCKING)
        return err_setc(d, ERR_CONFLICT, "trip_not_unlocking", "",
                        "trip %" PRId64 " is %s", t->id,
                        core_trip_state_name(t->state));
    t->state = CORE_TRIP_FAILED;
    t->ended_ms = now_ms;
    set_reason(t, reason);
    struct core_bike *bike = core_world_bike(w, t->bike_id);
    if (ALWAYS(bike))
        t->end_pos = bike->pos;
    trip_finish(w, t, CORE_VE_TRIP_CANCEL, now_ms);
    return ERR_OK;
}

enum err core_world_trip_end(struct core_world *w, struct core_trip *t,
                             const char *reason, bool charge, int64_t now_ms,
                             struct err_detail *d)
{
    if (t->state != CORE_TRIP_RIDING)
        return err_setc(d, ERR_CONFLICT, "trip_not_riding", "",
                        "trip %" PRId64 " is %s", t->id,
                        core_trip_state_name(t->state));
    const struct core_pricing *plan =
        core_world_pricing_version(w, t->pricing_version);
    if (NEVER(!plan))
        plan = core_world_pricing(w);
    struct core_bike *bike = core_world_bike(w, t->bike_id);
    t->state = CORE_TRIP_ENDED;
    t->ended_ms = now_ms;
    if (ALWAYS(bike)) {
        t->end_pos = bike->pos;
        bike->last_use_ms = now_ms;
    }
    set_reason(t, reason);
    t->fare_cents =
        charge ? core_pricing_fare(plan, now_ms - t->started_ms) : 0;
    t->charged = charge;
    struct core_rider *rider = core_world_rider(w, t->rider_id);
    if (charge && ALWAYS(rider)) {
        rider->balance_cents -= t->fare_cents;
        touch_rider(w, rider);
        push_change(w, (struct core_change){CORE_CH_CHARGE, {.trip = t}});
    }
    trip_finish(w, t, CORE_VE_TRIP_END, now_ms);
    return ERR_OK;
}

void core_world_bike_report(struct core_world *w, struct core_bike *bike,
                            const struct core_bike_report *r, int64_t now_ms)
{
    if (r->has_pos && geo_latlng_is_valid(r->pos)) {
        struct core_trip *t =
            bike->trip_id ? core_world_trip(w, bike->trip_id) : NULL;
        if (t && t->state == CORE_TRIP_RIDING)
            t->distance_m += geo_distance_m(bike->pos, r->pos);
        bike->pos = r->pos;
    }
    if (r->battery_pct >= 0 && r->battery_pct <= 100)
        bike->battery_pct = r->battery_pct;
    if (r->lock_closed >= 0)
        bike->lock_closed = r->lock_closed == 1;
    bike->last_report_ms = now_ms;
    if (bike->state == CORE_VS_MISSING)
        bike_apply(w, bike, CORE_VE_COMMS_RESTORED, now_ms);
}

enum err core_world_bike_event(struct core_world *w, struct core_bike *bike,
                               enum core_vevent e, int64_t now_ms,
                               struct err_detail *d)
{
    switch (e) {
    case CORE_VE_MAINTENANCE_START:
    case CORE_VE_MAINTENANCE_END:
    case CORE_VE_REBALANCE_PICK_UP:
    case CORE_VE_MAINTENANCE_PICK_UP:
    case CORE_VE_PROVIDER_DROP_OFF:
    case CORE_VE_DECOMMISSIONED:
        break;
    default:
        return err_setc(d, ERR_INVALID, "event_not_allowed", "event",
                        "event '%s' comes from the ride itself",
                        core_vevent_name(e));
    }
    enum core_vstate to;
    enum err err = core_vstate_next(bike->state, e, &to, d);
    if (err != ERR_OK)
        return err;
    if (e == CORE_VE_PROVIDER_DROP_OFF)
        bike->truck_id = 0;
    bike_apply(w, bike, e, now_ms);
    return ERR_OK;
}

enum err core_world_crew_pick_up(struct core_world *w, struct core_bike *bike,
                                 int32_t truck_id, bool maintenance,
                                 int64_t now_ms, struct err_detail *d)
{
    if (truck_id <= 0)
        return err_set(d, ERR_INVALID, "truck_id", "truck ids start at 1");
    enum core_vevent e =
        maintenance ? CORE_VE_MAINTENANCE_PICK_UP : CORE_VE_REBALANCE_PICK_UP;
    enum core_vstate to;
    enum err err = core_vstate_next(bike->state, e, &to, d);
    if (err != ERR_OK)
        return err;
    bike->truck_id = truck_id;
    bike->last_use_ms = now_ms;
    bike_apply(w, bike, e, now_ms);
    return ERR_OK;
}

enum err core_world_crew_drop_off(struct core_world *w, struct core_bike *bike,
                                  int32_t truck_id, struct geo_latlng pos,
                                  int64_t now_ms, struct err_detail *d)
{
    if (truck_id <= 0)
        return err_set(d, ERR_INVALID, "truck_id", "truck ids start at 1");
    if (!geo_latlng_is_valid(pos))
        return err_set(d, ERR_INVALID, "lat", "not a valid position");
    if (bike->state != CORE_VS_REMOVED || bike->truck_id != truck_id)
        return err_setc(d, ERR_CONFLICT, "not_on_truck", "bike_id",
                        "bike %" PRId64 " is not on truck %" PRId32, bike->id,
                        truck_id);
    bike->pos = pos;
    bike->truck_id = 0;
    bike->alarms = 0;
    bike->last_use_ms = now_ms;
    bike_apply(w, bike, CORE_VE_PROVIDER_DROP_OFF, now_ms);
    return ERR_OK;
}

void core_world_bike_inspected(struct core_world *w, struct core_bike *bike,
                               int64_t now_ms)
{
    bike->alarms = 0;
    bike->last_use_ms = now_ms;
    touch_bike(w, bike);
}

void core_world_bike_alarm(struct core_world *w, struct core_bike *bike,
                           uint8_t raise, uint8_t clear)
{
    uint8_t next = (uint8_t)((bike->alarms | raise) & ~clear);
    if (next != bike->alarms) {
        bike->alarms = next;
        touch_bike(w, bike);
    }
}

void core_world_trip_reward(struct core_world *w, struct core_trip *t,
                            const struct core_reward_rules *rules,
                            bool ended_in_deficit)
{
    if (t->reward_offer_cents <= 0 || t->state != CORE_TRIP_ENDED)
        return;
    struct core_rider *rider = core_world_rider(w, t->rider_id);
    if (NEVER(!rider))
        return;
    enum core_reward_verdict v =
        core_reward_judge(rules, t, rider, ended_in_deficit);
    snprintf(t->reward_note, sizeof(t->reward_note), "%s",
             core_reward_verdict_name(v));
    touch_trip(w, t);
    if (v != CORE_REWARD_GRANTED)
        return;
    int64_t day = core_reward_day(rules, t->ended_ms);
    if (rider->reward_day != day) {
        rider->reward_day = day;
        rider->rewards_today = 0;
    }
    rider->rewards_today++;
    t->reward_cents = t->reward_offer_cents;
    rider->balance_cents += t->reward_cents;
    touch_rider(w, rider);
}

size_t core_world_mark_missing(struct core_world *w, int64_t now_ms,
                               int64_t silent_ms)
{
    size_t n = 0;
    for (int64_t id = 1; id <= (int64_t)w->nbikes; id++) {
        struct wbike *wb = bike_rec(w, id);
        if (!wb)
            continue;
        struct core_bike *b = &wb->b;
        int64_t seen = b->last_report_ms ? b->last_report_ms : b->created_ms;
        enum core_vstate to;
        if (now_ms - seen > silent_ms &&
            core_vstate_next(b->state, CORE_VE_COMMS_LOST, &to, NULL) ==
                ERR_OK) {
            bike_apply(w, b, CORE_VE_COMMS_LOST, now_ms);
            n++;
        }
    }
    return n;
}

enum err core_world_set_pricing(struct core_world *w,
                                const struct core_pricing *p, int64_t now_ms,
                                const struct core_pricing **out,
                                struct err_detail *d)
{
    enum err e = core_pricing_validate(p, d);
    if (e != ERR_OK)
        return e;
    struct core_pricing np = *p;
    np.version = (int64_t)w->nplans + 1;
    np.created_ms = now_ms;
    VEC_PUSH(w->plans, w->nplans, w->capplans, np);
    const struct core_pricing *cur = core_world_pricing(w);
    push_change(w, (struct core_change){CORE_CH_PRICING, {.pricing = cur}});
    *out = cur;
    return ERR_OK;
}

void core_world_collect(struct core_world *w, uint64_t durable_lsn)
{
    size_t keep = 0;
    for (size_t i = 0; i < w->nretired_trips; i++) {
        struct wtrip *wt = w->retired_trips[i];
        if (wt->t.lsn == 0 || wt->t.lsn > durable_lsn || wt->dirty) {
            w->retired_trips[keep++] = wt;
            continue;
        }
        imap_del(&w->trips, (uint64_t)wt->t.id);
        if (wt->t.idem_key[0])
            smap_del(&w->trip_idem, str_from_cstr(wt->idem_map_key));
        xfree(wt);
    }
    w->nretired_trips = keep;
    keep = 0;
    for (size_t i = 0; i < w->nretired_res; i++) {
        struct wres *wr = w->retired_res[i];
        if (wr->r.lsn == 0 || wr->r.lsn > durable_lsn || wr->dirty) {
            w->retired_res[keep++] = wr;
            continue;
        }
        imap_del(&w->reservations, (uint64_t)wr->r.id);
        xfree(wr);
    }
    w->nretired_res = keep;
}
