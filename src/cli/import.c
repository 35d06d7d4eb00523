/* SPDX-License-Identifier: MIT */
/*
 * `spoke import bikes FILE`: loads a fleet from CSV into the database of a
 * stopped server, all or nothing. Two threads: a decoder reads the file in
 * large chunks and decodes rows in place (core/bikecsv.h) into batches of
 * bikes; the calling thread hands them to one store transaction
 * (store_import_*). Bad rows from both are collected; the first ones by
 * line are shown.
 */
#include "base/sys.h"
#include "cli/cli.h"
#include "base/clock.h"
#include "cli/input.h"
#include "cli/tripfile.h"
#include "core/bikecsv.h"
#include "store/store.h"

#include <pthread.h>
#include <stdio.h>

_Static_assert(CLI_INPUT_BYTES >= CORE_BIKECSV_WINDOW_MIN,
               "the buffer holds the decoder's window");

/* Decoded bikes travel between the threads in batches of this many. */
#define BATCH_ROWS 4096
#define BATCHES 4

/* How many bad rows are shown (the count covers all of them). */
#define ERRORS_SHOWN 100

struct bad_row {
    int64_t line;
    char msg[sizeof(((struct err_detail *)0)->msg)];
};

/* The bad rows with the lowest lines, sorted, and how many there were. */
struct report {
    struct bad_row rows[ERRORS_SHOWN];
    size_t nshown;
    size_t total;
};

/*
 * Keeps a bad row if it is among the first ERRORS_SHOWN by line. Rows come
 * almost in line order; a duplicate is found up to a batch late.
 */
static void report_add(struct report *r, int64_t line, const char *msg)
{
    r->total++;
    if (r->nshown == ERRORS_SHOWN && line >= r->rows[ERRORS_SHOWN - 1].line)
        return;
    size_t i = r->nshown < ERRORS_SHOWN ? r->nshown++ : ERRORS_SHOWN - 1;
    while (i > 0 && r->rows[i - 1].line > line) {
        r->rows[i] = r->rows[i - 1];
        i--;
    }
    r->rows[i].line = line;
    snprintf(r->rows[i].msg, sizeof(r->rows[i].msg), "%s", msg);
}

static void print_report(const struct report *r, const char *name, bool dry_run)
{
    for (size_t i = 0; i < r->nshown; i++)
        fprintf(stderr, "spoke: %s:%" PRId64 ": %s\n", name, r->rows[i].line,
                r->rows[i].msg);
    fprintf(stderr, "spoke: %s: %zu bad row%s%s; nothing was imported%s\n",
            name, r->total, r->total == 1 ? "" : "s",
            r->total > r->nshown ? " (the first ones by line shown)" : "",
            dry_run ? " (dry run)" : "");
}

/*
 * Decodes the header; prints and returns false if the input has none or a
 * bad one.
 */
static bool read_header(struct cli_input *in, struct core_bikecsv *p)
{
    struct err_detail d;
    for (;;) {
        size_t used = 0;
        err_clear(&d);
        enum err e = core_bikecsv_header(p, in->buf + in->pos,
                                         in->len - in->pos, in->eof, &used, &d);
        in->pos += used;
        if (e == ERR_OK)
            return true;
        if (e != ERR_NOT_FOUND) {
            fprintf(stderr, "spoke: %s:1: %s\n", in->name, d.msg);
            return false;
        }
        if (in->eof) {
            fprintf(stderr,
                    "spoke: '%s' is empty; its first line must name the "
                    "columns (qr_code,lock_imei,lat,lon[,state,battery,"
                    "vehicle_type])\n",
                    in->name);
            return false;
        }
        if (!cli_input_fill(in))
            return false;
    }
}

/* The hand-over between the decoder thread and the store thread */

struct batch {
    size_t n;
    struct core_bike bikes[BATCH_ROWS];
    int64_t lines[BATCH_ROWS];
};

struct pipeline {
    struct cli_input in;   /* the decoder thread's while it runs */
    struct core_bikecsv p; /* likewise */
    struct batch *slots[BATCHES];
    pthread_mutex_t mu;
    pthread_cond_t changed; /* broadcast on every change under mu */
    /* Guarded by mu. slots[head .. head + nfull) (mod BATCHES) are full;
     * the store thread works on slots[head] while it is counted full. */
    size_t head;
    size_t nfull;
    bool decoded;         /* the decoder is done: no more batches come */
    bool read_err;        /* it stopped at a read error (printed) */
    bool quit;            /* the store failed: the decoder stops */
    struct report report; /* bad rows from both threads */
};

static void lock(pthread_mutex_t *mu)
{
    int rc = pthread_mutex_lock(mu);
    if (rc != 0)
        BUG("pthread_mutex_lock: %s", strerror(rc));
}

static void unlock(pthread_mutex_t *mu)
{
    int rc = pthread_mutex_unlock(mu);
    if (rc != 0)
        BUG("pthread_mutex_unlock: %s", strerror(rc));
}

