/* SPDX-License-Identifier: MIT */
/*
 * `spoke forecast`: the demand forecast on real data. With --backtest it
 * measures the model (dispatch/forecast.h) and the naive baselines on held
 * out days of the Singapore dockless trips (cells) and the Capital
 * Bikeshare hourly series (system totals); without, it prints the next
 * 24 h an operator would see for the Singapore data. This file reads the
 * files and hands the model arrays; docs/forecast.md has the numbers.
 */
#include "base/sys.h"
#include "cli/cli.h"
#include "base/clock.h"
#include "base/imap.h"
#include "base/str.h"
#include "base/vec.h"
#include "dispatch/demand.h"
#include "dispatch/forecast.h"
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#define SG_DIR "singapore-dockless-trips-2017"
#define UCI_DIR "uci-bike-sharing-hourly"
#define SG_UTC_OFFSET_S (8 * 3600)
#define SG_SLOT_S 900
#define SLOTS_PER_HOUR (3600 / SG_SLOT_S)
#define MAX_FILE_BYTES (256u << 20)
#define MAX_TRIP_FILES 64

/* ---- files ---------------------------------------------------------- */

/* Reads the whole file at path into *data (free with xfree). */
static bool read_file(const char *path, char **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "spoke: cannot open '%s': %s\n", path, strerror(errno));
        return false;
    }
    size_t cap = 1 << 20, n = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (n == cap) {
            if (cap >= MAX_FILE_BYTES) {
                fprintf(stderr, "spoke: '%s' is over %u MiB\n", path,
                        MAX_FILE_BYTES >> 20);
                xfree(buf);
                fclose(f);
                return false;
            }
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    bool ok = !ferror(f);
    if (!ok)
        fprintf(stderr, "spoke: cannot read '%s'\n", path);
    fclose(f);
    if (!ok) {
        xfree(buf);
        return false;
    }
    *data = buf;
    *len = n;
    return true;
}

/* Splits line into up to cap fields at sep; returns how many. */
static size_t split(struct str line, char sep, struct str *f, size_t cap)
{
    size_t n = 0;
    struct str rest = line;
    while (rest.ptr && n < cap) {
        rest = str_cut(rest, sep, &f[n]);
        n++;
    }
    return rest.ptr ? cap + 1 : n;
}

/* Drops a trailing '\r'. */
static struct str chomp(struct str s)
{
    if (s.len && s.ptr[s.len - 1] == '\r')
        s.len--;
    return s;
}

/* ---- the Singapore trips -------------------------------------------- */

struct node {
    int64_t id;
    struct geo_latlng p;
};

static int node_cmp(const void *a, const void *b)
{
    int64_t x = ((const struct node *)a)->id, y = ((const struct node *)b)->id;
    return (x > y) - (x < y);
}

static const struct node *node_find(const struct node *v, size_t n, int64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && v[lo].id == id ? &v[lo] : NULL;
}

/* The Singapore series and what the printouts need about it. */
struct sg_data {
    struct demand_grid grid;
    struct demand_series series;
    size_t trips;
    size_t observed_days;
};

static bool load_nodes(const char *dir, struct node **out, size_t *count)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s/sg_osm_nodes.dat", dir, SG_DIR);
    char *text = NULL;
    size_t len = 0;
    if (!read_file(path, &text, &len))
        return false;
    struct node *v = NULL;
    size_t n = 0, cap = 0, lineno = 0;
    struct str rest = {text, len};
    bool ok = true;
    while (ok && rest.ptr && rest.len) {
        struct str line, f[3];
        rest = str_cut(rest, '\n', &line);
        lineno++;
        line = chomp(line);
        if (line.len == 0)
            continue;
        double lon, lat;
        int64_t id;
        if (split(line, '\t', f, 3) != 3 || str_to_i64(f[0], &id) ||
            str_to_f64(f[1], &lon) || str_to_f64(f[2], &lat)) {
            fprintf(stderr, "spoke: %s:%zu: expected 'id lon lat'\n", path,
                    lineno);
            ok = false;
            break;
        }
        VEC_RESERVE1(v, n, cap);
        v[n++] = (struct node){id, {lat, lon}};
    }
    xfree(text);
    if (!ok || n == 0) {
        if (ok)
            fprintf(stderr, "spoke: %s: no nodes\n", path);
        xfree(v);
        return false;
    }
    qsort(v, n, sizeof(*v), node_cmp);
    *out = v;
    *count = n;
    return true;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The trip files of the trips directory, sorted (free each and the list). */
static bool list_trip_files(const char *dir, char ***names, size_t *count)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s/trips", dir, SG_DIR);
    DIR *dp = opendir(path);
    if (!dp) {
        fprintf(stderr, "spoke: cannot open '%s': %s\n", path, strerror(errno));
        return false;
    }
    char **v = xmalloc(MAX_TRIP_FILES * sizeof(*v));
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(dp)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len < 4 || strcmp(de->d_name + len - 4, ".dat") != 0)
            continue;
        if (n == MAX_TRIP_FILES)
            break;
        v[n] = xmalloc(strlen(path) + len + 2);
        memcpy(v[n], path, strlen(path));
        v[n][strlen(path)] = '/';
        memcpy(v[n] + strlen(path) + 1, de->d_name, len + 1);
        n++;
    }
    closedir(dp);
    qsort(v, n, sizeof(*v), name_cmp);
    *names = v;
    *count = n;
    if (n == 0)
        fprintf(stderr, "spoke: no trip files in '%s'\n", path);
    return n > 0;
}

/* Appends the rental and return of every trip of one file to *ev. */
static bool load_trips(const char *path, const struct node *nodes,
                       size_t nnodes, const struct demand_grid *g,
                       struct demand_event **ev, size_t *n, size_t *cap,
                       size_t *trips)
{
    char *text = NULL;
    size_t len = 0;
    if (!read_file(path, &text, &len))
        return false;
    struct str rest = {text, len};
    size_t lineno = 0;
    bool ok = true;
    while (ok && rest.ptr && rest.len) {
        struct str line, f[9];
        rest = str_cut(rest, '\n', &line);
        lineno++;
        line = chomp(line);
        if (line.len == 0)
            continue;
        int64_t t0, t1, n0, n1;
        if (split(line, '\t', f, 9) != 9 || str_to_i64(f[2], &t0) ||
            str_to_i64(f[3], &t1) || str_to_i64(f[4], &n0) ||
            str_to_i64(f[6], &n1)) {
            fprintf(stderr, "spoke: %s:%zu: expected 9 tab-separated fields\n",
                    path, lineno);
            ok = false;
            break;
        }
        const struct node *a = node_find(nodes, nnodes, n0);
        const struct node *b = node_find(nodes, nnodes, n1);
        int64_t ca, cb;
        if (!a || !b || demand_grid_cell(g, a->p, &ca) != ERR_OK ||
            demand_grid_cell(g, b->p, &cb) != ERR_OK) {
            fprintf(stderr, "spoke: %s:%zu: unknown node\n", path, lineno);
            ok = false;
            break;
        }
        VEC_PUSH(*ev, *n, *cap,
                 ((struct demand_event){t0, ca, DEMAND_RENTALS}));
        VEC_PUSH(*ev, *n, *cap,
                 ((struct demand_event){t1, cb, DEMAND_RETURNS}));
        (*trips)++;
    }
    xfree(text);
    return ok;
}

