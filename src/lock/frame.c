/* SPDX-License-Identifier: MIT */
/*
 * The lock codec's front half: the stream framer that cuts frames out of a
 * receive buffer, and the frame parser that checks the bytes, splits the
 * fields, decodes the header and classifies the command. Payloads are
 * decoded in decode.c. The MAC of the secure dialect is checked in
 * secure.c, not here.
 */
#include "base/sys.h"
#include "lock/lock.h"
#include "lock/lock_int.h"

/*
 * Header tag, vendor, IMEI, stamp or counter, name, the values, and the MAC
 * of the secure dialect.
 */
#define FIELDS_MAX (LOCK_VALUES_MAX + 6)
/* The digits of LOCK_COUNTER_MAX. */
#define COUNTER_DIGITS_MAX 19

static bool is_filler(char c)
{
    return (unsigned char)c == 0xFF || c == '\r' || c == '\n';
}

enum lock_scan lock_frame_scan(const char *buf, size_t len, size_t max_len,
                               struct str *frame, size_t *consumed)
{
    *frame = (struct str){NULL, 0};
    size_t start = 0;
    while (start < len && is_filler(buf[start]))
        start++;
    if (start == len) {
        *consumed = len;
        return LOCK_SCAN_NEED_MORE;
    }
    if (buf[start] != '*') {
        const char *star = memchr(buf + start, '*', len - start);
        *consumed = star ? (size_t)(star - buf) : len;
        return LOCK_SCAN_GARBAGE;
    }

    /* A frame is at most max_len bytes: '#' must come within the window. */
    size_t avail = len - start;
    size_t window = MIN(avail, max_len);
    for (size_t i = 1; i < window; i++) {
        char c = buf[start + i];
        if (c == '#') {
            *frame = (struct str){buf + start, i + 1};
            *consumed = start + i + 1;
            return LOCK_SCAN_FRAME;
        }
        if (c == '*') {
            /* Cut short: the later '*' starts the next frame. */
            *consumed = start + i;
            return LOCK_SCAN_GARBAGE;
        }
    }
    if (avail < max_len) {
        *consumed = start;
        return LOCK_SCAN_NEED_MORE;
    }
    size_t from = start + MAX(window, (size_t)1);
    const char *star = from < len ? memchr(buf + from, '*', len - from) : NULL;
    *consumed = star ? (size_t)(star - buf) : len;
    return LOCK_SCAN_TOO_LONG;
}

const char *lock_cmd_name(enum lock_cmd cmd)
{
    switch (cmd) {
    case LOCK_CMD_SIGN_IN:
        return "Q0";
    case LOCK_CMD_HEARTBEAT:
        return "H0";
    case LOCK_CMD_POSITION:
    case LOCK_CMD_POSITION_REQUEST:
        return "D0";
    case LOCK_CMD_ALARM:
        return "W0";
    case LOCK_CMD_FAULT:
        return "E0";
    case LOCK_CMD_KEY:
    case LOCK_CMD_KEY_REQUEST:
        return "R0";
    case LOCK_CMD_UNLOCKED:
    case LOCK_CMD_UNLOCK:
    case LOCK_CMD_SECURE_UNLOCKED:
    case LOCK_CMD_SECURE_UNLOCK:
        return "L0";
    case LOCK_CMD_LOCKED:
        return "L1";
    case LOCK_CMD_UNKNOWN:
    case LOCK_CMD_ACK:
        break;
    }
    return "";
}

bool lock_msg_needs_ack(const struct lock_msg *m)
{
    if (m->hdr.is_to_lock)
        return false;
    return m->cmd == LOCK_CMD_UNLOCKED || m->cmd == LOCK_CMD_LOCKED ||
           m->cmd == LOCK_CMD_ALARM || m->cmd == LOCK_CMD_FAULT ||
           m->cmd == LOCK_CMD_SECURE_UNLOCKED;
}

/*
 * The kind of a secure frame: as in Omni, except that there is no R0 key
 * exchange (R0 is unknown) and L0 is the secure unlock or its result.
 */
static enum lock_cmd classify_secure(enum lock_cmd omni)
{
    switch (omni) {
    case LOCK_CMD_KEY:
    case LOCK_CMD_KEY_REQUEST:
        return LOCK_CMD_UNKNOWN;
    case LOCK_CMD_UNLOCKED:
        return LOCK_CMD_SECURE_UNLOCKED;
    case LOCK_CMD_UNLOCK:
        return LOCK_CMD_SECURE_UNLOCK;
    default:
        return omni;
    }
}

