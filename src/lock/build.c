/* SPDX-License-Identifier: MIT */
/*
 * The lock codec's builders: one writer for both directions and every
 * dialect that checks the header and the payload with the decoder's own
 * rules, formats the frame in a bounded local buffer (appending the MAC in
 * the secure dialect) and copies it out only when it fits. The secure
 * builders' entry points are in secure.c.
 */
#include "base/sys.h"
#include "lock/lock.h"
#include "lock/lock_int.h"

#include <stdio.h>

/* A frame under construction; put() stops at the end and sets is_full. */
struct writer {
    char buf[LOCK_BUILD_MAX + 1];
    size_t len;
    size_t frame_start; /* offset of the '*' */
    bool is_full;
};

static void put(struct writer *w, const char *p, size_t n)
{
    if (n == 0 || w->is_full)
        return;
    if (n > sizeof(w->buf) - w->len) {
        w->is_full = true;
        return;
    }
    memcpy(w->buf + w->len, p, n);
    w->len += n;
}

static void put_c(struct writer *w, char c)
{
    put(w, &c, 1);
}

static void put_str(struct writer *w, struct str s)
{
    put(w, s.ptr, s.len);
}

/* A comma and the value, the form of every field after the name. */
static void field_i64(struct writer *w, int64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), ",%" PRId64, v);
    put(w, tmp, (size_t)n);
}

static void field_str(struct writer *w, struct str s)
{
    put_c(w, ',');
    put_str(w, s);
}

/*
 * A comma and v rounded to 2 decimals without trailing zeros ("0.8", "10").
 * v is range-checked, so it is short.
 */
static void field_fixed2(struct writer *w, double v)
{
    char tmp[48];
    int n = snprintf(tmp, sizeof(tmp), ",%.2f", v);
    if (NEVER(n < 5 || (size_t)n >= sizeof(tmp))) {
        w->is_full = true;
        return;
    }
    while (tmp[n - 1] == '0')
        n--;
    if (tmp[n - 1] == '.')
        n--;
    if (n == 3 && tmp[1] == '-' && tmp[2] == '0') {
        tmp[1] = '0';
        n = 2;
    }
    put(w, tmp, (size_t)n);
}

/* The secure dialect's part of the header: a key, a counter, no stamp. */
static enum err check_secure_header(const struct lock_header *h,
                                    const unsigned char *key,
                                    struct err_detail *d)
{
    if (!key)
        return err_set(d, ERR_INVALID, "key",
                       "a secure frame needs the lock's key");
    if (h->counter < 1 || h->counter > LOCK_COUNTER_MAX)
        return err_set(d, ERR_INVALID, "counter",
                       "counter %" PRIu64 " is out of range 1..2^63-1",
                       h->counter);
    if (h->has_stamp)
        return err_set(d, ERR_INVALID, "stamp",
                       "the secure dialect has no stamp");
    return ERR_OK;
}

static enum err check_header(const struct lock_header *h,
                             const unsigned char *key, struct err_detail *d)
{
    struct str vendor = {h->vendor, strnlen(h->vendor, sizeof(h->vendor))};
    if (!lock__is_alnum(vendor, 1, LOCK_VENDOR_MAX))
        return err_set(d, ERR_INVALID, "vendor",
                       "vendor '%.*s' is not 1 to %d letters or digits",
                       LOCK__QUOTE(vendor), LOCK_VENDOR_MAX);
    if (h->imei > LOCK_IMEI_MAX)
        return err_set(d, ERR_INVALID, "imei",
                       "imei %" PRIu64 " is longer than 15 digits", h->imei);
    if (h->dialect == LOCK_DIALECT_SECURE)
        return check_secure_header(h, key, d);
    if (h->dialect != LOCK_DIALECT_SCOR && h->dialect != LOCK_DIALECT_CMDR)
        return err_set(d, ERR_INVALID, "dialect", "unknown dialect %d",
                       (int)h->dialect);
    if (h->dialect == LOCK_DIALECT_CMDR && !h->has_stamp)
        return err_set(d, ERR_INVALID, "stamp",
                       "the CMDR dialect needs a stamp");
    struct str stamp = {h->stamp, strnlen(h->stamp, sizeof(h->stamp))};
    if (h->has_stamp && (stamp.len != LOCK_STAMP_LEN || !str_is_digits(stamp)))
        return err_set(d, ERR_INVALID, "stamp", "stamp '%.*s' is not %d digits",
                       LOCK__QUOTE(stamp), LOCK_STAMP_LEN);
    return ERR_OK;
}

