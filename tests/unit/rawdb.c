/* SPDX-License-Identifier: MIT */
/* Plain SQL on a store's file for the unit tests: rawdb.h. */
#include "base/sys.h"
#include "tests/unit/rawdb.h"
#include "tests/unit/harness.h"

#include <stdio.h>

sqlite3 *raw_open(const char *path)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK)
        test_fail(__FILE__, __LINE__, "cannot open %s", path);
    CHECK_EQ(sqlite3_busy_timeout(db, 5000), SQLITE_OK);
    return db;
}

void raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = raw_open(path);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        test_fail(__FILE__, __LINE__, "%s: %s", sql, msg);
    CHECK_EQ(sqlite3_close(db), SQLITE_OK);
}

/* Prepares sql on a new connection and steps it to its first row. */
static sqlite3_stmt *first_row(const char *path, const char *sql)
{
    sqlite3 *db = raw_open(path);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        test_fail(__FILE__, __LINE__, "%s: %s", sql, sqlite3_errmsg(db));
    CHECK_EQ(sqlite3_step(s), SQLITE_ROW);
    return s;
}

static void done(sqlite3_stmt *s)
{
    sqlite3 *db = sqlite3_db_handle(s);
    CHECK_EQ(sqlite3_finalize(s), SQLITE_OK);
    CHECK_EQ(sqlite3_close(db), SQLITE_OK);
}

int64_t raw_int(const char *path, const char *sql)
{
    sqlite3_stmt *s = first_row(path, sql);
    int64_t v = sqlite3_column_int64(s, 0);
    done(s);
    return v;
}

void raw_text(const char *path, const char *sql, char *out, size_t cap)
{
    sqlite3_stmt *s = first_row(path, sql);
    const char *t = (const char *)sqlite3_column_text(s, 0);
    snprintf(out, cap, "%s", t ? t : "(null)");
    done(s);
}
