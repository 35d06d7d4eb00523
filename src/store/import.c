/* SPDX-License-Identifier: MIT */
/*
 * Bulk import of bikes (`spoke import bikes`): one connection that takes
 * the database for itself, inserts every bike in one transaction with a
 * multi-row INSERT prepared once, and commits only if no bike was refused.
 * Duplicates are found by the UNIQUE indexes themselves and explained
 * afterwards. The schema is in sqlite.c.
 */
#include "base/sys.h"
#include "store/store.h"
#include "store/store_int.h"
#include "base/buf.h"
#include "geo/geo.h"

#include <stdio.h>

/* Rows per INSERT statement: 8 parameters each, far below SQLite's cap. */
#define IMPORT_BATCH 128
#define IMPORT_PARAMS 8

/*
 * The import's page cache. Pages are allocated as they are used, so this is
 * a ceiling: 2M new bikes dirty about 300 MiB; past it SQLite spills dirty
 * pages to the file (still inside the transaction).
 */
#define IMPORT_CACHE_KIB (1024 * 1024)

#define IMEI_LIMIT UINT64_C(1000000000000000) /* 10^15 */

/*
 * OR IGNORE: a row that clashes on qr_code or imei is skipped instead of
 * failing the statement, so the other rows of its batch stay, and nothing
 * in the statement can fail midway (no statement journal needed, see
 * store/bulk.c). A skipped row shows as a change count short of the
 * batch; explain() then finds which rows and why. ids never clash: they
 * start after the highest id, under an exclusive lock.
 */
#define INSERT_HEAD                                                            \
    "INSERT OR IGNORE INTO bikes (id, qr_code, imei, vehicle_type, state,"     \
    " lat, lon, battery_pct, last_report_ms, lock_closed, created_ms) VALUES "

struct store_import {
    struct store__bulk bulk;
    store_import_reject_fn *fn;
    void *ctx;
    int64_t first_id; /* the id of the first bike added */
    size_t nadded;    /* bikes added so far: ids first_id, first_id + 1, ... */
    size_t nrejected;
    int64_t *lines; /* the caller's line of each bike added, by id - first_id */
    size_t caplines;
    /* Bikes waiting for the next multi-row INSERT, with their IMEI text. */
    struct core_bike batch[IMPORT_BATCH];
    char imei[IMPORT_BATCH][16];
    size_t nbatch;
    sqlite3_stmt *insert_batch; /* IMPORT_BATCH rows */
    sqlite3_stmt *insert_one;
    sqlite3_stmt *by_id;
    sqlite3_stmt *by_qr;
    sqlite3_stmt *by_imei;
};

/* The INSERT for rows bikes, with created_ms fixed to now_ms. */
static enum err prepare_insert(struct store_import *imp, size_t rows,
                               int64_t now_ms, sqlite3_stmt **out,
                               struct err_detail *d)
{
    struct buf sql;
    buf_init(&sql, 64 * 1024);
    enum err e = buf_puts(&sql, INSERT_HEAD);
    for (size_t i = 0; i < rows && e == ERR_OK; i++)
        e = buf_printf(&sql, "%s(?,?,?,?,?,?,?,?,0,0,%" PRId64 ")",
                       i ? "," : "", now_ms);
    if (NEVER(e != ERR_OK))
        e = err_set(d, ERR_INTERNAL, "", "the import statement is too long");
    else
        e = store__bulk_prepare(&imp->bulk, sql.data, out, d);
    buf_release(&sql);
    return e;
}

/* Prepares the statements of the transaction store__bulk_open began. */
static enum err prepare_all(struct store_import *imp, int64_t now_ms,
                            struct err_detail *d)
{
    enum err e;
    int64_t max_id = 0;
    e = store__query_int(imp->bulk.db, "SELECT max(id) FROM bikes", &max_id);
    if (e != ERR_OK)
        return store__bulk_fail(&imp->bulk, e, "max id", d);
    imp->first_id = max_id + 1;
    e = prepare_insert(imp, IMPORT_BATCH, now_ms, &imp->insert_batch, d);
    if (e == ERR_OK)
        e = prepare_insert(imp, 1, now_ms, &imp->insert_one, d);
    if (e == ERR_OK)
        e = store__bulk_prepare(&imp->bulk, "SELECT 1 FROM bikes WHERE id = ?1",
                                &imp->by_id, d);
    if (e == ERR_OK)
        e = store__bulk_prepare(&imp->bulk,
                                "SELECT id FROM bikes WHERE qr_code = ?1",
                                &imp->by_qr, d);
    if (e == ERR_OK)
        e = store__bulk_prepare(&imp->bulk,
                                "SELECT id FROM bikes WHERE imei = ?1",
                                &imp->by_imei, d);
    return e;
}

