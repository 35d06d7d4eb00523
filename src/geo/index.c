/* SPDX-License-Identifier: MIT */
/*
 * The live fleet spatial index: a uniform grid of cells in 1e-7 degree
 * fixed point, each cell a packed block of 16-byte entries (or, once dense,
 * 4 x 4 sub-cells of blocks), an overflow cell for points outside the grid,
 * and a per-slot locator that makes moves O(1). Queries prefetch the 3 x 3
 * cells around the center, rank candidates by squared distance, expand
 * rings of cells and stop on a proven lower bound. docs/internals/geo.md
 * explains the layout, the memory access plan and the proofs.
 */
#include "base/sys.h"
#include "geo/index.h"
#include "base/prefetch.h"

#include <math.h>

/*
 * Exactness needs the query kernel and geo_index_distance_m to round
 * identically, so no fused multiply-adds (gcc leaves them off in -std=c17).
 */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define RAD (M_PI / 180.0)
#define E7 1e7
#define INV_E7 1e-7
#define NO_CELL UINT32_MAX
#define BLOCK_MIN_CAP 2u

/* Metres per degree of arc; distances are computed in degrees. */
static const double m_per_deg = GEO_EARTH_RADIUS_M * RAD;

/*
 * Safety margins for the pruning bounds (docs/internals/geo.md,
 * "Exactness"). Rounding in the distance kernel is below 1e-15 relative and
 * 1e-13 degree absolute; the margins exceed that by orders of magnitude.
 */
#define BOUND_REL 1e-9
#define BOUND_ABS_DEG 1e-11 /* about 1 um */
/* The same cell margin in squared form, for bounds set from a hit's s. */
#define SKIP_REL (4 * BOUND_REL)
#define SKIP_ABS_S (2e9 * BOUND_ABS_DEG * BOUND_ABS_DEG)
#define COS_MARGIN 1e-12

/* Stored attribute word: state bits 0-2, type bits 3-4, battery + 1 above. */
#define ATTR_BATT_SHIFT 5

/*
 * A grid cell holding SPLIT_AT entries splits into SPLIT_SIDE x SPLIT_SIDE
 * sub-cells; a split cell that falls to MERGE_AT merges back. The gap is
 * the hysteresis that keeps a cell near the threshold from flapping.
 */
#define SPLIT_SIDE 4
#define SPLIT_KIDS (SPLIT_SIDE * SPLIT_SIDE)
#define SPLIT_AT 96u
#define MERGE_AT 32u

/* A locator's cell code: grid cell id, and sub-cell + 1 (or 0) above. */
#define SUB_SHIFT 27
#define ID_MASK ((1u << SUB_SHIFT) - 1)

/* k up to this keeps hits in an array (sorted once k are held), else a heap. */
#define SMALL_K 32

struct entry {
    int32_t lat_e7;
    int32_t lon_e7;
    uint32_t slot;
    uint16_t attrs;
    uint16_t pad;
};

enum node_kind { NODE_BLOCK = 1, NODE_SPLIT = 2 };

/* The common head of what a cell points to. */
struct node {
    uint32_t kind; /* enum node_kind */
    uint32_t cap;  /* entries a block has room for; 0 for a split */
    uint64_t pad;  /* keeps entries 16-byte aligned */
};

/* A cell's entries. The capacity lives with the storage it describes. */
struct block {
    struct node h;
    struct entry e[];
};

/*
 * A grid cell or a sub-cell. len counts every entry below it. seq is odd
 * while the writer changes the cell (grid cells only); readers on other
 * threads will validate against it (not yet: see the doc).
 */
struct cell {
    struct node *node; /* a block, a split (grid cells only), or NULL */
    uint32_t len;
    uint32_t seq;
};

struct split {
    struct node h;
    struct cell kids[SPLIT_KIDS]; /* row-major, south-west first */
};

/* Where a slot's entry is: cell code, index in that (sub-)cell's block. */
struct loc {
    uint32_t code; /* NO_CELL when absent */
    uint32_t idx;
};

struct geo_index {
    int64_t lat0_e7, lon0_e7;         /* south-west corner of the grid */
    int64_t lat_step_e7, lon_step_e7; /* cell size */
    uint32_t rows, cols;
    uint32_t ncells;        /* rows * cols; cells[ncells] is the overflow */
    double lon_mid_deg;     /* middle of the grid, for unwrapping queries */
    double lon_gap_cap_deg; /* cap on column gaps, see lon_gap */
    struct cell *cells;     /* ncells + 1 */
    struct loc *locs;       /* nlocs, indexed by slot */
    uint32_t nlocs;
    size_t count;
    size_t node_bytes; /* blocks and splits */
};

static struct block *as_block(struct node *n)
{
    (void)NEVER(n->kind != NODE_BLOCK);
    return (struct block *)n;
}

static struct split *as_split(struct node *n)
{
    (void)NEVER(n->kind != NODE_SPLIT);
    return (struct split *)n;
}

/* ---- distance ---------------------------------------------------------- */

struct trig {
    double cos_lat;  /* cos of the center's latitude */
    double hsin_lat; /* sin of it, times RAD / 2 */
};

static struct trig trig_of(double lat_deg)
{
    return (struct trig){cos(lat_deg * RAD), sin(lat_deg * RAD) * (0.5 * RAD)};
}

/*
 * cos of the middle latitude of the center and a point dlat degrees north
 * of it: the first-order expansion of cos(phi + dlat / 2). Linear in dlat,
 * so over an interval its least value is at an end.
 */
static inline double mid_cos(struct trig t, double dlat)
{
    return t.cos_lat - t.hsin_lat * dlat;
}

/* A longitude difference wrapped into [-180, 180]. */
static inline double wrap_dlon(double dlon)
{
    if (dlon > 180.0)
        dlon -= 360.0;
    else if (dlon < -180.0)
        dlon += 360.0;
    return dlon;
}

/* dist_s from the (wrapped) differences. */
static inline double dist_s_of(struct trig t, double dlat, double dlon)
{
    double x = dlon * mid_cos(t, dlat);
    return dlat * dlat + x * x;
}

/*
 * The squared distance, in degrees of arc squared, between the center
 * (qlat, qlon, t) and a point. geo_index_distance_m is m_per_deg * sqrt()
 * of it; the query kernel runs the same functions (wrap_dlon, dist_s_of)
 * on the same values, so both round identically.
 */
static inline double dist_s(double qlat, double qlon, struct trig t, double lat,
                            double lon)
{
    return dist_s_of(t, lat - qlat, wrap_dlon(lon - qlon));
}

double geo_index_distance_m(struct geo_latlng a, struct geo_latlng b)
{
    double s =
        dist_s(a.lat_deg, a.lon_deg, trig_of(a.lat_deg), b.lat_deg, b.lon_deg);
    return m_per_deg * sqrt(s);
}