/* The kind of an Omni frame from its direction, name and value count. */
static enum lock_cmd classify(bool is_to_lock, struct str name, size_t n)
{
    static const struct {
        const char *name;
        enum lock_cmd cmd;
    } up[] = {
        {"Q0", LOCK_CMD_SIGN_IN},  {"H0", LOCK_CMD_HEARTBEAT},
        {"D0", LOCK_CMD_POSITION}, {"W0", LOCK_CMD_ALARM},
        {"E0", LOCK_CMD_FAULT},    {"R0", LOCK_CMD_KEY},
        {"L0", LOCK_CMD_UNLOCKED}, {"L1", LOCK_CMD_LOCKED},
    };
    if (!is_to_lock) {
        for (size_t i = 0; i < ARRAY_LEN(up); i++) {
            if (str_eq_cstr(name, up[i].name))
                return up[i].cmd;
        }
        return LOCK_CMD_UNKNOWN;
    }
    if (str_eq_cstr(name, "R0"))
        return LOCK_CMD_KEY_REQUEST;
    if (str_eq_cstr(name, "L0"))
        return n == 0 ? LOCK_CMD_ACK : LOCK_CMD_UNLOCK;
    if (n > 0)
        return LOCK_CMD_UNKNOWN;
    if (str_eq_cstr(name, "D0"))
        return LOCK_CMD_POSITION_REQUEST;
    if (str_eq_cstr(name, "L1") || str_eq_cstr(name, "W0") ||
        str_eq_cstr(name, "E0"))
        return LOCK_CMD_ACK;
    return LOCK_CMD_UNKNOWN;
}

/*
 * Checks that frame runs from '*' to '#' (trailing CR/LF dropped) over
 * printable ASCII, and sets *body to the bytes between the delimiters.
 */
enum err lock__frame_len(struct str frame, size_t *n, struct err_detail *d)
{
    *n = frame.len;
    while (*n > 0 && (frame.ptr[*n - 1] == '\n' || frame.ptr[*n - 1] == '\r'))
        (*n)--;
    if (*n > LOCK_FRAME_MAX)
        return err_set(d, ERR_TOO_BIG, "frame",
                       "frame of %zu bytes is over the %d byte limit", *n,
                       LOCK_FRAME_MAX);
    return ERR_OK;
}

static enum err check_frame(struct str frame, struct str *body,
                            struct err_detail *d)
{
    size_t n;
    enum err e = lock__frame_len(frame, &n, d);
    if (e != ERR_OK)
        return e;
    if (n < 2 || frame.ptr[0] != '*' || frame.ptr[n - 1] != '#')
        return err_set(d, ERR_INVALID, "frame",
                       "frame does not run from '*' to '#'");
    for (size_t i = 1; i + 1 < n; i++) {
        unsigned char c = (unsigned char)frame.ptr[i];
        if (c < 0x20 || c > 0x7e)
            return err_set(d, ERR_INVALID, "frame",
                           "frame has byte 0x%02x at offset %zu", c, i);
        if (c == '*' || c == '#')
            return err_set(d, ERR_INVALID, "frame",
                           "frame has a stray '%c' at offset %zu", c, i);
    }
    *body = (struct str){frame.ptr + 1, n - 2};
    return ERR_OK;
}

/* Decodes the header tag, vendor and IMEI (fields 0..2) into *h. */
static enum err parse_header(const struct str *f, struct lock_header *h,
                             struct err_detail *d)
{
    static const struct {
        const char *tag;
        enum lock_dialect dialect;
        bool is_to_lock, is_legacy;
    } tags[] = {
        {"SCOR", LOCK_DIALECT_SCOR, false, false},
        {"HBCR", LOCK_DIALECT_SCOR, false, true},
        {"CMDR", LOCK_DIALECT_CMDR, false, false},
        {"SCOS", LOCK_DIALECT_SCOR, true, false},
        {"CMDS", LOCK_DIALECT_CMDR, true, false},
        {"SCSR", LOCK_DIALECT_SECURE, false, false},
        {"SCSS", LOCK_DIALECT_SECURE, true, false},
    };
    size_t t = 0;
    while (t < ARRAY_LEN(tags) && !str_eq_cstr(f[0], tags[t].tag))
        t++;
    if (t == ARRAY_LEN(tags))
        return err_set(d, ERR_INVALID, "header", "unknown frame header '*%.*s'",
                       LOCK__QUOTE(f[0]));
    h->dialect = tags[t].dialect;
    h->is_to_lock = tags[t].is_to_lock;
    h->is_legacy = tags[t].is_legacy;

    if (!lock__is_alnum(f[1], 1, LOCK_VENDOR_MAX))
        return err_set(d, ERR_INVALID, "vendor",
                       "vendor '%.*s' is not 1 to %d letters or digits",
                       LOCK__QUOTE(f[1]), LOCK_VENDOR_MAX);
    memcpy(h->vendor, f[1].ptr, f[1].len);
    h->vendor[f[1].len] = '\0';