/*
 * Loads the trips into a series of 15-minute slots in UTC+8 over the days
 * of the data plus one day to forecast. A day with no trip is not observed
 * (Saturday 16 is missing from the data).
 */
static bool sg_load(const char *dir, double cell_m, struct sg_data *sg)
{
    struct node *nodes = NULL;
    size_t nnodes = 0, nfiles = 0, nev = 0, cap = 0;
    char **files = NULL;
    struct demand_event *ev = NULL;
    bool ok = false;
    bool have_series = false;
    memset(sg, 0, sizeof(*sg));
    if (!load_nodes(dir, &nodes, &nnodes))
        goto out;
    struct geo_bbox area = {90, 180, -90, -180};
    for (size_t i = 0; i < nnodes; i++) {
        area.min_lat_deg = MIN(area.min_lat_deg, nodes[i].p.lat_deg);
        area.max_lat_deg = MAX(area.max_lat_deg, nodes[i].p.lat_deg);
        area.min_lon_deg = MIN(area.min_lon_deg, nodes[i].p.lon_deg);
        area.max_lon_deg = MAX(area.max_lon_deg, nodes[i].p.lon_deg);
    }
    struct err_detail d;
    err_clear(&d);
    if (demand_grid_init(&sg->grid, area, cell_m, &d) != ERR_OK) {
        fprintf(stderr, "spoke: cannot make the grid: %s\n", d.msg);
        goto out;
    }
    if (!list_trip_files(dir, &files, &nfiles))
        goto out;
    for (size_t i = 0; i < nfiles; i++) {
        if (!load_trips(files[i], nodes, nnodes, &sg->grid, &ev, &nev, &cap,
                        &sg->trips))
            goto out;
    }
    int64_t first = INT64_MAX, last = INT64_MIN;
    for (size_t i = 0; i < nev; i += 2) {
        int64_t day = demand_local_day(ev[i].t_s, SG_UTC_OFFSET_S);
        first = MIN(first, day);
        last = MAX(last, day);
    }
    if (nev == 0 || last - first + 2 > (int64_t)DEMAND_MAX_DAYS) {
        fprintf(stderr, "spoke: no trips, or trips over too many days\n");
        goto out;
    }
    size_t ndays = (size_t)(last - first) + 2;
    if (demand_series_from_events(&sg->series, ev, nev, first, ndays, SG_SLOT_S,
                                  SG_UTC_OFFSET_S, sg->grid.cols, NULL,
                                  &d) != ERR_OK) {
        fprintf(stderr, "spoke: cannot build the series: %s\n", d.msg);
        goto out;
    }
    have_series = true;
    /* A day is observed if a trip started on it. */
    uint8_t *seen = xcalloc(ndays, 1);
    for (size_t i = 0; i < nev; i += 2)
        seen[demand_local_day(ev[i].t_s, SG_UTC_OFFSET_S) - first] = 1;
    size_t spd = sg->series.slots_per_day;
    for (size_t dd = 0; dd < ndays; dd++) {
        demand_series_set_observed(&sg->series, dd * spd, (dd + 1) * spd,
                                   seen[dd]);
        sg->observed_days += seen[dd];
    }
    xfree(seen);
    ok = true;
out:
    if (!ok && have_series)
        demand_series_release(&sg->series);
    for (size_t i = 0; i < nfiles; i++)
        xfree(files[i]);
    xfree(files);
    xfree(ev);
    xfree(nodes);
    return ok;
}

/* ---- the Capital Bikeshare hours ------------------------------------ */

/* Weather covariates per hour, built from the file's columns. */
enum {
    COV_CLOUDY,    /* weathersit 2: mist, clouds */
    COV_LIGHT,     /* weathersit 3: light rain or snow */
    COV_HEAVY,     /* weathersit 4: heavy rain, storm */
    COV_TEMP,      /* normalised temperature */
    COV_TEMP2,     /* its square */
    COV_HUM,       /* humidity */
    COV_WIND,      /* wind speed */
    COV_WET_HOUR,  /* the previous hour was weathersit 3 or 4 */
    COV_TEMP_WORK, /* temperature on working days */
    COV_HUM_WORK,  /* humidity on working days */
    UCI_NCOV,
};

struct uci_data {
    struct demand_series series;
    double *cov; /* [nslots * UCI_NCOV] */
    size_t rows;
};

struct uci_row {
    int64_t slot;
    int workingday, weathersit;
    double temp, hum, wind;
    int64_t cnt;
};

static int column(struct str *head, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (str_eq_cstr(head[i], name))
            return (int)i;
    }
    return -1;
}

/* 2011-01-01 .. 2012-12-31, hourly, local wall clock (offset 0). */
#define UCI_FIRST_YEAR 2011
#define UCI_DAYS 731

static bool uci_parse_row(struct str *f, const int *col, int64_t day0,
                          struct uci_row *r)
{
    struct str y, m, d, rest;
    int64_t yy, mm, dd, hr, wd, ws;
    rest = str_cut(f[col[0]], '-', &y);
    rest = str_cut(rest, '-', &m);
    str_cut(rest, '-', &d);
    if (str_to_i64(y, &yy) || yy < 1900 || yy > 2200 || str_to_i64(m, &mm) ||
        str_to_i64(d, &dd) || mm < 1 || mm > 12 || dd < 1 || dd > 31 ||
        str_to_i64(f[col[1]], &hr) || hr < 0 || hr > 23 ||
        str_to_i64(f[col[2]], &wd) || str_to_i64(f[col[3]], &ws) || ws < 1 ||
        ws > 4 || str_to_f64(f[col[4]], &r->temp) ||
        str_to_f64(f[col[5]], &r->hum) || str_to_f64(f[col[6]], &r->wind) ||
        str_to_i64(f[col[7]], &r->cnt) || r->cnt < 0 || r->cnt > UINT16_MAX)
        return false;
    int64_t day = demand_day_from_civil(yy, (unsigned)mm, (unsigned)dd) - day0;
    if (day < 0 || day >= UCI_DAYS)
        return false;
    r->slot = day * 24 + hr;
    r->workingday = wd != 0;
    r->weathersit = (int)ws;
    return true;
}

