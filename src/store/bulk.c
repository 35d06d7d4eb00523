/* SPDX-License-Identifier: MIT */
/*
 * The connection of a bulk import (import.c: bikes; demand_import.c:
 * trips): it takes the database for itself and holds one large
 * transaction, then commits or rolls back and gives the database back in
 * WAL mode.
 */
#include "base/sys.h"
#include "store/store_int.h"

#include <stdio.h>

enum err store__bulk_fail(struct store__bulk *b, enum err e, const char *what,
                          struct err_detail *d)
{
    b->failed = true;
    return err_set(d, e == ERR_BUSY ? ERR_BUSY : ERR_IO, "",
                   "cannot import into store '%s' (%s): %s", b->path, what,
                   sqlite3_errmsg(b->db));
}

/*
 * Takes the database for this connection alone, for as long as it is open:
 * in exclusive locking mode the first transaction's lock is kept. Another
 * connection (a running server holds one from start to exit) makes this
 * wait for the busy timeout and then fail with ERR_BUSY.
 */
static enum err take_database(struct store__bulk *b, struct err_detail *d)
{
    enum err e = store__exec(b->db, "PRAGMA locking_mode=EXCLUSIVE");
    if (e == ERR_OK)
        e = store__exec(b->db, "BEGIN EXCLUSIVE");
    if (e == ERR_BUSY) {
        b->failed = true;
        return err_set(d, ERR_BUSY, "",
                       "store '%s' is in use by another process (is spoke "
                       "serve running on it?); import needs it to itself: "
                       "stop the server and try again",
                       b->path);
    }
    if (e == ERR_OK)
        e = store__exec(b->db, "COMMIT");
    if (e != ERR_OK)
        return store__bulk_fail(b, e, "locking", d);
    return ERR_OK;
}

/*
 * Sets the connection up for one large transaction, now that it has the
 * database to itself:
 *
 * - a rollback journal instead of the WAL: new pages are written to the
 *   database file once, not to the WAL and again at the checkpoint. The
 *   commit is as durable: the journal is synced, then the database, then
 *   the journal header is zeroed and synced (synchronous=FULL; in exclusive
 *   locking mode the journal is kept, not deleted). If the process dies
 *   midway, the next open rolls the journal back, and store__open_db sets
 *   WAL again; normally store__bulk_end does. If SQLite keeps WAL, the
 *   import still works, only more slowly;
 * - foreign_keys off: the imports only add parents or rows whose parent
 *   they made themselves, which no foreign key check can fail, so SQLite
 *   need not compile per-row lookups;
 * - with ignore_checks, ignore_check_constraints: for CHECKs the caller
 *   makes hold by construction. Compiled in, a CHECK's function call could
 *   fail in the middle of a multi-row INSERT, so SQLite would keep a
 *   statement journal: a copy of every page each statement touches, which
 *   with keys in random order costs more than the inserts themselves;
 * - a page cache of cache_kib, allocated as it is used.
 */
static enum err tune(struct store__bulk *b, int cache_kib, bool ignore_checks,
                     struct err_detail *d)
{
    sqlite3_stmt *s = NULL;
    int rc =
        sqlite3_prepare_v2(b->db, "PRAGMA journal_mode=DELETE", -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const char *mode = (const char *)sqlite3_column_text(s, 0);
        b->journal_switched = mode && strcmp(mode, "delete") == 0;
        rc = SQLITE_OK;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_OK)
        return store__bulk_fail(b, store__err(rc), "journal mode", d);
    char cache[64];
    snprintf(cache, sizeof(cache), "PRAGMA cache_size=-%d", cache_kib);
    enum err e = store__exec(b->db, "PRAGMA foreign_keys=OFF");
    if (e == ERR_OK && ignore_checks)
        e = store__exec(b->db, "PRAGMA ignore_check_constraints=ON");
    if (e == ERR_OK)
        e = store__exec(b->db, cache);
    if (e != ERR_OK)
        return store__bulk_fail(b, e, "pragmas", d);
    return ERR_OK;
}

/* Opens the transaction on a database of the current schema. */
static enum err begin(struct store__bulk *b, struct err_detail *d)
{
    enum err e = store__exec(b->db, "BEGIN IMMEDIATE");
    if (e != ERR_OK)
        return store__bulk_fail(b, e, "begin", d);
    b->in_txn = true;
    int version = 0;
    e = store__read_version(b->db, b->path, &version, d);
    if (e == ERR_OK && version != STORE__SCHEMA_VERSION)
        e = err_set(d, ERR_IO, "",
                    "store '%s' has schema version %d, not %d (open it "
                    "with store_open first)",
                    b->path, version, STORE__SCHEMA_VERSION);
    if (e != ERR_OK)
        b->failed = true;
    return e;
}

enum err store__bulk_open(struct store__bulk *b, const char *path,
                          int cache_kib, bool ignore_checks,
                          struct err_detail *d)
{
    *b = (struct store__bulk){.path = xstrndup(path, strlen(path))};
    enum err e = store__open_db(path, false, &b->db, d);
    if (e == ERR_OK)
        e = take_database(b, d);
    if (e == ERR_OK)
        e = tune(b, cache_kib, ignore_checks, d);
    if (e == ERR_OK)
        e = begin(b, d);
    return e;
}

enum err store__bulk_prepare(struct store__bulk *b, const char *sql,
                             sqlite3_stmt **out, struct err_detail *d)
{
    int rc = sqlite3_prepare_v3(b->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out,
                                NULL);
    if (rc != SQLITE_OK)
        return store__bulk_fail(b, store__err(rc), "prepare", d);
    return ERR_OK;
}

int store__bulk_run(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    /* reset repeats the step's error, which rc holds already */
    (void)sqlite3_reset(s);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

enum err store__bulk_commit(struct store__bulk *b, struct err_detail *d)
{
    enum err e = store__exec(b->db, "COMMIT");
    return e == ERR_OK ? ERR_OK : store__bulk_fail(b, e, "commit", d);
}

void store__bulk_end(struct store__bulk *b)
{
    if (!b->db)
        return;
    if (b->in_txn && !sqlite3_get_autocommit(b->db))
        (void)store__exec(b->db, "ROLLBACK");
    b->in_txn = false;
    if (b->journal_switched)
        (void)store__exec(b->db, "PRAGMA journal_mode=WAL");
    b->journal_switched = false;
}

void store__bulk_close(struct store__bulk *b)
{
    store__bulk_end(b);
    store__close_db(b->db); /* finalizes the statements */
    b->db = NULL;
    xfree(b->path);
    b->path = NULL;
}
