/* SPDX-License-Identifier: MIT */
/*
 * `spoke import trips FILE...`: loads trip history into the demand history
 * of a stopped server's database as one named source, all or nothing. Reads
 * each file in large chunks, decodes records in place (cli/tripfile.h) and
 * hands the trips to one store transaction (store_trip_import_*). Every bad
 * row is counted, the first ones shown with file and line; one bad row and
 * nothing is imported.
 */
#include "base/sys.h"
#include "cli/cli.h"
#include "cli/tripfile.h"
#include "cli/input.h"
#include "base/clock.h"
#include "base/vec.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

_Static_assert(CLI_INPUT_BYTES >= CLI_TRIPFILE_WINDOW_MIN,
               "the buffer holds the decoder's window");

/* How many bad rows are shown (the count covers all of them). */
#define ERRORS_SHOWN 100

/* The whole run. */
struct run {
    enum cli_tripfile_format format;
    struct store_trip_import *imp;
    struct cli_sg_node *nodes; /* sorted */
    size_t nnodes;
    size_t bad; /* bad rows so far */
};

static void bad_row(struct run *r, const char *name, int64_t line,
                    const char *msg)
{
    if (r->bad++ < ERRORS_SHOWN)
        fprintf(stderr, "spoke: %s:%" PRId64 ": %s\n", name, line, msg);
}

/*
 * Imports every row of one file. Bad rows are reported and counted; false
 * only for a failure that stops the run (printed): a read or store error,
 * a record too long.
 */
static bool import_file(struct run *r, const char *path, char *buf)
{
    struct cli_input in;
    if (!cli_input_open(&in, path, buf))
        return false;
    struct cli_tripfile p;
    cli_tripfile_init(&p, r->format, r->nodes, r->nnodes);
    bool ok = true;
    for (;;) {
        struct store_demand_trip t;
        struct err_detail d;
        err_clear(&d);
        size_t used = 0;
        int64_t line = 0;
        enum err e = cli_tripfile_next(&p, in.buf + in.pos, in.len - in.pos,
                                       in.eof, &used, &t, &line, &d);
        in.pos += used;
        if (e == ERR_NOT_FOUND && !in.eof) {
            ok = cli_input_fill(&in);
            if (!ok)
                break;
            continue;
        }
        if (e == ERR_NOT_FOUND)
            break;
        if (e == ERR_OK) {
            e = store_trip_import_add(r->imp, &t, &d);
            if (e != ERR_OK && e != ERR_INVALID) {
                fprintf(stderr, "spoke: %s\n", d.msg);
                ok = false;
                break;
            }
        }
        if (e != ERR_OK)
            bad_row(r, in.name, line, d.msg);
        if (p.stopped)
            break;
    }
    if (ok && r->format == CLI_TRIPFILE_CSV && !p.has_header && !p.stopped)
        bad_row(r, in.name, 1,
                "the file is empty; its first line must name the columns "
                "started_at,ended_at,start_lat,start_lon,end_lat,end_lon");
    cli_input_close(&in);
    return ok;
}

/* The nodes file of the Singapore format, sorted; false (printed). */
static bool load_nodes(struct run *r, const char *path, char *buf)
{
    struct cli_input in;
    if (!cli_input_open(&in, path, buf))
        return false;
    size_t cap = 0;
    int64_t line = 0;
    bool ok = true;
    struct err_detail d;
    err_clear(&d);
    while (ok) {
        const char *p = in.buf + in.pos;
        const char *nl = memchr(p, '\n', in.len - in.pos);
        if (!nl && !in.eof && in.len - in.pos > CORE_CSV_RECORD_MAX) {
            fprintf(stderr,
                    "spoke: %s:%" PRId64 ": a line longer than %d "
                    "bytes\n",
                    path, line + 1, CORE_CSV_RECORD_MAX);
            ok = false;
        } else if (!nl && !in.eof) {
            ok = cli_input_fill(&in);
        }
        if (!nl && !in.eof)
            continue;
        size_t n = nl ? (size_t)(nl - p) : in.len - in.pos;
        if (!nl && n == 0)
            break;
        in.pos += nl ? n + 1 : n;
        line++;
        if (n == 0)
            continue;
        VEC_RESERVE1(r->nodes, r->nnodes, cap);
        ok = cli_sg_node_parse((struct str){p, n}, &r->nodes[r->nnodes], &d) ==
             ERR_OK;
        if (ok)
            r->nnodes++;
        else
            fprintf(stderr, "spoke: %s:%" PRId64 ": %s\n", path, line, d.msg);
    }
    cli_input_close(&in);
    if (ok && r->nnodes == 0) {
        fprintf(stderr, "spoke: nodes file '%s' has no nodes\n", path);
        ok = false;
    }
    if (ok && cli_sg_nodes_sort(r->nodes, r->nnodes, &d) != ERR_OK) {
        fprintf(stderr, "spoke: nodes file '%s': %s\n", path, d.msg);
        ok = false;
    }
    return ok;
}