/* ---- quantization and cells ------------------------------------------- */

static int32_t to_e7(double deg)
{
    return (int32_t)llround(deg * E7);
}

static double from_e7(int64_t e7)
{
    return (double)e7 * INV_E7;
}

struct geo_latlng geo_index_quantize(struct geo_latlng p)
{
    return (struct geo_latlng){from_e7(to_e7(p.lat_deg)),
                               from_e7(to_e7(p.lon_deg))};
}

/* The grid cell of a quantized point, or ix->ncells (overflow). */
static uint32_t cell_of(const struct geo_index *ix, int32_t lat_e7,
                        int32_t lon_e7)
{
    int64_t dy = (int64_t)lat_e7 - ix->lat0_e7;
    int64_t dx = (int64_t)lon_e7 - ix->lon0_e7;
    if (dy < 0 || dx < 0)
        return ix->ncells;
    int64_t row = dy / ix->lat_step_e7;
    int64_t col = dx / ix->lon_step_e7;
    if (row >= ix->rows || col >= ix->cols)
        return ix->ncells;
    return (uint32_t)(row * ix->cols + col);
}

/*
 * Sub-cell boundaries: part i of a step spans [sub_edge(step, i),
 * sub_edge(step, i + 1)), so that (offset * SPLIT_SIDE) / step is the part
 * of an offset, in exact integers.
 */
static int64_t sub_edge(int64_t step, int64_t i)
{
    return (i * step + SPLIT_SIDE - 1) / SPLIT_SIDE;
}

/* The sub-cell of a quantized point inside grid cell id. */
static uint32_t kid_of(const struct geo_index *ix, uint32_t id, int32_t lat_e7,
                       int32_t lon_e7)
{
    int64_t row = id / ix->cols, col = id % ix->cols;
    int64_t dy = lat_e7 - (ix->lat0_e7 + row * ix->lat_step_e7);
    int64_t dx = lon_e7 - (ix->lon0_e7 + col * ix->lon_step_e7);
    int64_t sr = dy * SPLIT_SIDE / ix->lat_step_e7;
    int64_t sc = dx * SPLIT_SIDE / ix->lon_step_e7;
    (void)NEVER(sr < 0 || sr >= SPLIT_SIDE || sc < 0 || sc >= SPLIT_SIDE);
    return (uint32_t)(sr * SPLIT_SIDE + sc);
}

/* The cell code a quantized point belongs to now. */
static uint32_t code_of(const struct geo_index *ix, int32_t lat_e7,
                        int32_t lon_e7)
{
    uint32_t id = cell_of(ix, lat_e7, lon_e7);
    const struct node *n = ix->cells[id].node;
    if (!n || n->kind != NODE_SPLIT)
        return id;
    return id | (kid_of(ix, id, lat_e7, lon_e7) + 1) << SUB_SHIFT;
}

/* The (sub-)cell whose block holds entries of a code. */
static struct cell *leaf_of(const struct geo_index *ix, uint32_t code)
{
    struct cell *top = &ix->cells[code & ID_MASK];
    uint32_t sub = code >> SUB_SHIFT;
    return sub ? &as_split(top->node)->kids[sub - 1] : top;
}

static uint16_t attrs_pack(struct geo_index_attrs a)
{
    return (uint16_t)(a.state | a.type << 3 |
                      (unsigned)(a.battery_pct + 1) << ATTR_BATT_SHIFT);
}

static struct geo_index_attrs attrs_unpack(uint16_t w)
{
    return (struct geo_index_attrs){
        .state = w & 7u,
        .type = (w >> 3) & 3u,
        .battery_pct = (int)(w >> ATTR_BATT_SHIFT) - 1,
    };
}

/* ---- lifecycle -------------------------------------------------------- */

enum err geo_index_new(struct geo_bbox region, double cell_m,
                       struct geo_index **out, struct err_detail *d)
{
    struct geo_latlng sw = {region.min_lat_deg, region.min_lon_deg};
    struct geo_latlng ne = {region.max_lat_deg, region.max_lon_deg};
    if (!geo_latlng_is_valid(sw) || !geo_latlng_is_valid(ne))
        return err_set(d, ERR_INVALID, "region",
                       "a region corner is not a valid coordinate");
    if (!(sw.lat_deg < ne.lat_deg) || !(sw.lon_deg < ne.lon_deg))
        return err_set(d, ERR_INVALID, "region",
                       "a region needs min < max on both axes");
    if (cell_m == 0.0)
        cell_m = GEO_INDEX_DEFAULT_CELL_M;
    if (!(cell_m >= GEO_INDEX_MIN_CELL_M && cell_m <= GEO_INDEX_MAX_CELL_M))
        return err_set(d, ERR_INVALID, "cell_m",
                       "cell size must be 0 or %g..%g m", GEO_INDEX_MIN_CELL_M,
                       GEO_INDEX_MAX_CELL_M);

    int64_t lat0 = to_e7(sw.lat_deg), lat1 = to_e7(ne.lat_deg);
    int64_t lon0 = to_e7(sw.lon_deg), lon1 = to_e7(ne.lon_deg);
    double mid_cos_lat = cos((sw.lat_deg + ne.lat_deg) * 0.5 * RAD);
    int64_t lat_step = llround(cell_m / m_per_deg * E7);
    /* Near a pole cells are square at 0.06 degrees from it (at most 9). */
    int64_t lon_step =
        llround(cell_m / (m_per_deg * MAX(mid_cos_lat, 1e-3)) * E7);
    uint64_t rows = (uint64_t)((lat1 - lat0) / lat_step + 1);
    uint64_t cols = (uint64_t)((lon1 - lon0) / lon_step + 1);
    if (rows * cols > GEO_INDEX_MAX_CELLS)
        return err_set(d, ERR_TOO_BIG, "region",
                       "the grid would have %" PRIu64 " cells, over %u",
                       rows * cols, GEO_INDEX_MAX_CELLS);

    struct geo_index *ix = xcalloc(1, sizeof(*ix));
    ix->lat0_e7 = lat0;
    ix->lon0_e7 = lon0;
    ix->lat_step_e7 = lat_step;
    ix->lon_step_e7 = lon_step;
    ix->rows = (uint32_t)rows;
    ix->cols = (uint32_t)cols;
    ix->ncells = (uint32_t)(rows * cols);
    double lon_end = from_e7(lon0 + (int64_t)cols * lon_step);
    ix->lon_mid_deg = (from_e7(lon0) + lon_end) * 0.5;
    double half_width = (lon_end - from_e7(lon0)) * 0.5;
    ix->lon_gap_cap_deg = MAX(0.0, 180.0 - half_width - 1e-9);
    ix->cells = xcalloc((size_t)ix->ncells + 1, sizeof(*ix->cells));
    *out = ix;
    return ERR_OK;
}

