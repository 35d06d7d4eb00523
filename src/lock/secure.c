/* SPDX-License-Identifier: MIT */
/*
 * The secure dialect of the lock codec: the MAC over a frame, its constant
 * time verification, and the builders that take the lock's key. Parsing is
 * shared with the Omni dialects (frame.c) and formatting with build.c.
 */
#include "base/sys.h"
#include "lock/lock.h"
#include "lock/lock_int.h"

#include <sodium.h>

/* The MAC is HMAC-SHA-256 cut to its first 16 bytes. */
#define MAC_BYTES (LOCK_MAC_HEX_LEN / 2)

_Static_assert(LOCK_KEY_BYTES == crypto_auth_hmacsha256_KEYBYTES,
               "the lock key is an HMAC-SHA-256 key");
_Static_assert(MAC_BYTES <= crypto_auth_hmacsha256_BYTES,
               "the MAC is a prefix of HMAC-SHA-256");

void lock__mac_hex(const unsigned char key[LOCK_KEY_BYTES], const char *p,
                   size_t n, char hex[LOCK_MAC_HEX_LEN + 1])
{
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256(mac, (const unsigned char *)p, n, key);
    /* sodium_bin2hex is constant time and writes lowercase and a NUL. */
    sodium_bin2hex(hex, LOCK_MAC_HEX_LEN + 1, mac, MAC_BYTES);
    sodium_memzero(mac, sizeof(mac));
}

bool lock__is_mac(struct str s)
{
    if (s.len != LOCK_MAC_HEX_LEN)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

/* True if frame starts with the tag of a secure frame, "*SCSR," or "*SCSS,". */
static bool has_secure_tag(struct str frame)
{
    return str_has_prefix(frame, "*SCSR,") || str_has_prefix(frame, "*SCSS,");
}

enum err lock_secure_verify(struct str frame,
                            const unsigned char key[LOCK_KEY_BYTES],
                            struct err_detail *d)
{
    if (!key)
        return err_setc(d, ERR_INVALID, "no_key", "key",
                        "verifying a secure frame needs the lock's key");
    size_t n;
    enum err e = lock__frame_len(frame, &n, d);
    if (e != ERR_OK)
        return e;
    if (!has_secure_tag(frame))
        return err_setc(d, ERR_INVALID, "not_secure", "header",
                        "frame is not of the secure dialect");
    if (frame.ptr[n - 1] != '#')
        return err_setc(d, ERR_INVALID, "bad_mac", "frame",
                        "secure frame does not end in '#'");

    /* The MAC is the last field: after the last ',' and before the '#'. */
    size_t comma = n - 1;
    while (frame.ptr[comma - 1] != ',')
        comma--; /* stops at the ',' of the tag at the latest */
    struct str mac = {frame.ptr + comma, n - 1 - comma};
    if (!lock__is_mac(mac))
        return err_setc(d, ERR_INVALID, "bad_mac", "mac",
                        "mac '%.*s' is not %d lowercase hex digits",
                        LOCK__QUOTE(mac), LOCK_MAC_HEX_LEN);
    char want[LOCK_MAC_HEX_LEN + 1];
    lock__mac_hex(key, frame.ptr, comma, want);
    int cmp = sodium_memcmp(want, mac.ptr, LOCK_MAC_HEX_LEN);
    sodium_memzero(want, sizeof(want));
    if (cmp != 0)
        return err_setc(d, ERR_INVALID, "bad_mac", "mac",
                        "mac does not match the frame");
    return ERR_OK;
}

enum err lock_build_secure(const struct lock_msg *m,
                           const unsigned char key[LOCK_KEY_BYTES], char *out,
                           size_t cap, size_t *len, struct err_detail *d)
{
    if (m->hdr.dialect != LOCK_DIALECT_SECURE)
        return err_set(d, ERR_INVALID, "dialect",
                       "dialect %d is not the secure dialect",
                       (int)m->hdr.dialect);
    return lock__build(m, key, out, cap, len, d);
}

enum err lock_build_secure_ack(const struct lock_msg *report, uint64_t counter,
                               const unsigned char key[LOCK_KEY_BYTES],
                               char *out, size_t cap, size_t *len,
                               struct err_detail *d)
{
    if (report->hdr.is_to_lock)
        return err_set(d, ERR_INVALID, "command",
                       "cannot acknowledge a server-to-lock frame");
    struct lock_msg m;
    memset(&m, 0, sizeof(m));
    m.hdr = report->hdr;
    m.hdr.is_to_lock = true;
    m.hdr.counter = counter;
    m.cmd = LOCK_CMD_ACK;
    m.name = report->name;
    return lock_build_secure(&m, key, out, cap, len, d);
}

enum err lock_build_secure_unlock(const struct lock_header *h, int64_t trip_id,
                                  int64_t user_id, int64_t expires_s,
                                  const unsigned char key[LOCK_KEY_BYTES],
                                  char *out, size_t cap, size_t *len,
                                  struct err_detail *d)
{
    struct lock_msg m;
    memset(&m, 0, sizeof(m));
    m.hdr = *h;
    m.hdr.is_to_lock = true;
    m.cmd = LOCK_CMD_SECURE_UNLOCK;
    m.u.secure_unlock.trip_id = trip_id;
    m.u.secure_unlock.user_id = user_id;
    m.u.secure_unlock.expires_s = expires_s;
    return lock_build_secure(&m, key, out, cap, len, d);
}
