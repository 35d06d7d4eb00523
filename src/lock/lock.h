/* SPDX-License-Identifier: MIT */
/*
 * The Omni smart-lock protocol codec: a stream framer for a connection's
 * receive buffer, a decoder from one frame to a typed message, and builders
 * for both directions (server to lock for the gateway, lock to server for
 * the simulator and the tests), plus spoke's secure dialect (a counter and
 * an HMAC in every frame). Pure: no I/O, no clock, no printing.
 * docs/internals/lock.md describes the grammar and the limits.
 */
#ifndef LOCK_LOCK_H
#define LOCK_LOCK_H

#include "base/sys.h"
#include "base/err.h"
#include "base/str.h"

/* Longest frame, from '*' to '#' inclusive, that is parsed or built. */
#define LOCK_FRAME_MAX 512
/* Most values after the command name in one frame. */
#define LOCK_VALUES_MAX 32
/*
 * Longest vendor code ("OM"), command name ("Q0") and one-time key (the
 * Omni R0 key, not the secret of the secure dialect: see LOCK_KEY_BYTES).
 */
#define LOCK_VENDOR_MAX 8
#define LOCK_NAME_MAX 8
#define LOCK_KEY_MAX 32
/* A header stamp is exactly this many digits (yyMMddHHmmss). */
#define LOCK_STAMP_LEN 12
/* IMEIs are exactly 15 digits, so at most this. */
#define LOCK_IMEI_MAX UINT64_C(999999999999999)
/* Room for a server-to-lock frame: 0xFF 0xFF, the frame and "\n". */
#define LOCK_BUILD_MAX (LOCK_FRAME_MAX + 3)
/* The secret of a lock in the secure dialect: an HMAC-SHA-256 key. */
#define LOCK_KEY_BYTES 32
/* The MAC of a secure frame on the wire: 16 bytes as lowercase hex. */
#define LOCK_MAC_HEX_LEN 32
/* Secure-dialect counters run from 1 to this (2^63 - 1). */
#define LOCK_COUNTER_MAX UINT64_C(9223372036854775807)

/* ---- framing ---------------------------------------------------------- */

/* What lock_frame_scan found at the front of a receive buffer. */
enum lock_scan {
    LOCK_SCAN_NEED_MORE, /* no complete frame yet: read more bytes */
    LOCK_SCAN_FRAME,     /* a frame from '*' to '#' */
    LOCK_SCAN_GARBAGE,   /* bytes that belong to no frame */
    LOCK_SCAN_TOO_LONG,  /* a frame start with no '#' within max_len */
};

/*
 * Finds the next frame at the front of buf[0..len), a connection's receive
 * buffer that may hold partial frames, several frames, filler (0xFF, CR,
 * LF) and garbage. Never reads past len and keeps no state between calls.
 *
 * The caller drops the first *consumed bytes after each call (always set,
 * always <= len) and calls again until LOCK_SCAN_NEED_MORE:
 * - LOCK_SCAN_FRAME: *frame is the frame from '*' to '#' inclusive, at most
 *   max_len bytes, borrowed from buf (use it before dropping the bytes);
 *   *consumed covers the filler before it and the frame.
 * - LOCK_SCAN_GARBAGE: *consumed > 0 bytes that cannot be part of a frame:
 *   text before the next '*', or a frame start cut short by another '*'
 *   (the later '*' wins).
 * - LOCK_SCAN_TOO_LONG: a '*' with no '#' within max_len bytes; *consumed
 *   covers it up to the next '*' or the end of buf, and what arrives later
 *   up to the next '*' scans as garbage (resynchronisation at '*').
 * - LOCK_SCAN_NEED_MORE: *consumed is the filler that can go (maybe 0);
 *   what remains is empty or an incomplete frame shorter than max_len.
 * So a buffer of max_len bytes plus one read is always enough: memory stays
 * bounded whatever the peer sends. *frame is {NULL, 0} unless a frame was
 * found. max_len is usually LOCK_FRAME_MAX; with max_len < 2 every frame
 * is too long. Thread-safe.
 */
