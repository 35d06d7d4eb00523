/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the lock codec: runs the framer over the input as one
 * buffer and again through a bounded receive buffer fed in small chunks,
 * parses every frame found, and checks the invariants: consumed bytes within
 * the buffer, the same frames both ways, bounded buffering, and every parsed
 * message rebuilding into a frame that parses back to the same message and
 * rebuilds to the same bytes.
 */
#include "base/sys.h"
#include "lock/lock.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FRAMES_MAX 4096

#define REQUIRE(c)                                                             \
    do {                                                                       \
        if (!(c)) {                                                            \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__,         \
                    __LINE__, #c);                                             \
            abort();                                                           \
        }                                                                      \
    } while (0)

static bool near(double a, double b, double eps)
{
    return a - b <= eps && b - a <= eps;
}

/* The typed payloads of a and b agree (up to the builders' rounding). */
static void check_same(const struct lock_msg *a, const struct lock_msg *b)
{
    REQUIRE(a->cmd == b->cmd);
    REQUIRE(a->hdr.dialect == b->hdr.dialect);
    REQUIRE(a->hdr.is_to_lock == b->hdr.is_to_lock);
    REQUIRE(a->hdr.is_legacy == b->hdr.is_legacy);
    REQUIRE(a->hdr.has_stamp == b->hdr.has_stamp);
    REQUIRE(a->hdr.imei == b->hdr.imei);
    REQUIRE(strcmp(a->hdr.vendor, b->hdr.vendor) == 0);
    REQUIRE(!a->hdr.has_stamp || strcmp(a->hdr.stamp, b->hdr.stamp) == 0);
    REQUIRE(str_eq(a->name, b->name));
    const struct lock_position *p = &a->u.position;
    const struct lock_position *q = &b->u.position;
    switch (a->cmd) {
    case LOCK_CMD_SIGN_IN:
        REQUIRE(memcmp(&a->u.sign_in, &b->u.sign_in, sizeof(a->u.sign_in)) ==
                0);
        break;
    case LOCK_CMD_HEARTBEAT:
        REQUIRE(a->u.heartbeat.is_locked == b->u.heartbeat.is_locked);
        REQUIRE(a->u.heartbeat.is_charging == b->u.heartbeat.is_charging);
        REQUIRE(a->u.heartbeat.voltage_cv == b->u.heartbeat.voltage_cv);
        REQUIRE(a->u.heartbeat.signal == b->u.heartbeat.signal);
        REQUIRE(a->u.heartbeat.battery_pct == b->u.heartbeat.battery_pct);
        break;
    case LOCK_CMD_POSITION:
        REQUIRE(p->status == q->status && p->is_valid == q->is_valid);
        REQUIRE(p->has_time == q->has_time);
        REQUIRE(!p->has_time || p->fix_time_s == q->fix_time_s);
        REQUIRE(near(p->lat_deg, q->lat_deg, 1e-6));
        REQUIRE(near(p->lon_deg, q->lon_deg, 1e-6));
        REQUIRE(p->satellites == q->satellites && p->mode == q->mode);
        REQUIRE(near(p->hdop, q->hdop, 0.0051));
        REQUIRE(near(p->alt_m, q->alt_m, 0.0051));
        break;
    case LOCK_CMD_ALARM:
        REQUIRE(a->u.alarm.code == b->u.alarm.code);
        REQUIRE(a->u.alarm.kind == b->u.alarm.kind);
        break;
    case LOCK_CMD_FAULT:
        REQUIRE(a->u.fault.code == b->u.fault.code);
        break;
    case LOCK_CMD_KEY:
        REQUIRE(a->u.key.op == b->u.key.op);
        REQUIRE(str_eq(a->u.key.key, b->u.key.key));
        REQUIRE(a->u.key.user_id == b->u.key.user_id);
        REQUIRE(a->u.key.time_s == b->u.key.time_s);
        break;
    case LOCK_CMD_UNLOCKED:
        REQUIRE(memcmp(&a->u.unlocked, &b->u.unlocked, sizeof(a->u.unlocked)) ==
                0);
        break;
    case LOCK_CMD_LOCKED:
        REQUIRE(memcmp(&a->u.locked, &b->u.locked, sizeof(a->u.locked)) == 0);
        break;
    case LOCK_CMD_KEY_REQUEST:
        REQUIRE(memcmp(&a->u.key_request, &b->u.key_request,
                       sizeof(a->u.key_request)) == 0);
        break;
    case LOCK_CMD_UNLOCK:
        REQUIRE(str_eq(a->u.unlock.key, b->u.unlock.key));
        REQUIRE(a->u.unlock.user_id == b->u.unlock.user_id);
        REQUIRE(a->u.unlock.time_s == b->u.unlock.time_s);
        break;
    case LOCK_CMD_SECURE_UNLOCK:
    case LOCK_CMD_SECURE_UNLOCKED:
        /* Secure frames need a key to rebuild: fuzz_lock_secure checks. */
        REQUIRE(false);
        break;
    case LOCK_CMD_UNKNOWN:
        REQUIRE(a->n_values == b->n_values);
        for (size_t i = 0; i < a->n_values; i++)
            REQUIRE(str_eq(a->values[i], b->values[i]));
        break;
    case LOCK_CMD_POSITION_REQUEST:
    case LOCK_CMD_ACK:
        break;
    }
}