static void node_free(struct node *n)
{
    if (n && n->kind == NODE_SPLIT) {
        struct split *sp = as_split(n);
        for (size_t i = 0; i < SPLIT_KIDS; i++)
            xfree(sp->kids[i].node);
    }
    xfree(n);
}

void geo_index_free(struct geo_index *ix)
{
    if (!ix)
        return;
    for (size_t i = 0; i <= ix->ncells; i++)
        node_free(ix->cells[i].node);
    xfree(ix->cells);
    xfree(ix->locs);
    xfree(ix);
}

/* ---- writing ---------------------------------------------------------- */

static size_t block_size(uint32_t cap)
{
    return sizeof(struct block) + (size_t)cap * sizeof(struct entry);
}

/* Gives leaf c a block of new_cap entries (>= len), or none if 0. */
static void leaf_resize(struct geo_index *ix, struct cell *c, uint32_t new_cap)
{
    (void)NEVER(new_cap < c->len);
    size_t old_bytes = 0;
    struct block *b = NULL;
    if (c->node) {
        b = as_block(c->node);
        old_bytes = block_size(b->h.cap);
    }
    if (new_cap == 0) {
        xfree(b);
        c->node = NULL;
    } else {
        b = xrealloc(b, block_size(new_cap));
        b->h = (struct node){NODE_BLOCK, new_cap, 0};
        c->node = &b->h;
    }
    ix->node_bytes += (new_cap ? block_size(new_cap) : 0) - old_bytes;
}

/* Appends e to leaf c and returns its index there. */
static uint32_t leaf_append(struct geo_index *ix, struct cell *c,
                            struct entry e)
{
    if (!c->node || c->len == c->node->cap)
        leaf_resize(ix, c, c->node ? c->node->cap * 2 : BLOCK_MIN_CAP);
    uint32_t idx = c->len++;
    as_block(c->node)->e[idx] = e;
    return idx;
}

/*
 * Removes entry idx of leaf c by moving the last entry into its place and
 * fixing that entry's locator; shrinks the block when it is 3/4 empty.
 */
static void leaf_remove(struct geo_index *ix, struct cell *c, uint32_t idx)
{
    struct block *b = as_block(c->node);
    (void)NEVER(idx >= c->len);
    uint32_t last = --c->len;
    if (idx != last) {
        b->e[idx] = b->e[last];
        ix->locs[b->e[idx].slot].idx = idx;
    }
    if (c->len == 0)
        leaf_resize(ix, c, 0);
    else if (b->h.cap > BLOCK_MIN_CAP * 2 && c->len <= b->h.cap / 4)
        leaf_resize(ix, c, b->h.cap / 2);
}

/* Spreads the entries of grid cell id over SPLIT_KIDS sub-cells. */
static void cell_split(struct geo_index *ix, uint32_t id)
{
    struct cell *top = &ix->cells[id];
    struct block *b = as_block(top->node);
    struct split *sp = xcalloc(1, sizeof(*sp));
    sp->h.kind = NODE_SPLIT;
    for (uint32_t i = 0; i < top->len; i++) {
        struct entry e = b->e[i];
        uint32_t kid = kid_of(ix, id, e.lat_e7, e.lon_e7);
        uint32_t idx = leaf_append(ix, &sp->kids[kid], e);
        ix->locs[e.slot] = (struct loc){id | (kid + 1) << SUB_SHIFT, idx};
    }
    ix->node_bytes += sizeof(*sp) - block_size(b->h.cap);
    xfree(b);
    top->node = &sp->h;
}

/* Gathers the sub-cells of grid cell id back into one block. */
static void cell_merge(struct geo_index *ix, uint32_t id)
{
    struct cell *top = &ix->cells[id];
    struct split *sp = as_split(top->node);
    struct cell leaf = {0};
    for (size_t k = 0; k < SPLIT_KIDS; k++) {
        struct cell *kid = &sp->kids[k];
        for (uint32_t i = 0; i < kid->len; i++) {
            struct entry e = as_block(kid->node)->e[i];
            uint32_t idx = leaf_append(ix, &leaf, e);
            ix->locs[e.slot] = (struct loc){id, idx};
        }
        kid->len = 0;
        if (kid->node)
            leaf_resize(ix, kid, 0);
    }
    (void)NEVER(leaf.len != top->len);
    ix->node_bytes -= sizeof(*sp);
    xfree(sp);
    top->node = leaf.node;
}

/* Adds e under code and points slot's locator at it. */
static void entry_add(struct geo_index *ix, uint32_t code, struct entry e)
{
    uint32_t id = code & ID_MASK;
    struct cell *top = &ix->cells[id];
    top->seq++;
    struct cell *leaf = leaf_of(ix, code);
    ix->locs[e.slot] = (struct loc){code, leaf_append(ix, leaf, e)};
    if (leaf != top)
        top->len++;
    else if (top->len >= SPLIT_AT && id != ix->ncells)
        cell_split(ix, id);
    top->seq++;
}

/* Removes the entry at l (its locator is the caller's to reset). */
static void entry_del(struct geo_index *ix, struct loc l)
{
    uint32_t id = l.code & ID_MASK;
    struct cell *top = &ix->cells[id];
    top->seq++;
    struct cell *leaf = leaf_of(ix, l.code);
    leaf_remove(ix, leaf, l.idx);
    if (leaf != top) {
        top->len--;
        if (top->len <= MERGE_AT)
            cell_merge(ix, id);
    }
    top->seq++;
}

/* Makes locs[slot] addressable; new locators are empty. */
static void locs_reserve(struct geo_index *ix, uint32_t slot)
{
    if (slot < ix->nlocs)
        return;
    /* Powers of two, so never past GEO_INDEX_MAX_SLOTS. */
    uint64_t want = ix->nlocs ? ix->nlocs : 1024;
    while (want <= slot)
        want *= 2;
    ix->locs = xreallocarray(ix->locs, (size_t)want, sizeof(*ix->locs));
    memset(ix->locs + ix->nlocs, 0xff,
           (size_t)(want - ix->nlocs) * sizeof(*ix->locs));
    ix->nlocs = (uint32_t)want;
}

static bool attrs_are_valid(struct geo_index_attrs a)
{
    return a.state < GEO_INDEX_STATES && a.type < GEO_INDEX_TYPES &&
           a.battery_pct >= -1 && a.battery_pct <= 100;
}

