/* SPDX-License-Identifier: MIT */
/*
 * The truck planner's spatial grid: sites bucketed by cell in a local
 * plane, taken out while visited, and a ring search for the k nearest.
 * Used only to choose which sites to consider; it never decides a cost.
 */
#include "base/sys.h"
#include "dispatch/route_int.h"

#include <math.h>

/* Cells per site, roughly; the grid never has more than 4 n + 64 cells. */
#define SITES_PER_CELL 4.0

static uint32_t cell_of(double v, double v0, double cell_m, uint32_t dim)
{
    double c = floor((v - v0) / cell_m);
    if (!(c > 0)) /* also NaN */
        return 0;
    if (c >= (double)dim)
        return dim - 1;
    return (uint32_t)c;
}

void route__grid_build(struct route__grid *g, const double *x, const double *y,
                       const uint32_t *ids, size_t n, size_t n_all)
{
    memset(g, 0, sizeof(*g));
    g->n = n;
    if (n == 0)
        return;
    double x1 = x[ids[0]], y1 = y[ids[0]];
    g->x0 = x1;
    g->y0 = y1;
    for (size_t i = 1; i < n; i++) {
        g->x0 = MIN(g->x0, x[ids[i]]);
        g->y0 = MIN(g->y0, y[ids[i]]);
        x1 = MAX(x1, x[ids[i]]);
        y1 = MAX(y1, y[ids[i]]);
    }
    double w = x1 - g->x0, h = y1 - g->y0;
    double cell = sqrt(MAX(w, 1.0) * MAX(h, 1.0) * SITES_PER_CELL / (double)n);
    cell = MAX(cell, 1.0);
    double limit = 4.0 * (double)n + 64.0;
    while ((floor(w / cell) + 1) * (floor(h / cell) + 1) > limit)
        cell *= 1.5;
    g->cell_m = cell;
    g->cols = (uint32_t)floor(w / cell) + 1;
    g->rows = (uint32_t)floor(h / cell) + 1;
    size_t cells = (size_t)g->cols * g->rows;
    g->start = xcalloc(cells + 1, sizeof(*g->start));
    g->count = xmalloc(cells * sizeof(*g->count));
    g->ids = xmalloc(n * sizeof(*g->ids));
    g->cell = xmalloc(n_all * sizeof(*g->cell));
    g->at = xmalloc(n_all * sizeof(*g->at));
    for (size_t i = 0; i < n; i++) {
        size_t c = (size_t)cell_of(y[ids[i]], g->y0, cell, g->rows) * g->cols +
                   cell_of(x[ids[i]], g->x0, cell, g->cols);
        g->start[c + 1]++;
    }
    for (size_t c = 0; c < cells; c++)
        g->start[c + 1] += g->start[c];
    memset(g->count, 0, cells * sizeof(*g->count));
    for (size_t i = 0; i < n; i++) {
        size_t c = (size_t)cell_of(y[ids[i]], g->y0, cell, g->rows) * g->cols +
                   cell_of(x[ids[i]], g->x0, cell, g->cols);
        g->cell[ids[i]] = (uint32_t)c;
        route__grid_put(g, ids[i]);
    }
}

void route__grid_take(struct route__grid *g, uint32_t id)
{
    uint32_t c = g->cell[id];
    uint32_t last = g->start[c] + --g->count[c];
    uint32_t moved = g->ids[last];
    g->ids[g->at[id]] = moved;
    g->at[moved] = g->at[id];
}

void route__grid_put(struct route__grid *g, uint32_t id)
{
    uint32_t c = g->cell[id];
    uint32_t i = g->start[c] + g->count[c]++;
    g->ids[i] = id;
    g->at[id] = i;
}

void route__grid_release(struct route__grid *g)
{
    xfree(g->start);
    xfree(g->count);
    xfree(g->ids);
    xfree(g->cell);
    xfree(g->at);
    memset(g, 0, sizeof(*g));
}

/* The k best so far, sorted by (d2, id). */
struct near_set {
    double d2[ROUTE__MAX_NEAR];
    uint32_t id[ROUTE__MAX_NEAR];
    size_t n, k;
};

static void near_offer(struct near_set *s, uint32_t id, double d2)
{
    if (s->n == s->k && (d2 > s->d2[s->n - 1] ||
                         (d2 == s->d2[s->n - 1] && id > s->id[s->n - 1])))
        return;
    size_t i = s->n < s->k ? s->n++ : s->n - 1;
    while (i > 0 &&
           (s->d2[i - 1] > d2 || (s->d2[i - 1] == d2 && s->id[i - 1] > id))) {
        s->d2[i] = s->d2[i - 1];
        s->id[i] = s->id[i - 1];
        i--;
    }
    s->d2[i] = d2;
    s->id[i] = id;
}

static void scan_cell(const struct route__grid *g, const double *x,
                      const double *y, double qx, double qy, uint32_t cx,
                      uint32_t cy, uint32_t except, struct near_set *s)
{
    size_t c = (size_t)cy * g->cols + cx;
    for (uint32_t i = g->start[c]; i < g->start[c] + g->count[c]; i++) {
        uint32_t id = g->ids[i];
        if (id == except)
            continue;
        double dx = x[id] - qx, dy = y[id] - qy;
        near_offer(s, id, dx * dx + dy * dy);
    }
}

size_t route__grid_near(const struct route__grid *g, const double *x,
                        const double *y, double qx, double qy, size_t k,
                        uint32_t except, uint32_t *out)
{
    ASSERT(k <= ROUTE__MAX_NEAR);
    if (g->n == 0 || k == 0)
        return 0;
    struct near_set s = {.n = 0, .k = k};
    int64_t cx = cell_of(qx, g->x0, g->cell_m, g->cols);
    int64_t cy = cell_of(qy, g->y0, g->cell_m, g->rows);
    int64_t cols = g->cols, rows = g->rows;
    /* The ring beyond which no cell is left. */
    int64_t last_x = MAX(cx, cols - 1 - cx);
    int64_t last_y = MAX(cy, rows - 1 - cy);
    int64_t last = MAX(last_x, last_y);
    for (int64_t r = 0; r <= last; r++) {
        /*
         * Every site in ring r is at least (r - 1) cells away along one
         * axis from the query clamped into the grid, and the query itself
         * is no closer to any site than its clamped point.
         */
        if (s.n == k && r >= 1) {
            double lb = (double)(r - 1) * g->cell_m;
            if (lb * lb > s.d2[s.n - 1])
                break;
        }
        int64_t xa = MAX(cx - r, (int64_t)0), xb = MIN(cx + r, cols - 1);
        int64_t ya = MAX(cy - r, (int64_t)0), yb = MIN(cy + r, rows - 1);
        for (int64_t yy = ya; yy <= yb; yy++) {
            bool edge_row = yy == cy - r || yy == cy + r;
            if (edge_row) {
                for (int64_t xx = xa; xx <= xb; xx++)
                    scan_cell(g, x, y, qx, qy, (uint32_t)xx, (uint32_t)yy,
                              except, &s);
                continue;
            }
            if (cx - r >= 0)
                scan_cell(g, x, y, qx, qy, (uint32_t)(cx - r), (uint32_t)yy,
                          except, &s);
            if (r > 0 && cx + r < cols)
                scan_cell(g, x, y, qx, qy, (uint32_t)(cx + r), (uint32_t)yy,
                          except, &s);
        }
    }
    memcpy(out, s.id, s.n * sizeof(*out));
    return s.n;
}