enum lock_scan lock_frame_scan(const char *buf, size_t len, size_t max_len,
                               struct str *frame, size_t *consumed);

/* ---- messages --------------------------------------------------------- */

/*
 * The header families; *HBCR is an older name for *SCOR. The two Omni
 * dialects authenticate nothing; the secure one carries a counter and a MAC
 * (see lock_secure_verify).
 */
enum lock_dialect {
    LOCK_DIALECT_SCOR,   /* *SCOR up, *SCOS down; optional stamp */
    LOCK_DIALECT_CMDR,   /* *CMDR up, *CMDS down; stamp after the IMEI */
    LOCK_DIALECT_SECURE, /* *SCSR up, *SCSS down; counter after the IMEI */
};

/*
 * The header of a frame, copied out of it so that a session can keep it and
 * echo it in replies. Builders ignore is_to_lock (the builder chosen sets
 * the direction); is_legacy only matters to lock-to-server frames of the
 * SCOR dialect.
 */
struct lock_header {
    enum lock_dialect dialect;
    bool is_to_lock; /* the frame was *SCOS, *CMDS or *SCSS (to a lock) */
    bool is_legacy;  /* the frame was *HBCR */
    bool has_stamp;  /* always true in CMDR, always false in SECURE */
    char vendor[LOCK_VENDOR_MAX + 1]; /* 1..8 alphanumerics, NUL-ended */
    char stamp[LOCK_STAMP_LEN + 1];   /* 12 digits, NUL-ended, if has_stamp */
    uint64_t imei;                    /* 0..LOCK_IMEI_MAX, 15 digits */
    /*
     * LOCK_DIALECT_SECURE only: the frame's counter, 1..LOCK_COUNTER_MAX.
     * The sender's counter for its direction and lock; it must strictly
     * increase, which the gateway checks (the codec keeps no state).
     */
    uint64_t counter;
};

/* Message kinds; the comment gives the command name on the wire. */
enum lock_cmd {
    LOCK_CMD_UNKNOWN = 0, /* any other command: only name and values */
    /* lock to server */
    LOCK_CMD_SIGN_IN,   /* Q0 */
    LOCK_CMD_HEARTBEAT, /* H0 */
    LOCK_CMD_POSITION,  /* D0 */
    LOCK_CMD_ALARM,     /* W0 */
    LOCK_CMD_FAULT,     /* E0 */
    LOCK_CMD_KEY,       /* R0: the one-time key for an operation */
    LOCK_CMD_UNLOCKED,  /* L0: the result of an unlock */
    LOCK_CMD_LOCKED,    /* L1: the rider closed the lock */
    /* server to lock */
    LOCK_CMD_KEY_REQUEST,      /* R0: asks for a one-time key */
    LOCK_CMD_UNLOCK,           /* L0 with a key: unlock now */
    LOCK_CMD_POSITION_REQUEST, /* D0 with no values */
    LOCK_CMD_ACK,              /* L0, L1, W0 or E0 with no values */
    /*
     * The secure dialect's unlock, which replaces R0 and the Omni L0 there
     * (R0 is LOCK_CMD_UNKNOWN in that dialect, and the Omni kinds KEY,
     * UNLOCKED, KEY_REQUEST and UNLOCK never occur in it).
     */
    LOCK_CMD_SECURE_UNLOCKED, /* L0 from the lock: the result */
    LOCK_CMD_SECURE_UNLOCK,   /* L0 from the server: unlock for a trip */
};

/* The operation an R0 key is for. */
enum lock_op {
    LOCK_OP_UNLOCK = 0,
    LOCK_OP_LOCK = 1,
};

/* W0 alarm codes with a known meaning; any other code is LOCK_ALARM_OTHER. */
enum lock_alarm_kind {
    LOCK_ALARM_OTHER = 0,
    LOCK_ALARM_MOVEMENT = 1,     /* illegal movement */
    LOCK_ALARM_FALL = 2,         /* the bike fell over */
    LOCK_ALARM_FALL_CLEARED = 6, /* the bike is upright again */
};