static bool uci_load(const char *dir, struct uci_data *u)
{
    static const char *const names[] = {
        "dteday", "hr",  "workingday", "weathersit",
        "temp",   "hum", "windspeed",  "cnt",
    };
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s/hour.csv", dir, UCI_DIR);
    char *text = NULL;
    size_t len = 0;
    if (!read_file(path, &text, &len))
        return false;
    memset(u, 0, sizeof(*u));
    int64_t day0 = demand_day_from_civil(UCI_FIRST_YEAR, 1, 1);
    int64_t cell = 0;
    struct err_detail d;
    err_clear(&d);
    enum err e = demand_series_init(&u->series, day0, UCI_DAYS, 3600, 0, &cell,
                                    1, 0, &d);
    ASSERT(e == ERR_OK);
    size_t nslots = u->series.nslots;
    demand_series_set_observed(&u->series, 0, nslots, false);
    struct uci_row *rows = xcalloc(nslots, sizeof(*rows));
    uint8_t *have = xcalloc(nslots, 1);
    struct str rest = {text, len}, line, head[32], f[32];
    int col[8];
    rest = str_cut(rest, '\n', &line);
    size_t nhead = split(chomp(line), ',', head, 32), lineno = 1;
    bool ok = nhead <= 32;
    for (size_t i = 0; ok && i < ARRAY_LEN(names); i++) {
        col[i] = column(head, nhead, names[i]);
        ok = col[i] >= 0;
    }
    if (!ok)
        fprintf(stderr, "spoke: %s: expected the UCI hour.csv header\n", path);
    while (ok && rest.ptr && rest.len) {
        rest = str_cut(rest, '\n', &line);
        lineno++;
        line = chomp(line);
        if (line.len == 0)
            continue;
        struct uci_row r;
        if (split(line, ',', f, 32) != nhead ||
            !uci_parse_row(f, col, day0, &r) || have[r.slot]) {
            fprintf(stderr, "spoke: %s:%zu: bad or repeated row\n", path,
                    lineno);
            ok = false;
            break;
        }
        rows[r.slot] = r;
        have[r.slot] = 1;
        u->rows++;
    }
    xfree(text);
    if (ok) {
        /*
         * Absent hours (outages, some zero hours) stay unobserved; they get
         * the weather of the nearest earlier hour, else the next one. Every
         * day has rows, so every day gets its type from the file.
         */
        u->cov = xcalloc(nslots * UCI_NCOV, sizeof(double));
        for (size_t t = 0; t < nslots; t++) {
            if (!have[t])
                continue;
            demand_series_set_observed(&u->series, t, t + 1, true);
            demand_series_add(&u->series, 0, DEMAND_RENTALS, t,
                              (uint32_t)rows[t].cnt);
            demand_series_set_day_type(&u->series, t / 24,
                                       rows[t].workingday ? DEMAND_WORKDAY
                                                          : DEMAND_DAY_OFF);
        }
        for (size_t t = 0; t < nslots; t++) {
            size_t src = t;
            while (!have[src] && src > 0)
                src--;
            while (!have[src] && src + 1 < nslots)
                src++;
            const struct uci_row *r = &rows[src];
            /* The day's own working-day flag, even if src is another day. */
            int work = u->series.day_type[t / 24] == DEMAND_WORKDAY;
            double *c = u->cov + t * UCI_NCOV;
            c[COV_CLOUDY] = r->weathersit == 2;
            c[COV_LIGHT] = r->weathersit == 3;
            c[COV_HEAVY] = r->weathersit == 4;
            c[COV_TEMP] = r->temp;
            c[COV_TEMP2] = r->temp * r->temp;
            c[COV_HUM] = r->hum;
            c[COV_WIND] = r->wind;
            c[COV_TEMP_WORK] = r->temp * work;
            c[COV_HUM_WORK] = r->hum * work;
            c[COV_WET_HOUR] = t > 0 ? u->cov[(t - 1) * UCI_NCOV + COV_LIGHT] +
                                          u->cov[(t - 1) * UCI_NCOV + COV_HEAVY]
                                    : 0;
        }
    }
    xfree(rows);
    xfree(have);
    if (!ok) {
        demand_series_release(&u->series);
        xfree(u->cov);
        u->cov = NULL;
    }
    return ok;
}

/* ---- the backtests -------------------------------------------------- */

/* Errors of one predictor: [0] rentals, [1] returns. */
struct score {
    struct forecast_err cell[2];
    struct forecast_err sys[2];
};

/* Forecasts [origin, origin + horizon) and adds its errors per hour. */
static bool sg_score(const struct demand_series *s, size_t origin,
                     size_t horizon, const struct forecast_params *p,
                     struct score *sc)
{
    double *pred[2] = {xmalloc(s->ncells * horizon * sizeof(double)),
                       xmalloc(s->ncells * horizon * sizeof(double))};
    struct err_detail d;
    err_clear(&d);
    enum err e = forecast_run(s, origin, horizon, p, pred[0], pred[1], &d);
    for (int k = 0; k < 2 && e == ERR_OK; k++)
        e = forecast_score(s, origin, horizon, pred[k],
                           k ? DEMAND_RETURNS : DEMAND_RENTALS, p,
                           SLOTS_PER_HOUR, NULL, &sc->cell[k], &sc->sys[k]);
    if (e != ERR_OK)
        fprintf(stderr, "spoke: forecast failed: %s\n",
                d.msg[0] ? d.msg : err_name(e));
    xfree(pred[0]);
    xfree(pred[1]);
    return e == ERR_OK;
}

static void print_row(const char *name, const struct score *sc)
{
    printf("  %-40s", name);
    for (int k = 0; k < 2; k++)
        printf(" %6.3f %6.3f", forecast_err_mae(&sc->cell[k]),
               forecast_err_rmse(&sc->cell[k]));
    for (int k = 0; k < 2; k++)
        printf(" %7.1f %7.1f", forecast_err_mae(&sc->sys[k]),
               forecast_err_rmse(&sc->sys[k]));
    printf("\n");
}

/* 1 - rmse(model) / rmse(best baseline), in percent. */
static double gain_pct(double model, double best)
{
    return best > 0 ? 100 * (1 - model / best) : 0;
}