/* Parses the one frame that out[0..len) holds. */
static void parse_built(const char *out, size_t len, struct lock_msg *m)
{
    struct str f;
    size_t used = 0;
    REQUIRE(lock_frame_scan(out, len, LOCK_FRAME_MAX, &f, &used) ==
            LOCK_SCAN_FRAME);
    REQUIRE(used == len - 1 && out[len - 1] == '\n');
    struct err_detail d;
    enum err e = lock_msg_parse(f, m, &d);
    if (e != ERR_OK)
        fprintf(stderr, "rebuilt '%.*s': %s\n", (int)f.len, f.ptr, d.msg);
    REQUIRE(e == ERR_OK);
}

static void check_frame(struct str frame)
{
    REQUIRE(frame.len >= 2 && frame.len <= LOCK_FRAME_MAX);
    REQUIRE(frame.ptr[0] == '*' && frame.ptr[frame.len - 1] == '#');
    struct lock_msg m;
    struct err_detail d;
    enum err e = lock_msg_parse(frame, &m, &d);
    REQUIRE(e == ERR_OK || e == ERR_INVALID || e == ERR_TOO_BIG);
    if (e != ERR_OK) {
        REQUIRE(d.msg[0] != '\0');
        return;
    }
    REQUIRE(m.n_values <= LOCK_VALUES_MAX);
    if (m.hdr.dialect == LOCK_DIALECT_SECURE) {
        /* The keyless builders refuse it; fuzz_lock_secure does the rest. */
        char out[LOCK_BUILD_MAX];
        size_t len = 0;
        REQUIRE(lock_build_msg(&m, out, sizeof(out), &len, &d) == ERR_INVALID);
        REQUIRE(!lock_msg_needs_ack(&m) ||
                lock_build_ack(&m, out, sizeof(out), &len, &d) == ERR_INVALID);
        return;
    }

    /* Whatever parses rebuilds, unless canonical numbers make it longer. */
    char out1[LOCK_BUILD_MAX];
    size_t len1 = 0;
    e = lock_build_msg(&m, out1, sizeof(out1), &len1, &d);
    if (e != ERR_OK)
        fprintf(stderr, "rebuild '%.*s': %s\n", (int)frame.len, frame.ptr,
                d.msg);
    REQUIRE(e == ERR_OK || e == ERR_TOO_BIG);
    if (e == ERR_OK) {
        struct lock_msg back;
        parse_built(out1, len1, &back);
        check_same(&m, &back);
        char out2[LOCK_BUILD_MAX];
        size_t len2 = 0;
        REQUIRE(lock_build_msg(&back, out2, sizeof(out2), &len2, &d) == ERR_OK);
        REQUIRE(len1 == len2 && memcmp(out1, out2, len1) == 0);
    }

    if (lock_msg_needs_ack(&m)) {
        char ack[LOCK_BUILD_MAX];
        size_t ack_len = 0;
        REQUIRE(lock_build_ack(&m, ack, sizeof(ack), &ack_len, &d) == ERR_OK);
        struct lock_msg a;
        parse_built(ack, ack_len, &a);
        REQUIRE(a.cmd == LOCK_CMD_ACK && a.hdr.is_to_lock);
        REQUIRE(str_eq(a.name, m.name) && a.hdr.imei == m.hdr.imei);
    }
}

