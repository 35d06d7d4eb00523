/* SPDX-License-Identifier: MIT */
/*
 * Typed payloads of the lock codec: decoding each command's values into its
 * struct. The syntax of each value is checked here; the ranges are checked
 * by check.c, which the builders share.
 */
#include "base/sys.h"
#include "lock/lock.h"
#include "lock/lock_int.h"

/* The longest decimal accepted for HDOP and altitude. */
#define DECIMAL_MAX 32

/* Fails unless m has at least n values. */
static enum err need(const struct lock_msg *m, size_t n, struct err_detail *d)
{
    if (m->n_values >= n)
        return ERR_OK;
    return err_set(d, ERR_INVALID, "values", "%.*s needs %zu values, got %zu",
                   LOCK__QUOTE(m->name), n, m->n_values);
}

static enum err get_i64(const struct lock_msg *m, size_t i, const char *field,
                        int64_t *v, struct err_detail *d)
{
    if (str_to_i64(m->values[i], v) == ERR_OK)
        return ERR_OK;
    return err_set(d, ERR_INVALID, field, "%.*s %s '%.*s' is not an integer",
                   LOCK__QUOTE(m->name), field, LOCK__QUOTE(m->values[i]));
}

static enum err get_i32(const struct lock_msg *m, size_t i, const char *field,
                        int32_t *v, struct err_detail *d)
{
    int64_t w = 0;
    enum err e = get_i64(m, i, field, &w, d);
    if (e != ERR_OK)
        return e;
    if (w < INT32_MIN || w > INT32_MAX)
        return err_set(d, ERR_INVALID, field, "%.*s %s '%.*s' is out of range",
                       LOCK__QUOTE(m->name), field, LOCK__QUOTE(m->values[i]));
    *v = (int32_t)w;
    return ERR_OK;
}

/* A 0/1 flag. */
static enum err get_flag(const struct lock_msg *m, size_t i, const char *field,
                         bool *v, struct err_detail *d)
{
    if (str_eq_cstr(m->values[i], "0") || str_eq_cstr(m->values[i], "1")) {
        *v = m->values[i].ptr[0] == '1';
        return ERR_OK;
    }
    return err_set(d, ERR_INVALID, field, "%.*s %s '%.*s' is not 0 or 1",
                   LOCK__QUOTE(m->name), field, LOCK__QUOTE(m->values[i]));
}

/* An optional D0 integer: empty decodes as 0. */
static enum err get_opt_i32(const struct lock_msg *m, size_t i,
                            const char *field, int32_t *v, struct err_detail *d)
{
    if (m->values[i].len > 0)
        return get_i32(m, i, field, v, d);
    *v = 0;
    return ERR_OK;
}

/*
 * An optional D0 decimal: empty decodes as 0, otherwise an optional '-',
 * digits, and optionally '.' and digits.
 */
static enum err get_opt_decimal(const struct lock_msg *m, size_t i,
                                const char *field, double *v,
                                struct err_detail *d)
{
    struct str s = m->values[i];
    *v = 0;
    if (s.len == 0)
        return ERR_OK;
    struct str digits =
        s.ptr[0] == '-' ? (struct str){s.ptr + 1, s.len - 1} : s;
    struct str whole;
    struct str frac = str_cut(digits, '.', &whole);
    bool ok = s.len <= DECIMAL_MAX && str_is_digits(whole) &&
              (!frac.ptr || str_is_digits(frac));
    if (ok) {
        enum err e = str_to_f64(s, v);
        ok = !NEVER(e != ERR_OK);
    }
    if (ok)
        return ERR_OK;
    return err_set(d, ERR_INVALID, field, "%.*s %s '%.*s' is not a number",
                   LOCK__QUOTE(m->name), field, LOCK__QUOTE(s));
}

/* Two digits at p (known to be digits) as a number. */
static int two(const char *p)
{
    return (p[0] - '0') * 10 + (p[1] - '0');
}

/*
 * Decodes the D0 time "hhmmss[.s...]" and date "ddmmyy" into
 * p->fix_time_s; both empty or either empty leaves has_time false.
 */