static void wait_changed(struct pipeline *pl)
{
    int rc = pthread_cond_wait(&pl->changed, &pl->mu);
    if (rc != 0)
        BUG("pthread_cond_wait: %s", strerror(rc));
}

static void broadcast(struct pipeline *pl)
{
    int rc = pthread_cond_broadcast(&pl->changed);
    if (rc != 0)
        BUG("pthread_cond_broadcast: %s", strerror(rc));
}

static void bad_row(struct pipeline *pl, int64_t line, const char *msg)
{
    lock(&pl->mu);
    report_add(&pl->report, line, msg);
    unlock(&pl->mu);
}

static void on_reject(void *ctx, int64_t line, const struct err_detail *d)
{
    bad_row(ctx, line, d->msg);
}

/* Waits for a free slot; NULL if the store thread quit. */
static struct batch *free_slot(struct pipeline *pl)
{
    lock(&pl->mu);
    while (pl->nfull == BATCHES && !pl->quit)
        wait_changed(pl);
    struct batch *b =
        pl->quit ? NULL : pl->slots[(pl->head + pl->nfull) % BATCHES];
    unlock(&pl->mu);
    return b;
}

static void publish(struct pipeline *pl)
{
    lock(&pl->mu);
    pl->nfull++;
    broadcast(pl);
    unlock(&pl->mu);
}

/*
 * The decoder thread: decodes every row after the header into batches. A
 * record too long is a bad row that ends the reading; a read error is
 * printed and flagged.
 */
static void *decode_main(void *arg)
{
    struct pipeline *pl = arg;
    struct cli_input *in = &pl->in;
    struct err_detail d;
    bool read_err = false;
    bool more = true;
    struct batch *b = free_slot(pl);
    while (b && more) {
        b->n = 0;
        while (b->n < BATCH_ROWS) {
            size_t used = 0;
            int64_t line = 0;
            enum err e =
                core_bikecsv_row(&pl->p, in->buf + in->pos, in->len - in->pos,
                                 in->eof, &used, &b->bikes[b->n], &line, &d);
            in->pos += used;
            if (e == ERR_OK) {
                b->lines[b->n++] = line;
                continue;
            }
            if (e == ERR_NOT_FOUND && !in->eof && cli_input_fill(in))
                continue;
            if (e == ERR_NOT_FOUND && !in->eof)
                read_err = true;
            if (e != ERR_NOT_FOUND)
                bad_row(pl, line, d.msg);
            if (e != ERR_INVALID) {
                more = false; /* eof, a read error, or a record too long */
                break;
            }
        }
        publish(pl);
        if (more)
            b = free_slot(pl);
    }
    lock(&pl->mu);
    pl->decoded = true;
    pl->read_err = read_err;
    broadcast(pl);
    unlock(&pl->mu);
    return NULL;
}

/*
 * The store thread's side: adds every decoded bike to imp. Returns false
 * after printing a store failure (the decoder is then told to quit).
 */
static bool store_batches(struct pipeline *pl, struct store_import *imp)
{
    struct err_detail d;
    for (;;) {
        lock(&pl->mu);
        while (pl->nfull == 0 && !pl->decoded)
            wait_changed(pl);
        struct batch *b = pl->nfull ? pl->slots[pl->head] : NULL;
        unlock(&pl->mu);
        if (!b)
            return true;
        enum err e = ERR_OK;
        int64_t line = 0;
        for (size_t i = 0; i < b->n && e == ERR_OK; i++) {
            line = b->lines[i];
            e = store_import_add(imp, &b->bikes[i], line, &d);
        }
        lock(&pl->mu);
        pl->head = (pl->head + 1) % BATCHES;
        pl->nfull--;
        pl->quit = e != ERR_OK;
        broadcast(pl);
        unlock(&pl->mu);
        if (e != ERR_OK) {
            fprintf(stderr, "spoke: %s:%" PRId64 ": %s\n", pl->in.name, line,
                    d.msg);
            return false;
        }
    }
}

/* Runs the decoder thread and stores what it decodes; false on failure. */
static bool import_rows(struct pipeline *pl, struct store_import *imp)
{
    pthread_t thread;
    int rc = pthread_create(&thread, NULL, decode_main, pl);
    if (rc != 0) {
        fprintf(stderr, "spoke: cannot start a thread: %s\n", strerror(rc));
        return false;
    }
    bool ok = store_batches(pl, imp);
    rc = pthread_join(thread, NULL);
    if (rc != 0)
        BUG("pthread_join: %s", strerror(rc));
    return ok && !pl->read_err;
}