#define SG_PREDICTORS 3

/*
 * Prints the RMSE gain of predictor 0 over the best of the others and
 * returns the smallest cell-hour gain.
 */
static double print_gain(const struct score *sc)
{
    double g[4], worst = INFINITY;
    for (int m = 0; m < 4; m++) {
        double best = INFINITY, model = 0;
        for (int i = 0; i < SG_PREDICTORS; i++) {
            const struct forecast_err *e =
                m < 2 ? &sc[i].cell[m] : &sc[i].sys[m - 2];
            if (i == 0)
                model = forecast_err_rmse(e);
            else
                best = MIN(best, forecast_err_rmse(e));
        }
        g[m] = gain_pct(model, best);
        if (m < 2)
            worst = MIN(worst, g[m]);
    }
    printf("  %-40s %12.1f%% %12.1f%% %14.1f%% %14.1f%%\n",
           "RMSE gain over the best baseline", g[0], g[1], g[2], g[3]);
    return worst;
}

static void day_label(const struct demand_series *s, size_t day, char *out,
                      size_t cap)
{
    static const char *const wd[] = {"Mon", "Tue", "Wed", "Thu",
                                     "Fri", "Sat", "Sun"};
    int64_t y;
    unsigned m, d;
    demand_civil_from_day(s->day0 + (int64_t)day, &y, &m, &d);
    snprintf(out, cap, "%s %04" PRId64 "-%02u-%02u",
             wd[demand_weekday(s->day0 + (int64_t)day)], y, m, d);
}

static bool day_observed(const struct demand_series *s, size_t day)
{
    return s->observed[day * s->slots_per_day];
}

/*
 * Scores every predictor on test days tests[0..n) (each forecast issued at
 * its local midnight from all the days before it) and prints the rows.
 */
static bool sg_block(const struct demand_series *s, const char *title,
                     const size_t *tests, size_t n,
                     const struct forecast_params *ps, const char *const *names,
                     double *gain)
{
    struct score sc[SG_PREDICTORS];
    memset(sc, 0, sizeof(sc));
    for (size_t i = 0; i < n; i++) {
        for (int j = 0; j < SG_PREDICTORS; j++) {
            if (!sg_score(s, tests[i] * s->slots_per_day, s->slots_per_day,
                          &ps[j], &sc[j]))
                return false;
        }
    }
    printf("%s\n", title);
    for (int j = 0; j < SG_PREDICTORS; j++)
        print_row(names[j], &sc[j]);
    *gain = print_gain(sc);
    return true;
}

static bool sg_backtest(const char *dir, double cell_m, double *gain)
{
    struct sg_data sg;
    if (!sg_load(dir, cell_m, &sg))
        return false;
    const struct demand_series *s = &sg.series;
    struct forecast_params ps[SG_PREDICTORS];
    for (int j = 0; j < SG_PREDICTORS; j++)
        forecast_params_default(&ps[j]);
    ps[1].model = FORECAST_HIST_MEAN;
    ps[2].model = FORECAST_LAST_WEEK;
    static const char *const names[SG_PREDICTORS] = {
        "spoke",
        "historical mean, same slot and day type",
        "last week's slot, else prev. same type",
    };
    /* The observed workdays, and the observed days off, in order. */
    size_t work[DEMAND_MAX_DAYS], off[DEMAND_MAX_DAYS], nwork = 0, noff = 0;
    for (size_t dd = 0; dd < s->ndays; dd++) {
        if (!day_observed(s, dd))
            continue;
        if (s->day_type[dd] == DEMAND_WORKDAY)
            work[nwork++] = dd;
        else
            off[noff++] = dd;
    }
    bool ok = nwork >= 3;
    if (!ok)
        fprintf(stderr, "spoke: the Singapore data need 3 workdays\n");
    char a[64], b[64], title[320];
    if (ok) {
        printf("Singapore dockless trips, Sept 2017: %zu trips, %zu observed "
               "days, %zu cells of %.0f m with events,\n15-minute slots in "
               "UTC+8; day-ahead forecasts issued at local midnight from "
               "all earlier days.\nErrors per cell-hour (every cell, zero "
               "hours included) and per system-hour.\n",
               sg.trips, sg.observed_days, s->ncells, cell_m);
        printf("  %-40s %13s %13s %15s %15s\n", "", "rentals cell-h",
               "returns cell-h", "rentals sys-h", "returns sys-h");
        printf("  %-40s %6s %6s %6s %6s %7s %7s %7s %7s\n", "predictor", "MAE",
               "RMSE", "MAE", "RMSE", "MAE", "RMSE", "MAE", "RMSE");
        day_label(s, work[0], a, sizeof(a));
        day_label(s, work[nwork - 2], b, sizeof(b));
        char c[64];
        day_label(s, work[nwork - 1], c, sizeof(c));
        snprintf(title, sizeof(title),
                 "test %s; train %s .. %s (the \"last week\" baseline has "
                 "no week: it uses the previous workday)",
                 c, a, b);
        ok = sg_block(s, title, &work[nwork - 1], 1, ps, names, gain);
    }
    double unused;
    if (ok) {
        day_label(s, work[2], a, sizeof(a));
        day_label(s, work[nwork - 1], b, sizeof(b));
        snprintf(title, sizeof(title),
                 "rolling origin: each workday %s .. %s from the days "
                 "before it, errors pooled",
                 a, b);
        ok = sg_block(s, title, &work[2], nwork - 2, ps, names, &unused);
    }
    for (size_t i = 0; ok && i < noff; i++) {
        day_label(s, off[i], a, sizeof(a));
        snprintf(title, sizeof(title),
                 "test %s: no day off in the history, so every predictor "
                 "falls back to all earlier days",
                 a);
        ok = sg_block(s, title, &off[i], 1, ps, names, &unused);
    }
    demand_series_release(&sg.series);
    return ok;
}

/* Test quarter of the Capital Bikeshare data (README reference split). */
#define UCI_TEST_FIRST_DAY 639 /* 2012-10-01 */
#define UCI_PREDICTORS 5