static enum err get_fix_time(const struct lock_msg *m, struct lock_position *p,
                             struct err_detail *d)
{
    struct str time = m->values[1];
    struct str date = m->values[9];
    struct str hms;
    struct str frac = str_cut(time, '.', &hms);
    if (time.len > 0 && (hms.len != 6 || !str_is_digits(hms) ||
                         (frac.ptr && !str_is_digits(frac))))
        return err_set(d, ERR_INVALID, "time", "D0 time '%.*s' is not hhmmss",
                       LOCK__QUOTE(time));
    if (date.len > 0 && (date.len != 6 || !str_is_digits(date)))
        return err_set(d, ERR_INVALID, "date", "D0 date '%.*s' is not ddmmyy",
                       LOCK__QUOTE(date));
    if (time.len == 0 || date.len == 0)
        return ERR_OK;
    struct lock__utc t = {
        .year = 2000 + two(date.ptr + 4),
        .month = two(date.ptr + 2),
        .day = two(date.ptr),
        .hour = two(hms.ptr),
        .min = two(hms.ptr + 2),
        .sec = two(hms.ptr + 4),
    };
    if (!lock__utc_to_unix(&t, &p->fix_time_s))
        return err_set(d, ERR_INVALID, "time",
                       "D0 time '%.*s' on '%.*s' is not a valid UTC time",
                       LOCK__QUOTE(time), LOCK__QUOTE(date));
    p->has_time = true;
    return ERR_OK;
}

static enum err decode_position(struct lock_msg *m, struct err_detail *d)
{
    struct lock_position *p = &m->u.position;
    enum err e = need(m, 13, d);
    if (e == ERR_OK)
        e = get_i64(m, 0, "status", &p->status, d);
    if (e == ERR_OK)
        e = get_fix_time(m, p, d);
    if (e != ERR_OK)
        return e;

    struct str validity = m->values[2];
    if (!str_eq_cstr(validity, "A") && !str_eq_cstr(validity, "V"))
        return err_set(d, ERR_INVALID, "validity",
                       "D0 validity '%.*s' is not A or V",
                       LOCK__QUOTE(validity));
    /* A 'V' fix may carry stale or zero coordinates: they are ignored. */
    if (validity.ptr[0] == 'A' && m->values[3].len > 0 &&
        m->values[5].len > 0) {
        e = lock_coord_parse(m->values[3], m->values[4], false, &p->lat_deg, d);
        if (e == ERR_OK)
            e = lock_coord_parse(m->values[5], m->values[6], true, &p->lon_deg,
                                 d);
        if (e != ERR_OK)
            return e;
        p->is_valid = true;
    }

    e = get_opt_i32(m, 7, "satellites", &p->satellites, d);
    if (e == ERR_OK)
        e = get_opt_decimal(m, 8, "hdop", &p->hdop, d);
    if (e == ERR_OK)
        e = get_opt_decimal(m, 10, "altitude", &p->alt_m, d);
    if (e != ERR_OK)
        return e;
    struct str unit = m->values[11];
    if (unit.len > 0 && !str_eq_cstr(unit, "M"))
        return err_set(d, ERR_INVALID, "altitude_unit",
                       "D0 altitude unit '%.*s' is not M", LOCK__QUOTE(unit));
    struct str mode = m->values[12];
    if (mode.len > 1)
        return err_set(d, ERR_INVALID, "mode",
                       "D0 mode '%.*s' is not one letter", LOCK__QUOTE(mode));
    p->mode = mode.len == 1 ? mode.ptr[0] : '\0';
    return ERR_OK;
}

/* The R0 operation: 0 unlock, 1 lock. */
static enum err get_op(const struct lock_msg *m, size_t i, enum lock_op *op,
                       struct err_detail *d)
{
    if (str_eq_cstr(m->values[i], "0") || str_eq_cstr(m->values[i], "1")) {
        *op = m->values[i].ptr[0] == '1' ? LOCK_OP_LOCK : LOCK_OP_UNLOCK;
        return ERR_OK;
    }
    return err_set(d, ERR_INVALID, "op", "R0 op '%.*s' is not 0 or 1",
                   LOCK__QUOTE(m->values[i]));
}