/* Offsets and lengths of the frames found, in order. */
struct found {
    size_t n;
    struct str f[FRAMES_MAX];
};

static struct found whole;
static struct found chunked;

static void record(struct found *fd, struct str f)
{
    if (fd->n < FRAMES_MAX)
        fd->f[fd->n] = f;
    fd->n++;
}

/* Scans the input as one buffer. */
static void scan_whole(const char *buf, size_t len)
{
    size_t off = 0;
    for (;;) {
        struct str f;
        size_t used = 0;
        enum lock_scan r =
            lock_frame_scan(buf + off, len - off, LOCK_FRAME_MAX, &f, &used);
        REQUIRE(used <= len - off);
        if (r == LOCK_SCAN_FRAME) {
            check_frame(f);
            record(&whole, f);
        } else {
            REQUIRE(f.ptr == NULL && f.len == 0);
        }
        off += used;
        if (r == LOCK_SCAN_NEED_MORE) {
            REQUIRE(len - off < LOCK_FRAME_MAX);
            REQUIRE(off == len || buf[off] == '*');
            return;
        }
        REQUIRE(used > 0);
    }
}

/*
 * Feeds the input through a receive buffer of LOCK_FRAME_MAX + chunk bytes,
 * chunk bytes at a time, as a connection would. Frames are copied out, so
 * they are compared by content.
 */
static void scan_chunked(const char *in, size_t len, size_t chunk)
{
    static char buf[LOCK_FRAME_MAX + 64];
    static char copies[FRAMES_MAX][LOCK_FRAME_MAX];
    size_t have = 0;
    size_t pos = 0;
    while (pos < len) {
        size_t take = MIN(chunk, len - pos);
        REQUIRE(have + take <= sizeof(buf));
        memcpy(buf + have, in + pos, take);
        have += take;
        pos += take;
        for (;;) {
            struct str f;
            size_t used = 0;
            enum lock_scan r =
                lock_frame_scan(buf, have, LOCK_FRAME_MAX, &f, &used);
            REQUIRE(used <= have);
            if (r == LOCK_SCAN_FRAME && chunked.n < FRAMES_MAX) {
                memcpy(copies[chunked.n], f.ptr, f.len);
                record(&chunked, (struct str){copies[chunked.n], f.len});
            } else if (r == LOCK_SCAN_FRAME) {
                chunked.n++;
            }
            memmove(buf, buf + used, have - used);
            have -= used;
            if (r == LOCK_SCAN_NEED_MORE) {
                REQUIRE(have < LOCK_FRAME_MAX);
                break;
            }
            REQUIRE(used > 0);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    whole.n = 0;
    chunked.n = 0;
    scan_whole(in, size);
    /* The first byte picks the chunk size: 1..64. */
    size_t chunk = size > 0 ? (size_t)(data[0] % 64) + 1 : 1;
    scan_chunked(in, size, chunk);
    REQUIRE(whole.n == chunked.n);
    for (size_t i = 0; i < MIN(whole.n, (size_t)FRAMES_MAX); i++)
        REQUIRE(str_eq(whole.f[i], chunked.f[i]));
    return 0;
}