static bool uci_backtest(const char *dir, double *gain)
{
    struct uci_data u;
    if (!uci_load(dir, &u))
        return false;
    struct demand_series *s = &u.series;
    size_t first = UCI_TEST_FIRST_DAY * 24, horizon = s->nslots - first;
    struct forecast_params ps[UCI_PREDICTORS];
    for (int j = 0; j < UCI_PREDICTORS; j++)
        forecast_params_default(&ps[j]);
    ps[2].model = FORECAST_HIST_MEAN;
    ps[3].model = FORECAST_LAST_WEEK;
    ps[4].model = FORECAST_LAST_DAY;
    static const char *const names[UCI_PREDICTORS] = {
        "spoke, weather covariates",
        "spoke, calendar and recent days only",
        "historical mean, same hour and day type",
        "same hour last week (168 h)",
        "same hour 24 h earlier",
    };
    /* The README's 117.7 counts only hours whose 168-h lag exists. */
    uint8_t *mask = xmalloc(horizon);
    size_t nmask = 0;
    for (size_t k = 0; k < horizon; k++) {
        mask[k] = s->observed[first + k - 168];
        nmask += mask[k] && s->observed[first + k];
    }
    double *pred = xmalloc(horizon * sizeof(double));
    struct forecast_err all[UCI_PREDICTORS] = {0}, sub[UCI_PREDICTORS] = {0};
    struct err_detail d;
    err_clear(&d);
    enum err e = ERR_OK;
    for (int j = 0; j < UCI_PREDICTORS && e == ERR_OK; j++) {
        e = demand_series_set_covariates(s, j == 0 ? UCI_NCOV : 0, u.cov, &d);
        /* The mean is of the training quarter; the others are day-ahead. */
        size_t step = j == 2 ? horizon : 24;
        for (size_t k = 0; k < horizon && e == ERR_OK; k += step)
            e = forecast_run(s, first + k, step, &ps[j], pred + k, NULL, &d);
        if (e == ERR_OK)
            e = forecast_score(s, first, horizon, pred, DEMAND_RENTALS, NULL, 1,
                               NULL, &all[j], NULL);
        if (e == ERR_OK)
            e = forecast_score(s, first, horizon, pred, DEMAND_RENTALS, NULL, 1,
                               mask, &sub[j], NULL);
    }
    if (e != ERR_OK)
        fprintf(stderr, "spoke: forecast failed: %s\n",
                d.msg[0] ? d.msg : err_name(e));
    if (e == ERR_OK) {
        printf("Capital Bikeshare hourly rentals (system total, %zu rows): "
               "train before 2012-10-01, test\n2012-10-01 .. 2012-12-31; "
               "day-ahead forecasts issued at local midnight from all "
               "earlier hours.\nWeather covariates are the observed weather "
               "(a perfect day-ahead weather forecast).\n",
               u.rows);
        char h1[32], h2[32];
        snprintf(h1, sizeof(h1), "all %zu h", all[0].n);
        snprintf(h2, sizeof(h2), "%zu h, lag 168 h", nmask);
        printf("  %-40s %15s   %15s\n", "", h1, h2);
        printf("  %-40s %7s %7s   %7s %7s\n", "predictor", "MAE", "RMSE", "MAE",
               "RMSE");
        for (int j = 0; j < UCI_PREDICTORS; j++)
            printf("  %-40s %7.1f %7.1f   %7.1f %7.1f\n", names[j],
                   forecast_err_mae(&all[j]), forecast_err_rmse(&all[j]),
                   forecast_err_mae(&sub[j]), forecast_err_rmse(&sub[j]));
        double best = INFINITY, best_sub = INFINITY;
        for (int j = 2; j < UCI_PREDICTORS; j++) {
            best = MIN(best, forecast_err_rmse(&all[j]));
            best_sub = MIN(best_sub, forecast_err_rmse(&sub[j]));
        }
        static const char *const gains[2] = {
            "RMSE gain over best baseline, weather",
            "RMSE gain, calendar and recent days only",
        };
        for (int j = 0; j < 2; j++)
            printf("  %-40s %14.1f%%   %14.1f%%\n", gains[j],
                   gain_pct(forecast_err_rmse(&all[j]), best),
                   gain_pct(forecast_err_rmse(&sub[j]), best_sub));
        *gain = gain_pct(forecast_err_rmse(&all[0]), best);
    }
    xfree(pred);
    xfree(mask);
    xfree(u.cov);
    demand_series_release(s);
    return e == ERR_OK;
}

/* ---- the operator's view -------------------------------------------- */

static void slot_label(const struct demand_series *s, size_t slot, char *out,
                       size_t cap)
{
    char day[64];
    day_label(s, slot / s->slots_per_day, day, sizeof(day));
    size_t min = (slot % s->slots_per_day) * s->slot_s / 60;
    snprintf(out, cap, "%s %02zu:%02zu", day, min / 60, min % 60);
}

struct ranked {
    size_t cell;
    double key;
};

static int ranked_cmp(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? 1 : -1;
    return (x->cell > y->cell) - (x->cell < y->cell);
}

/* Sums pred[c * horizon + k] over k < upto. */
static double cell_sum(const double *pred, size_t c, size_t horizon,
                       size_t upto)
{
    double v = 0;
    for (size_t k = 0; k < upto; k++)
        v += pred[c * horizon + k];
    return v;
}

static void print_top(const struct sg_data *sg, const double *rent,
                      const double *ret, size_t horizon, size_t top,
                      const char *what, int sign_rent, int sign_ret)
{
    const struct demand_series *s = &sg->series;
    struct ranked *r = xmalloc(s->ncells * sizeof(*r));
    for (size_t c = 0; c < s->ncells; c++)
        r[c] = (struct ranked){
            c, sign_rent * cell_sum(rent, c, horizon, horizon) +
                   sign_ret * cell_sum(ret, c, horizon, horizon)};
    qsort(r, s->ncells, sizeof(*r), ranked_cmp);
    printf("\ntop %zu cells by %s over the next %zu h:\n", top, what,
           horizon / SLOTS_PER_HOUR);
    printf("  %8s %10s %10s %9s %9s %9s %9s\n", "cell", "lat", "lon", "rentals",
           "returns", "net", "rent 3h");
    for (size_t i = 0; i < MIN(top, s->ncells); i++) {
        size_t c = r[i].cell;
        struct geo_latlng p = demand_grid_cell_center(&sg->grid, s->cells[c]);
        double a = cell_sum(rent, c, horizon, horizon);
        double b = cell_sum(ret, c, horizon, horizon);
        printf("  %8" PRId64 " %10.5f %10.5f %9.1f %9.1f %+9.1f %9.1f\n",
               s->cells[c], p.lat_deg, p.lon_deg, a, b, b - a,
               cell_sum(rent, c, horizon,
                        MIN(horizon, (size_t)3 * SLOTS_PER_HOUR)));
    }
    xfree(r);
}

/*
 * Forecasts the 24 h from slot origin of sg's series and prints the view:
 * the hourly totals and the top cells. zone names the series' offset.
 */
