/* SPDX-License-Identifier: MIT */
/*
 * The payload range checks of the lock codec. The parser applies them after
 * decoding and the builders before writing, so that whatever is built also
 * parses.
 */
#include "base/sys.h"
#include "lock/lock.h"
#include "lock/lock_int.h"

#include <math.h>

static enum err in_range(const struct lock_msg *m, const char *field, int64_t v,
                         int64_t lo, int64_t hi, struct err_detail *d)
{
    if (v >= lo && v <= hi)
        return ERR_OK;
    return err_set(d, ERR_INVALID, field,
                   "%s %s %" PRId64 " is out of range %" PRId64 "..%" PRId64,
                   lock_cmd_name(m->cmd), field, v, lo, hi);
}

static enum err in_range_f(const struct lock_msg *m, const char *field,
                           double v, double lo, double hi, struct err_detail *d)
{
    if (isfinite(v) && v >= lo && v <= hi)
        return ERR_OK;
    return err_set(d, ERR_INVALID, field, "%s %s %g is out of range %g..%g",
                   lock_cmd_name(m->cmd), field, v, lo, hi);
}

/* Battery voltage, level and GSM signal, shared by Q0 and H0. */
static enum err check_power(const struct lock_msg *m, int32_t voltage_cv,
                            int32_t battery_pct, int32_t signal,
                            struct err_detail *d)
{
    enum err e = in_range(m, "voltage_cv", voltage_cv, 0, 65535, d);
    if (e == ERR_OK)
        e = in_range(m, "battery_pct", battery_pct, 0, 100, d);
    if (e == ERR_OK && signal != 99)
        e = in_range(m, "signal", signal, 0, 31, d);
    return e;
}

static enum err check_key(const struct lock_msg *m, struct str key,
                          struct err_detail *d)
{
    if (lock__is_alnum(key, 1, LOCK_KEY_MAX))
        return ERR_OK;
    return err_set(d, ERR_INVALID, "key",
                   "%s key '%.*s' is not 1 to %d letters or digits",
                   lock_cmd_name(m->cmd), LOCK__QUOTE(key), LOCK_KEY_MAX);
}

static enum err check_user_time(const struct lock_msg *m, int64_t user_id,
                                int64_t time_s, struct err_detail *d)
{
    enum err e = in_range(m, "user_id", user_id, 0, INT64_MAX, d);
    if (e == ERR_OK)
        e = in_range(m, "time", time_s, 0, INT64_MAX, d);
    return e;
}

static enum err check_position(const struct lock_msg *m, struct err_detail *d)
{
    const struct lock_position *p = &m->u.position;
    enum err e = ERR_OK;
    if (p->is_valid) {
        e = in_range_f(m, "latitude", p->lat_deg, -90, 90, d);
        if (e == ERR_OK)
            e = in_range_f(m, "longitude", p->lon_deg, -180, 180, d);
    }
    if (e == ERR_OK && p->has_time)
        e = in_range(m, "time", p->fix_time_s, LOCK__UNIX_2000,
                     LOCK__UNIX_2100 - 1, d);
    if (e == ERR_OK)
        e = in_range(m, "satellites", p->satellites, 0, 99, d);
    if (e == ERR_OK)
        e = in_range_f(m, "hdop", p->hdop, 0, 100, d);
    if (e == ERR_OK)
        e = in_range_f(m, "altitude", p->alt_m, -10000, 100000, d);
    if (e == ERR_OK && p->mode != '\0' && (p->mode < 'A' || p->mode > 'Z'))
        return err_set(d, ERR_INVALID, "mode",
                       "D0 mode 0x%02x is not a letter A to Z",
                       (unsigned char)p->mode);
    return e;
}

/* True if v may be a raw value: printable ASCII without ',', '*' or '#'. */
static bool is_value(struct str v)
{
    for (size_t i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char)v.ptr[i];
        if (c < 0x20 || c > 0x7e || c == ',' || c == '*' || c == '#')
            return false;
    }
    return true;
}

