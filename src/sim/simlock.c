/* SPDX-License-Identifier: MIT */
/* The simulated lock's state machine. */
#include "base/sys.h"
#include "sim/simlock.h"

#include <stdio.h>

#define RESEND_MS 5000

void sim_lock_config_default(struct sim_lock_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->battery_pct = 90;
    cfg->dialect = LOCK_DIALECT_SCOR;
    cfg->heartbeat_ms = 30000;
    cfg->position_ms = 5000;
    cfg->ride_ms = 20000;
    cfg->speed_mps = 4.0;
}

void sim_lock_init(struct sim_lock *l, const struct sim_lock_config *cfg,
                   uint64_t seed)
{
    memset(l, 0, sizeof(*l));
    l->cfg = *cfg;
    rng_seed(&l->rng, seed ^ cfg->imei);
    l->state = SIM_LOCK_IDLE;
}

static void header(const struct sim_lock *l, int64_t now_ms,
                   struct lock_header *h)
{
    memset(h, 0, sizeof(*h));
    h->dialect = l->cfg.dialect;
    memcpy(h->vendor, "OM", 3);
    h->imei = l->cfg.imei;
    if (l->cfg.dialect == LOCK_DIALECT_CMDR) {
        h->has_stamp = true;
        if (lock_stamp_format(now_ms / 1000, h->stamp) != ERR_OK)
            memcpy(h->stamp, "000000000000", LOCK_STAMP_LEN + 1);
    }
}

static enum err emit(const struct sim_lock *l, struct lock_msg *m,
                     int64_t now_ms, struct buf *out)
{
    header(l, now_ms, &m->hdr);
    char frame[LOCK_BUILD_MAX];
    size_t len;
    enum err e = lock_build_msg(m, frame, sizeof(frame), &len, NULL);
    if (e != ERR_OK)
        return e;
    return buf_append(out, frame, len);
}

static enum err send_position(struct sim_lock *l, int64_t now_ms,
                              struct buf *out)
{
    int64_t period = l->state == SIM_LOCK_RIDING || !l->cfg.report_ms
                         ? l->cfg.position_ms
                         : l->cfg.report_ms;
    struct lock_msg m = {.cmd = LOCK_CMD_POSITION};
    struct lock_position *p = &m.u.position;
    p->is_valid = true;
    p->lat_deg = l->cfg.pos.lat_deg;
    p->lon_deg = l->cfg.pos.lon_deg;
    p->has_time = true;
    p->fix_time_s = now_ms / 1000;
    p->satellites = 9;
    p->hdop = 0.9;
    p->alt_m = 12;
    p->mode = 'A';
    l->next_position_ms = now_ms + period;
    return emit(l, &m, now_ms, out);
}

static enum err send_heartbeat(struct sim_lock *l, int64_t now_ms,
                               struct buf *out)
{
    struct lock_msg m = {.cmd = LOCK_CMD_HEARTBEAT};
    m.u.heartbeat.is_locked = l->state != SIM_LOCK_RIDING;
    m.u.heartbeat.voltage_cv = 400;
    m.u.heartbeat.signal = 24;
    m.u.heartbeat.battery_pct = l->cfg.battery_pct;
    l->next_heartbeat_ms = now_ms + l->cfg.heartbeat_ms;
    return emit(l, &m, now_ms, out);
}

static enum err send_locked(struct sim_lock *l, int64_t now_ms, struct buf *out)
{
    struct lock_msg m = {.cmd = LOCK_CMD_LOCKED};
    m.u.locked.user_id = l->user_id;
    m.u.locked.time_s = now_ms / 1000;
    m.u.locked.ride_min = (now_ms - l->ride_started_ms) / 60000;
    l->next_resend_ms = now_ms + RESEND_MS;
    return emit(l, &m, now_ms, out);
}

enum err sim_lock_connected(struct sim_lock *l, int64_t now_ms, struct buf *out)
{
    struct lock_msg m = {.cmd = LOCK_CMD_SIGN_IN};
    m.u.sign_in.voltage_cv = 400;
    m.u.sign_in.battery_pct = l->cfg.battery_pct;
    m.u.sign_in.signal = 24;
    enum err e = emit(l, &m, now_ms, out);
    if (e == ERR_OK)
        e = send_heartbeat(l, now_ms, out);
    if (e == ERR_OK)
        e = send_position(l, now_ms, out);
    /* An L1 lost with the old connection goes again. */
    if (e == ERR_OK && l->state == SIM_LOCK_CLOSING)
        e = send_locked(l, now_ms, out);
    return e;
}