enum err geo_index_put(struct geo_index *ix, uint32_t slot,
                       struct geo_latlng pos, struct geo_index_attrs attrs,
                       struct err_detail *d)
{
    if (slot >= GEO_INDEX_MAX_SLOTS)
        return err_set(d, ERR_TOO_BIG, "slot", "slot %" PRIu32 " is over %u",
                       slot, GEO_INDEX_MAX_SLOTS - 1);
    if (!geo_latlng_is_valid(pos))
        return err_set(d, ERR_INVALID, "position",
                       "position is not a valid coordinate");
    if (!attrs_are_valid(attrs))
        return err_set(d, ERR_INVALID, "attrs",
                       "state, type or battery is out of range");

    struct entry e = {
        .lat_e7 = to_e7(pos.lat_deg),
        .lon_e7 = to_e7(pos.lon_deg),
        .slot = slot,
        .attrs = attrs_pack(attrs),
    };
    uint32_t code = code_of(ix, e.lat_e7, e.lon_e7);
    locs_reserve(ix, slot);
    struct loc old = ix->locs[slot];
    if (old.code == code) {
        struct cell *top = &ix->cells[code & ID_MASK];
        top->seq++;
        as_block(leaf_of(ix, code)->node)->e[old.idx] = e;
        top->seq++;
        return ERR_OK;
    }
    /*
     * Insert before removing, so a future concurrent reader sees the bike
     * at its old or its new place (or both; readers drop the duplicate),
     * never at neither. The insert cannot disturb the old place: a split
     * only happens to a cell that had no sub-cells, and then old.code
     * would equal code. A merge in entry_del rewrites slot's locator.
     */
    entry_add(ix, code, e);
    if (old.code == NO_CELL)
        ix->count++;
    else
        entry_del(ix, old);
    return ERR_OK;
}

enum err geo_index_remove(struct geo_index *ix, uint32_t slot)
{
    if (slot >= ix->nlocs || ix->locs[slot].code == NO_CELL)
        return ERR_NOT_FOUND;
    struct loc old = ix->locs[slot];
    ix->locs[slot] = (struct loc){NO_CELL, NO_CELL};
    entry_del(ix, old);
    ix->count--;
    return ERR_OK;
}

/* ---- reading ---------------------------------------------------------- */

size_t geo_index_count(const struct geo_index *ix)
{
    return ix->count;
}

enum err geo_index_get(const struct geo_index *ix, uint32_t slot,
                       struct geo_latlng *pos, struct geo_index_attrs *attrs)
{
    if (slot >= ix->nlocs || ix->locs[slot].code == NO_CELL)
        return ERR_NOT_FOUND;
    struct loc l = ix->locs[slot];
    const struct entry *e = &as_block(leaf_of(ix, l.code)->node)->e[l.idx];
    if (pos)
        *pos = (struct geo_latlng){from_e7(e->lat_e7), from_e7(e->lon_e7)};
    if (attrs)
        *attrs = attrs_unpack(e->attrs);
    return ERR_OK;
}

enum err geo_index_cell_bbox(const struct geo_index *ix, struct geo_latlng p,
                             struct geo_bbox *out)
{
    if (!geo_latlng_is_valid(p))
        return ERR_INVALID;
    uint32_t id = cell_of(ix, to_e7(p.lat_deg), to_e7(p.lon_deg));
    if (id == ix->ncells)
        return ERR_NOT_FOUND;
    int64_t lat = ix->lat0_e7 + (int64_t)(id / ix->cols) * ix->lat_step_e7;
    int64_t lon = ix->lon0_e7 + (int64_t)(id % ix->cols) * ix->lon_step_e7;
    *out = (struct geo_bbox){from_e7(lat), from_e7(lon),
                             from_e7(lat + ix->lat_step_e7),
                             from_e7(lon + ix->lon_step_e7)};
    return ERR_OK;
}

size_t geo_index_memory_bytes(const struct geo_index *ix)
{
    return sizeof(*ix) + ((size_t)ix->ncells + 1) * sizeof(struct cell) +
           (size_t)ix->nlocs * sizeof(struct loc) + ix->node_bytes;
}

/* ---- query: hits ------------------------------------------------------ */

/* Degrees of arc per metre, so that setting a bound needs no division. */
static const double deg_per_m = 1.0 / (GEO_EARTH_RADIUS_M * RAD);

/*
 * Two squared distances this far apart (relative, plus an absolute floor
 * for subnormals) map to different metres after sqrt and rounding, in the
 * same order; closer ones are compared in metres (docs/internals/geo.md,
 * "Ranking in squared distance").
 */
#define RANK_REL (1.0 + 1e-12)
#define RANK_ABS 1e-290

/*
 * One query's state. The hits so far live in the caller's out array, each
 * with its squared distance s (dist_s) in distance_m until scan_finish
 * turns it into metres. For k <= SMALL_K they are appended unordered until
 * k are held, then kept sorted ascending; for larger k they form a max-heap
 * with the worst on top. Either way the order is exactly (metres, slot).
 */
struct scan {
    double qlat, qlon;
    double qlon_u; /* qlon within 180 degrees of the grid's middle */
    struct trig t;
    uint32_t st_mask;  /* bit (type * 8 + state) set: admitted */
    uint32_t attr_min; /* a stored attribute word must be >= this */
    bool wrap;         /* some grid entry may need the antimeridian wrap */
    double radius_m;
    double sure_s; /* s up to this is within radius_m for sure */
    size_t k;
    struct geo_index_hit *hits;
    size_t n;
    double bound_s; /* s above this cannot enter (or tie) */
    double skip_s;  /* a cell whose lower bound is above this cannot either */
};

/*
 * Sets the pruning thresholds from a, the bound in degrees of arc
 * (docs/internals/geo.md, "Exactness"): s > bound_s implies that the
 * metres of s exceed those of a after rounding, and a cell whose exact
 * lower bound g satisfies g^2 > skip_s holds only points farther still.
 */
static void scan_set_bound(struct scan *sc, double a)
{
    sc->bound_s = a * a * (1.0 + BOUND_REL) + 1e-300;
    double b = a * (1.0 + BOUND_REL) + BOUND_ABS_DEG;
    sc->skip_s = b * b;
}

/* The metres of a squared distance, as geo_index_distance_m rounds them. */
static double metres_of(double s)
{
    return m_per_deg * sqrt(s);
}

/*
 * Whether a hit at squared distance sa with slot la ranks after one at sb,
 * lb, by (metres, slot): decided by s when they are far apart, else in
 * metres.
 */
static bool rank_after_close(double sa, uint32_t la, double sb, uint32_t lb)
{
    double da = metres_of(sa), db = metres_of(sb);
    return da > db || (da == db && la > lb);
}

static inline bool rank_after(double sa, uint32_t la, double sb, uint32_t lb)
{
    if (sa > sb * RANK_REL + RANK_ABS)
        return true;
    if (sb > sa * RANK_REL + RANK_ABS)
        return false;
    return rank_after_close(sa, la, sb, lb);
}

static inline bool hit_worse(struct geo_index_hit a, struct geo_index_hit b)
{
    return rank_after(a.distance_m, a.slot, b.distance_m, b.slot);
}

