/* SPDX-License-Identifier: MIT */
/*
 * Private to store/: the schema constants and the connection helpers shared
 * by the loading connection (sqlite.c) and the group-commit writer
 * (writer.c). Only store/ includes this header, because it exposes SQLite.
 */
#ifndef STORE_STORE_INT_H
#define STORE_STORE_INT_H

#include "base/sys.h"
#include "base/err.h"
#include "core/pricing.h"

#include <sqlite3.h>

/* The schema version this binary creates and understands. */
#define STORE__SCHEMA_VERSION 4

/*
 * A position block's data: per point 16 bytes, little-endian: bike id
 * (u32), milliseconds after the block's t0 (u32), lat_e7 (i32), lon_e7
 * (i32); sorted by bike id, then time.
 */
#define STORE__POINT_BYTES 16

/* PRAGMA application_id of a spoke database: "SPKE" in ASCII. */
#define STORE__APP_ID 0x53504b45

/* How long a connection waits for another connection's write lock. */
#define STORE__BUSY_TIMEOUT_MS 5000

/*
 * Opens a connection to path for use by one thread at a time (create: make
 * the file if it is missing) and sets it up: extended result codes, the busy
 * timeout, journal_mode=WAL, synchronous=FULL and foreign_keys=ON. ERR_IO
 * with a message naming path if the file cannot be opened or is not an
 * SQLite database. On success the caller owns *out and closes it with
 * store__close_db; *out is untouched on failure.
 */
enum err store__open_db(const char *path, bool create, sqlite3 **out,
                        struct err_detail *d);

/*
 * Reads the schema version of db in one snapshot (inside the caller's
 * transaction if one is open): 0 for an empty database, else the highest
 * migration recorded. ERR_IO if the database is neither empty nor a spoke
 * database, or on a read failure; ERR_BUSY if it stayed locked.
 */
enum err store__read_version(sqlite3 *db, const char *path, int *version,
                             struct err_detail *d);

/*
 * Runs one SQL statement without results (BEGIN, COMMIT, a PRAGMA).
 * ERR_BUSY if the database stayed locked past the busy timeout, ERR_IO on
 * any other failure (the message is then in sqlite3_errmsg(db)).
 */
enum err store__exec(sqlite3 *db, const char *sql);

/* Runs a statement that yields one integer into *out (NULL reads as 0). */
enum err store__query_int(sqlite3 *db, const char *sql, int64_t *out);

/* Maps a failed SQLite result code: BUSY/LOCKED to ERR_BUSY, constraint
 * violations to ERR_CONFLICT, everything else to ERR_IO. */
enum err store__err(int rc);

/*
 * The connection of a bulk import (bulk.c; used by import.c and
 * demand_import.c): the database to itself and one large transaction.
 */
struct store__bulk {
    sqlite3 *db;
    char *path;
    bool in_txn;
    bool journal_switched; /* journal_mode is DELETE until the end */
    bool failed;           /* a statement failed: only rollback is left */
};

/*
 * Opens path (already migrated by store_open), takes it for this
 * connection alone (ERR_BUSY, saying so, while another process has it
 * open), sets a rollback journal, foreign keys off, cache_kib of page
 * cache and, with ignore_checks, CHECK constraints off, and begins the
 * transaction. ERR_IO for another schema version or a failure. Close b
 * with store__bulk_close in every case.
 */
enum err store__bulk_open(struct store__bulk *b, const char *path,
                          int cache_kib, bool ignore_checks,
                          struct err_detail *d);
/* Marks b failed; d says what failed ("cannot import into store ..."). */
enum err store__bulk_fail(struct store__bulk *b, enum err e, const char *what,
                          struct err_detail *d);
/* Prepares a persistent statement (store__bulk_fail on failure). */
enum err store__bulk_prepare(struct store__bulk *b, const char *sql,
                             sqlite3_stmt **out, struct err_detail *d);
/* Steps s once and resets it; SQLITE_OK or the error. */
int store__bulk_run(sqlite3_stmt *s);
/* Commits the transaction (store__bulk_fail on failure). */
enum err store__bulk_commit(struct store__bulk *b, struct err_detail *d);
/* Rolls back a transaction still open and goes back to WAL. */
void store__bulk_end(struct store__bulk *b);
/* store__bulk_end, then closes the connection (and its statements). */
void store__bulk_close(struct store__bulk *b);

/*
 * Pricing segments are stored as text, "start,end,rate,interval" per segment
 * (minutes and cents) joined by ';', e.g. "0,0,15,1". Formats p's segments
 * into out[cap]: ERR_TOO_BIG if they do not fit, ERR_INVALID if nsegments is
 * over CORE_PRICING_SEGMENTS_MAX.
 */
#define STORE__SEGMENTS_TEXT_MAX 512
enum err store__segments_format(const struct core_pricing *p, char *out,
                                size_t cap);

/*
 * The connection of an open store and the path it was opened with, for the
 * reads of other files of the module (demand.c); borrowed.
 */
struct store;
sqlite3 *store__db(struct store *st);
const char *store__path(const struct store *st);

/* Closes db after finalizing any statement still open; NULL is a no-op. */
void store__close_db(sqlite3 *db);

#endif