/* Q0: the lock signs in after connecting. */
struct lock_sign_in {
    int32_t voltage_cv;  /* battery voltage in centivolts, 0..65535 */
    int32_t battery_pct; /* 0..100 */
    int32_t signal;      /* GSM CSQ 0..31, or 99 for unknown */
};

/* H0: periodic heartbeat. Ranges as in struct lock_sign_in. */
struct lock_heartbeat {
    bool is_locked;
    bool is_charging;
    int32_t voltage_cv;
    int32_t signal;
    int32_t battery_pct;
};

/*
 * D0: a GPS report. An invalid fix ('V', or an empty coordinate) has
 * is_valid false and lat_deg = lon_deg = 0. Empty numeric fields decode as 0.
 */
struct lock_position {
    int64_t status;     /* the report's status or reason code */
    bool is_valid;      /* a valid fix with coordinates */
    double lat_deg;     /* -90..90, south negative */
    double lon_deg;     /* -180..180, west negative */
    bool has_time;      /* both the time and the date fields were present */
    int64_t fix_time_s; /* UTC unix seconds, years 2000..2099 */
    int32_t satellites; /* 0..99 */
    double hdop;        /* 0..100; built with 2 decimals */
    double alt_m;       /* -10000..100000; built with 2 decimals */
    char mode;          /* 'A'..'Z' (A, D, E, N), or 0 when absent */
};

/* W0: an alarm. kind is derived from code when decoding. */
struct lock_alarm {
    int64_t code;
    enum lock_alarm_kind kind;
};

/* E0: a fault report. */
struct lock_fault {
    int64_t code;
};

/* R0 from the lock: the one-time key answering a key request. */
struct lock_key {
    enum lock_op op;
    struct str key;  /* 1..LOCK_KEY_MAX alphanumerics; borrowed */
    int64_t user_id; /* >= 0 */
    int64_t time_s;  /* unix seconds, >= 0 */
};

/* L0 from the lock: the outcome of an unlock. */
struct lock_unlocked {
    int64_t result; /* 0 success, anything else a failure code */
    int64_t user_id;
    int64_t time_s;
};

/* L1: the rider closed the lock. */
struct lock_locked {
    int64_t user_id;
    int64_t time_s;
    int64_t ride_min; /* riding time in minutes, >= 0 */
};

/* R0 from the server: asks the lock for a one-time key. */
struct lock_key_request {
    enum lock_op op;
    int64_t key_validity_s; /* how long the key stays valid, >= 0 */
    int64_t user_id;
    int64_t time_s;
};

/* L0 from the server: unlock with the key from the lock's R0. */
struct lock_unlock {
    struct str key; /* borrowed */
    int64_t user_id;
    int64_t time_s;
};

/*
 * L0 from the server in the secure dialect: a single-use unlock bound to
 * the lock (the header), the trip and an expiry. The lock must refuse it
 * after expires_s or if it has seen trip_id before.
 */
struct lock_secure_unlock {
    int64_t trip_id;   /* >= 1 */
    int64_t user_id;   /* >= 0 */
    int64_t expires_s; /* unix seconds, >= 0 */
};

/* L0 from the lock in the secure dialect: the outcome of an unlock. */
struct lock_secure_unlocked {
    int64_t result;  /* 0 opened, anything else a failure code */
    int64_t trip_id; /* >= 1, the trip of the unlock it answers */
    int64_t time_s;  /* unix seconds, >= 0 */
};

/*
 * One decoded frame. name and values are the raw fields after the header,
 * borrowed from the frame, for every command; u holds the typed payload for
 * the kinds that have one (none for LOCK_CMD_UNKNOWN,
 * LOCK_CMD_POSITION_REQUEST and LOCK_CMD_ACK). Values beyond the ones a
 * command defines are kept in values and otherwise ignored. In the secure
 * dialect the last field is the MAC: it is in mac, not in values.
 */
