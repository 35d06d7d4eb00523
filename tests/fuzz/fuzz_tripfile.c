/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the trip files of `spoke import trips`
 * (cli/tripfile.h): the input's first byte picks the format (odd: the
 * Singapore trips, against a few fixed nodes; else CSV) and the rest is a
 * whole file, fed through the decoder's minimum window as the CLI reads it.
 * Consumption must always advance, lines never go back, every trip decoded
 * has positions in range (times are the store's to check), and a stopped
 * decoder stays stopped.
 */
#include "base/sys.h"
#include "cli/tripfile.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct cli_sg_node nodes[] = {
    {1, {1.3, 103.8}},
    {17, {1.35, 103.85}},
    {5924056433, {1.286456, 103.825157}},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > 200000)
        return 0;
    enum cli_tripfile_format f =
        data[0] & 1 ? CLI_TRIPFILE_SINGAPORE : CLI_TRIPFILE_CSV;
    size--;
    /* A writable copy: quoted fields are unquoted in place. */
    char *buf = xmalloc(size + 1);
    memcpy(buf, data + 1, size);
    struct cli_tripfile p;
    cli_tripfile_init(&p, f, nodes, ARRAY_LEN(nodes));
    size_t off = 0;
    int64_t last_line = 0;
    for (int guard = 0; guard < 1000000; guard++) {
        size_t window = MIN(size - off, (size_t)CLI_TRIPFILE_WINDOW_MIN);
        bool eof = off + window == size;
        size_t used = 0;
        int64_t line = 0;
        struct store_demand_trip t;
        struct err_detail d;
        bool was_stopped = p.stopped;
        enum err e =
            cli_tripfile_next(&p, buf + off, window, eof, &used, &t, &line, &d);
        if (used > window ||
            (was_stopped && (!p.stopped || e != ERR_NOT_FOUND)))
            abort();
        if (e == ERR_OK || e == ERR_INVALID || e == ERR_TOO_BIG) {
            if (line < last_line || line < 1 || line > p.line)
                abort();
            last_line = line;
        }
        if (e == ERR_OK &&
            (!(t.start_pos.lat_deg >= -90 && t.start_pos.lat_deg <= 90) ||
             !(t.end_pos.lat_deg >= -90 && t.end_pos.lat_deg <= 90) ||
             !(t.start_pos.lon_deg >= -180 && t.start_pos.lon_deg <= 180) ||
             !(t.end_pos.lon_deg >= -180 && t.end_pos.lon_deg <= 180)))
            abort();
        off += used;
        if (e == ERR_NOT_FOUND && (eof || used == 0))
            break;
        if (p.stopped && e != ERR_NOT_FOUND)
            continue; /* the next call must consume the rest */
    }
    xfree(buf);
    return 0;
}
