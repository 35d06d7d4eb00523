/* SPDX-License-Identifier: MIT */
/*
 * Tests for the trip files of `spoke import trips` (cli/tripfile.h): times,
 * the CSV header and rows, the Singapore nodes and trips, and whole files
 * through the pull decoder with the line of every bad row.
 */
#include "base/sys.h"
#include "cli/tripfile.h"
#include "tests/unit/harness.h"

#define HEADER "started_at,ended_at,start_lat,start_lon,end_lat,end_lon"

static enum err header(struct cli_tripcsv *p, const char *text,
                       struct err_detail *d)
{
    char buf[512];
    size_t n = strlen(text);
    memcpy(buf, text, n + 1);
    err_clear(d);
    return cli_tripcsv_header(p, buf, n, d);
}

static enum err row(struct cli_tripcsv *p, const char *text,
                    struct store_demand_trip *t, struct err_detail *d)
{
    char buf[512];
    size_t n = strlen(text);
    memcpy(buf, text, n + 1);
    err_clear(d);
    return cli_tripcsv_row(p, buf, n, t, d);
}

TEST(tripfile_times)
{
    int64_t ms = 0;
    CHECK_OK(cli_trip_time(STR_LIT("1505084846"), &ms));
    CHECK_EQ(ms, INT64_C(1505084846000));
    CHECK_OK(cli_trip_time(STR_LIT("1505084846.25"), &ms));
    CHECK_EQ(ms, INT64_C(1505084846250));
    CHECK_OK(cli_trip_time(STR_LIT("1505084846.1239"), &ms));
    CHECK_EQ(ms, INT64_C(1505084846123));
    CHECK_OK(cli_trip_time(STR_LIT("0"), &ms));
    CHECK_EQ(ms, 0);
    CHECK_OK(cli_trip_time(STR_LIT("2017-09-11T08:00:00Z"), &ms));
    CHECK_EQ(ms, INT64_C(1505116800000));
    CHECK_OK(cli_trip_time(STR_LIT("2017-09-11T16:00:00.5+08:00"), &ms));
    CHECK_EQ(ms, INT64_C(1505116800500));
    const char *bad[] = {"",
                         "-5",
                         "12.",
                         "12.3x",
                         "1e9",
                         "253402300800",
                         "99999999999999999999",
                         "2017-09-11",
                         "2017-09-11T08:00:00",
                         "yesterday",
                         " 1505084846"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        CHECK_ERR(cli_trip_time(str_from_cstr(bad[i]), &ms), ERR_INVALID);
}

TEST(tripfile_csv_header)
{
    struct cli_tripcsv p;
    struct err_detail d;
    CHECK_OK(header(&p, HEADER, &d));
    CHECK_EQ(p.nfields, 6);
    CHECK_EQ(p.field[CLI_TRIPCSV_STARTED_AT], 0);
    CHECK_EQ(p.field[CLI_TRIPCSV_END_LON], 5);
    /* Any order, quoted names, a byte order mark. */
    CHECK_OK(header(&p,
                    "\xef\xbb\xbf"
                    "end_lon,\"end_lat\",start_lon,start_lat,ended_at,"
                    "started_at",
                    &d));
    CHECK_EQ(p.field[CLI_TRIPCSV_STARTED_AT], 5);
    CHECK_EQ(p.field[CLI_TRIPCSV_END_LON], 0);
    CHECK_STR(cli_tripcsv_col_name(CLI_TRIPCSV_START_LAT), "start_lat");

    CHECK_ERR(header(&p, "started_at,ended_at,start_lat,start_lon,end_lat", &d),
              ERR_INVALID);
    CHECK_STR(d.field, "end_lon");
    CHECK(strstr(d.msg, "no column 'end_lon'") != NULL);
    CHECK_ERR(header(&p, HEADER ",bike_id", &d), ERR_INVALID);
    CHECK(strstr(d.msg, "unknown column 'bike_id'") != NULL);
    CHECK_ERR(header(&p, HEADER ",end_lat", &d), ERR_INVALID);
    CHECK(strstr(d.msg, "twice") != NULL);
    CHECK_ERR(header(&p, "", &d), ERR_INVALID);
    CHECK(strstr(d.msg, "empty") != NULL);
    CHECK_ERR(header(&p, "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q", &d), ERR_INVALID);
    CHECK_ERR(header(&p, "\"started_at,ended_at", &d), ERR_INVALID);
}

TEST(tripfile_csv_rows)
{
    struct cli_tripcsv p;
    struct err_detail d;
    CHECK_OK(header(&p,
                    "end_lon,end_lat,start_lon,start_lat,ended_at,"
                    "started_at",
                    &d));
    struct store_demand_trip t;
    CHECK_OK(row(&p, "103.81,1.31,103.8,-1.3,1505085748,1505084846", &t, &d));
    CHECK_EQ(t.started_ms, INT64_C(1505084846000));
    CHECK_EQ(t.ended_ms, INT64_C(1505085748000));
    CHECK_NEAR(t.start_pos.lat_deg, -1.3, 0);
    CHECK_NEAR(t.start_pos.lon_deg, 103.8, 0);
    CHECK_NEAR(t.end_pos.lat_deg, 1.31, 0);
    CHECK_NEAR(t.end_pos.lon_deg, 103.81, 0);
    CHECK_OK(row(&p,
                 "\"103.81\",1.31e0,103.8,1.3,2017-09-11T08:10:00Z,"
                 "2017-09-11T08:00:00Z",
                 &t, &d));
    CHECK_EQ(t.ended_ms - t.started_ms, 600000);
    CHECK_NEAR(t.end_pos.lat_deg, 1.31, 0);

    struct {
        const char *text, *field, *msg;
    } bad[] = {
        {"1,2,3,4,5", "", "wrong number of fields"},
        {"1,2,3,4,5,6,7", "", "wrong number of fields"},
        {"103.81,1.31,103.8,1.3,1505085748,", "started_at", "empty"},
        {"103.81,1.31,103.8,1.3,soon,1505084846", "ended_at",
         "bad ended_at 'soon'"},
        {"103.81,1.31,103.8,91,1505085748,1505084846", "start_lat",
         "-90 to 90"},
        {"103.81,1.31,-180.5,1.3,1505085748,1505084846", "start_lon",
         "-180 to 180"},
        {"x,1.31,103.8,1.3,1505085748,1505084846", "end_lon", "not a number"},
        {"103.81,,103.8,1.3,1505085748,1505084846", "end_lat", "empty"},
        {"103.81,1.31,103.8,1.3,1505085748,\"1505084846", "", "not closed"},
        {"103.81,1.31,103.8,1.3,15050857\"48,1505084846", "", "quote"},
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        if (row(&p, bad[i].text, &t, &d) != ERR_INVALID ||
            strcmp(d.field, bad[i].field) != 0 || !strstr(d.msg, bad[i].msg))
            test_fail(__FILE__, __LINE__, "row '%s': field '%s', msg '%s'",
                      bad[i].text, d.field, d.msg);
    }
}

TEST(tripfile_singapore)
{
    struct cli_sg_node nodes[3];
    struct err_detail d;
    err_clear(&d);
    CHECK_OK(cli_sg_node_parse(STR_LIT("5924056433\t103.825157\t1.286456"),
                               &nodes[0], &d));
    CHECK_EQ(nodes[0].id, INT64_C(5924056433));
    CHECK_NEAR(nodes[0].pos.lat_deg, 1.286456, 0); /* lon first in the file */
    CHECK_NEAR(nodes[0].pos.lon_deg, 103.825157, 0);
    CHECK_OK(cli_sg_node_parse(STR_LIT("17\t103.5\t1.5\r"), &nodes[1], &d));
    CHECK_OK(cli_sg_node_parse(STR_LIT("4\t-0.5\t-1.5"), &nodes[2], &d));
    const char *bad_nodes[] = {"17\t103.5",  "17\t103.5\t1.5\t0", "x\t1\t2",
                               "17\t200\t1", "17\t1\t95",         ""};
    for (size_t i = 0; i < ARRAY_LEN(bad_nodes); i++) {
        struct cli_sg_node n;
        CHECK_ERR(cli_sg_node_parse(str_from_cstr(bad_nodes[i]), &n, &d),
                  ERR_INVALID);
    }
    CHECK_OK(cli_sg_nodes_sort(nodes, 3, &d));
    CHECK_EQ(nodes[0].id, 4);
    CHECK(cli_sg_node_find(nodes, 3, 17) == &nodes[1]);
    CHECK(cli_sg_node_find(nodes, 3, 5) == NULL);
    CHECK(cli_sg_node_find(nodes, 0, 5) == NULL);

    struct store_demand_trip t;
    CHECK_OK(cli_sg_trip_parse(
        STR_LIT("89852\t21517\t1505084846\t1505085748\t5924056433\t17.49"
                "\t4\t59.07\t234.51"),
        nodes, 3, &t, &d));
    CHECK_EQ(t.started_ms, INT64_C(1505084846000));
    CHECK_EQ(t.ended_ms, INT64_C(1505085748000));
    CHECK_NEAR(t.start_pos.lat_deg, 1.286456, 0);
    CHECK_NEAR(t.end_pos.lat_deg, -1.5, 0);
    struct {
        const char *text, *field;
    } bad[] = {
        {"1\t2\t3\t4\t17\t0\t4\t0", ""},
        {"1\t2\t3\t4\t17\t0\t4\t0\t0\t0", ""},
        {"1,2,3,4,17,0,4,0,0", ""},
        {"1\t2\tx\t4\t17\t0\t4\t0\t0", "start_ts"},
        {"1\t2\t3\t4.5\t17\t0\t4\t0\t0", "end_ts"},
        {"1\t2\t3\t4\t18\t0\t4\t0\t0", "start_node"},
        {"1\t2\t3\t4\t17\t0\t3\t0\t0", "end_node"},
        {"1\t2\t-3\t4\t17\t0\t4\t0\t0", "start_ts"},
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        err_clear(&d);
        if (cli_sg_trip_parse(str_from_cstr(bad[i].text), nodes, 3, &t, &d) !=
                ERR_INVALID ||
            strcmp(d.field, bad[i].field) != 0)
            test_fail(__FILE__, __LINE__, "trip '%s': field '%s', msg '%s'",
                      bad[i].text, d.field, d.msg);
    }
    CHECK(strstr(d.msg, "1970") != NULL);
    nodes[2].id = 17;
    CHECK_ERR(cli_sg_nodes_sort(nodes, 3, &d), ERR_CONFLICT);
    CHECK(strstr(d.msg, "17") != NULL);
}

/* A whole file through the decoder, window by window as the CLI reads. */
struct decoded {
    size_t ok;
    int64_t lines[16]; /* of the bad rows */
    char msgs[16][160];
    size_t bad;
    bool too_big;
};

static void decode(struct cli_tripfile *p, const char *text, size_t window,
                   struct decoded *out)
{
    memset(out, 0, sizeof(*out));
    size_t size = strlen(text);
    char *buf = xmalloc(size + 1);
    memcpy(buf, text, size + 1);
    size_t off = 0;
    int64_t last = 0;
    for (;;) {
        size_t avail = MIN(size - off, window);
        bool eof = off + avail == size;
        size_t used = 0;
        int64_t line = 0;
        struct store_demand_trip t;
        struct err_detail d;
        err_clear(&d);
        enum err e =
            cli_tripfile_next(p, buf + off, avail, eof, &used, &t, &line, &d);
        CHECK(used <= avail);
        off += used;
        if (e == ERR_NOT_FOUND && eof)
            break;
        if (e == ERR_NOT_FOUND)
            continue; /* the window moves on */
        CHECK(line >= last);
        last = line;
        if (e == ERR_OK) {
            out->ok++;
            continue;
        }
        if (out->bad < ARRAY_LEN(out->lines)) {
            out->lines[out->bad] = line;
            snprintf(out->msgs[out->bad], sizeof(out->msgs[0]), "%s", d.msg);
        }
        out->bad++;
        out->too_big = out->too_big || e == ERR_TOO_BIG;
        if (p->stopped)
            break;
    }
    xfree(buf);
}

TEST(tripfile_csv_file_lines)
{
    const char *text = HEADER "\r\n"
                              "1505084846,1505085748,1.3,103.8,1.31,103.81\r\n"
                              "\r\n"
                              "1505084846,1505085748,1.3,103.8,1.31\r\n"
                              "\"1505084846\",\"15050\n"
                              "85748\",1.3,103.8,1.31,103.81\n"
                              "1505084846,1505085748,1.3,103.8,1.31,103.81\n"
                              "1505084846,1505085748,1.3,103.8,1.31,x\n"
                              "\n"
                              "1505084846,1505085748,1.3,103.8,1.31,103.81";
    /* The same lines whatever the window (down to the decoder's minimum). */
    size_t windows[] = {CLI_TRIPFILE_WINDOW_MIN, 1 << 20};
    for (size_t w = 0; w < ARRAY_LEN(windows); w++) {
        struct cli_tripfile p;
        cli_tripfile_init(&p, CLI_TRIPFILE_CSV, NULL, 0);
        struct decoded r;
        decode(&p, text, windows[w], &r);
        CHECK(p.has_header);
        CHECK_EQ(r.ok, 3);
        CHECK_EQ(r.bad, 3);
        CHECK_EQ(r.lines[0], 4);
        CHECK(strstr(r.msgs[0], "wrong number of fields") != NULL);
        CHECK_EQ(r.lines[1], 5); /* a quoted line break: lines 5 and 6 */
        CHECK(strstr(r.msgs[1], "bad ended_at") != NULL);
        CHECK_EQ(r.lines[2], 8);
        CHECK(strstr(r.msgs[2], "end_lon") != NULL);
        CHECK_EQ(p.line, 10);
    }
}

TEST(tripfile_csv_file_stops)
{
    struct cli_tripfile p;
    struct decoded r;
    /* A bad header: nothing after it is read. */
    cli_tripfile_init(&p, CLI_TRIPFILE_CSV, NULL, 0);
    decode(&p, "a,b\n1,2\n", 1 << 20, &r);
    CHECK(p.stopped);
    CHECK(!p.has_header);
    CHECK_EQ(r.bad, 1);
    CHECK_EQ(r.lines[0], 1);
    CHECK(strstr(r.msgs[0], "unknown column 'a'") != NULL);
    /* No header at all. */
    cli_tripfile_init(&p, CLI_TRIPFILE_CSV, NULL, 0);
    decode(&p, "", 1 << 20, &r);
    CHECK(!p.has_header);
    CHECK(!p.stopped);
    CHECK_EQ(r.bad + r.ok, 0);
    /* A quote left open runs past the longest record. */
    char *text = xmalloc(2 * CORE_CSV_RECORD_MAX);
    int n = snprintf(text, 2 * CORE_CSV_RECORD_MAX, "%s\n1,2,3,4,5,6\n\"open",
                     HEADER);
    memset(text + n, 'x', CORE_CSV_RECORD_MAX);
    text[n + CORE_CSV_RECORD_MAX] = '\0';
    cli_tripfile_init(&p, CLI_TRIPFILE_CSV, NULL, 0);
    decode(&p, text, CLI_TRIPFILE_WINDOW_MIN, &r);
    xfree(text);
    CHECK(r.too_big);
    CHECK(p.stopped);
    CHECK_EQ(r.lines[r.bad - 1], 3);
}

TEST(tripfile_singapore_file_lines)
{
    struct cli_sg_node nodes[] = {{4, {1.25, 103.5}}, {17, {1.5, 103.75}}};
    struct cli_tripfile p;
    cli_tripfile_init(&p, CLI_TRIPFILE_SINGAPORE, nodes, 2);
    struct decoded r;
    decode(&p,
           "1\t2\t1505084846\t1505085748\t4\t0\t17\t0\t0\n"
           "\n"
           "1\t2\t1505084846\t1505085748\t4\t0\t99\t0\t0\r\n"
           "1\t2\t1505084846\t1505085748\t4\t0\t17\t0\n"
           "\"1\t2\t1505084846\t1505085748\t4\t0\t17\t0\t0\n"
           "1\t2\t1505084846\t1505085748\t17\t0\t4\t0\t0",
           1 << 20, &r);
    /* Quotes mean nothing in this format: line 5 is a line of its own. */
    CHECK_EQ(r.ok, 3);
    CHECK_EQ(r.bad, 2);
    CHECK_EQ(r.lines[0], 3);
    CHECK(strstr(r.msgs[0], "node 99") != NULL);
    CHECK_EQ(r.lines[1], 4);
    CHECK(strstr(r.msgs[1], "9 tab-separated fields") != NULL);
    CHECK_EQ(p.line, 6);
}

const struct test_case test_suite_tripfile[] = {
    CASE(tripfile_times),
    CASE(tripfile_csv_header),
    CASE(tripfile_csv_rows),
    CASE(tripfile_singapore),
    CASE(tripfile_csv_file_lines),
    CASE(tripfile_csv_file_stops),
    CASE(tripfile_singapore_file_lines),
    {0},
};