struct lock_msg {
    struct lock_header hdr;
    enum lock_cmd cmd;
    struct str name;
    size_t n_values;
    struct str values[LOCK_VALUES_MAX];
    /*
     * LOCK_DIALECT_SECURE: the LOCK_MAC_HEX_LEN lowercase hex digits of the
     * MAC as received, borrowed, not verified; {NULL, 0} in other dialects
     * and ignored by the builders (they compute it).
     */
    struct str mac;
    union {
        struct lock_sign_in sign_in;
        struct lock_heartbeat heartbeat;
        struct lock_position position;
        struct lock_alarm alarm;
        struct lock_fault fault;
        struct lock_key key;
        struct lock_unlocked unlocked;
        struct lock_locked locked;
        struct lock_key_request key_request;
        struct lock_unlock unlock;
        struct lock_secure_unlock secure_unlock;
        struct lock_secure_unlocked secure_unlocked;
    } u;
};

/*
 * Decodes one frame (as found by lock_frame_scan; trailing CR/LF allowed)
 * of either direction and any dialect into *out. The header gives the
 * dialect and the direction; the command name, the dialect and the
 * direction give the kind. Slices in *out borrow from frame. *out is
 * untouched on failure, and d (may be NULL) says why, with the offending
 * field's name in d->field. Thread-safe.
 *
 * A secure frame (*SCSR, *SCSS) is decoded but NOT authenticated: the
 * parser has no key. Call lock_secure_verify on the same bytes, and check
 * the counter, before acting on it.
 *
 * Returns ERR_OK, or:
 * - ERR_TOO_BIG: the frame is longer than LOCK_FRAME_MAX, or it has more
 *   than LOCK_VALUES_MAX values;
 * - ERR_INVALID: no '*' ... '#', a byte
 *   that is not printable ASCII, an unknown header tag, a bad vendor code,
 *   an IMEI that is not 15 digits, a bad stamp in the CMDR dialect, a bad
 *   counter ("counter": not 1..LOCK_COUNTER_MAX in canonical decimal) or
 *   MAC field ("mac": not LOCK_MAC_HEX_LEN lowercase hex digits) in the
 *   secure dialect, a bad command name, missing values, a non-numeric
 *   value where a number is required, or a value out of its range (see the
 *   payload structs).
 */
enum err lock_msg_parse(struct str frame, struct lock_msg *out,
                        struct err_detail *d);

/*
 * Returns the wire name of cmd ("Q0", "R0", ...), or "" for
 * LOCK_CMD_UNKNOWN and LOCK_CMD_ACK, whose name is in the message.
 */
const char *lock_cmd_name(enum lock_cmd cmd);

/*
 * True if the server must acknowledge the lock-to-server report m (with
 * lock_build_ack, or lock_build_secure_ack in the secure dialect): L0, L1,
 * W0 and E0.
 */
bool lock_msg_needs_ack(const struct lock_msg *m);

/* ---- building --------------------------------------------------------- */

/*
 * All builders write one frame to out[0..cap) and set *len to its length;
 * out is not NUL-terminated. Server-to-lock frames are 0xFF 0xFF, then
 * "*SCOS,<vendor>,<imei>,<name>,<values>#\n" (with the stamp after the
 * IMEI if has_stamp; the CMDR dialect needs it: "*CMDS,...,<stamp>,..."),
 * lock-to-server frames are "*SCOR,...#\n" ("*HBCR" if is_legacy, "*CMDR"
 * in that dialect). On failure out and *len are untouched and d (may be
 * NULL) says why. Thread-safe. Every builder returns ERR_OK, or:
 * - ERR_TOO_BIG: the frame would not fit in cap bytes (LOCK_BUILD_MAX
 *   always does), or the frame would be longer than LOCK_FRAME_MAX;
 * - ERR_INVALID: a bad header (vendor, IMEI over LOCK_IMEI_MAX, stamp
 *   missing in the CMDR dialect or not 12 digits), a kind that does not
 *   go in that direction or that dialect, or a payload the decoder would
 *   reject. The builders of this section have no key, so a header of the
 *   secure dialect is ERR_INVALID too (field "key"): use the
 *   lock_build_secure* builders below.
 */