enum err store_import_begin(const char *path, int64_t now_ms,
                            store_import_reject_fn *fn, void *ctx,
                            struct store_import **out, struct err_detail *d)
{
    struct store_import *imp = xcalloc(1, sizeof(*imp));
    imp->fn = fn;
    imp->ctx = ctx;
    enum err e = store__bulk_open(&imp->bulk, path, IMPORT_CACHE_KIB, true, d);
    if (e == ERR_OK)
        e = prepare_all(imp, now_ms, d);
    if (e != ERR_OK)
        goto out;
    *out = imp;
    imp = NULL;
out:
    store_import_free(imp);
    return e;
}

/* Inserting and explaining */

static int bind_row(sqlite3_stmt *s, int base, const struct core_bike *b,
                    int64_t id, const char imei[16])
{
    int rc = sqlite3_bind_int64(s, base + 1, id);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, base + 2, b->qr_code, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, base + 3, imei, CORE_IMEI_DIGITS,
                               SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, base + 4, core_vtype_name(b->vtype), -1,
                               SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, base + 5, core_vstate_name(b->state), -1,
                               SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_double(s, base + 6, b->pos.lat_deg);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_double(s, base + 7, b->pos.lon_deg);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(s, base + 8, b->battery_pct);
    return rc;
}

/*
 * Looks up the bike holding a unique value (text[len] in statement s):
 * *id gets its id, or 0 if there is none. SQLITE_OK or the error.
 */
static int holder(sqlite3_stmt *s, const char *text, int len, int64_t *id)
{
    *id = 0;
    int rc = sqlite3_bind_text(s, 1, text, len, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(s, 0);
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
    }
    (void)sqlite3_reset(s);
    return rc;
}

/* Says who else holds a value: an earlier line or a stored bike. */
static void holder_text(const struct store_import *imp, int64_t other,
                        char *out, size_t cap)
{
    if (other == 0)
        snprintf(out, cap, "nobody");
    else if (other >= imp->first_id)
        snprintf(out, cap, "also on line %" PRId64,
                 imp->lines[other - imp->first_id]);
    else
        snprintf(out, cap, "bike %" PRId64 " in the database", other);
}

/*
 * Finds out why the bike with id (batch row i) was not inserted, if it was
 * not, and reports it. SQLITE_OK or the error of a lookup.
 */
static int explain(struct store_import *imp, size_t i, int64_t id)
{
    const struct core_bike *b = &imp->batch[i];
    int rc = sqlite3_bind_int64(imp->by_id, 1, id);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(imp->by_id);
    (void)sqlite3_reset(imp->by_id);
    if (rc == SQLITE_ROW)
        return SQLITE_OK; /* inserted */
    if (rc != SQLITE_DONE)
        return rc;
    int64_t qr_other = 0, imei_other = 0;
    rc = holder(imp->by_qr, b->qr_code, -1, &qr_other);
    if (rc == SQLITE_OK)
        rc = holder(imp->by_imei, imp->imei[i], CORE_IMEI_DIGITS, &imei_other);
    if (rc != SQLITE_OK)
        return rc;
    char qr_who[64] = "", imei_who[64] = "";
    holder_text(imp, qr_other, qr_who, sizeof(qr_who));
    holder_text(imp, imei_other, imei_who, sizeof(imei_who));
    struct err_detail d;
    err_clear(&d);
    if (qr_other && qr_other == imei_other)
        err_set(&d, ERR_CONFLICT, "qr_code",
                "duplicate bike: qr_code '%s' and lock_imei '%s' are %s",
                b->qr_code, imp->imei[i], qr_who);
    else if (qr_other && imei_other)
        err_set(&d, ERR_CONFLICT, "qr_code",
                "duplicate qr_code '%s' (%s) and lock_imei '%s' (%s)",
                b->qr_code, qr_who, imp->imei[i], imei_who);
    else if (qr_other)
        err_set(&d, ERR_CONFLICT, "qr_code", "duplicate qr_code '%s' (%s)",
                b->qr_code, qr_who);
    else if (imei_other)
        err_set(&d, ERR_CONFLICT, "lock_imei", "duplicate lock_imei '%s' (%s)",
                imp->imei[i], imei_who);
    else
        err_set(&d, ERR_CONFLICT, "", "the database refused the bike");
    imp->nrejected++;
    if (imp->fn)
        imp->fn(imp->ctx, imp->lines[id - imp->first_id], &d);
    return SQLITE_OK;
}