/*
 * Fails if m's kind belongs to the other direction, or to the other family
 * of dialects (the Omni R0/L0 exchange or the secure L0).
 */
static enum err check_direction(const struct lock_msg *m, struct err_detail *d)
{
    bool is_down_kind =
        m->cmd == LOCK_CMD_KEY_REQUEST || m->cmd == LOCK_CMD_UNLOCK ||
        m->cmd == LOCK_CMD_POSITION_REQUEST || m->cmd == LOCK_CMD_ACK ||
        m->cmd == LOCK_CMD_SECURE_UNLOCK;
    if (m->cmd != LOCK_CMD_UNKNOWN && is_down_kind != m->hdr.is_to_lock)
        return err_set(d, ERR_INVALID, "command",
                       "message kind %d cannot go %s", (int)m->cmd,
                       m->hdr.is_to_lock ? "to a lock" : "to the server");
    bool is_omni_only = m->cmd == LOCK_CMD_KEY || m->cmd == LOCK_CMD_UNLOCKED ||
                        m->cmd == LOCK_CMD_KEY_REQUEST ||
                        m->cmd == LOCK_CMD_UNLOCK;
    bool is_secure_only =
        m->cmd == LOCK_CMD_SECURE_UNLOCKED || m->cmd == LOCK_CMD_SECURE_UNLOCK;
    bool is_secure = m->hdr.dialect == LOCK_DIALECT_SECURE;
    if (is_secure ? is_omni_only : is_secure_only)
        return err_set(d, ERR_INVALID, "command",
                       "message kind %d is not in the %s dialect", (int)m->cmd,
                       is_secure ? "secure" : "Omni");
    return ERR_OK;
}

/* The header tag of h's dialect and direction, with its '*' and ','. */
static const char *head_tag(const struct lock_header *h)
{
    if (h->dialect == LOCK_DIALECT_CMDR)
        return h->is_to_lock ? "*CMDS," : "*CMDR,";
    if (h->dialect == LOCK_DIALECT_SECURE)
        return h->is_to_lock ? "*SCSS," : "*SCSR,";
    if (h->is_to_lock)
        return "*SCOS,";
    return h->is_legacy ? "*HBCR," : "*SCOR,";
}

/*
 * The prefix, header tag, vendor, IMEI, optional stamp or counter, and the
 * name.
 */
static void put_head(struct writer *w, const struct lock_header *h,
                     struct str name)
{
    const char *tag = head_tag(h);
    if (h->is_to_lock)
        put(w, "\xff\xff", 2);
    w->frame_start = w->len;
    put(w, tag, strlen(tag));
    put(w, h->vendor, strlen(h->vendor));
    char imei[16] = ",";
    lock__put_digits(imei + 1, (int64_t)h->imei, 15);
    put(w, imei, sizeof(imei));
    if (h->dialect == LOCK_DIALECT_SECURE) {
        char tmp[24];
        int n = snprintf(tmp, sizeof(tmp), ",%" PRIu64, h->counter);
        put(w, tmp, (size_t)n);
    } else if (h->has_stamp) {
        field_str(w, (struct str){h->stamp, LOCK_STAMP_LEN});
    }
    field_str(w, name);
}

static void put_position(struct writer *w, const struct lock_position *p)
{
    /* The payload is range-checked: the conversions cannot fail. */
    struct lock__utc t = {0};
    if (p->has_time)
        lock__utc_from_unix(p->fix_time_s, &t);
    field_i64(w, p->status);
    char text[LOCK_COORD_TEXT_MAX] = ",hhmmss.00";
    if (p->has_time) {
        lock__put_digits(text + 1, t.hour, 2);
        lock__put_digits(text + 3, t.min, 2);
        lock__put_digits(text + 5, t.sec, 2);
        put(w, text, strlen(text));
    } else {
        put_c(w, ',');
    }
    put(w, p->is_valid ? ",A" : ",V", 2);
    if (p->is_valid) {
        char hemi = 0;
        lock__coord_text(p->lat_deg, false, text, &hemi);
        field_str(w, str_from_cstr(text));
        field_str(w, (struct str){&hemi, 1});
        lock__coord_text(p->lon_deg, true, text, &hemi);
        field_str(w, str_from_cstr(text));
        field_str(w, (struct str){&hemi, 1});
    } else {
        put(w, ",,,,", 4);
    }
    field_i64(w, p->satellites);
    field_fixed2(w, p->hdop);
    put_c(w, ',');
    if (p->has_time) {
        lock__put_digits(text, t.day, 2);
        lock__put_digits(text + 2, t.month, 2);
        lock__put_digits(text + 4, t.year - 2000, 2);
        put(w, text, 6);
    }
    field_fixed2(w, p->alt_m);
    put(w, ",M,", 3);
    if (p->mode != '\0')
        put_c(w, p->mode);
}