    if (f[2].len != 15 || !str_is_digits(f[2]))
        return err_set(d, ERR_INVALID, "imei", "imei '%.*s' is not 15 digits",
                       LOCK__QUOTE(f[2]));
    h->imei = 0;
    for (size_t i = 0; i < f[2].len; i++)
        h->imei = h->imei * 10 + (uint64_t)(f[2].ptr[i] - '0');
    return ERR_OK;
}

static bool is_stamp(struct str s)
{
    return s.len == LOCK_STAMP_LEN && str_is_digits(s);
}

/*
 * Decodes a secure-dialect counter: canonical decimal (no sign, no leading
 * zero) from 1 to LOCK_COUNTER_MAX.
 */
static enum err parse_counter(struct str s, uint64_t *counter,
                              struct err_detail *d)
{
    uint64_t v = 0;
    bool ok =
        str_is_digits(s) && s.len <= COUNTER_DIGITS_MAX && s.ptr[0] != '0';
    for (size_t i = 0; ok && i < s.len; i++)
        v = v * 10 + (uint64_t)(s.ptr[i] - '0'); /* < 10^19 < 2^64 */
    if (!ok || v > LOCK_COUNTER_MAX)
        return err_set(d, ERR_INVALID, "counter",
                       "counter '%.*s' is not a decimal from 1 to 2^63-1",
                       LOCK__QUOTE(s));
    *counter = v;
    return ERR_OK;
}

enum err lock_msg_parse(struct str frame, struct lock_msg *out,
                        struct err_detail *d)
{
    struct str body;
    enum err e = check_frame(frame, &body, d);
    if (e != ERR_OK)
        return e;

    struct str f[FIELDS_MAX];
    size_t nf = 0;
    struct str rest = body;
    do {
        if (nf == FIELDS_MAX)
            return err_set(d, ERR_TOO_BIG, "values",
                           "frame has more than %d values", LOCK_VALUES_MAX);
        rest = str_cut(rest, ',', &f[nf]);
        nf++;
    } while (rest.ptr);
    if (nf < 4)
        return err_set(d, ERR_INVALID, "frame",
                       "frame has %zu fields, needs a header tag, vendor, "
                       "imei and command",
                       nf);

    struct lock_msg m;
    memset(&m, 0, sizeof(m));
    e = parse_header(f, &m.hdr, d);
    if (e != ERR_OK)
        return e;

    /*
     * The secure dialect has a counter where the stamp may be and ends in
     * the MAC; CMDR always has a stamp; SCOR may, if a command follows it.
     */
    size_t at = 3;
    bool is_secure = m.hdr.dialect == LOCK_DIALECT_SECURE;
    if (is_secure) {
        if (nf < 6)
            return err_set(d, ERR_INVALID, "frame",
                           "secure frame has %zu fields, needs a header tag, "
                           "vendor, imei, counter, command and mac",
                           nf);
        e = parse_counter(f[3], &m.hdr.counter, d);
        if (e != ERR_OK)
            return e;
        nf--;
        m.mac = f[nf];
        if (!lock__is_mac(m.mac))
            return err_set(d, ERR_INVALID, "mac",
                           "mac '%.*s' is not %d lowercase hex digits",
                           LOCK__QUOTE(m.mac), LOCK_MAC_HEX_LEN);
        at = 4;
    } else if (m.hdr.dialect == LOCK_DIALECT_CMDR ||
               (nf > 4 && is_stamp(f[3]))) {
        if (!is_stamp(f[3]))
            return err_set(d, ERR_INVALID, "stamp",
                           "stamp '%.*s' is not %d digits", LOCK__QUOTE(f[3]),
                           LOCK_STAMP_LEN);
        m.hdr.has_stamp = true;
        memcpy(m.hdr.stamp, f[3].ptr, LOCK_STAMP_LEN);
        at = 4;
    }
    if (at >= nf)
        return err_set(d, ERR_INVALID, "command", "frame has no command");
    m.name = f[at];
    if (!lock__is_alnum(m.name, 1, LOCK_NAME_MAX))
        return err_set(d, ERR_INVALID, "command",
                       "command '%.*s' is not 1 to %d letters or digits",
                       LOCK__QUOTE(m.name), LOCK_NAME_MAX);
    m.n_values = nf - at - 1;
    if (m.n_values > LOCK_VALUES_MAX)
        return err_set(d, ERR_TOO_BIG, "values",
                       "frame has more than %d values", LOCK_VALUES_MAX);
    for (size_t i = 0; i < m.n_values; i++)
        m.values[i] = f[at + 1 + i];

    m.cmd = classify(m.hdr.is_to_lock, m.name, m.n_values);
    if (is_secure)
        m.cmd = classify_secure(m.cmd);
    e = lock__decode_payload(&m, d);
    if (e != ERR_OK)
        return e;
    *out = m;
    return ERR_OK;
}
