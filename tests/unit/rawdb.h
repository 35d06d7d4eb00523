/* SPDX-License-Identifier: MIT */
/*
 * Plain SQL on a store's file for the unit tests: setting up states the
 * store would not write and reading what it wrote, behind its back. Each
 * call opens its own connection (5 s busy timeout) and fails the test on
 * any SQLite error.
 */
#ifndef TESTS_UNIT_RAWDB_H
#define TESTS_UNIT_RAWDB_H

#include "base/sys.h"

#include <sqlite3.h>

/* Opens path read-write, creating it if needed. */
sqlite3 *raw_open(const char *path);
/* Runs sql (one or more statements without results). */
void raw_exec(const char *path, const char *sql);
/* The first column of sql's first row as an integer. */
int64_t raw_int(const char *path, const char *sql);
/* The same as text in out[cap] ("(null)" for NULL). */
void raw_text(const char *path, const char *sql, char *out, size_t cap);

#endif
