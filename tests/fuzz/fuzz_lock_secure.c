/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the secure dialect of the lock codec: verifies and
 * parses the input as one frame and every frame the framer finds in it,
 * with a fixed key, and checks the invariants: verification fails only with
 * its stable reasons, whatever parses as secure rebuilds with the key into
 * a frame that verifies and parses back to the same message, the rebuilt
 * MAC decides the original's verification when the bytes are canonical,
 * acknowledgements verify, and the keyless builders refuse the dialect.
 */
#include "base/sys.h"
#include "lock/lock.h"

#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(c)                                                             \
    do {                                                                       \
        if (!(c)) {                                                            \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__,         \
                    __LINE__, #c);                                             \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* The seed corpus is MACed with this key: the bytes 0x00..0x1f. */
static void fixed_key(unsigned char key[LOCK_KEY_BYTES], unsigned char first)
{
    for (size_t i = 0; i < LOCK_KEY_BYTES; i++)
        key[i] = (unsigned char)(first + i);
}

static bool is_secure_tag(struct str f)
{
    return str_has_prefix(f, "*SCSR,") || str_has_prefix(f, "*SCSS,");
}

/* frame without its trailing CR/LF. */
static struct str trimmed(struct str f)
{
    while (f.len > 0 && (f.ptr[f.len - 1] == '\n' || f.ptr[f.len - 1] == '\r'))
        f.len--;
    return f;
}

/* The frame that a builder wrote to out[0..len): after 0xFF 0xFF, before LF. */
static struct str built_frame(const char *out, size_t len, bool is_to_lock)
{
    REQUIRE(len > 3 && out[len - 1] == '\n' && out[len - 2] == '#');
    size_t skip = is_to_lock ? 2 : 0;
    if (is_to_lock)
        REQUIRE((unsigned char)out[0] == 0xff && (unsigned char)out[1] == 0xff);
    struct str f = {out + skip, len - skip - 1};
    REQUIRE(f.len <= LOCK_FRAME_MAX && f.ptr[0] == '*');
    return f;
}

/* a and b, both parsed from secure frames, carry the same message. */
static void check_same(const struct lock_msg *a, const struct lock_msg *b)
{
    REQUIRE(a->cmd == b->cmd);
    REQUIRE(a->hdr.dialect == LOCK_DIALECT_SECURE);
    REQUIRE(b->hdr.dialect == LOCK_DIALECT_SECURE);
    REQUIRE(a->hdr.is_to_lock == b->hdr.is_to_lock);
    REQUIRE(!b->hdr.has_stamp && !b->hdr.is_legacy);
    REQUIRE(a->hdr.imei == b->hdr.imei && a->hdr.counter == b->hdr.counter);
    REQUIRE(strcmp(a->hdr.vendor, b->hdr.vendor) == 0);
    REQUIRE(str_eq(a->name, b->name));
    switch (a->cmd) {
    case LOCK_CMD_SECURE_UNLOCK:
        REQUIRE(memcmp(&a->u.secure_unlock, &b->u.secure_unlock,
                       sizeof(a->u.secure_unlock)) == 0);
        break;
    case LOCK_CMD_SECURE_UNLOCKED:
        REQUIRE(memcmp(&a->u.secure_unlocked, &b->u.secure_unlocked,
                       sizeof(a->u.secure_unlocked)) == 0);
        break;
    case LOCK_CMD_SIGN_IN:
        REQUIRE(memcmp(&a->u.sign_in, &b->u.sign_in, sizeof(a->u.sign_in)) ==
                0);
        break;
    case LOCK_CMD_LOCKED:
        REQUIRE(memcmp(&a->u.locked, &b->u.locked, sizeof(a->u.locked)) == 0);
        break;
    case LOCK_CMD_ALARM:
        REQUIRE(a->u.alarm.code == b->u.alarm.code);
        break;
    case LOCK_CMD_FAULT:
        REQUIRE(a->u.fault.code == b->u.fault.code);
        break;
    case LOCK_CMD_UNKNOWN:
        REQUIRE(a->n_values == b->n_values);
        for (size_t i = 0; i < a->n_values; i++)
            REQUIRE(str_eq(a->values[i], b->values[i]));
        break;
    default:
        /* Positions are rounded: the byte-identical second build covers. */
        break;
    }
}

/* Parses the frame of out[0..len), which must verify with key. */
static void parse_built(const char *out, size_t len, bool is_to_lock,
                        const unsigned char *key, struct lock_msg *m)
{
    struct str f = built_frame(out, len, is_to_lock);
    struct err_detail d;
    enum err e = lock_secure_verify(f, key, &d);
    if (e != ERR_OK)
        fprintf(stderr, "rebuilt '%.*s': %s\n", (int)f.len, f.ptr, d.msg);
    REQUIRE(e == ERR_OK);
    e = lock_msg_parse(f, m, &d);
    if (e != ERR_OK)
        fprintf(stderr, "rebuilt '%.*s': %s\n", (int)f.len, f.ptr, d.msg);
    REQUIRE(e == ERR_OK);
}

/* Checks m, parsed from the secure frame, whose verification gave v. */
static void check_secure_msg(struct str frame, const struct lock_msg *m,
                             enum err v, const unsigned char *key)
{
    REQUIRE(v == ERR_OK || v == ERR_INVALID);
    REQUIRE(m->hdr.counter >= 1 && m->hdr.counter <= LOCK_COUNTER_MAX);
    REQUIRE(m->mac.len == LOCK_MAC_HEX_LEN);
    REQUIRE(m->mac.ptr + m->mac.len + 1 == frame.ptr + frame.len);
    REQUIRE(!m->hdr.has_stamp && !m->hdr.is_legacy);
    REQUIRE(m->cmd != LOCK_CMD_KEY && m->cmd != LOCK_CMD_KEY_REQUEST &&
            m->cmd != LOCK_CMD_UNLOCK && m->cmd != LOCK_CMD_UNLOCKED);

    /* The keyless builders refuse the dialect. */
    char out[LOCK_BUILD_MAX];
    size_t len = 0;
    struct err_detail d;
    REQUIRE(lock_build_msg(m, out, sizeof(out), &len, &d) == ERR_INVALID);
    REQUIRE(lock_build_secure(m, NULL, out, sizeof(out), &len, &d) ==
            ERR_INVALID);

    /* Rebuilt with the key, it verifies, parses back, and is stable. */
    enum err e = lock_build_secure(m, key, out, sizeof(out), &len, &d);
    if (e != ERR_OK && e != ERR_TOO_BIG)
        fprintf(stderr, "rebuild '%.*s': %s\n", (int)frame.len, frame.ptr,
                d.msg);
    REQUIRE(e == ERR_OK || e == ERR_TOO_BIG);
    if (e == ERR_OK) {
        struct lock_msg back;
        parse_built(out, len, m->hdr.is_to_lock, key, &back);
        check_same(m, &back);
        char out2[LOCK_BUILD_MAX];
        size_t len2 = 0;
        REQUIRE(lock_build_secure(&back, key, out2, sizeof(out2), &len2, &d) ==
                ERR_OK);
        REQUIRE(len == len2 && memcmp(out, out2, len) == 0);

        /*
         * Where the original is canonical up to its MAC, it verifies
         * exactly when its MAC is the one the builder computed.
         */
        struct str f = built_frame(out, len, m->hdr.is_to_lock);
        size_t body = f.len - LOCK_MAC_HEX_LEN - 1;
        if (f.len == frame.len && memcmp(f.ptr, frame.ptr, body) == 0) {
            bool same_mac =
                memcmp(f.ptr + body, frame.ptr + body, LOCK_MAC_HEX_LEN) == 0;
            REQUIRE(same_mac == (v == ERR_OK));
        }

        if (m->cmd == LOCK_CMD_SECURE_UNLOCK && m->n_values == 3) {
            const struct lock_secure_unlock *u = &m->u.secure_unlock;
            REQUIRE(lock_build_secure_unlock(
                        &m->hdr, u->trip_id, u->user_id, u->expires_s, key,
                        out2, sizeof(out2), &len2, &d) == ERR_OK);
            REQUIRE(len == len2 && memcmp(out, out2, len) == 0);
        }
    }

    if (lock_msg_needs_ack(m)) {
        REQUIRE(lock_build_ack(m, out, sizeof(out), &len, &d) == ERR_INVALID);
        uint64_t next = m->hdr.counter % LOCK_COUNTER_MAX + 1;
        REQUIRE(lock_build_secure_ack(m, next, key, out, sizeof(out), &len,
                                      &d) == ERR_OK);
        struct lock_msg a;
        parse_built(out, len, true, key, &a);
        REQUIRE(a.cmd == LOCK_CMD_ACK && a.hdr.is_to_lock);
        REQUIRE(a.hdr.counter == next && str_eq(a.name, m->name));
        REQUIRE(a.hdr.imei == m->hdr.imei);
    }
}

static void check_frame(struct str frame)
{
    unsigned char key[LOCK_KEY_BYTES];
    unsigned char other[LOCK_KEY_BYTES];
    fixed_key(key, 0);
    fixed_key(other, 1);

    struct err_detail d;
    err_clear(&d);
    struct str t = trimmed(frame);
    enum err v = lock_secure_verify(frame, key, &d);
    REQUIRE(v == ERR_OK || v == ERR_INVALID || v == ERR_TOO_BIG);
    REQUIRE(v != ERR_TOO_BIG || t.len > LOCK_FRAME_MAX);
    bool is_not_secure = false;
    if (v == ERR_INVALID) {
        is_not_secure = strcmp(d.code, "not_secure") == 0;
        REQUIRE(is_not_secure || strcmp(d.code, "bad_mac") == 0);
        REQUIRE(is_not_secure == !is_secure_tag(frame));
    }
    if (v == ERR_OK) {
        REQUIRE(is_secure_tag(frame) && t.ptr[t.len - 1] == '#');
        /* A MAC that verifies with one key does not with another. */
        REQUIRE(lock_secure_verify(frame, other, &d) == ERR_INVALID);
        REQUIRE(strcmp(d.code, "bad_mac") == 0);
    }

    struct lock_msg m;
    enum err e = lock_msg_parse(frame, &m, &d);
    REQUIRE(e == ERR_OK || e == ERR_INVALID || e == ERR_TOO_BIG);
    if (e != ERR_OK)
        return;
    REQUIRE(m.n_values <= LOCK_VALUES_MAX);
    if (m.hdr.dialect == LOCK_DIALECT_SECURE) {
        REQUIRE(is_secure_tag(frame));
        check_secure_msg(t, &m, v, key);
    } else {
        /* An Omni frame is never taken for a secure one. */
        REQUIRE(is_not_secure);
        REQUIRE(m.mac.ptr == NULL && m.mac.len == 0 && m.hdr.counter == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    /* The whole input as one frame: any bytes, any length. */
    check_frame((struct str){buf, size});
    /* And every frame the framer finds in it. */
    size_t off = 0;
    for (;;) {
        struct str f;
        size_t used = 0;
        enum lock_scan r =
            lock_frame_scan(buf + off, size - off, LOCK_FRAME_MAX, &f, &used);
        if (r == LOCK_SCAN_FRAME)
            check_frame(f);
        off += used;
        if (r == LOCK_SCAN_NEED_MORE)
            break;
    }
    return 0;
}