/* Files */

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Appends path to *files, or for a directory its regular files (not the
 * hidden ones) sorted by name; false (printed) if it cannot be read.
 */
static bool add_path(const char *path, char ***files, size_t *n, size_t *cap)
{
    struct stat st;
    if (strcmp(path, "-") != 0 && stat(path, &st) != 0) {
        fprintf(stderr, "spoke: cannot open '%s': %s\n", path, strerror(errno));
        return false;
    }
    if (strcmp(path, "-") == 0 || !S_ISDIR(st.st_mode)) {
        VEC_PUSH(*files, *n, *cap, xstrndup(path, strlen(path)));
        return true;
    }
    DIR *dp = opendir(path);
    if (!dp) {
        fprintf(stderr, "spoke: cannot open '%s': %s\n", path, strerror(errno));
        return false;
    }
    size_t first = *n;
    const struct dirent *de;
    while ((de = readdir(dp)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        size_t plen = strlen(path), nlen = strlen(de->d_name);
        char *full = xmalloc(plen + nlen + 2);
        memcpy(full, path, plen);
        full[plen] = '/';
        memcpy(full + plen + 1, de->d_name, nlen + 1);
        if (stat(full, &st) == 0 && S_ISREG(st.st_mode))
            VEC_PUSH(*files, *n, *cap, full);
        else
            xfree(full);
    }
    closedir(dp);
    qsort(*files + first, *n - first, sizeof(**files), name_cmp);
    if (*n == first) {
        fprintf(stderr, "spoke: no files in '%s'\n", path);
        return false;
    }
    return true;
}

/* The default source name: the first path's base name ("stdin" for -). */
static void base_name(const char *path, char *out, size_t cap)
{
    if (strcmp(path, "-") == 0) {
        snprintf(out, cap, "stdin");
        return;
    }
    size_t end = strlen(path);
    while (end > 1 && path[end - 1] == '/')
        end--;
    size_t start = end;
    while (start > 0 && path[start - 1] != '/')
        start--;
    snprintf(out, cap, "%.*s", (int)(end - start), path + start);
}

static void print_summary(const struct store_trip_import_result *res,
                          const char *db, const char *source, size_t nfiles,
                          bool dry_run, int64_t t0_ns)
{
    double secs = (double)(clock_mono_ns() - t0_ns) / 1e9;
    double rate = secs > 0 ? (double)res->added / secs : 0;
    char from[25] = "-", to[25] = "-";
    if (res->added) {
        clock_format_rfc3339(res->first_ms, from);
        clock_format_rfc3339(res->last_ms, to);
    }
    if (dry_run) {
        printf("dry run: %zu trips in %zu file%s are valid (%s .. %s); "
               "nothing was imported (%.2f s, %.0f rows/s)\n",
               res->added, nfiles, nfiles == 1 ? "" : "s", from, to, secs,
               rate);
        return;
    }
    printf("imported %zu trips from %zu file%s into '%s' as source '%s' "
           "(%s .. %s) in %.2f s (%.0f rows/s)\n",
           res->added, nfiles, nfiles == 1 ? "" : "s", db, source, from, to,
           secs, rate);
    if (res->replaced)
        printf("replaced the %zu trips the source had before\n", res->replaced);
}

struct options {
    const char *db;
    const char *format;
    const char *nodes;
    const char *source;
    bool replace;
    bool dry_run;
};

static int import_trips(char **paths, size_t npaths, const struct options *o)
{
    int64_t t0_ns = clock_mono_ns();
    struct run r = {.format = strcmp(o->format, "singapore") == 0
                                  ? CLI_TRIPFILE_SINGAPORE
                                  : CLI_TRIPFILE_CSV};
    char **files = NULL;
    size_t nfiles = 0, capfiles = 0;
    char *buf = xmalloc(CLI_INPUT_BYTES);
    struct store *st = NULL;
    int status = 1;
    char source[STORE_DEMAND_SOURCE_MAX * 4];
    if (o->source)
        snprintf(source, sizeof(source), "%s", o->source);
    else
        base_name(paths[0], source, sizeof(source));
    for (size_t i = 0; i < npaths; i++) {
        if (!add_path(paths[i], &files, &nfiles, &capfiles))
            goto out;
    }
    if (r.format == CLI_TRIPFILE_SINGAPORE && !load_nodes(&r, o->nodes, buf))
        goto out;
    /* store_open creates and migrates the file; the import then takes it. */
    struct err_detail d;
    err_clear(&d);
    enum err e = store_open(o->db, &st, &d);
    store_close(st);
    if (e == ERR_OK)
        e = store_trip_import_begin(o->db, source, o->replace, clock_wall_ms(),
                                    &r.imp, &d);
    if (e != ERR_OK) {
        const char *hint = "";
        if (e == ERR_CONFLICT)
            hint = "; --replace replaces it, --source NAME names the import "
                   "otherwise";
        else if (e == ERR_INVALID)
            hint = " (--source NAME)";
        fprintf(stderr, "spoke: %s%s\n", d.msg[0] ? d.msg : err_name(e), hint);
        goto out;
    }
    for (size_t i = 0; i < nfiles; i++) {
        if (!import_file(&r, files[i], buf))
            goto out;
    }
    struct store_trip_import_result res;
    e = store_trip_import_finish(r.imp, !o->dry_run && r.bad == 0, &res, &d);
    if (e != ERR_OK) {
        fprintf(stderr, "spoke: %s\n", d.msg);
        goto out;
    }
    if (r.bad) {
        fprintf(stderr, "spoke: %zu bad row%s%s; nothing was imported%s\n",
                r.bad, r.bad == 1 ? "" : "s",
                r.bad > ERRORS_SHOWN ? " (the first ones shown)" : "",
                o->dry_run ? " (dry run)" : "");
        goto out;
    }
    print_summary(&res, o->db, source, nfiles, o->dry_run, t0_ns);
    status = 0;
out:
    store_trip_import_free(r.imp);
    for (size_t i = 0; i < nfiles; i++)
        xfree(files[i]);
    xfree(files);
    xfree(r.nodes);
    xfree(buf);
    return status;
}

int cli_import_trips(int argc, char **argv)
{
    struct options o = {.db = "spoke.db", .format = "csv"};
    const struct cli_opt opts[] = {
        {"--db", "PATH", "SQLite database (default spoke.db)", &o.db, NULL},
        {"--format", "csv|singapore", "the files' format (default csv)",
         &o.format, NULL},
        {"--nodes", "FILE", "singapore: the OSM nodes file (id, lon, lat)",
         &o.nodes, NULL},
        {"--source", "NAME", "the import's name (default: FILE's base name)",
         &o.source, NULL},
        {"--replace", NULL, "replace the source of that name if there is one",
         NULL, &o.replace},
        {"--dry-run", NULL, "check every row, import nothing", NULL,
         &o.dry_run},
    };
    const char *usage = "spoke import trips FILE... [--db PATH] "
                        "[--format csv|singapore --nodes FILE] [--source NAME] "
                        "[--replace] [--dry-run]";
    const char *summary =
        "Loads trip history into the database's demand history as one "
        "source, all or\nnothing, for the demand forecast (spoke forecast "
        "--db). FILE may be given\nseveral times or be a directory (its "
        "files in name order); - reads stdin.\nCSV: a header naming "
        "started_at, ended_at, start_lat, start_lon, end_lat,\nend_lon; "
        "times in Unix seconds or RFC 3339. singapore: the tab-separated "
        "files\nof the Singapore dockless trips, with --nodes "
        "sg_osm_nodes.dat. Stop the\nserver first.";
    /* Files are the arguments that are neither options nor their values. */
    char **paths = xmalloc((size_t)argc * sizeof(*paths));
    char **rest = xmalloc((size_t)argc * sizeof(*rest));
    size_t npaths = 0;
    int nrest = 0;
    for (int i = 3; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || strcmp(a, "-") == 0) {
            paths[npaths++] = argv[i];
            continue;
        }
        rest[nrest++] = argv[i];
        for (size_t j = 0; j < ARRAY_LEN(opts); j++) {
            if (strcmp(a, opts[j].name) == 0 && opts[j].arg && i + 1 < argc)
                rest[nrest++] = argv[++i];
        }
    }
    int rc = cli_parse(usage, summary, nrest, rest, 0, opts, ARRAY_LEN(opts));
    if (rc) {
        rc = rc == 2 ? 0 : 2;
    } else if (npaths == 0) {
        fprintf(stderr, "usage: %s\n", usage);
        rc = 2;
    } else if (strcmp(o.format, "csv") != 0 &&
               strcmp(o.format, "singapore") != 0) {
        fprintf(stderr, "spoke: --format is csv or singapore, not '%s'\n",
                o.format);
        rc = 2;
    } else if ((strcmp(o.format, "singapore") == 0) != (o.nodes != NULL)) {
        fprintf(stderr, "spoke: --nodes FILE goes with --format singapore, "
                        "and only with it\n");
        rc = 2;
    } else {
        rc = import_trips(paths, npaths, &o);
    }
    xfree(paths);
    xfree(rest);
    return rc;
}