static void put_payload(struct writer *w, const struct lock_msg *m)
{
    const struct lock_heartbeat *hb = &m->u.heartbeat;
    switch (m->cmd) {
    case LOCK_CMD_SIGN_IN:
        field_i64(w, m->u.sign_in.voltage_cv);
        field_i64(w, m->u.sign_in.battery_pct);
        field_i64(w, m->u.sign_in.signal);
        break;
    case LOCK_CMD_HEARTBEAT:
        field_i64(w, hb->is_locked);
        field_i64(w, hb->voltage_cv);
        field_i64(w, hb->signal);
        field_i64(w, hb->battery_pct);
        field_i64(w, hb->is_charging);
        break;
    case LOCK_CMD_POSITION:
        put_position(w, &m->u.position);
        break;
    case LOCK_CMD_ALARM:
        field_i64(w, m->u.alarm.code);
        break;
    case LOCK_CMD_FAULT:
        field_i64(w, m->u.fault.code);
        break;
    case LOCK_CMD_KEY:
        field_i64(w, m->u.key.op);
        field_str(w, m->u.key.key);
        field_i64(w, m->u.key.user_id);
        field_i64(w, m->u.key.time_s);
        break;
    case LOCK_CMD_UNLOCKED:
        field_i64(w, m->u.unlocked.result);
        field_i64(w, m->u.unlocked.user_id);
        field_i64(w, m->u.unlocked.time_s);
        break;
    case LOCK_CMD_LOCKED:
        field_i64(w, m->u.locked.user_id);
        field_i64(w, m->u.locked.time_s);
        field_i64(w, m->u.locked.ride_min);
        break;
    case LOCK_CMD_KEY_REQUEST:
        field_i64(w, m->u.key_request.op);
        field_i64(w, m->u.key_request.key_validity_s);
        field_i64(w, m->u.key_request.user_id);
        field_i64(w, m->u.key_request.time_s);
        break;
    case LOCK_CMD_UNLOCK:
        field_str(w, m->u.unlock.key);
        field_i64(w, m->u.unlock.user_id);
        field_i64(w, m->u.unlock.time_s);
        break;
    case LOCK_CMD_SECURE_UNLOCKED:
        field_i64(w, m->u.secure_unlocked.result);
        field_i64(w, m->u.secure_unlocked.trip_id);
        field_i64(w, m->u.secure_unlocked.time_s);
        break;
    case LOCK_CMD_SECURE_UNLOCK:
        field_i64(w, m->u.secure_unlock.trip_id);
        field_i64(w, m->u.secure_unlock.user_id);
        field_i64(w, m->u.secure_unlock.expires_s);
        break;
    case LOCK_CMD_UNKNOWN:
        for (size_t i = 0; i < m->n_values; i++)
            field_str(w, m->values[i]);
        break;
    case LOCK_CMD_POSITION_REQUEST:
    case LOCK_CMD_ACK:
        break;
    }
}

/*
 * Appends ",<mac>" in the secure dialect: the MAC of the frame so far, from
 * its '*' through that ','.
 */
static void put_mac(struct writer *w, const unsigned char *key)
{
    put_c(w, ',');
    if (w->is_full)
        return;
    char hex[LOCK_MAC_HEX_LEN + 1];
    lock__mac_hex(key, w->buf + w->frame_start, w->len - w->frame_start, hex);
    put(w, hex, LOCK_MAC_HEX_LEN);
}

