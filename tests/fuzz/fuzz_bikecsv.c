/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the fleet CSV decoder (core/bikecsv.h): the input is
 * a whole import file, fed through a small window as `spoke import` does;
 * every row decoded must be a valid bike, consumption must always advance,
 * and line numbers must never go back.
 */
#include "base/sys.h"
#include "core/bikecsv.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 200000)
        return 0;
    /* A writable copy: quoted fields are unquoted in place. */
    char *buf = xmalloc(size + 1);
    memcpy(buf, data, size);
    struct core_bikecsv p;
    core_bikecsv_init(&p);
    size_t off = 0;
    bool header = false;
    int64_t last_line = 0;
    for (int guard = 0; guard < 1000000; guard++) {
        size_t window = MIN(size - off, (size_t)CORE_BIKECSV_WINDOW_MIN);
        bool eof = off + window == size;
        size_t used = 0;
        struct err_detail d;
        enum err e;
        if (!header) {
            e = core_bikecsv_header(&p, buf + off, window, eof, &used, &d);
            header = e == ERR_OK;
        } else {
            struct core_bike b;
            int64_t line = 0;
            e = core_bikecsv_row(&p, buf + off, window, eof, &used, &b, &line,
                                 &d);
            if (e == ERR_OK || e == ERR_INVALID) {
                if (line < last_line || line < 2)
                    abort();
                last_line = line;
            }
            if (e == ERR_OK &&
                (core_qr_validate(str_from_cstr(b.qr_code), NULL) != ERR_OK ||
                 !geo_latlng_is_valid(b.pos) || b.battery_pct < -1 ||
                 b.battery_pct > 100 || b.imei > UINT64_C(999999999999999) ||
                 !core_bikecsv_state_is_importable(b.state)))
                abort();
        }
        if (used > window)
            abort();
        off += used;
        if (e == ERR_TOO_BIG || (!header && e == ERR_INVALID))
            break;
        if (e == ERR_NOT_FOUND && (eof || used == 0))
            break;
    }
    xfree(buf);
    return 0;
}