static struct pipeline *pipeline_new(const char *file)
{
    struct pipeline *pl = xcalloc(1, sizeof(*pl));
    pl->in = (struct cli_input){.name = file, .fd = -1};
    core_bikecsv_init(&pl->p);
    for (size_t i = 0; i < BATCHES; i++)
        pl->slots[i] = xmalloc(sizeof(struct batch));
    int rc = pthread_mutex_init(&pl->mu, NULL);
    if (rc == 0)
        rc = pthread_cond_init(&pl->changed, NULL);
    if (rc != 0)
        BUG("cannot set up the pipeline's lock: %s", strerror(rc));
    return pl;
}

static void pipeline_free(struct pipeline *pl)
{
    if (!pl)
        return;
    cli_input_close(&pl->in);
    xfree(pl->in.buf);
    for (size_t i = 0; i < BATCHES; i++)
        xfree(pl->slots[i]);
    int rc = pthread_cond_destroy(&pl->changed);
    if (rc == 0)
        rc = pthread_mutex_destroy(&pl->mu);
    if (rc != 0)
        BUG("cannot destroy the pipeline's lock: %s", strerror(rc));
    xfree(pl);
}

static void print_summary(const struct store_import_result *res, const char *db,
                          bool dry_run, int64_t t0_ns)
{
    double secs = (double)(clock_mono_ns() - t0_ns) / 1e9;
    double rate = secs > 0 ? (double)res->added / secs : 0;
    int64_t last_id = res->first_id + (int64_t)res->added - 1;
    if (dry_run)
        printf("dry run: %zu bikes are valid (they would get ids %" PRId64
               "..%" PRId64 "); nothing was imported (%.2f s, %.0f rows/s)\n",
               res->added, res->first_id, last_id, secs, rate);
    else if (res->added == 0)
        printf("imported 0 bikes into '%s' (%.2f s)\n", db, secs);
    else
        printf("imported %zu bikes into '%s' as ids %" PRId64 "..%" PRId64
               " in %.2f s (%.0f rows/s)\n",
               res->added, db, res->first_id, last_id, secs, rate);
}

static int import_bikes(const char *file, const char *db, bool dry_run)
{
    int64_t t0_ns = clock_mono_ns();
    struct pipeline *pl = pipeline_new(file);
    struct store_import *imp = NULL;
    struct store *st = NULL;
    struct err_detail d;
    int status = 1;
    err_clear(&d);
    if (!cli_input_open(&pl->in, file, xmalloc(CLI_INPUT_BYTES)))
        goto out;

    /* store_open creates and migrates the file; the import then takes it. */
    enum err e = store_open(db, &st, &d);
    store_close(st);
    if (e == ERR_OK)
        e = store_import_begin(db, clock_wall_ms(), on_reject, pl, &imp, &d);
    if (e != ERR_OK) {
        fprintf(stderr, "spoke: %s\n", d.msg[0] ? d.msg : err_name(e));
        goto out;
    }
    if (!read_header(&pl->in, &pl->p) || !import_rows(pl, imp))
        goto out;
    /* Both threads are done: the report needs no lock any more. */
    struct store_import_result res;
    e = store_import_finish(imp, !dry_run && pl->report.total == 0, &res, &d);
    if (e != ERR_OK && e != ERR_CONFLICT) {
        fprintf(stderr, "spoke: %s\n", d.msg);
        goto out;
    }
    if (pl->report.total > 0) {
        print_report(&pl->report, pl->in.name, dry_run);
        goto out;
    }
    print_summary(&res, db, dry_run, t0_ns);
    status = 0;
out:
    store_import_free(imp);
    pipeline_free(pl);
    return status;
}

int cmd_import(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[2], "trips") == 0)
        return cli_import_trips(argc, argv);
    const char *db = NULL;
    bool dry_run = false;
    const struct cli_opt opts[] = {
        {"--db", "PATH", "SQLite database (default spoke.db)", &db, NULL},
        {"--dry-run", NULL, "check every row, import nothing", NULL, &dry_run},
    };
    const char *usage = "spoke import bikes FILE [--db PATH] [--dry-run]";
    const char *summary =
        "Loads bikes from a CSV file (- reads stdin) into the database, all "
        "or nothing.\nThe header names the columns: qr_code, lock_imei, lat, "
        "lon, and optionally\nstate, battery, vehicle_type. Stop the server "
        "first; it sees the bikes when\nit starts again.";
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return cli_parse(usage, summary, argc, argv, i, opts,
                             ARRAY_LEN(opts)) == 2
                       ? 0
                       : 2;
    }
    if (argc < 4 || strcmp(argv[2], "bikes") != 0 ||
        strncmp(argv[3], "--", 2) == 0) {
        fprintf(stderr,
                "usage: %s\n       spoke import trips FILE... [--db PATH] "
                "(see spoke import trips --help)\n",
                usage);
        return 2;
    }
    int rc = cli_parse(usage, summary, argc, argv, 4, opts, ARRAY_LEN(opts));
    if (rc)
        return rc == 2 ? 0 : 2;
    return import_bikes(argv[3], db ? db : "spoke.db", dry_run);
}