enum err lock__build(const struct lock_msg *m, const unsigned char *key,
                     char *out, size_t cap, size_t *len, struct err_detail *d)
{
    enum err e = check_header(&m->hdr, key, d);
    if (e == ERR_OK)
        e = check_direction(m, d);
    if (e == ERR_OK)
        e = lock__check_payload(m, d);
    if (e != ERR_OK)
        return e;

    struct writer w;
    w.len = 0;
    w.frame_start = 0;
    w.is_full = false;
    bool has_raw_name = m->cmd == LOCK_CMD_UNKNOWN || m->cmd == LOCK_CMD_ACK;
    put_head(&w, &m->hdr,
             has_raw_name ? m->name : str_from_cstr(lock_cmd_name(m->cmd)));
    put_payload(&w, m);
    if (m->hdr.dialect == LOCK_DIALECT_SECURE)
        put_mac(&w, key);
    put_c(&w, '#');
    size_t frame_len = w.len - w.frame_start;
    put_c(&w, '\n');
    if (w.is_full || frame_len > LOCK_FRAME_MAX)
        return err_set(d, ERR_TOO_BIG, "frame",
                       "frame is over the %d byte limit", LOCK_FRAME_MAX);
    if (w.len > cap)
        return err_set(d, ERR_TOO_BIG, "out",
                       "frame of %zu bytes does not fit in %zu", w.len, cap);
    memcpy(out, w.buf, w.len);
    *len = w.len;
    return ERR_OK;
}

enum err lock_build_msg(const struct lock_msg *m, char *out, size_t cap,
                        size_t *len, struct err_detail *d)
{
    return lock__build(m, NULL, out, cap, len, d);
}

enum err lock_build_cmd(const struct lock_header *h, struct str name,
                        const struct str *values, size_t n_values, char *out,
                        size_t cap, size_t *len, struct err_detail *d)
{
    if (n_values > LOCK_VALUES_MAX)
        return err_set(d, ERR_TOO_BIG, "values", "%zu values are over %d",
                       n_values, LOCK_VALUES_MAX);
    struct lock_msg m;
    memset(&m, 0, sizeof(m));
    m.hdr = *h;
    m.hdr.is_to_lock = true;
    m.cmd = LOCK_CMD_UNKNOWN;
    m.name = name;
    m.n_values = n_values;
    for (size_t i = 0; i < n_values; i++)
        m.values[i] = values[i];
    return lock_build_msg(&m, out, cap, len, d);
}

/* Starts a server-to-lock message of kind cmd for the lock of h. */
static void init_down(struct lock_msg *m, const struct lock_header *h,
                      enum lock_cmd cmd)
{
    memset(m, 0, sizeof(*m));
    m->hdr = *h;
    m->hdr.is_to_lock = true;
    m->cmd = cmd;
}

enum err lock_build_unlock_request(const struct lock_header *h,
                                   int64_t key_validity_s, int64_t user_id,
                                   int64_t time_s, char *out, size_t cap,
                                   size_t *len, struct err_detail *d)
{
    struct lock_msg m;
    init_down(&m, h, LOCK_CMD_KEY_REQUEST);
    m.u.key_request.op = LOCK_OP_UNLOCK;
    m.u.key_request.key_validity_s = key_validity_s;
    m.u.key_request.user_id = user_id;
    m.u.key_request.time_s = time_s;
    return lock_build_msg(&m, out, cap, len, d);
}

enum err lock_build_unlock(const struct lock_header *h, struct str key,
                           int64_t user_id, int64_t time_s, char *out,
                           size_t cap, size_t *len, struct err_detail *d)
{
    struct lock_msg m;
    init_down(&m, h, LOCK_CMD_UNLOCK);
    m.u.unlock.key = key;
    m.u.unlock.user_id = user_id;
    m.u.unlock.time_s = time_s;
    return lock_build_msg(&m, out, cap, len, d);
}

enum err lock_build_position_request(const struct lock_header *h, char *out,
                                     size_t cap, size_t *len,
                                     struct err_detail *d)
{
    struct lock_msg m;
    init_down(&m, h, LOCK_CMD_POSITION_REQUEST);
    return lock_build_msg(&m, out, cap, len, d);
}

enum err lock_build_ack(const struct lock_msg *report, char *out, size_t cap,
                        size_t *len, struct err_detail *d)
{
    if (report->hdr.is_to_lock)
        return err_set(d, ERR_INVALID, "command",
                       "cannot acknowledge a server-to-lock frame");
    struct lock_msg m;
    init_down(&m, &report->hdr, LOCK_CMD_ACK);
    m.hdr.is_legacy = false;
    if (m.hdr.dialect == LOCK_DIALECT_SCOR)
        m.hdr.has_stamp = false;
    m.name = report->name;
    return lock_build_msg(&m, out, cap, len, d);
}