/*
 * Builds m as a frame in the direction of m->hdr.is_to_lock. The typed
 * payload m->u is used for the kinds that have one; m->name and m->values
 * for LOCK_CMD_UNKNOWN (and m->name for LOCK_CMD_ACK); the kind must match
 * the direction. So lock_build_msg after lock_msg_parse rebuilds the frame
 * (numbers in canonical form). This is the lock-side builder of the
 * simulator: fill hdr, cmd and u, e.g. cmd = LOCK_CMD_POSITION with
 * u.position from a decimal lat/lon. Numbers are written in canonical
 * form: coordinates rounded to 0.0001 minutes, HDOP and altitude to 0.01,
 * the fix time as hhmmss.00.
 */
enum err lock_build_msg(const struct lock_msg *m, char *out, size_t cap,
                        size_t *len, struct err_detail *d);

/*
 * Builds the server-to-lock command <name>,<values...> for the lock of h.
 * Values must be printable ASCII without ',', '*' or '#'; name is 1..8
 * alphanumerics. ERR_TOO_BIG also for more than LOCK_VALUES_MAX values.
 */
enum err lock_build_cmd(const struct lock_header *h, struct str name,
                        const struct str *values, size_t n_values, char *out,
                        size_t cap, size_t *len, struct err_detail *d);

/*
 * Builds the unlock request R0,0,<key_validity_s>,<user_id>,<time_s>: the
 * lock answers with an R0 carrying a one-time key. In the CMDR dialect h
 * must carry a fresh stamp (lock_stamp_format of the current time).
 */
enum err lock_build_unlock_request(const struct lock_header *h,
                                   int64_t key_validity_s, int64_t user_id,
                                   int64_t time_s, char *out, size_t cap,
                                   size_t *len, struct err_detail *d);

/* Builds the unlock L0,<key>,<user_id>,<time_s> with the lock's R0 key. */
enum err lock_build_unlock(const struct lock_header *h, struct str key,
                           int64_t user_id, int64_t time_s, char *out,
                           size_t cap, size_t *len, struct err_detail *d);

/* Builds the position request D0. */
enum err lock_build_position_request(const struct lock_header *h, char *out,
                                     size_t cap, size_t *len,
                                     struct err_detail *d);

/*
 * Builds the acknowledgement of the lock-to-server report: its command name
 * with no values, in its dialect and vendor; the CMDR dialect echoes the
 * report's stamp, the SCOR dialect never sends one. ERR_INVALID also if
 * report is itself a server-to-lock frame.
 */
enum err lock_build_ack(const struct lock_msg *report, char *out, size_t cap,
                        size_t *len, struct err_detail *d);

/* ---- the secure dialect ----------------------------------------------- */

/*
 * A secure frame is "*SCSR,<vendor>,<imei>,<counter>,<name>[,<value>...],
 * <mac>#" from a lock and 0xFF 0xFF "*SCSS,...#\n" from the server, where
 * <mac> is the first 16 bytes, as 32 lowercase hex digits, of
 * HMAC-SHA-256(key, every byte from the '*' through the ',' before <mac>).
 * The key is the lock's LOCK_KEY_BYTES secret, borrowed for the call only.
 * These functions use libsodium's HMAC-SHA-256, which needs no
 * sodium_init().
 */

/*
 * Checks the MAC of the secure frame frame (as found by lock_frame_scan:
 * from '*' to '#', trailing CR/LF allowed) with key, comparing in constant
 * time. It checks only the MAC: lock_msg_parse checks the syntax, and the
 * caller checks that the counter increased. d may be NULL. Thread-safe.
 *
 * Returns ERR_OK if the MAC matches, or:
 * - ERR_TOO_BIG: the frame is longer than LOCK_FRAME_MAX;
 * - ERR_INVALID with d->code "not_secure": the frame does not start with
 *   "*SCSR," or "*SCSS," (an Omni frame, or no frame at all);
 * - ERR_INVALID with d->code "bad_mac": the frame does not end in '#', its
 *   last field is not LOCK_MAC_HEX_LEN lowercase hex digits, or the MAC
 *   does not match (tampered, or made with another key);
 * - ERR_INVALID with d->code "no_key": key is NULL.
 */