static void heap_sift_down(struct geo_index_hit *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1;
        size_t w = i;
        if (l < n && hit_worse(h[l], h[w]))
            w = l;
        if (l + 1 < n && hit_worse(h[l + 1], h[w]))
            w = l + 1;
        if (w == i)
            return;
        struct geo_index_hit tmp = h[i];
        h[i] = h[w];
        h[w] = tmp;
        i = w;
    }
}

static void heap_sift_up(struct geo_index_hit *h, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!hit_worse(h[i], h[p]))
            return;
        struct geo_index_hit tmp = h[i];
        h[i] = h[p];
        h[p] = tmp;
        i = p;
    }
}

/*
 * The k-th hit is now at squared distance s (within the radius): nothing
 * ranking after it can enter. Both thresholds follow from s without a
 * square root (docs/internals/geo.md, "Exactness").
 */
static void scan_tighten(struct scan *sc, double s)
{
    sc->bound_s = s * (1.0 + BOUND_REL) + 1e-300;
    sc->skip_s = s * (1.0 + SKIP_REL) + SKIP_ABS_S;
}

/* Offers a hit to the heap of the k > SMALL_K best. */
static void scan_offer_heap(struct scan *sc, struct geo_index_hit h)
{
    struct geo_index_hit *a = sc->hits;
    if (sc->n < sc->k) {
        a[sc->n] = h;
        heap_sift_up(a, sc->n);
        if (++sc->n == sc->k)
            scan_tighten(sc, a[0].distance_m);
        return;
    }
    if (!hit_worse(a[0], h))
        return;
    a[0] = h;
    heap_sift_down(a, sc->n, 0);
    scan_tighten(sc, a[0].distance_m);
}

/*
 * Sorts hits a[0..n) (n <= SMALL_K) by (metres, slot): first by (s, slot)
 * without branches (each hit's rank is the number of hits before it, the
 * keys being distinct), then one insertion pass in the exact order, which
 * moves a hit only past a near tie.
 */
static void hits_sort(struct geo_index_hit *a, size_t n)
{
    struct geo_index_hit tmp[SMALL_K];
    uint8_t rank[SMALL_K] = {0};
    for (size_t i = 1; i < n; i++) {
        for (size_t j = 0; j < i; j++) {
            bool after = (a[i].distance_m > a[j].distance_m) |
                         ((a[i].distance_m == a[j].distance_m) &
                          (a[i].slot > a[j].slot));
            rank[i] += after;
            rank[j] += !after;
        }
    }
    for (size_t i = 0; i < n; i++)
        tmp[rank[i]] = a[i];
    for (size_t j = 0; j < n; j++) {
        struct geo_index_hit h = tmp[j];
        size_t i = j;
        for (; i > 0 && hit_worse(a[i - 1], h); i--)
            a[i] = a[i - 1];
        a[i] = h;
    }
}

/*
 * Offers an admitted entry at squared distance s, within bound_s: the
 * general path (a heap for large k, the radius shell, near ties).
 */
static void scan_offer_slow(struct scan *sc, double s, uint32_t slot)
{
    if (s > sc->sure_s && sc->n < sc->k && metres_of(s) > sc->radius_m)
        return;
    struct geo_index_hit h = {slot, s};
    if (sc->k > SMALL_K) {
        scan_offer_heap(sc, h);
        return;
    }
    struct geo_index_hit *a = sc->hits;
    if (sc->n < sc->k) {
        a[sc->n++] = h;
        if (sc->n == sc->k) {
            hits_sort(a, sc->n);
            scan_tighten(sc, a[sc->n - 1].distance_m);
        }
        return;
    }
    size_t i = sc->n - 1;
    if (!hit_worse(a[i], h))
        return;
    for (; i > 0 && hit_worse(a[i - 1], h); i--)
        a[i] = a[i - 1];
    a[i] = h;
    scan_tighten(sc, a[sc->n - 1].distance_m);
}

/*
 * Offers an admitted entry at squared distance s (dist_s) that passed
 * bound_s when its chunk began. Until k hits are held they are appended
 * unordered (and sorted once when the k-th arrives); after that a hit
 * enters by insertion from the end. The common cases are inline: k small,
 * s clearly within the radius, every hit passed clearly farther; anything
 * else takes the exact general path.
 */
static inline void scan_offer(struct scan *sc, double s, uint32_t slot)
{
    if (s > sc->bound_s)
        return;
    struct geo_index_hit *a = sc->hits;
    size_t n = sc->n, k = sc->k;
    if (n < k) {
        if (s > sc->sure_s || k > SMALL_K || n + 1 == k) {
            scan_offer_slow(sc, s, slot);
            return;
        }
        a[n] = (struct geo_index_hit){slot, s};
        sc->n = n + 1;
        return;
    }
    double hi = s * RANK_REL + RANK_ABS;
    if (k > SMALL_K || !(a[k - 1].distance_m > hi)) {
        scan_offer_slow(sc, s, slot);
        return;
    }
    size_t i = k - 1;
    for (; i > 0 && a[i - 1].distance_m > hi; i--)
        a[i] = a[i - 1];
    if (i > 0 && a[i - 1].distance_m * RANK_REL + RANK_ABS >= s) {
        struct geo_index_hit h = {slot, s};
        for (; i > 0 && hit_worse(a[i - 1], h); i--)
            a[i] = a[i - 1];
    }
    a[i] = (struct geo_index_hit){slot, s};
    scan_tighten(sc, a[k - 1].distance_m);
}

/* Puts the hits in ascending order and turns their s into metres. */
static void scan_finish(struct scan *sc)
{
    if (sc->k <= SMALL_K && sc->n < sc->k)
        hits_sort(sc->hits, sc->n);
    if (sc->k > SMALL_K) {
        for (size_t end = sc->n; end > 1; end--) {
            struct geo_index_hit tmp = sc->hits[0];
            sc->hits[0] = sc->hits[end - 1];
            sc->hits[end - 1] = tmp;
            heap_sift_down(sc->hits, end - 1, 0);
        }
    }
    for (size_t i = 0; i < sc->n; i++)
        sc->hits[i].distance_m = metres_of(sc->hits[i].distance_m);
}

/* ---- query: entries --------------------------------------------------- */

#define CHUNK 32

/*
 * The hot loop: one pass per chunk computes each squared distance exactly
 * as dist_s does (the same functions on the same values, so the same bits)
 * and gathers, without branches, the entries that pass the filter and the
 * bound; only those are offered. Most entries fail one test or the other
 * in no predictable pattern, so the gather saves a mispredicted branch per
 * entry. `wrap` false leaves out the antimeridian wrap, for callers that
 * know no entry needs it (then dist_s would not change dlon either).
 */
