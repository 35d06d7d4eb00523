/* SPDX-License-Identifier: MIT */
/* Names and identifier validation for the domain's value types. */
#include "base/sys.h"
#include "core/entity.h"

#include <stdio.h>

static const char *const trip_state_names[CORE_TRIP_COUNT] = {
    "unlocking", "riding", "ended", "failed"};
static const char *const res_state_names[CORE_RES_COUNT] = {
    "active", "used", "cancelled", "expired"};

const char *core_trip_state_name(enum core_trip_state s)
{
    return (unsigned)s < CORE_TRIP_COUNT ? trip_state_names[s] : "unknown";
}

const char *core_res_state_name(enum core_res_state s)
{
    return (unsigned)s < CORE_RES_COUNT ? res_state_names[s] : "unknown";
}

enum err core_res_state_parse(struct str s, enum core_res_state *out)
{
    for (size_t i = 0; i < CORE_RES_COUNT; i++) {
        if (str_eq_cstr(s, res_state_names[i])) {
            *out = (enum core_res_state)i;
            return ERR_OK;
        }
    }
    return ERR_INVALID;
}

enum err core_trip_state_parse(struct str s, enum core_trip_state *out)
{
    for (size_t i = 0; i < CORE_TRIP_COUNT; i++) {
        if (str_eq_cstr(s, trip_state_names[i])) {
            *out = (enum core_trip_state)i;
            return ERR_OK;
        }
    }
    return ERR_INVALID;
}

bool core_trip_is_active(const struct core_trip *t)
{
    return t->state == CORE_TRIP_UNLOCKING || t->state == CORE_TRIP_RIDING;
}

enum err core_qr_validate(struct str qr, struct err_detail *d)
{
    if (qr.len == 0 || qr.len > CORE_QR_MAX)
        return err_set(d, ERR_INVALID, "qr_code",
                       "qr_code must be 1 to %d characters", CORE_QR_MAX);
    for (size_t i = 0; i < qr.len; i++) {
        char c = qr.ptr[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '_' || c == '-';
        if (!ok)
            return err_set(d, ERR_INVALID, "qr_code",
                           "qr_code may hold only letters, digits, _ and -");
    }
    return ERR_OK;
}

enum err core_imei_parse(struct str s, uint64_t *out, struct err_detail *d)
{
    if (s.len != CORE_IMEI_DIGITS || !str_is_digits(s))
        return err_set(d, ERR_INVALID, "lock_imei",
                       "lock_imei must be exactly 15 digits");
    uint64_t v = 0;
    for (size_t i = 0; i < s.len; i++)
        v = v * 10 + (uint64_t)(s.ptr[i] - '0');
    *out = v;
    return ERR_OK;
}

void core_imei_format(uint64_t imei, char out[16])
{
    snprintf(out, 16, "%015" PRIu64, imei);
}

enum err core_idem_key_validate(struct str key, struct err_detail *d)
{
    if (key.len == 0 || key.len > CORE_IDEM_KEY_MAX)
        return err_set(d, ERR_INVALID, "Idempotency-Key",
                       "Idempotency-Key must be 1 to %d characters",
                       CORE_IDEM_KEY_MAX);
    for (size_t i = 0; i < key.len; i++) {
        if (key.ptr[i] < 0x21 || key.ptr[i] > 0x7e)
            return err_set(d, ERR_INVALID, "Idempotency-Key",
                           "Idempotency-Key must be visible ASCII");
    }
    return ERR_OK;
}