/* The name and raw values of a message without a typed payload. */
static enum err check_raw(const struct lock_msg *m, struct err_detail *d)
{
    if (!lock__is_alnum(m->name, 1, LOCK_NAME_MAX))
        return err_set(d, ERR_INVALID, "command",
                       "command '%.*s' is not 1 to %d letters or digits",
                       LOCK__QUOTE(m->name), LOCK_NAME_MAX);
    if (m->cmd == LOCK_CMD_ACK)
        return ERR_OK;
    if (m->n_values > LOCK_VALUES_MAX)
        return err_set(d, ERR_TOO_BIG, "values", "%zu values are over %d",
                       m->n_values, LOCK_VALUES_MAX);
    for (size_t i = 0; i < m->n_values; i++) {
        if (!is_value(m->values[i]))
            return err_set(d, ERR_INVALID, "values",
                           "value %zu '%.*s' has a byte that is not "
                           "printable or is one of ,*#",
                           i, LOCK__QUOTE(m->values[i]));
    }
    return ERR_OK;
}

enum err lock__check_payload(const struct lock_msg *m, struct err_detail *d)
{
    enum err e = ERR_OK;
    switch (m->cmd) {
    case LOCK_CMD_SIGN_IN: {
        const struct lock_sign_in *p = &m->u.sign_in;
        return check_power(m, p->voltage_cv, p->battery_pct, p->signal, d);
    }
    case LOCK_CMD_HEARTBEAT: {
        const struct lock_heartbeat *p = &m->u.heartbeat;
        return check_power(m, p->voltage_cv, p->battery_pct, p->signal, d);
    }
    case LOCK_CMD_POSITION:
        return check_position(m, d);
    case LOCK_CMD_ALARM:
    case LOCK_CMD_FAULT:
        return ERR_OK;
    case LOCK_CMD_KEY: {
        const struct lock_key *p = &m->u.key;
        e = in_range(m, "op", p->op, LOCK_OP_UNLOCK, LOCK_OP_LOCK, d);
        if (e == ERR_OK)
            e = check_key(m, p->key, d);
        if (e == ERR_OK)
            e = check_user_time(m, p->user_id, p->time_s, d);
        return e;
    }
    case LOCK_CMD_UNLOCKED:
        return check_user_time(m, m->u.unlocked.user_id, m->u.unlocked.time_s,
                               d);
    case LOCK_CMD_LOCKED: {
        const struct lock_locked *p = &m->u.locked;
        e = check_user_time(m, p->user_id, p->time_s, d);
        if (e == ERR_OK)
            e = in_range(m, "ride_min", p->ride_min, 0, INT64_MAX, d);
        return e;
    }
    case LOCK_CMD_KEY_REQUEST: {
        const struct lock_key_request *p = &m->u.key_request;
        e = in_range(m, "op", p->op, LOCK_OP_UNLOCK, LOCK_OP_LOCK, d);
        if (e == ERR_OK)
            e = in_range(m, "key_validity_s", p->key_validity_s, 0, INT64_MAX,
                         d);
        if (e == ERR_OK)
            e = check_user_time(m, p->user_id, p->time_s, d);
        return e;
    }
    case LOCK_CMD_UNLOCK:
        e = check_key(m, m->u.unlock.key, d);
        if (e == ERR_OK)
            e = check_user_time(m, m->u.unlock.user_id, m->u.unlock.time_s, d);
        return e;
    case LOCK_CMD_SECURE_UNLOCKED: {
        const struct lock_secure_unlocked *p = &m->u.secure_unlocked;
        e = in_range(m, "trip_id", p->trip_id, 1, INT64_MAX, d);
        if (e == ERR_OK)
            e = in_range(m, "time", p->time_s, 0, INT64_MAX, d);
        return e;
    }
    case LOCK_CMD_SECURE_UNLOCK: {
        const struct lock_secure_unlock *p = &m->u.secure_unlock;
        e = in_range(m, "trip_id", p->trip_id, 1, INT64_MAX, d);
        if (e == ERR_OK)
            e = in_range(m, "user_id", p->user_id, 0, INT64_MAX, d);
        if (e == ERR_OK)
            e = in_range(m, "expires_s", p->expires_s, 0, INT64_MAX, d);
        return e;
    }
    case LOCK_CMD_POSITION_REQUEST:
        return ERR_OK;
    case LOCK_CMD_UNKNOWN:
    case LOCK_CMD_ACK:
        return check_raw(m, d);
    }
    return err_set(d, ERR_INVALID, "command", "unknown message kind %d",
                   (int)m->cmd);
}