static inline void scan_kernel(struct scan *sc, const struct entry *e,
                               uint32_t len, bool wrap)
{
    double s[CHUNK];
    uint32_t slot[CHUNK];
    const double qlat = sc->qlat, qlon = sc->qlon;
    const struct trig t = sc->t;
    const uint32_t st_mask = sc->st_mask, attr_min = sc->attr_min;
    for (;;) {
        uint32_t m = MIN((uint32_t)CHUNK, len);
        double bound_s = sc->bound_s;
        uint32_t n = 0;
        for (uint32_t j = 0; j < m; j++) {
            double dlat = from_e7(e[j].lat_e7) - qlat;
            double dlon = from_e7(e[j].lon_e7) - qlon;
            double v = dist_s_of(t, dlat, wrap ? wrap_dlon(dlon) : dlon);
            uint32_t a = e[j].attrs;
            uint32_t ok = ((st_mask >> (a & 31u)) & 1u) & (a >= attr_min) &
                          (v <= bound_s);
            s[n] = v;
            slot[n] = e[j].slot;
            n += ok;
        }
        for (uint32_t i = 0; i < n; i++)
            scan_offer(sc, s[i], slot[i]);
        if (len <= CHUNK)
            return;
        len -= CHUNK;
        e += CHUNK;
    }
}

/* Scans entries of a grid cell (or sub-cell). */
static void scan_entries(struct scan *sc, const struct entry *e, uint32_t len)
{
    if (sc->wrap)
        scan_kernel(sc, e, len, true);
    else
        scan_kernel(sc, e, len, false);
}

/* Scans entries anywhere, the overflow cell's included. */
static void scan_entries_wrapped(struct scan *sc, const struct entry *e,
                                 uint32_t len)
{
    scan_kernel(sc, e, len, true);
}

/* ---- query: cells ----------------------------------------------------- */

/* Lines of a node to prefetch at most; the hardware streams the rest. */
#define NODE_PREFETCH_LINES 8
/* Entries that, with the block head, fit in two lines whatever the offset. */
#define NODE_SHORT_LEN 6

/*
 * Starts loading the first lines of what non-empty cell c points to: its
 * block of len entries or, for a split cell (len > MERGE_AT), its sub-cell
 * headers, which the same byte count covers. Two lines always (the second
 * may lie past a small block: a prefetch is only a hint and never faults,
 * and the address is formed as an integer), more only for longer blocks,
 * so the common case has no data-dependent branch.
 */
static void prefetch_node(const struct cell *c)
{
    uintptr_t p = (uintptr_t)c->node;
    PREFETCH_READ((const void *)p);
    PREFETCH_READ((const void *)(p + PREFETCH_LINE));
    if (c->len > NODE_SHORT_LEN) {
        size_t bytes = MIN(block_size(c->len),
                           (size_t)NODE_PREFETCH_LINES * PREFETCH_LINE);
        for (size_t off = 2 * PREFETCH_LINE; off < bytes; off += PREFETCH_LINE)
            PREFETCH_READ((const void *)(p + off));
    }
}

/* A latitude band [lo_e7, hi_e7) relative to the query. */
struct band {
    double gap;    /* least |dlat| of any point in it, degrees */
    double cos_lo; /* least mid_cos() of any point in it, >= 0 */
};

static struct band lat_band(const struct scan *sc, int64_t lo_e7, int64_t hi_e7)
{
    double dlo = from_e7(lo_e7) - sc->qlat;
    double dhi = from_e7(hi_e7) - sc->qlat;
    double gap = dlo > 0.0 ? dlo : (dhi < 0.0 ? -dhi : 0.0);
    /* mid_cos is linear in dlat, so its least value is at an end. */
    double c = MIN(mid_cos(sc->t, dlo), mid_cos(sc->t, dhi)) - COS_MARGIN;
    return (struct band){gap, MAX(c, 0.0)};
}

/*
 * Least |dlon| (degrees) of any grid point in [lo_e7, hi_e7) from the
 * query. Measured from qlon_u, which is within 180 degrees of the grid's
 * middle; wrapping can only make a point's |dlon| smaller than that when it
 * is beyond lon_gap_cap_deg anyway (docs/internals/geo.md).
 */
static double lon_gap(const struct geo_index *ix, const struct scan *sc,
                      int64_t lo_e7, int64_t hi_e7)
{
    double dlo = from_e7(lo_e7) - sc->qlon_u;
    double dhi = from_e7(hi_e7) - sc->qlon_u;
    double gap = dlo > 0.0 ? dlo : (dhi < 0.0 ? -dhi : 0.0);
    return MIN(gap, ix->lon_gap_cap_deg);
}

/* A lower bound, squared, on dist_s of any point in a band and column. */
static double cell_lb_s(struct band b, double lon_gap_deg)
{
    double x = lon_gap_deg * b.cos_lo;
    return b.gap * b.gap + x * x;
}

static struct band row_band(const struct geo_index *ix, const struct scan *sc,
                            int64_t row)
{
    int64_t lat = ix->lat0_e7 + row * ix->lat_step_e7;
    return lat_band(sc, lat, lat + ix->lat_step_e7);
}

static double col_gap(const struct geo_index *ix, const struct scan *sc,
                      int64_t col)
{
    int64_t lon = ix->lon0_e7 + col * ix->lon_step_e7;
    return lon_gap(ix, sc, lon, lon + ix->lon_step_e7);
}

/* Scans the sub-cells of grid cell (row, col), nearest first. */
static void scan_split(const struct geo_index *ix, struct scan *sc,
                       const struct split *sp, int64_t row, int64_t col)
{
    int64_t lat0 = ix->lat0_e7 + row * ix->lat_step_e7;
    int64_t lon0 = ix->lon0_e7 + col * ix->lon_step_e7;
    struct band bands[SPLIT_SIDE];
    double gaps[SPLIT_SIDE];
    for (int64_t i = 0; i < SPLIT_SIDE; i++) {
        bands[i] = lat_band(sc, lat0 + sub_edge(ix->lat_step_e7, i),
                            lat0 + sub_edge(ix->lat_step_e7, i + 1));
        gaps[i] = lon_gap(ix, sc, lon0 + sub_edge(ix->lon_step_e7, i),
                          lon0 + sub_edge(ix->lon_step_e7, i + 1));
    }
    /* Insertion sort of the non-empty sub-cells in reach by lower bound. */
    double lb[SPLIT_KIDS];
    uint8_t order[SPLIT_KIDS];
    size_t n = 0;
    for (uint8_t k = 0; k < SPLIT_KIDS; k++) {
        if (!sp->kids[k].len)
            continue;
        double v = cell_lb_s(bands[k / SPLIT_SIDE], gaps[k % SPLIT_SIDE]);
        if (v > sc->skip_s)
            continue;
        prefetch_node(&sp->kids[k]);
        size_t i = n++;
        for (; i > 0 && lb[i - 1] > v; i--) {
            lb[i] = lb[i - 1];
            order[i] = order[i - 1];
        }
        lb[i] = v;
        order[i] = k;
    }
    for (size_t i = 0; i < n && lb[i] <= sc->skip_s; i++) {
        const struct cell *kid = &sp->kids[order[i]];
        scan_entries(sc, ((const struct block *)kid->node)->e, kid->len);
    }
}