/* Inserts the waiting bikes, the last first_id-relative ids added. */
static enum err flush(struct store_import *imp, struct err_detail *d)
{
    size_t n = imp->nbatch;
    if (n == 0)
        return ERR_OK;
    int64_t id0 = imp->first_id + (int64_t)(imp->nadded - n);
    int rc = SQLITE_OK;
    bool short_count = false;
    if (n == IMPORT_BATCH) {
        sqlite3_stmt *s = imp->insert_batch;
        for (size_t i = 0; i < n && rc == SQLITE_OK; i++)
            rc = bind_row(s, (int)(i * IMPORT_PARAMS), &imp->batch[i],
                          id0 + (int64_t)i, imp->imei[i]);
        if (rc == SQLITE_OK)
            rc = store__bulk_run(s);
        short_count =
            rc == SQLITE_OK && (size_t)sqlite3_changes(imp->bulk.db) < n;
    } else {
        for (size_t i = 0; i < n && rc == SQLITE_OK; i++) {
            rc = bind_row(imp->insert_one, 0, &imp->batch[i], id0 + (int64_t)i,
                          imp->imei[i]);
            if (rc == SQLITE_OK)
                rc = store__bulk_run(imp->insert_one);
            if (rc == SQLITE_OK && sqlite3_changes(imp->bulk.db) == 0)
                short_count = true;
        }
    }
    for (size_t i = 0; i < n && rc == SQLITE_OK && short_count; i++)
        rc = explain(imp, i, id0 + (int64_t)i);
    imp->nbatch = 0;
    if (rc != SQLITE_OK)
        return store__bulk_fail(&imp->bulk, store__err(rc), "insert", d);
    return ERR_OK;
}

/* Checks what the caller promised: a bike the server could have made. */
static enum err check_bike(const struct core_bike *b, struct err_detail *d)
{
    if (core_qr_validate(str_from_cstr(b->qr_code), d) != ERR_OK)
        return ERR_INVALID;
    if (b->imei >= IMEI_LIMIT)
        return err_set(d, ERR_INVALID, "lock_imei", "the IMEI has 16 digits");
    if (!geo_latlng_is_valid(b->pos))
        return err_set(d, ERR_INVALID, "lat", "not a valid position");
    if (b->battery_pct < -1 || b->battery_pct > 100)
        return err_set(d, ERR_INVALID, "battery", "battery out of range");
    if ((unsigned)b->vtype >= CORE_VT_COUNT)
        return err_set(d, ERR_INVALID, "vehicle_type", "unknown type");
    if ((unsigned)b->state >= CORE_VS_COUNT || b->state == CORE_VS_RESERVED ||
        b->state == CORE_VS_ON_TRIP)
        return err_set(d, ERR_INVALID, "state", "state %d cannot be imported",
                       (int)b->state);
    return ERR_OK;
}

/* The 15 digits of an IMEI below 10^15, zero-padded, with a NUL. */
static void imei_text(uint64_t imei, char out[16])
{
    for (int i = CORE_IMEI_DIGITS - 1; i >= 0; i--) {
        out[i] = (char)('0' + imei % 10);
        imei /= 10;
    }
    out[CORE_IMEI_DIGITS] = '\0';
}

enum err store_import_add(struct store_import *imp, const struct core_bike *b,
                          int64_t line, struct err_detail *d)
{
    if (imp->bulk.failed || !imp->bulk.in_txn)
        return err_set(d, ERR_IO, "", "the import into '%s' has failed",
                       imp->bulk.path);
    enum err e = check_bike(b, d);
    if (e != ERR_OK)
        return e;
    if (imp->nadded == imp->caplines) {
        imp->caplines = imp->caplines ? imp->caplines * 2 : 1024;
        imp->lines =
            xreallocarray(imp->lines, imp->caplines, sizeof(*imp->lines));
    }
    imp->lines[imp->nadded++] = line;
    size_t i = imp->nbatch++;
    imp->batch[i] = *b;
    imei_text(b->imei, imp->imei[i]);
    if (imp->nbatch == IMPORT_BATCH)
        return flush(imp, d);
    return ERR_OK;
}

/* Ending */

enum err store_import_finish(struct store_import *imp, bool commit,
                             struct store_import_result *res,
                             struct err_detail *d)
{
    enum err e = ERR_OK;
    if (imp->bulk.failed || !imp->bulk.in_txn)
        e = err_set(d, ERR_IO, "", "the import into '%s' has failed",
                    imp->bulk.path);
    if (e == ERR_OK)
        e = flush(imp, d);
    bool committed = false;
    if (e == ERR_OK && commit && imp->nrejected > 0)
        e = err_set(d, ERR_CONFLICT, "",
                    "%zu bikes were refused; nothing was imported",
                    imp->nrejected);
    if (e == ERR_OK && commit) {
        e = store__bulk_commit(&imp->bulk, d);
        committed = e == ERR_OK;
    }
    store__bulk_end(&imp->bulk);
    *res = (struct store_import_result){.first_id = imp->first_id,
                                        .added = imp->nadded,
                                        .rejected = imp->nrejected,
                                        .committed = committed};
    return e;
}

void store_import_free(struct store_import *imp)
{
    if (!imp)
        return;
    store__bulk_close(&imp->bulk);
    xfree(imp->lines);
    xfree(imp);
}