static bool show_view(const struct sg_data *sg, size_t origin, double cell_m,
                      size_t top, const char *zone)
{
    const struct demand_series *s = &sg->series;
    size_t horizon = s->slots_per_day;
    struct forecast_params p;
    forecast_params_default(&p);
    double *rent = xmalloc(s->ncells * horizon * sizeof(double));
    double *ret = xmalloc(s->ncells * horizon * sizeof(double));
    struct err_detail d;
    err_clear(&d);
    enum err e = forecast_run(s, origin, horizon, &p, rent, ret, &d);
    if (e != ERR_OK) {
        fprintf(stderr, "spoke: cannot forecast: %s\n",
                d.msg[0] ? d.msg : err_name(e));
        goto out;
    }
    char when[96];
    slot_label(s, origin, when, sizeof(when));
    printf("forecast from %s (%s) for 24 h: %zu cells of %.0f m, "
           "history %zu trips\n\nhour         rentals  returns\n",
           when, zone, s->ncells, cell_m, sg->trips);
    double total[2] = {0, 0};
    for (size_t h = 0; h < horizon / SLOTS_PER_HOUR; h++) {
        double v[2] = {0, 0};
        for (size_t c = 0; c < s->ncells; c++) {
            for (size_t k = h * SLOTS_PER_HOUR; k < (h + 1) * SLOTS_PER_HOUR;
                 k++) {
                v[0] += rent[c * horizon + k];
                v[1] += ret[c * horizon + k];
            }
        }
        slot_label(s, origin + h * SLOTS_PER_HOUR, when, sizeof(when));
        printf("%s %8.0f %8.0f\n", when + 15, v[0], v[1]);
        total[0] += v[0];
        total[1] += v[1];
    }
    printf("total        %8.0f %8.0f\n", total[0], total[1]);
    print_top(sg, rent, ret, horizon, top, "rentals", 1, 0);
    print_top(sg, rent, ret, horizon, top, "returns", 0, 1);
    print_top(sg, rent, ret, horizon, top,
              "deficit (rentals minus returns: bring bikes)", 1, -1);
    print_top(sg, rent, ret, horizon, top,
              "surplus (returns minus rentals: collect bikes)", -1, 1);
out:
    xfree(rent);
    xfree(ret);
    return e == ERR_OK;
}

static int operator_view(const char *dir, double cell_m, const char *at,
                         size_t top)
{
    struct sg_data sg;
    if (!sg_load(dir, cell_m, &sg))
        return 1;
    const struct demand_series *s = &sg.series;
    size_t horizon = s->slots_per_day, origin = s->nslots - horizon;
    int rc = 1;
    if (at) {
        int64_t ms;
        size_t slot;
        if (clock_parse_rfc3339(str_from_cstr(at), &ms) != ERR_OK ||
            demand_series_slot(s, ms / 1000 - (ms % 1000 < 0), &slot) !=
                ERR_OK ||
            slot < s->slots_per_day || slot > s->nslots - horizon) {
            char lo[96], hi[96];
            slot_label(s, s->slots_per_day, lo, sizeof(lo));
            slot_label(s, s->nslots - horizon, hi, sizeof(hi));
            fprintf(stderr,
                    "spoke: --at must be an RFC 3339 time from %s to %s "
                    "(UTC+8), not '%s'\n",
                    lo, hi, at);
            goto out;
        }
        origin = slot;
    }
    rc = show_view(&sg, origin, cell_m, top, "UTC+8") ? 0 : 1;
out:
    demand_series_release(&sg.series);
    return rc;
}

/* ---- the store's demand history (--db) ---------------------------- */

#define DAY_MS (DEMAND_DAY_S * INT64_C(1000))

/*
 * What two passes over the store's events collect: the box around them,
 * then per cell of the grid over that box its counts per slot and kind
 * (only cells with events get a block), and the days a trip started on.
 */
struct db_hist {
    int64_t from_ms;
    struct geo_bbox box;
    size_t events;
    const struct demand_grid *grid;
    int64_t day0;
    int32_t utc_offset_s;
    size_t ndays;
    size_t nslots;
    struct imap at;    /* cell id -> index + 1 into cells and blocks */
    int64_t *cells;    /* in order of first event */
    uint16_t **blocks; /* [kind * nslots + slot] counts per cell */
    size_t ncells, capcells;
    uint8_t *started; /* [ndays] a trip started that day */
    size_t trips;
    uint64_t lost;
};

static enum err db_box(void *ctx, const struct store_demand_event *e)
{
    struct db_hist *h = ctx;
    h->box.min_lat_deg = MIN(h->box.min_lat_deg, e->pos.lat_deg);
    h->box.max_lat_deg = MAX(h->box.max_lat_deg, e->pos.lat_deg);
    h->box.min_lon_deg = MIN(h->box.min_lon_deg, e->pos.lon_deg);
    h->box.max_lon_deg = MAX(h->box.max_lon_deg, e->pos.lon_deg);
    h->events++;
    return ERR_OK;
}

static enum err db_count(void *ctx, const struct store_demand_event *e)
{
    static const enum demand_kind kinds[] = {
        [STORE_DEMAND_RENTAL] = DEMAND_RENTALS,
        [STORE_DEMAND_RETURN] = DEMAND_RETURNS,
        [STORE_DEMAND_LOST] = DEMAND_LOST,
    };
    struct db_hist *h = ctx;
    int64_t cell;
    if ((unsigned)e->kind >= ARRAY_LEN(kinds) ||
        demand_grid_cell(h->grid, e->pos, &cell) != ERR_OK)
        return ERR_OK; /* outside the box: an event of after pass 1 */
    int64_t t_s = e->t_ms / 1000 - (e->t_ms % 1000 < 0);
    int64_t day = demand_local_day(t_s, h->utc_offset_s) - h->day0;
    int64_t local_s = t_s + h->utc_offset_s;
    int64_t slot = day * (DEMAND_DAY_S / SG_SLOT_S) +
                   (local_s - (day + h->day0) * DEMAND_DAY_S) / SG_SLOT_S;
    if (day < 0 || slot < 0 || (size_t)slot >= h->nslots)
        return ERR_OK;
    uintptr_t i = (uintptr_t)imap_get(&h->at, (uint64_t)cell);
    if (!i) {
        if (h->ncells == h->capcells) {
            h->capcells = h->capcells ? 2 * h->capcells : 256;
            h->cells = xreallocarray(h->cells, h->capcells, sizeof(*h->cells));
            h->blocks =
                xreallocarray(h->blocks, h->capcells, sizeof(*h->blocks));
        }
        h->cells[h->ncells] = cell;
        h->blocks[h->ncells] =
            xcalloc(DEMAND_KINDS * h->nslots, sizeof(uint16_t));
        i = ++h->ncells;
        imap_put(&h->at, (uint64_t)cell, (void *)i);
    }
    uint16_t *c = &h->blocks[i - 1][kinds[e->kind] * h->nslots + (size_t)slot];
    *c = (uint16_t)MIN((uint32_t)*c + e->n, (uint32_t)UINT16_MAX);
    if (e->kind == STORE_DEMAND_RENTAL) {
        h->started[day] = 1;
        h->trips++;
    } else if (e->kind == STORE_DEMAND_LOST) {
        h->lost += e->n;
    }
    return ERR_OK;
}