enum err lock_secure_verify(struct str frame,
                            const unsigned char key[LOCK_KEY_BYTES],
                            struct err_detail *d);

/*
 * Builds m in the secure dialect with m->hdr.counter, in the direction of
 * m->hdr.is_to_lock, and appends the MAC made with key: the secure
 * lock_build_msg (same payload rules; m->mac is ignored). So
 * lock_build_secure after lock_msg_parse rebuilds a secure frame, with a
 * MAC that verifies with key. Besides the errors of every builder,
 * ERR_INVALID if m->hdr.dialect is not LOCK_DIALECT_SECURE ("dialect"),
 * key is NULL ("key"), the counter is not 1..LOCK_COUNTER_MAX ("counter"),
 * has_stamp is set ("stamp"), or the kind is one of the Omni unlock
 * exchange (LOCK_CMD_KEY, LOCK_CMD_UNLOCKED, LOCK_CMD_KEY_REQUEST,
 * LOCK_CMD_UNLOCK: "command").
 */
enum err lock_build_secure(const struct lock_msg *m,
                           const unsigned char key[LOCK_KEY_BYTES], char *out,
                           size_t cap, size_t *len, struct err_detail *d);

/*
 * Builds the server's acknowledgement of the secure lock-to-server report:
 * its command name with no values, with the server's next counter for
 * this lock, MACed with key. ERR_INVALID also if report is not a
 * lock-to-server frame of the secure dialect.
 */
enum err lock_build_secure_ack(const struct lock_msg *report, uint64_t counter,
                               const unsigned char key[LOCK_KEY_BYTES],
                               char *out, size_t cap, size_t *len,
                               struct err_detail *d);

/*
 * Builds the single-use unlock L0,<trip_id>,<user_id>,<expires_s> for the
 * lock of h (secure dialect, with the server's next counter in
 * h->counter). trip_id >= 1, user_id >= 0, expires_s (unix seconds) >= 0.
 * The lock answers with an L0 (LOCK_CMD_SECURE_UNLOCKED) for trip_id.
 */
enum err lock_build_secure_unlock(const struct lock_header *h, int64_t trip_id,
                                  int64_t user_id, int64_t expires_s,
                                  const unsigned char key[LOCK_KEY_BYTES],
                                  char *out, size_t cap, size_t *len,
                                  struct err_detail *d);

/* ---- conversions ------------------------------------------------------ */

/*
 * Decodes an NMEA coordinate ("ddmm.mmmm" for a latitude, "dddmm.mmmm" for
 * a longitude) and its hemisphere ("N"/"S", or "E"/"W" if is_lon) to signed
 * decimal degrees in *deg. ERR_INVALID (d may be NULL) if value is not
 * digits with an optional fraction, the minutes are 60 or more, the result
 * is past 90 (180 for a longitude), or hemi is wrong. Thread-safe.
 */
enum err lock_coord_parse(struct str value, struct str hemi, bool is_lon,
                          double *deg, struct err_detail *d);

/* Room for a formatted coordinate "dddmm.mmmm" and its NUL. */
#define LOCK_COORD_TEXT_MAX 16

/*
 * Formats deg (decimal degrees, south/west negative) as an NUL-ended NMEA
 * coordinate in text, rounded to 0.0001 minutes and zero-padded to 2 (or 3
 * if is_lon) degree digits, and its hemisphere letter in *hemi.
 * ERR_INVALID if deg is not finite or past 90 (180 for a longitude); text
 * and *hemi are untouched then. Thread-safe.
 */
enum err lock_coord_format(double deg, bool is_lon,
                           char text[LOCK_COORD_TEXT_MAX], char *hemi);

/*
 * Formats unix_s (UTC seconds) as the NUL-ended header stamp yyMMddHHmmss
 * in stamp. ERR_INVALID if unix_s is outside the years 2000..2099; stamp is
 * untouched then. Thread-safe.
 */
enum err lock_stamp_format(int64_t unix_s, char stamp[LOCK_STAMP_LEN + 1]);

#endif