enum err sim_lock_on_frame(struct sim_lock *l, struct str frame, int64_t now_ms,
                           struct buf *out)
{
    struct lock_msg m;
    if (lock_msg_parse(frame, &m, NULL) != ERR_OK || !m.hdr.is_to_lock ||
        m.hdr.imei != l->cfg.imei)
        return ERR_INVALID;
    switch (m.cmd) {
    case LOCK_CMD_KEY_REQUEST: {
        if (m.u.key_request.op != LOCK_OP_UNLOCK || l->state == SIM_LOCK_RIDING)
            return ERR_OK;
        snprintf(l->key, sizeof(l->key), "%06u",
                 (unsigned)rng_below(&l->rng, 1000000));
        l->user_id = m.u.key_request.user_id;
        l->state = SIM_LOCK_KEYED;
        struct lock_msg r = {.cmd = LOCK_CMD_KEY};
        r.u.key = (struct lock_key){LOCK_OP_UNLOCK, str_from_cstr(l->key),
                                    l->user_id, now_ms / 1000};
        return emit(l, &r, now_ms, out);
    }
    case LOCK_CMD_UNLOCK: {
        if (l->state != SIM_LOCK_KEYED)
            return ERR_OK;
        bool ok = !l->cfg.refuse_unlock &&
                  str_eq_cstr(m.u.unlock.key, l->key) &&
                  m.u.unlock.user_id == l->user_id;
        struct lock_msg r = {.cmd = LOCK_CMD_UNLOCKED};
        r.u.unlocked =
            (struct lock_unlocked){ok ? 0 : 1, l->user_id, now_ms / 1000};
        l->state = ok ? SIM_LOCK_RIDING : SIM_LOCK_IDLE;
        if (ok) {
            l->ride_started_ms = now_ms;
            l->heading_deg = rng_range(&l->rng, 0, 360);
            l->next_position_ms = now_ms + l->cfg.position_ms;
        }
        return emit(l, &r, now_ms, out);
    }
    case LOCK_CMD_ACK:
        if (l->state == SIM_LOCK_CLOSING && str_eq_cstr(m.name, "L1")) {
            l->state = SIM_LOCK_IDLE;
            l->rides++;
        }
        return ERR_OK;
    case LOCK_CMD_POSITION_REQUEST:
        return send_position(l, now_ms, out);
    default:
        return ERR_OK;
    }
}

enum err sim_lock_tick(struct sim_lock *l, int64_t now_ms, struct buf *out)
{
    enum err e = ERR_OK;
    if (l->state == SIM_LOCK_RIDING) {
        if (now_ms >= l->next_position_ms) {
            double dt_s = (double)l->cfg.position_ms / 1000.0;
            l->cfg.pos =
                geo_offset(l->cfg.pos, l->heading_deg, l->cfg.speed_mps * dt_s);
            l->heading_deg += rng_range(&l->rng, -20, 20);
            e = send_position(l, now_ms, out);
        }
        if (e == ERR_OK && now_ms - l->ride_started_ms >= l->cfg.ride_ms) {
            l->state = SIM_LOCK_CLOSING;
            e = send_position(l, now_ms, out);
            if (e == ERR_OK)
                e = send_locked(l, now_ms, out);
        }
    } else if (l->state == SIM_LOCK_CLOSING && now_ms >= l->next_resend_ms) {
        e = send_locked(l, now_ms, out);
    } else if (l->cfg.report_ms && now_ms >= l->next_position_ms) {
        e = send_position(l, now_ms, out);
    }
    if (e == ERR_OK && now_ms >= l->next_heartbeat_ms)
        e = send_heartbeat(l, now_ms, out);
    return e;
}

int64_t sim_lock_next_ms(const struct sim_lock *l)
{
    int64_t next = l->next_heartbeat_ms;
    if (l->state == SIM_LOCK_RIDING) {
        next = MIN(next, l->next_position_ms);
        next = MIN(next, l->ride_started_ms + l->cfg.ride_ms);
    } else if (l->state == SIM_LOCK_CLOSING) {
        next = MIN(next, l->next_resend_ms);
    } else if (l->cfg.report_ms) {
        next = MIN(next, l->next_position_ms);
    }
    return next;
}
