/* SPDX-License-Identifier: MIT */
/*
 * Which locks may connect, and how: plain Omni for locks without a key, the
 * secure dialect for locks with one (the key is made at registration), and
 * per vehicle type a policy that refuses plain locks.
 */
#include "base/sys.h"
#include "svc/svc_int.h"
#include "base/log.h"
#include "gateway/gateway.h"

#include <sodium.h>

static enum err load_secret(void *ctx, const struct store_lock_secret *rec)
{
    struct svc *s = ctx;
    const struct core_bike *b = core_world_bike(s->world, rec->bike_id);
    if (!b)
        return ERR_CONFLICT;
    struct svc_secret *sec = xmalloc(sizeof(*sec));
    sec->rec = *rec;
    imap_put(&s->secrets, b->imei, sec);
    return ERR_OK;
}

static enum err load_policy(void *ctx, const struct store_lock_policy *p)
{
    struct svc *s = ctx;
    s->require_secure[p->vtype] = p->require_secure;
    return ERR_OK;
}

enum err svc__locks_load(struct svc *s)
{
    enum err e = store_load_lock_secrets(s->store, load_secret, s);
    if (e == ERR_OK)
        e = store_load_lock_policies(s->store, load_policy, s);
    return e;
}

void svc__locks_release(struct svc *s)
{
    size_t pos = 0;
    uint64_t key;
    void *val;
    while (imap_next(&s->secrets, &pos, &key, &val))
        xfree(val);
    imap_release(&s->secrets);
}

/* Makes and stores the key of a new bike's secure lock; its write's lsn. */
uint64_t svc__lock_key_new(struct svc *s, const struct core_bike *b,
                           unsigned char key[SVC_LOCK_KEY_BYTES])
{
    struct svc_secret *sec = xcalloc(1, sizeof(*sec));
    sec->rec.bike_id = b->id;
    randombytes_buf(sec->rec.key, sizeof(sec->rec.key));
    memcpy(key, sec->rec.key, sizeof(sec->rec.key));
    imap_put(&s->secrets, b->imei, sec);
    struct store_op op = {.kind = STORE_OP_SECRET, .u.secret = sec->rec};
    uint64_t lsn = store_writer_submit(s->writer, &op, 1);
    if (lsn > s->submitted_lsn)
        s->submitted_lsn = lsn;
    return lsn ? lsn : UINT64_MAX; /* a failed writer: never durable */
}

bool svc__lock_is_secure(const struct svc *s, uint64_t imei)
{
    return imap_get(&s->secrets, imei) != NULL;
}

void svc__gw_admit(void *ctx, uint64_t imei, bool secure,
                   struct gateway_admission *out)
{
    struct svc *s = ctx;
    memset(out, 0, sizeof(*out));
    const struct core_bike *b = core_world_bike_by_imei(s->world, imei);
    if (!b)
        return;
    const struct svc_secret *sec = imap_get(&s->secrets, imei);
    const char *refused = NULL;
    if (sec && !secure)
        refused = "a lock with a key must speak the secure dialect";
    else if (!sec && secure)
        refused = "the lock has no key here";
    else if (!sec && s->require_secure[b->vtype])
        refused = "its vehicle type requires the secure dialect";
    if (refused) {
        log_emit(
            LOG_WARN, "lock_refused",
            LOG_FIELDS(LOG_I64("bike_id", b->id), LOG_STR("reason", refused)));
        return;
    }
    out->admit = true;
    out->secure = secure;
    if (sec) {
        memcpy(out->key, sec->rec.key, sizeof(out->key));
        out->rx_counter = sec->rec.rx_counter;
    }
}

void svc__gw_counter(void *ctx, uint64_t imei, uint64_t rx_counter)
{
    struct svc *s = ctx;
    struct svc_secret *sec = imap_get(&s->secrets, imei);
    if (!sec || rx_counter <= sec->rec.rx_counter)
        return;
    sec->rec.rx_counter = rx_counter;
    struct store_op op = {.kind = STORE_OP_SECRET, .u.secret = sec->rec};
    store_writer_submit(s->writer, &op, 1);
}

void svc_lock_policy(struct svc *s, bool require_secure[CORE_VT_COUNT])
{
    memcpy(require_secure, s->require_secure, sizeof(s->require_secure));
}

enum err svc_lock_policy_set(struct svc *s,
                             const bool require_secure[CORE_VT_COUNT],
                             uint64_t *lsn)
{
    struct store_op ops[CORE_VT_COUNT];
    for (int t = 0; t < CORE_VT_COUNT; t++) {
        s->require_secure[t] = require_secure[t];
        ops[t] = (struct store_op){
            .kind = STORE_OP_POLICY,
            .u.policy = {(enum core_vtype)t, require_secure[t]}};
    }
    *lsn = store_writer_submit(s->writer, ops, CORE_VT_COUNT);
    if (*lsn > s->submitted_lsn)
        s->submitted_lsn = *lsn;
    return *lsn ? ERR_OK : ERR_IO;
}