static enum err decode_values(struct lock_msg *m, struct err_detail *d)
{
    enum err e = ERR_OK;
    switch (m->cmd) {
    case LOCK_CMD_SIGN_IN: {
        struct lock_sign_in *p = &m->u.sign_in;
        e = need(m, 3, d);
        if (e == ERR_OK)
            e = get_i32(m, 0, "voltage_cv", &p->voltage_cv, d);
        if (e == ERR_OK)
            e = get_i32(m, 1, "battery_pct", &p->battery_pct, d);
        if (e == ERR_OK)
            e = get_i32(m, 2, "signal", &p->signal, d);
        return e;
    }
    case LOCK_CMD_HEARTBEAT: {
        struct lock_heartbeat *p = &m->u.heartbeat;
        e = need(m, 5, d);
        if (e == ERR_OK)
            e = get_flag(m, 0, "locked", &p->is_locked, d);
        if (e == ERR_OK)
            e = get_i32(m, 1, "voltage_cv", &p->voltage_cv, d);
        if (e == ERR_OK)
            e = get_i32(m, 2, "signal", &p->signal, d);
        if (e == ERR_OK)
            e = get_i32(m, 3, "battery_pct", &p->battery_pct, d);
        if (e == ERR_OK)
            e = get_flag(m, 4, "charging", &p->is_charging, d);
        return e;
    }
    case LOCK_CMD_POSITION:
        return decode_position(m, d);
    case LOCK_CMD_ALARM: {
        struct lock_alarm *p = &m->u.alarm;
        e = need(m, 1, d);
        if (e == ERR_OK)
            e = get_i64(m, 0, "alarm", &p->code, d);
        if (e != ERR_OK)
            return e;
        bool is_known = p->code == LOCK_ALARM_MOVEMENT ||
                        p->code == LOCK_ALARM_FALL ||
                        p->code == LOCK_ALARM_FALL_CLEARED;
        p->kind = is_known ? (enum lock_alarm_kind)p->code : LOCK_ALARM_OTHER;
        return ERR_OK;
    }
    case LOCK_CMD_FAULT:
        e = need(m, 1, d);
        if (e == ERR_OK)
            e = get_i64(m, 0, "fault", &m->u.fault.code, d);
        return e;
    case LOCK_CMD_KEY: {
        struct lock_key *p = &m->u.key;
        e = need(m, 4, d);
        if (e == ERR_OK)
            e = get_op(m, 0, &p->op, d);
        if (e == ERR_OK)
            e = get_i64(m, 2, "user_id", &p->user_id, d);
        if (e == ERR_OK)
            e = get_i64(m, 3, "time", &p->time_s, d);
        if (e == ERR_OK)
            p->key = m->values[1];
        return e;
    }
    case LOCK_CMD_UNLOCKED: {
        struct lock_unlocked *p = &m->u.unlocked;
        e = need(m, 3, d);
        if (e == ERR_OK)
            e = get_i64(m, 0, "result", &p->result, d);
        if (e == ERR_OK)
            e = get_i64(m, 1, "user_id", &p->user_id, d);
        if (e == ERR_OK)
            e = get_i64(m, 2, "time", &p->time_s, d);
        return e;
    }
    case LOCK_CMD_LOCKED: {
        struct lock_locked *p = &m->u.locked;
        e = need(m, 3, d);
        if (e == ERR_OK)
            e = get_i64(m, 0, "user_id", &p->user_id, d);
        if (e == ERR_OK)
            e = get_i64(m, 1, "time", &p->time_s, d);
        if (e == ERR_OK)
            e = get_i64(m, 2, "ride_min", &p->ride_min, d);
        return e;
    }
    case LOCK_CMD_KEY_REQUEST: {
        struct lock_key_request *p = &m->u.key_request;
        e = need(m, 4, d);
        if (e == ERR_OK)
            e = get_op(m, 0, &p->op, d);
        if (e == ERR_OK)
            e = get_i64(m, 1, "key_validity_s", &p->key_validity_s, d);
        if (e == ERR_OK)
            e = get_i64(m, 2, "user_id", &p->user_id, d);
        if (e == ERR_OK)
            e = get_i64(m, 3, "time", &p->time_s, d);
        return e;
    }
    case LOCK_CMD_UNLOCK: {
        struct lock_unlock *p = &m->u.unlock;
        e = need(m, 3, d);
        if (e == ERR_OK)
            e = get_i64(m, 1, "user_id", &p->user_id, d);
        if (e == ERR_OK)
            e = get_i64(m, 2, "time", &p->time_s, d);
        if (e == ERR_OK)
            p->key = m->values[0];
        return e;
    }
    case LOCK_CMD_SECURE_UNLOCKED: {
        struct lock_secure_unlocked *p = &m->u.secure_unlocked;
        e = need(m, 3, d);
        if (e == ERR_OK)
            e = get_i64(m, 0, "result", &p->result, d);
        if (e == ERR_OK)
            e = get_i64(m, 1, "trip_id", &p->trip_id, d);
        if (e == ERR_OK)
            e = get_i64(m, 2, "time", &p->time_s, d);
        return e;
    }
    case LOCK_CMD_SECURE_UNLOCK: {
        struct lock_secure_unlock *p = &m->u.secure_unlock;
        e = need(m, 3, d);
        if (e == ERR_OK)
            e = get_i64(m, 0, "trip_id", &p->trip_id, d);
        if (e == ERR_OK)
            e = get_i64(m, 1, "user_id", &p->user_id, d);
        if (e == ERR_OK)
            e = get_i64(m, 2, "expires_s", &p->expires_s, d);
        return e;
    }
    case LOCK_CMD_UNKNOWN:
    case LOCK_CMD_POSITION_REQUEST:
    case LOCK_CMD_ACK:
        break;
    }
    return ERR_OK;
}

enum err lock__decode_payload(struct lock_msg *m, struct err_detail *d)
{
    enum err e = decode_values(m, d);
    if (e != ERR_OK)
        return e;
    return lock__check_payload(m, d);
}