/* Scans grid cell c at (row, col), a block or a split. */
static void scan_cell(const struct geo_index *ix, struct scan *sc,
                      const struct cell *c, int64_t row, int64_t col)
{
    if (c->len <= MERGE_AT || c->node->kind == NODE_BLOCK)
        scan_entries(sc, ((const struct block *)c->node)->e, c->len);
    else
        scan_split(ix, sc, (const struct split *)c->node, row, col);
}

/* A grid cell in reach, waiting to be scanned. */
struct pending {
    double lb_s;
    const struct cell *c;
    int32_t row, col;
};

#define RING_BATCH 64

/*
 * Scans the pending (non-empty) cells nearest first. Their nodes are all
 * prefetched before any is scanned, so that their misses overlap.
 */
static void scan_pending(const struct geo_index *ix, struct scan *sc,
                         struct pending *p, size_t n)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        prefetch_node(p[i].c);
        struct pending v = p[i];
        size_t j = m++;
        for (; j > 0 && p[j - 1].lb_s > v.lb_s; j--)
            p[j] = p[j - 1];
        p[j] = v;
    }
    for (size_t i = 0; i < m && p[i].lb_s <= sc->skip_s; i++)
        scan_cell(ix, sc, p[i].c, p[i].row, p[i].col);
}

/* The grid cell nearest to the query: its own, clamped to the grid. */
static void query_cell(const struct geo_index *ix, const struct scan *sc,
                       int64_t *qr, int64_t *qc)
{
    double fr =
        floor((sc->qlat * E7 - (double)ix->lat0_e7) / (double)ix->lat_step_e7);
    double fc = floor((sc->qlon_u * E7 - (double)ix->lon0_e7) /
                      (double)ix->lon_step_e7);
    *qr = (int64_t)MIN(MAX(fr, 0.0), (double)(ix->rows - 1));
    *qc = (int64_t)MIN(MAX(fc, 0.0), (double)(ix->cols - 1));
}

/*
 * Starts loading the headers of the 3 x 3 cells around (qr, qc): a row's
 * three are adjacent, so its first and last cover its lines.
 */
static void prefetch_around(const struct geo_index *ix, int64_t qr, int64_t qc)
{
    int64_t c0 = MAX(qc - 1, 0), c1 = MIN(qc + 1, (int64_t)ix->cols - 1);
    int64_t r1 = MIN(qr + 1, (int64_t)ix->rows - 1);
    for (int64_t r = MAX(qr - 1, 0); r <= r1; r++) {
        PREFETCH_READ(&ix->cells[r * ix->cols + c0]);
        PREFETCH_READ(&ix->cells[r * ix->cols + c1]);
    }
}

/*
 * Collects the non-empty cells of ring `ring` (>= 2) around (qr, qc) whose
 * lower bound is within reach and scans them in batches. A row out of
 * reach is skipped whole; in the others, the header is read first (a ring
 * row's headers are adjacent, and in an empty area most are empty), the
 * bound computed only for non-empty cells.
 */
static void scan_ring(const struct geo_index *ix, struct scan *sc, int64_t qr,
                      int64_t qc, int64_t ring)
{
    int64_t rows = ix->rows, cols = ix->cols;
    int64_t r0 = qr - ring, r1 = qr + ring;
    int64_t c0 = qc - ring, c1 = qc + ring;
    struct pending pend[RING_BATCH];
    size_t np = 0;
    for (int64_t row = MAX(r0, 0); row <= MIN(r1, rows - 1); row++) {
        struct band b = row_band(ix, sc, row);
        if (b.gap * b.gap > sc->skip_s)
            continue;
        bool whole = row == r0 || row == r1;
        int64_t step = whole ? 1 : c1 - c0;
        for (int64_t col = whole ? MAX(c0, 0) : c0; col <= MIN(c1, cols - 1);
             col += step) {
            if (col < 0)
                continue;
            const struct cell *c = &ix->cells[row * cols + col];
            if (!c->len)
                continue;
            double lb = cell_lb_s(b, col_gap(ix, sc, col));
            if (lb > sc->skip_s)
                continue;
            pend[np++] = (struct pending){lb, c, (int32_t)row, (int32_t)col};
            if (np == RING_BATCH) {
                scan_pending(ix, sc, pend, np);
                np = 0;
            }
        }
    }
    scan_pending(ix, sc, pend, np);
}

/*
 * Scans the 3 x 3 cells around (qr, qc), whose headers were prefetched when
 * the query began: prefetches the nodes of the non-empty ones, then scans
 * them in a fixed order that is nearly nearest first (the center, its four
 * edge neighbours, the corners), skipping those out of reach.
 */
static void scan_near(const struct geo_index *ix, struct scan *sc, int64_t qr,
                      int64_t qc)
{
    static const int8_t order[9][2] = {{0, 0},  {-1, 0}, {1, 0},
                                       {0, -1}, {0, 1},  {-1, -1},
                                       {-1, 1}, {1, -1}, {1, 1}};
    struct band bands[3];
    double gaps[3];
    for (int64_t i = 0; i < 3; i++) {
        bands[i] = row_band(ix, sc, qr + i - 1);
        gaps[i] = col_gap(ix, sc, qc + i - 1);
    }
    struct pending p[9];
    size_t n = 0;
    for (size_t i = 0; i < 9; i++) {
        int64_t row = qr + order[i][0], col = qc + order[i][1];
        if (row < 0 || row >= ix->rows || col < 0 || col >= ix->cols)
            continue;
        const struct cell *c = &ix->cells[row * ix->cols + col];
        if (!c->len)
            continue;
        prefetch_node(c);
        double lb = cell_lb_s(bands[order[i][0] + 1], gaps[order[i][1] + 1]);
        p[n++] = (struct pending){lb, c, (int32_t)row, (int32_t)col};
    }
    for (size_t i = 0; i < n; i++) {
        if (p[i].lb_s <= sc->skip_s)
            scan_cell(ix, sc, p[i].c, p[i].row, p[i].col);
    }
}

/*
 * Visits the grid in rings of cells around the query's cell (clamped to the
 * grid): rings 0 and 1 together, then one ring at a time, nearest cells
 * first within a batch, skipping cells whose lower bound exceeds the
 * current bound, and stops once every cell not yet visited is provably
 * beyond it.
 */