static void db_hist_release(struct db_hist *h)
{
    for (size_t i = 0; i < h->ncells; i++)
        xfree(h->blocks[i]);
    xfree(h->blocks);
    xfree(h->cells);
    xfree(h->started);
    imap_release(&h->at);
}

static int i64_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The series of h's counts; false (printed) on failure. */
static bool db_series(struct db_hist *h, struct sg_data *sg)
{
    int64_t *sorted = xmalloc(h->ncells * sizeof(*sorted));
    memcpy(sorted, h->cells, h->ncells * sizeof(*sorted));
    qsort(sorted, h->ncells, sizeof(*sorted), i64_cmp);
    struct err_detail d;
    err_clear(&d);
    enum err e = demand_series_init(&sg->series, h->day0, h->ndays, SG_SLOT_S,
                                    h->utc_offset_s, sorted, h->ncells,
                                    sg->grid.cols, &d);
    for (size_t ci = 0; e == ERR_OK && ci < h->ncells; ci++) {
        uintptr_t i = (uintptr_t)imap_get(&h->at, (uint64_t)sorted[ci]);
        for (size_t k = 0; k < DEMAND_KINDS; k++) {
            const uint16_t *b = h->blocks[i - 1] + k * h->nslots;
            for (size_t t = 0; t < h->nslots; t++) {
                if (b[t])
                    demand_series_add(&sg->series, ci, (enum demand_kind)k, t,
                                      b[t]);
            }
        }
    }
    xfree(sorted);
    if (e != ERR_OK) {
        fprintf(stderr, "spoke: cannot build the series: %s%s\n", d.msg,
                e == ERR_TOO_BIG ? " (try a larger --cell-m or fewer --days)"
                                 : "");
        return false;
    }
    /* Days before the first trip are unknown, not empty; so are outages. */
    size_t spd = sg->series.slots_per_day;
    bool begun = false;
    for (size_t day = 0; day < h->ndays; day++) {
        begun = begun || h->started[day];
        if (!h->started[day] && (!begun || day + 2 < h->ndays))
            demand_series_set_observed(&sg->series, day * spd, (day + 1) * spd,
                                       false);
        sg->observed_days += h->started[day];
    }
    return true;
}

/*
 * The operator view from the store's demand history: the whole days of the
 * last ndays before at_ms (and at_ms's own day up to it), on a grid of
 * cell_m over the box of the events, forecast from at_ms.
 */
static int db_view(const char *db, int64_t ndays, double cell_m, int64_t at_ms,
                   int32_t utc_offset_s, size_t top)
{
    struct store *st = NULL;
    struct err_detail d;
    err_clear(&d);
    struct db_hist h = {.utc_offset_s = utc_offset_s,
                        .box = {90, 180, -90, -180}};
    imap_init(&h.at);
    struct sg_data sg;
    memset(&sg, 0, sizeof(sg));
    bool have_series = false;
    int rc = 1;
    int64_t at_s = at_ms / 1000 - (at_ms % 1000 < 0);
    int64_t at_day = demand_local_day(at_s, utc_offset_s);
    h.day0 = at_day - ndays;
    h.ndays = (size_t)ndays + 2; /* the past days, today, tomorrow */
    h.nslots = h.ndays * (DEMAND_DAY_S / SG_SLOT_S);
    h.from_ms = (h.day0 * DEMAND_DAY_S - utc_offset_s) * INT64_C(1000);
    h.started = xcalloc(h.ndays, 1);
    int64_t t0 = clock_mono_ns();
    enum err e = store_open(db, &st, &d);
    if (e == ERR_OK)
        e = store_demand_load(st, h.from_ms, at_ms, db_box, &h);
    if (e != ERR_OK) {
        fprintf(stderr, "spoke: cannot read the demand history of '%s': %s\n",
                db, d.msg[0] ? d.msg : err_name(e));
        goto out;
    }
    if (h.events == 0) {
        fprintf(stderr,
                "spoke: '%s' has no demand history in the %" PRId64
                " days before the forecast (import some with spoke import "
                "trips, or let the server log trips and searches)\n",
                db, ndays);
        goto out;
    }
    /* A cell of margin: the grid needs a box, not a point or a line. */
    double pad_lat = cell_m / 111195.0;
    double mid = (h.box.min_lat_deg + h.box.max_lat_deg) / 2 * M_PI / 180;
    double pad_lon = pad_lat / MAX(cos(mid), 0.01);
    struct geo_bbox area = {MAX(h.box.min_lat_deg - pad_lat, -85.0),
                            MAX(h.box.min_lon_deg - pad_lon, -180.0),
                            MIN(h.box.max_lat_deg + pad_lat, 85.0),
                            MIN(h.box.max_lon_deg + pad_lon, 180.0)};
    e = demand_grid_init(&sg.grid, area, cell_m, &d);
    if (e != ERR_OK) {
        fprintf(stderr, "spoke: cannot make a grid over the history: %s\n",
                d.msg);
        goto out;
    }
    h.grid = &sg.grid;
    e = store_demand_load(st, h.from_ms, at_ms, db_count, &h);
    if (e != ERR_OK) {
        fprintf(stderr, "spoke: cannot read the demand history of '%s': %s\n",
                db, err_name(e));
        goto out;
    }
    double load_s = (double)(clock_mono_ns() - t0) / 1e9;
    if (!db_series(&h, &sg))
        goto out;
    have_series = true;
    sg.trips = h.trips;
    size_t origin = 0;
    if (demand_series_slot(&sg.series, at_s, &origin) != ERR_OK) {
        fprintf(stderr, "spoke: the forecast time is out of the series\n");
        goto out;
    }
    printf("demand history of '%s': %zu events in %.2f s (two reads), %zu "
           "trips on %zu days, %" PRIu64 " searches that found no bike\n",
           db, h.events, load_s, h.trips, sg.observed_days, h.lost);
    char zone[32];
    snprintf(zone, sizeof(zone), "UTC%+.4g", utc_offset_s / 3600.0);
    rc = show_view(&sg, origin, cell_m, top, zone) ? 0 : 1;
out:
    if (have_series)
        demand_series_release(&sg.series);
    db_hist_release(&h);
    store_close(st);
    return rc;
}

/* ---- the command ---------------------------------------------------- */

static bool parse_pct(const char *opt, const char *s, double *out)
{
    if (str_to_f64(str_from_cstr(s), out) != ERR_OK || *out < -100 ||
        *out > 100) {
        fprintf(stderr, "spoke: option '%s' must be a percentage, not '%s'\n",
                opt, s);
        return false;
    }
    return true;
}

/* `spoke forecast --db`: checks its options and runs db_view. */
static int db_command(const char *db, const char *days, int64_t cell_m,
                      const char *at, const char *utc, int64_t top,
                      bool backtest)
{
    int64_t ndays = 28, at_ms = clock_wall_ms();
    double offset_h = 0;
    if (backtest) {
        fprintf(stderr, "spoke: --backtest reads the data sets, not --db\n");
        return 2;
    }
    if (days && !cli_i64("--days", days, 1, 365, &ndays))
        return 2;
    if (at && clock_parse_rfc3339(str_from_cstr(at), &at_ms) != ERR_OK) {
        fprintf(stderr, "spoke: --at must be an RFC 3339 time, not '%s'\n", at);
        return 2;
    }
    if (utc &&
        (str_to_f64(str_from_cstr(utc), &offset_h) != ERR_OK ||
         offset_h < -14 || offset_h > 14 || fmod(offset_h * 4, 1) != 0)) {
        fprintf(stderr,
                "spoke: --utc-offset is hours from -14 to 14 in quarters "
                "(8, -5, 5.5), not '%s'\n",
                utc);
        return 2;
    }
    return db_view(db, ndays, (double)cell_m, at_ms, (int32_t)(offset_h * 3600),
                   (size_t)top);
}

int cmd_forecast(int argc, char **argv)
{
    const char *data = "../shared/data", *at = NULL, *cell = NULL, *top = NULL,
               *only = NULL, *need_sg = NULL, *need_uci = NULL, *db = NULL,
               *days = NULL, *utc = NULL;
    bool backtest = false;
    const struct cli_opt opts[] = {
        {"--data", "DIR", "the data sets' directory (default ../shared/data)",
         &data, NULL},
        {"--backtest", NULL, "measure the model and the baselines", NULL,
         &backtest},
        {"--dataset", "sg|uci", "backtest only one data set", &only, NULL},
        {"--at", "TIME", "forecast origin, RFC 3339 (default: after the data)",
         &at, NULL},
        {"--cell-m", "M", "cell edge in metres (default 500)", &cell, NULL},
        {"--top", "N", "cells listed per ranking (default 10)", &top, NULL},
        {"--require-gain-sg", "PCT",
         "exit 1 unless the Singapore cell-hour RMSE gain is >= PCT", &need_sg,
         NULL},
        {"--require-gain-uci", "PCT",
         "exit 1 unless the Capital Bikeshare RMSE gain is >= PCT", &need_uci,
         NULL},
        {"--db", "PATH", "forecast from this database's demand history instead",
         &db, NULL},
        {"--days", "N", "--db: days of history read (default 28)", &days, NULL},
        {"--utc-offset", "H", "--db: local time is UTC + H hours (default 0)",
         &utc, NULL},
    };
    const char *usage = "spoke forecast [--backtest] [--data DIR] [--at TIME]"
                        "\n       spoke forecast --db PATH [--days N] "
                        "[--cell-m M] [--at TIME] [--utc-offset H]";
    const char *summary =
        "Forecasts rentals and returns per cell for the next 24 h from the "
        "Singapore\ndockless trips in DIR/" SG_DIR ",\nor with --backtest "
        "measures the model and the naive baselines on held-out\ndays of "
        "those and of the Capital Bikeshare hours in\nDIR/" UCI_DIR
        ". The data sets are not in the repository: see\ndocs/forecast.md. "
        "With --db, forecasts the 24 h from now (or --at) from the\n"
        "database's demand history: the trips and lost searches of the "
        "last N days,\non cells of M metres (default 400) over their "
        "area.";
    int rc = cli_parse(usage, summary, argc, argv, 2, opts, ARRAY_LEN(opts));
    if (rc)
        return rc == 2 ? 0 : 2;
    int64_t cell_m = 500, ntop = 10;
    double want_sg = -INFINITY, want_uci = -INFINITY;
    if ((cell && !cli_i64("--cell-m", cell, (int64_t)DEMAND_MIN_CELL_M,
                          (int64_t)DEMAND_MAX_CELL_M, &cell_m)) ||
        (top && !cli_i64("--top", top, 1, 1000, &ntop)) ||
        (need_sg && !parse_pct("--require-gain-sg", need_sg, &want_sg)) ||
        (need_uci && !parse_pct("--require-gain-uci", need_uci, &want_uci)))
        return 2;
    if (only && strcmp(only, "sg") != 0 && strcmp(only, "uci") != 0) {
        fprintf(stderr, "spoke: --dataset is sg or uci, not '%s'\n", only);
        return 2;
    }
    if (db)
        return db_command(db, days, cell ? cell_m : 400, at, utc, ntop,
                          backtest);
    struct stat st;
    if (stat(data, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr,
                "spoke: no data directory '%s': the data sets are not in the "
                "repository (docs/forecast.md says where they come from); "
                "pass --data DIR\n",
                data);
        return 1;
    }
    if (!backtest)
        return operator_view(data, (double)cell_m, at, (size_t)ntop);
    bool ok = true;
    double gain;
    if (!only || strcmp(only, "sg") == 0) {
        ok = sg_backtest(data, (double)cell_m, &gain);
        if (ok && gain < want_sg) {
            fprintf(stderr,
                    "spoke: Singapore cell-hour RMSE gain %.1f%% is under "
                    "%.1f%%\n",
                    gain, want_sg);
            ok = false;
        }
    }
    if (ok && !only)
        printf("\n");
    if (ok && (!only || strcmp(only, "uci") == 0)) {
        ok = uci_backtest(data, &gain);
        if (ok && gain < want_uci) {
            fprintf(stderr,
                    "spoke: Capital Bikeshare RMSE gain %.1f%% is under "
                    "%.1f%%\n",
                    gain, want_uci);
            ok = false;
        }
    }
    fflush(stdout);
    return ok ? 0 : 1;
}