static void scan_grid(const struct geo_index *ix, struct scan *sc, int64_t qr,
                      int64_t qc)
{
    int64_t rows = ix->rows, cols = ix->cols;

    /* Any point within radius_m has |dlat| <= dmax, so mid_cos >= cos_r. */
    double dmax = sc->radius_m / m_per_deg * (1.0 + 1e-6) + 1e-10;
    double cos_r =
        MIN(mid_cos(sc->t, -dmax), mid_cos(sc->t, dmax)) - COS_MARGIN;
    cos_r = MAX(cos_r, 0.0);

    int64_t lat_end = ix->lat0_e7 + rows * ix->lat_step_e7;
    int64_t lon_end = ix->lon0_e7 + cols * ix->lon_step_e7;
    scan_near(ix, sc, qr, qc);
    for (int64_t ring = 1;; ring++) {
        if (ring > 1)
            scan_ring(ix, sc, qr, qc, ring);

        /*
         * Cells left lie in rows outside [r0, r1] or columns outside
         * [c0, c1]. A row gap bounds them directly; a column gap does for
         * points within radius_m, which are the only ones that matter.
         */
        int64_t r0 = qr - ring, r1 = qr + ring;
        int64_t c0 = qc - ring, c1 = qc + ring;
        double g = INFINITY;
        bool left = false;
        if (r0 > 0) {
            int64_t e7 = ix->lat0_e7 + r0 * ix->lat_step_e7;
            g = lat_band(sc, ix->lat0_e7, e7).gap;
            left = true;
        }
        if (r1 < rows - 1) {
            int64_t e7 = ix->lat0_e7 + (r1 + 1) * ix->lat_step_e7;
            g = MIN(g, lat_band(sc, e7, lat_end).gap);
            left = true;
        }
        if (c0 > 0) {
            int64_t e7 = ix->lon0_e7 + c0 * ix->lon_step_e7;
            g = MIN(g, lon_gap(ix, sc, ix->lon0_e7, e7) * cos_r);
            left = true;
        }
        if (c1 < cols - 1) {
            int64_t e7 = ix->lon0_e7 + (c1 + 1) * ix->lon_step_e7;
            g = MIN(g, lon_gap(ix, sc, e7, lon_end) * cos_r);
            left = true;
        }
        if (!left || g * g > sc->skip_s)
            return;
    }
}

/*
 * Whether dist_s could wrap dlon for some entry of a grid cell: entries
 * there have lon_e7 in [lon_lo, lon_hi], and the computed dlon is monotone
 * in lon_e7, so checking both ends decides it for all.
 */
static bool grid_may_wrap(const struct geo_index *ix, const struct scan *sc)
{
    int64_t lo = MAX(ix->lon0_e7, (int64_t)-1800000000);
    int64_t hi = MIN(ix->lon0_e7 + (int64_t)ix->cols * ix->lon_step_e7 - 1,
                     (int64_t)1800000000);
    double dlo = from_e7(lo) - sc->qlon;
    double dhi = from_e7(hi) - sc->qlon;
    return !(dhi <= 180.0 && dlo >= -180.0);
}

static enum err query_check(const struct geo_index_query *q, size_t cap,
                            struct err_detail *d)
{
    if (!geo_latlng_is_valid(q->center))
        return err_set(d, ERR_INVALID, "center",
                       "center is not a valid coordinate");
    if (!(q->radius_m > 0.0 && q->radius_m <= GEO_INDEX_MAX_RADIUS_M))
        return err_set(d, ERR_INVALID, "radius_m",
                       "radius must be more than 0 and at most %g m",
                       GEO_INDEX_MAX_RADIUS_M);
    if (q->k == 0)
        return err_set(d, ERR_INVALID, "k", "k must be at least 1");
    if (q->k > GEO_INDEX_MAX_K)
        return err_set(d, ERR_TOO_BIG, "k", "k may be at most %u",
                       GEO_INDEX_MAX_K);
    if (q->filter.state_mask & ~GEO_INDEX_ALL_STATES)
        return err_set(d, ERR_INVALID, "state_mask",
                       "state mask has bits beyond state %u",
                       GEO_INDEX_STATES - 1);
    if (q->filter.type_mask & ~GEO_INDEX_ALL_TYPES)
        return err_set(d, ERR_INVALID, "type_mask",
                       "type mask has bits beyond type %u",
                       GEO_INDEX_TYPES - 1);
    if (q->filter.min_battery_pct < -1 || q->filter.min_battery_pct > 100)
        return err_set(d, ERR_INVALID, "min_battery_pct",
                       "minimum battery must be -1..100");
    if (cap < q->k)
        return err_set(d, ERR_INVALID, "cap",
                       "room for %zu hits is less than k = %zu", cap, q->k);
    return ERR_OK;
}

enum err geo_index_query(const struct geo_index *ix,
                         const struct geo_index_query *q,
                         struct geo_index_hit *out, size_t cap, size_t *n,
                         struct err_detail *d)
{
    enum err rc = query_check(q, cap, d);
    if (rc != ERR_OK)
        return rc;

    struct scan sc = {
        .qlat = q->center.lat_deg,
        .qlon = q->center.lon_deg,
        .qlon_u = q->center.lon_deg,
        .radius_m = q->radius_m,
        .k = q->k,
        .hits = out,
    };
    if (sc.qlon_u - ix->lon_mid_deg > 180.0)
        sc.qlon_u -= 360.0;
    else if (sc.qlon_u - ix->lon_mid_deg < -180.0)
        sc.qlon_u += 360.0;
    int64_t qr, qc;
    query_cell(ix, &sc, &qr, &qc);
    prefetch_around(ix, qr, qc);
    sc.t = trig_of(q->center.lat_deg);
    for (unsigned type = 0; type < GEO_INDEX_TYPES; type++) {
        if ((q->filter.type_mask >> type) & 1u)
            sc.st_mask |= q->filter.state_mask << (type * 8);
    }
    int32_t mb = q->filter.min_battery_pct;
    /* Battery + 1 is the top of the word, so one compare tests it. */
    sc.attr_min = mb <= 0 ? 0u : ((uint32_t)mb + 1u) << ATTR_BATT_SHIFT;
    sc.wrap = grid_may_wrap(ix, &sc);
    double a = q->radius_m * deg_per_m;
    scan_set_bound(&sc, a);
    sc.sure_s = a * a * (1.0 - BOUND_REL);

    if (sc.st_mask && ix->count) {
        scan_grid(ix, &sc, qr, qc);
        const struct cell *over = &ix->cells[ix->ncells];
        if (over->len)
            scan_entries_wrapped(&sc, ((const struct block *)over->node)->e,
                                 over->len);
    }
    scan_finish(&sc);
    *n = sc.n;
    return ERR_OK;
}
