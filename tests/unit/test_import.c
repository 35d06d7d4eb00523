/* SPDX-License-Identifier: MIT */
/*
 * Tests for the fleet import: the CSV framing and row decoder of
 * core/bikecsv.h (every error kind, quoting, CRLF, empty lines, header
 * variants, reading in any chunk size) and the bulk import of store/
 * (ids, duplicates in the file and against stored bikes, all or nothing,
 * dry runs, the exclusive lock, round trips through store_load_bikes).
 */
#include "base/sys.h"
#include "core/bikecsv.h"
#include "store/store.h"
#include "tests/unit/harness.h"
#include "tests/unit/rawdb.h"

#include <signal.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* Decoding a whole text, fed to the decoder in chunks */

#define DEC_MAX 64

struct decoded {
    enum err header;
    char header_msg[160];
    char header_field[48];
    size_t nrows;
    struct core_bike rows[DEC_MAX];
    int64_t lines[DEC_MAX];
    size_t nbad;
    int64_t bad_lines[DEC_MAX];
    char bad_msgs[DEC_MAX][160];
    char bad_fields[DEC_MAX][48];
    bool too_big;
};

/*
 * Decodes text[0..len) as the CLI does, but handing over at most chunk new
 * bytes per read, into a buffer of the decoder's minimum window (or more).
 */
static void decode_chunked(const char *text, size_t len, size_t chunk,
                           struct decoded *out)
{
    size_t cap = CORE_BIKECSV_WINDOW_MIN + 16;
    char *buf = xmalloc(cap);
    size_t blen = 0, pos = 0, fed = 0;
    bool eof = false;
    struct core_bikecsv p;
    core_bikecsv_init(&p);
    memset(out, 0, sizeof(*out));
    bool header_done = false;
    for (;;) {
        struct err_detail d;
        err_clear(&d);
        size_t used = 0;
        enum err e;
        struct core_bike b;
        int64_t line = 0;
        if (!header_done) {
            e = core_bikecsv_header(&p, buf + pos, blen - pos, eof, &used, &d);
        } else {
            e = core_bikecsv_row(&p, buf + pos, blen - pos, eof, &used, &b,
                                 &line, &d);
        }
        pos += used;
        if (e == ERR_NOT_FOUND && !eof) {
            memmove(buf, buf + pos, blen - pos);
            blen -= pos;
            pos = 0;
            size_t room = MIN(cap - blen, len - fed);
            size_t n = MIN(chunk, room);
            memcpy(buf + blen, text + fed, n);
            blen += n;
            fed += n;
            eof = fed == len;
            continue;
        }
        if (!header_done) {
            out->header = e;
            snprintf(out->header_msg, sizeof(out->header_msg), "%s", d.msg);
            snprintf(out->header_field, sizeof(out->header_field), "%s",
                     d.field);
            if (e != ERR_OK)
                break;
            header_done = true;
            continue;
        }
        if (e == ERR_NOT_FOUND)
            break;
        if (e == ERR_OK) {
            CHECK(out->nrows < DEC_MAX);
            out->rows[out->nrows] = b;
            out->lines[out->nrows++] = line;
            continue;
        }
        CHECK(out->nbad < DEC_MAX);
        out->bad_lines[out->nbad] = line;
        snprintf(out->bad_msgs[out->nbad], sizeof(out->bad_msgs[0]), "%s",
                 d.msg);
        snprintf(out->bad_fields[out->nbad], sizeof(out->bad_fields[0]), "%s",
                 d.field);
        out->nbad++;
        if (e == ERR_TOO_BIG) {
            out->too_big = true;
            break;
        }
        CHECK_EQ(e, ERR_INVALID);
    }
    xfree(buf);
}

/* Decodes text whole, then in 1- and 7-byte reads: all three must agree. */
static void decode(const char *text, struct decoded *out)
{
    size_t len = strlen(text);
    static struct decoded small, odd;
    decode_chunked(text, len, len ? len : 1, out);
    decode_chunked(text, len, 1, &small);
    decode_chunked(text, len, 7, &odd);
    CHECK(memcmp(out, &small, sizeof(*out)) == 0);
    CHECK(memcmp(out, &odd, sizeof(*out)) == 0);
}

#define HDR "qr_code,lock_imei,lat,lon\n"

/* The message of the only bad row; fails unless there is exactly one. */
static const char *only_bad(const char *text, int64_t line, const char *field)
{
    static struct decoded r;
    decode(text, &r);
    CHECK_OK(r.header);
    CHECK_EQ(r.nrows, 0);
    CHECK_EQ(r.nbad, 1);
    CHECK_EQ(r.bad_lines[0], line);
    CHECK_STR(r.bad_fields[0], field);
    return r.bad_msgs[0];
}

#define CHECK_HAS(msg, part)                                                   \
    do {                                                                       \
        const char *m_ = (msg);                                                \
        if (!strstr(m_, (part)))                                               \
            test_fail(__FILE__, __LINE__, "\"%s\" lacks \"%s\"", m_, (part));  \
    } while (0)

/* Framing and splitting */

TEST(csv_record_line_ends)
{
    size_t rec = 0, used = 0, lines = 0;
    CHECK_OK(core_csv_record("a,b\nc", 5, false, &rec, &used, &lines));
    CHECK_EQ(rec, 3);
    CHECK_EQ(used, 4);
    CHECK_EQ(lines, 1);
    CHECK_OK(core_csv_record("a,b\r\nc", 6, false, &rec, &used, &lines));
    CHECK_EQ(rec, 3);
    CHECK_EQ(used, 5);
    /* The last record may lack a line end, but only at eof. */
    CHECK_ERR(core_csv_record("a,b", 3, false, &rec, &used, &lines),
              ERR_NOT_FOUND);
    CHECK_OK(core_csv_record("a,b\r", 4, true, &rec, &used, &lines));
    CHECK_EQ(rec, 3);
    CHECK_EQ(used, 4);
    CHECK_EQ(lines, 0);
    CHECK_ERR(core_csv_record("", 0, true, &rec, &used, &lines), ERR_NOT_FOUND);
    /* A line break inside quotes belongs to the record and is counted. */
    const char *q = "\"a\nb\",\"c\"\"\nd\"\nnext\n";
    CHECK_OK(core_csv_record(q, strlen(q), false, &rec, &used, &lines));
    CHECK_EQ(rec, 13);
    CHECK_EQ(used, 14);
    CHECK_EQ(lines, 3);
    CHECK_ERR(core_csv_record(q, 8, false, &rec, &used, &lines), ERR_NOT_FOUND);
    CHECK_OK(core_csv_record(q, 8, true, &rec, &used, &lines));
    CHECK_EQ(rec, 8);
    CHECK_EQ(lines, 1);
}

static size_t split(const char *text, struct str *f, size_t cap, enum err want)
{
    static char rec[256];
    size_t len = strlen(text);
    memcpy(rec, text, len);
    size_t n = 99;
    struct err_detail d;
    err_clear(&d);
    CHECK_ERR(core_csv_split(rec, len, f, cap, &n, &d), want);
    if (want == ERR_INVALID)
        CHECK(d.msg[0]);
    return n;
}

TEST(csv_split_fields)
{
    struct str f[8];
    CHECK_EQ(split("a,bc,,d", f, 8, ERR_OK), 4);
    CHECK(str_eq_cstr(f[0], "a") && str_eq_cstr(f[1], "bc"));
    CHECK(str_eq_cstr(f[2], "") && str_eq_cstr(f[3], "d"));
    CHECK_EQ(split("", f, 8, ERR_OK), 1);
    CHECK_EQ(f[0].len, 0);
    CHECK_EQ(split("a,", f, 8, ERR_OK), 2);
    CHECK_EQ(f[1].len, 0);
    CHECK_EQ(split("\"x,y\",\"say \"\"hi\"\"\",\"\",z", f, 8, ERR_OK), 4);
    CHECK(str_eq_cstr(f[0], "x,y"));
    CHECK(str_eq_cstr(f[1], "say \"hi\""));
    CHECK(str_eq_cstr(f[2], ""));
    CHECK(str_eq_cstr(f[3], "z"));
    CHECK_EQ(split("\"a\nb\",\"\"", f, 8, ERR_OK), 2);
    CHECK(str_eq_cstr(f[0], "a\nb"));
    CHECK_EQ(split("a,b,c", f, 3, ERR_OK), 3);
    CHECK_EQ(split("a,b,c,d", f, 3, ERR_TOO_BIG), 99);
    CHECK_EQ(split("\"a\",b,c,d", f, 3, ERR_TOO_BIG), 99);
    CHECK_EQ(split("ab\"c,d", f, 8, ERR_INVALID), 99);
    CHECK_EQ(split("\"ab\"c,d", f, 8, ERR_INVALID), 99);
    CHECK_EQ(split("a,\"bc", f, 8, ERR_INVALID), 99);
    CHECK_EQ(split("\"", f, 8, ERR_INVALID), 99);
}

/* Headers */

TEST(bikecsv_header_variants)
{
    static struct decoded r;
    decode(HDR "Q1,860000000000001,1.5,2.5\n", &r);
    CHECK_OK(r.header);
    CHECK_EQ(r.nrows, 1);
    CHECK_EQ(r.lines[0], 2);

    /* Any order, optional columns, quoted names, CRLF, a byte order mark. */
    decode("\xef\xbb\xbf\"battery\",lon,vehicle_type,state,lat,lock_imei,"
           "\"qr_code\"\r\n"
           "7,2.5,ebike,missing,1.5,860000000000001,Q1\r\n",
           &r);
    CHECK_OK(r.header);
    CHECK_EQ(r.nrows, 1);
    CHECK_STR(r.rows[0].qr_code, "Q1");
    CHECK_EQ(r.rows[0].imei, UINT64_C(860000000000001));
    CHECK_EQ(r.rows[0].pos.lat_deg, 1.5);
    CHECK_EQ(r.rows[0].pos.lon_deg, 2.5);
    CHECK_EQ(r.rows[0].state, CORE_VS_MISSING);
    CHECK_EQ(r.rows[0].battery_pct, 7);
    CHECK_EQ(r.rows[0].vtype, CORE_VT_EBIKE);

    /* A header alone is a valid, empty file; so is one without line end. */
    decode("qr_code,lock_imei,lat,lon", &r);
    CHECK_OK(r.header);
    CHECK_EQ(r.nrows + r.nbad, 0);
    decode(HDR "\n\n", &r);
    CHECK_OK(r.header);
    CHECK_EQ(r.nrows + r.nbad, 0);
}

TEST(bikecsv_header_errors)
{
    static struct decoded r;
    decode("", &r);
    CHECK_ERR(r.header, ERR_NOT_FOUND); /* empty input: the caller says so */
    decode("\n" HDR, &r);
    CHECK_ERR(r.header, ERR_INVALID);
    CHECK_HAS(r.header_msg, "first line is empty");
    decode("qr_code,lock_imei,lat,lon,colour\n", &r);
    CHECK_ERR(r.header, ERR_INVALID);
    CHECK_HAS(r.header_msg, "unknown column 'colour'");
    decode("qr_code,lock_imei,lat,lon,QR_CODE\n", &r);
    CHECK_ERR(r.header, ERR_INVALID);
    CHECK_HAS(r.header_msg, "unknown column 'QR_CODE'");
    decode("qr_code,lock_imei,lat,lon,lat\n", &r);
    CHECK_ERR(r.header, ERR_INVALID);
    CHECK_HAS(r.header_msg, "'lat' appears twice");
    CHECK_STR(r.header_field, "lat");
    const char *required[] = {"lock_imei,lat,lon", "qr_code,lat,lon",
                              "qr_code,lock_imei,lon", "qr_code,lock_imei,lat"};
    const char *missing[] = {"qr_code", "lock_imei", "lat", "lon"};
    for (size_t i = 0; i < ARRAY_LEN(required); i++) {
        decode(required[i], &r);
        CHECK_ERR(r.header, ERR_INVALID);
        CHECK_STR(r.header_field, missing[i]);
        CHECK_HAS(r.header_msg, "has no column");
    }
    decode("qr_code,lock_imei,lat,lon,a,b,c,d,e,f,g,h,i,j,k,l,m\n", &r);
    CHECK_ERR(r.header, ERR_INVALID);
    CHECK_HAS(r.header_msg, "more than 16 columns");
    decode("\"qr_code,lock_imei,lat,lon\n", &r);
    CHECK_ERR(r.header, ERR_INVALID);
    /* A first line longer than a record may be. */
    static char big[CORE_CSV_RECORD_MAX + 64];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    decode(big, &r);
    CHECK_ERR(r.header, ERR_TOO_BIG);
    CHECK_HAS(r.header_msg, "line 1 ");
}

/* Rows */

TEST(bikecsv_row_defaults_and_values)
{
    static struct decoded r;
    decode(HDR "Q-1_a,860000000000001,-33.8688,151.2093\n"
               "q2,000000000000000,90,-180\n"
               "q3,999999999999999,-90,180\n",
           &r);
    CHECK_EQ(r.nbad, 0);
    CHECK_EQ(r.nrows, 3);
    const struct core_bike *b = &r.rows[0];
    CHECK_STR(b->qr_code, "Q-1_a");
    CHECK_EQ(b->imei, UINT64_C(860000000000001));
    CHECK_EQ(b->pos.lat_deg, -33.8688);
    CHECK_EQ(b->pos.lon_deg, 151.2093);
    CHECK_EQ(b->state, CORE_VS_AVAILABLE);
    CHECK_EQ(b->battery_pct, -1);
    CHECK_EQ(b->vtype, CORE_VT_BICYCLE);
    CHECK_EQ(b->id, 0);
    CHECK_EQ(b->created_ms, 0);
    CHECK_EQ(b->last_report_ms, 0);
    CHECK_EQ(r.rows[1].imei, 0);
    CHECK_EQ(r.rows[2].imei, UINT64_C(999999999999999));
    CHECK_EQ(r.lines[2], 4);

    /* Optional columns: values, and empty for the default. */
    decode("qr_code,lock_imei,lat,lon,state,battery,vehicle_type\n"
           "a,860000000000001,1,2,available,0,bicycle\n"
           "b,860000000000002,1,2,non_operational,100,ebike\n"
           "c,860000000000003,1,2,missing,,\n"
           "d,860000000000004,1,2,removed,55,\n"
           "e,860000000000005,1,2,,,\n",
           &r);
    CHECK_EQ(r.nbad, 0);
    CHECK_EQ(r.nrows, 5);
    CHECK_EQ(r.rows[0].battery_pct, 0);
    CHECK_EQ(r.rows[1].state, CORE_VS_NON_OPERATIONAL);
    CHECK_EQ(r.rows[1].battery_pct, 100);
    CHECK_EQ(r.rows[1].vtype, CORE_VT_EBIKE);
    CHECK_EQ(r.rows[2].state, CORE_VS_MISSING);
    CHECK_EQ(r.rows[2].battery_pct, -1);
    CHECK_EQ(r.rows[3].state, CORE_VS_REMOVED);
    CHECK_EQ(r.rows[4].state, CORE_VS_AVAILABLE);
    CHECK_EQ(r.rows[4].vtype, CORE_VT_BICYCLE);
}

TEST(bikecsv_row_quoting_and_crlf)
{
    static struct decoded r;
    decode("qr_code,lock_imei,lat,lon,state\r\n"
           "\"Q1\",\"860000000000001\",\"48.5\",\"2.25\",\"removed\"\r\n"
           "Q2,860000000000002,48.5,2.25,\r\n"
           "\"Q3\",860000000000003,\"-1\",2,\"\"\r\n"
           "\"Q\"\"4\",860000000000004,1,2,\r\n"
           "\"Q5\n\",860000000000005,1,2,\r\n"
           "Q6,860000000000006,1,2,\r\n",
           &r);
    CHECK_EQ(r.nrows, 4);
    CHECK_STR(r.rows[0].qr_code, "Q1");
    CHECK_EQ(r.rows[0].pos.lon_deg, 2.25);
    CHECK_EQ(r.rows[0].state, CORE_VS_REMOVED);
    CHECK_EQ(r.rows[2].pos.lat_deg, -1);
    CHECK_EQ(r.rows[2].state, CORE_VS_AVAILABLE);
    /* A quote and a line break are no QR characters, but both decode; the
     * row after the two-line record is on line 8. */
    CHECK_EQ(r.nbad, 2);
    CHECK_EQ(r.bad_lines[0], 5);
    CHECK_HAS(r.bad_msgs[0], "bad qr_code 'Q\"4'");
    CHECK_EQ(r.bad_lines[1], 6);
    CHECK_HAS(r.bad_msgs[1], "bad qr_code 'Q5?'");
    CHECK_STR(r.rows[3].qr_code, "Q6");
    CHECK_EQ(r.lines[3], 8);

    /* A stray quote inside a field is refused on its own line only. */
    decode(HDR "Q\"1,860000000000001,1,2\nQ2,860000000000002,1,2\n"
               "Q3,860000000000003,1,\"2\n",
           &r);
    CHECK_EQ(r.nbad, 2);
    CHECK_EQ(r.bad_lines[0], 2);
    CHECK_EQ(r.nrows, 1);
    CHECK_EQ(r.lines[0], 3);
    CHECK_EQ(r.bad_lines[1], 4);
    CHECK_HAS(r.bad_msgs[1], "not closed");
}

TEST(bikecsv_row_errors)
{
    CHECK_HAS(only_bad(HDR "Q1,860000000000001,1\n", 2, ""),
              "wrong number of fields: 3, expected 4");
    CHECK_HAS(only_bad(HDR "Q1,860000000000001,1,2,3\n", 2, ""),
              "wrong number of fields: 5, expected 4");
    CHECK_HAS(only_bad(HDR "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q\n", 2, ""),
              "more than 16");
    CHECK_HAS(only_bad(HDR "Q\"1,860000000000001,1,2\n", 2, ""),
              "quote inside unquoted field 1");
    CHECK_HAS(only_bad(HDR "\"Q1\"x,860000000000001,1,2\n", 2, ""),
              "after the closing quote");
    CHECK_HAS(only_bad(HDR ",860000000000001,1,2\n", 2, "qr_code"),
              "bad qr_code ''");
    CHECK_HAS(only_bad(HDR "Q 1,860000000000001,1,2\n", 2, "qr_code"),
              "bad qr_code 'Q 1'");
    CHECK_HAS(only_bad(HDR "Q123456789012345678901234567890123,"
                           "860000000000001,1,2\n",
                       2, "qr_code"),
              "1 to 32");
    CHECK_HAS(only_bad(HDR "Q1,86000000000001,1,2\n", 2, "lock_imei"),
              "bad lock_imei '86000000000001': must be exactly 15 digits");
    CHECK_HAS(only_bad(HDR "Q1,8600000000000012,1,2\n", 2, "lock_imei"),
              "bad lock_imei");
    CHECK_HAS(only_bad(HDR "Q1,86000000000000x,1,2\n", 2, "lock_imei"),
              "bad lock_imei");
    CHECK_HAS(only_bad(HDR "Q1,,1,2\n", 2, "lock_imei"), "bad lock_imei ''");
    CHECK_HAS(only_bad(HDR "Q1,860000000000001,north,2\n", 2, "lat"),
              "bad lat 'north': not a number");
    CHECK_HAS(only_bad(HDR "Q1,860000000000001,,2\n", 2, "lat"),
              "not a number");
    CHECK_HAS(only_bad(HDR "Q1,860000000000001, 1,2\n", 2, "lat"),
              "not a number");
    CHECK_HAS(only_bad(HDR "Q1,860000000000001,nan,2\n", 2, "lat"),
              "not a number");
    CHECK_HAS(only_bad(HDR "Q1,860000000000001,1e999,2\n", 2, "lat"),
              "not a number");
    CHECK_HAS(only_bad(HDR "Q1,860000000000001,1.2.3,2\n", 2, "lat"),
              "not a number");
    CHECK_HAS(only_bad(HDR "Q1,860000000000001,90.000001,2\n", 2, "lat"),
              "must be from -90 to 90");
    CHECK_HAS(only_bad(HDR "Q1,860000000000001,-91,2\n", 2, "lat"),
              "must be from -90 to 90");
    CHECK_HAS(only_bad(HDR "Q1,860000000000001,1,180.5\n", 2, "lon"),
              "bad lon '180.5': must be from -180 to 180");
    CHECK_HAS(only_bad(HDR "Q1,860000000000001,1,-\n", 2, "lon"),
              "not a number");

    const char *sh = "qr_code,lock_imei,lat,lon,state\n";
    char text[256];
    snprintf(text, sizeof(text), "%sQ1,860000000000001,1,2,parked\n", sh);
    CHECK_HAS(only_bad(text, 2, "state"), "unknown state 'parked'");
    snprintf(text, sizeof(text), "%sQ1,860000000000001,1,2,Available\n", sh);
    CHECK_HAS(only_bad(text, 2, "state"), "unknown state");
    snprintf(text, sizeof(text), "%sQ1,860000000000001,1,2,reserved\n", sh);
    CHECK_HAS(only_bad(text, 2, "state"), "'reserved' cannot be imported");
    snprintf(text, sizeof(text), "%sQ1,860000000000001,1,2,on_trip\n", sh);
    CHECK_HAS(only_bad(text, 2, "state"), "'on_trip' cannot be imported");

    const char *bh = "qr_code,lock_imei,lat,lon,battery\n";
    const char *bad_battery[] = {"101", "-1", "5.5", "full", "1e2", " 5"};
    for (size_t i = 0; i < ARRAY_LEN(bad_battery); i++) {
        snprintf(text, sizeof(text), "%sQ1,860000000000001,1,2,%s\n", bh,
                 bad_battery[i]);
        CHECK_HAS(only_bad(text, 2, "battery"), "bad battery");
    }
    snprintf(text, sizeof(text),
             "qr_code,lock_imei,lat,lon,vehicle_type\n"
             "Q1,860000000000001,1,2,scooter\n");
    CHECK_HAS(only_bad(text, 2, "vehicle_type"),
              "unknown vehicle_type 'scooter'");

    /* Control bytes and long values are shown safely and cut. */
    CHECK_HAS(only_bad(HDR "Q1,860000000000001,\x1b[2J,2\n", 2, "lat"),
              "bad lat '?[2J'");
    const char *msg = only_bad(HDR "Q1,860000000000001,"
                                   "12345678901234567890123456789012345678901"
                                   "234567890,2\n",
                               2, "lat");
    CHECK_HAS(msg, "'1234567890123456789012345678901234567890...'");
}

TEST(bikecsv_row_empty_lines)
{
    static struct decoded r;
    /* At the end, LF or CRLF, any number: ignored. */
    decode(HDR "Q1,860000000000001,1,2\n\n\n", &r);
    CHECK_EQ(r.nrows, 1);
    CHECK_EQ(r.nbad, 0);
    decode(HDR "Q1,860000000000001,1,2\r\n\r\n\r\n", &r);
    CHECK_EQ(r.nrows, 1);
    CHECK_EQ(r.nbad, 0);
    decode(HDR "Q1,860000000000001,1,2\n\r", &r);
    CHECK_EQ(r.nbad, 0);
    /* Between rows: one error per run, at its first line. */
    decode(HDR "Q1,860000000000001,1,2\n\nQ2,860000000000002,1,2\n"
               "\r\n\n\nQ3,860000000000003,1,2\n\n",
           &r);
    CHECK_EQ(r.nrows, 3);
    CHECK_EQ(r.lines[0], 2);
    CHECK_EQ(r.lines[1], 4);
    CHECK_EQ(r.lines[2], 8);
    CHECK_EQ(r.nbad, 2);
    CHECK_EQ(r.bad_lines[0], 3);
    CHECK_STR(r.bad_msgs[0], "empty line");
    CHECK_EQ(r.bad_lines[1], 5);
    CHECK_STR(r.bad_msgs[1], "empty lines (through line 7)");
    /* Right after the header too. */
    decode(HDR "\nQ1,860000000000001,1,2\n", &r);
    CHECK_EQ(r.nbad, 1);
    CHECK_EQ(r.bad_lines[0], 2);
    CHECK_EQ(r.lines[0], 3);
}

TEST(bikecsv_row_too_long)
{
    static char text[2 * CORE_CSV_RECORD_MAX];
    /* A quote left open swallows the rest of the file. */
    int n = snprintf(text, sizeof(text),
                     HDR "Q1,860000000000001,1,2\n\"Q2,860000000000002,1,2\n");
    while ((size_t)n < sizeof(text) - 32)
        n += snprintf(text + n, sizeof(text) - (size_t)n,
                      "Q3,860000000000003,1,2\n");
    static struct decoded r;
    decode(text, &r);
    CHECK_EQ(r.nrows, 1);
    CHECK(r.too_big);
    CHECK_EQ(r.nbad, 1);
    CHECK_EQ(r.bad_lines[0], 3);
    CHECK_HAS(r.bad_msgs[0], "line 3 starts a record longer than 4096");

    /* A record of exactly the maximum length (with CRLF) is only a bad
     * row (no value may be that long), decoded and reported as such. */
    memset(text, 0, sizeof(text));
    n = snprintf(text, sizeof(text),
                 "qr_code,lock_imei,lat,lon\r\nQ1,860000000000001,1,");
    int pad = CORE_CSV_RECORD_MAX - (n - 27) - 1;
    text[n++] = '2';
    for (int i = 0; i < pad; i++)
        text[n++] = i == 0 ? '.' : '0';
    memcpy(text + n, "\r\n", 3);
    decode(text, &r);
    CHECK(!r.too_big);
    CHECK_EQ(r.nbad, 1);
    CHECK_EQ(r.bad_lines[0], 2);
    CHECK_STR(r.bad_fields[0], "lon");
    /* One byte more is too long. */
    memcpy(text + n, "0\r\n", 4);
    decode(text, &r);
    CHECK(r.too_big);
}

/* The fast number path must give strtod's double, bit for bit. */
TEST(bikecsv_numbers_match_strtod)
{
    const char *cases[] = {"0",
                           "-0",
                           "+5",
                           ".5",
                           "5.",
                           "0.1",
                           "0.3",
                           "48.856613",
                           "-33.868820",
                           "2.352222",
                           "89.9999999",
                           "-179.999999",
                           "123.456789012",
                           "1e1",
                           "1.5E-3",
                           "12.3456789012345",
                           "12.34567890123456",
                           "000000000000000001",
                           "0.000000000000001",
                           "-0.000000000000001"};
    static char text[512];
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        snprintf(text, sizeof(text), HDR "Q1,860000000000001,0,%s\n", cases[i]);
        static struct decoded r;
        decode(text, &r);
        CHECK_EQ(r.nrows, 1);
        double want = strtod(cases[i], NULL);
        if (memcmp(&r.rows[0].pos.lon_deg, &want, sizeof(want)) != 0)
            test_fail(__FILE__, __LINE__, "'%s' decoded as %.17g, not %.17g",
                      cases[i], r.rows[0].pos.lon_deg, want);
    }
    /* Many random coordinates with 1 to 9 decimals. */
    uint64_t x = 88172645463325252u;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int decimals = 1 + (int)(x % 9);
        double v = (double)(x % 360000000000u) / 1e9 - 180.0;
        char num[64];
        snprintf(num, sizeof(num), "%.*f", decimals, v);
        snprintf(text, sizeof(text), HDR "Q1,860000000000001,0,%s\n", num);
        static struct decoded r;
        decode_chunked(text, strlen(text), strlen(text), &r);
        CHECK_EQ(r.nrows, 1);
        double want = strtod(num, NULL);
        if (memcmp(&r.rows[0].pos.lon_deg, &want, sizeof(want)) != 0)
            test_fail(__FILE__, __LINE__, "'%s' decoded as %.17g, not %.17g",
                      num, r.rows[0].pos.lon_deg, want);
    }
}

TEST(bikecsv_state_names)
{
    CHECK(core_bikecsv_state_is_importable(CORE_VS_AVAILABLE));
    CHECK(core_bikecsv_state_is_importable(CORE_VS_NON_OPERATIONAL));
    CHECK(core_bikecsv_state_is_importable(CORE_VS_MISSING));
    CHECK(core_bikecsv_state_is_importable(CORE_VS_REMOVED));
    CHECK(!core_bikecsv_state_is_importable(CORE_VS_RESERVED));
    CHECK(!core_bikecsv_state_is_importable(CORE_VS_ON_TRIP));
    CHECK_STR(core_bikecsv_col_name(CORE_BIKECSV_LOCK_IMEI), "lock_imei");
    CHECK_STR(core_bikecsv_col_name(CORE_BIKECSV_VEHICLE_TYPE), "vehicle_type");
    CHECK_STR(core_bikecsv_col_name(CORE_BIKECSV_COL_COUNT), "unknown");
}

/* The store's bulk import */

static const char *tmp_path(const char *name)
{
    static char path[4][256];
    static unsigned next;
    char *p = path[next++ % ARRAY_LEN(path)];
    snprintf(p, sizeof(path[0]), "%s/%s", test_tmpdir(), name);
    return p;
}

/* A fresh, migrated database with bikes 1..n stored by plain SQL. */
static const char *fresh_db(const char *name, int n)
{
    const char *path = tmp_path(name);
    struct store *st = NULL;
    struct err_detail d;
    err_clear(&d);
    CHECK_OK(store_open(path, &st, &d));
    store_close(st);
    for (int i = 1; i <= n; i++) {
        char sql[256];
        snprintf(sql, sizeof(sql),
                 "INSERT INTO bikes VALUES (%d, 'OLD%d', '%015d',"
                 " 'bicycle', 'available', 1.0, 2.0, 50, 7, 1, 1000, 0, 0, 0)",
                 i, i, 770000 + i);
        raw_exec(path, sql);
    }
    return path;
}

/* A checksum of every bike row, to tell that nothing changed. */
static int64_t bikes_sum(const char *path)
{
    return raw_int(path,
                   "SELECT count(*) * 1000003 + total(id * 31 + length(qr_code)"
                   " + imei % 1000 + battery_pct + lat * 7 + lon * 11"
                   " + created_ms % 997) FROM bikes");
}

static struct core_bike new_bike(int i)
{
    struct core_bike b;
    memset(&b, 0, sizeof(b));
    snprintf(b.qr_code, sizeof(b.qr_code), "NEW%d", i);
    b.imei = UINT64_C(860000000000000) + (uint64_t)i;
    b.pos = (struct geo_latlng){48.0 + i / 1e6, 2.0 - i / 1e6};
    b.state = (enum core_vstate[]){CORE_VS_AVAILABLE, CORE_VS_NON_OPERATIONAL,
                                   CORE_VS_MISSING, CORE_VS_REMOVED}[i % 4];
    b.battery_pct = i % 102 - 1;
    b.vtype = i % 3 ? CORE_VT_BICYCLE : CORE_VT_EBIKE;
    b.id = 12345;     /* ignored */
    b.trip_id = 9;    /* ignored */
    b.created_ms = 5; /* ignored */
    return b;
}

#define REJ_MAX 16

struct rejects {
    size_t n;
    int64_t lines[REJ_MAX];
    char msgs[REJ_MAX][160];
    char fields[REJ_MAX][48];
};

static void on_reject(void *ctx, int64_t line, const struct err_detail *d)
{
    struct rejects *r = ctx;
    if (r->n < REJ_MAX) {
        r->lines[r->n] = line;
        snprintf(r->msgs[r->n], sizeof(r->msgs[0]), "%s", d->msg);
        snprintf(r->fields[r->n], sizeof(r->fields[0]), "%s", d->field);
    }
    r->n++;
}

static struct store_import *begin_ok(const char *path, struct rejects *r)
{
    struct store_import *imp = NULL;
    struct err_detail d;
    err_clear(&d);
    enum err e = store_import_begin(path, INT64_C(1800000000000), on_reject, r,
                                    &imp, &d);
    if (e != ERR_OK)
        test_fail(__FILE__, __LINE__, "store_import_begin: %s: %s", err_name(e),
                  d.msg);
    return imp;
}

static void add_ok(struct store_import *imp, struct core_bike b, int64_t line)
{
    struct err_detail d;
    err_clear(&d);
    enum err e = store_import_add(imp, &b, line, &d);
    if (e != ERR_OK)
        test_fail(__FILE__, __LINE__, "store_import_add: %s: %s", err_name(e),
                  d.msg);
}

struct loaded {
    size_t n;
    struct core_bike *bikes;
    size_t cap;
};

static enum err take(void *ctx, const struct core_bike *b)
{
    struct loaded *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->bikes = xreallocarray(l->bikes, l->cap, sizeof(*l->bikes));
    }
    l->bikes[l->n++] = *b;
    return ERR_OK;
}

static void load_all(const char *path, struct loaded *l)
{
    memset(l, 0, sizeof(*l));
    struct store *st = NULL;
    struct err_detail d;
    err_clear(&d);
    CHECK_OK(store_open(path, &st, &d));
    CHECK_OK(store_load_bikes(st, take, l));
    store_close(st);
}

TEST(store_import_roundtrip)
{
    const char *path = fresh_db("i.db", 0);
    struct rejects rej = {0};
    struct store_import *imp = begin_ok(path, &rej);
    enum { N = 1000 }; /* several full batches and a partial one */
    for (int i = 1; i <= N; i++)
        add_ok(imp, new_bike(i), i + 1);
    struct store_import_result res;
    struct err_detail d;
    err_clear(&d);
    CHECK_OK(store_import_finish(imp, true, &res, &d));
    store_import_free(imp);
    CHECK(res.committed);
    CHECK_EQ(res.first_id, 1);
    CHECK_EQ(res.added, N);
    CHECK_EQ(res.rejected, 0);
    CHECK_EQ(rej.n, 0);

    static struct loaded l;
    load_all(path, &l);
    CHECK_EQ(l.n, N);
    for (int i = 1; i <= N; i++) {
        const struct core_bike *got = &l.bikes[i - 1];
        struct core_bike want = new_bike(i);
        CHECK_EQ(got->id, i);
        CHECK_STR(got->qr_code, want.qr_code);
        CHECK_EQ(got->imei, want.imei);
        CHECK_EQ(got->vtype, want.vtype);
        CHECK_EQ(got->state, want.state);
        CHECK(got->pos.lat_deg == want.pos.lat_deg);
        CHECK(got->pos.lon_deg == want.pos.lon_deg);
        CHECK_EQ(got->battery_pct, want.battery_pct);
        CHECK_EQ(got->last_report_ms, 0);
        CHECK(!got->lock_closed);
        CHECK_EQ(got->created_ms, INT64_C(1800000000000));
    }
    xfree(l.bikes);
    /* The database is back in WAL mode, with no journal left behind. */
    char journal[300];
    snprintf(journal, sizeof(journal), "%s-journal", path);
    CHECK(access(journal, F_OK) != 0);
    sqlite3 *db = raw_open(path);
    sqlite3_stmt *s = NULL;
    CHECK_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL),
             SQLITE_OK);
    CHECK_EQ(sqlite3_step(s), SQLITE_ROW);
    CHECK_STR((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);
    sqlite3_close(db);
}

TEST(store_import_ids_continue)
{
    const char *path = fresh_db("i.db", 3);
    raw_exec(path, "INSERT INTO bikes VALUES (10, 'OLD10', '000000000770010',"
                   " 'ebike', 'removed', 1.0, 2.0, -1, 0, 0, 1000, 0, 0, 0)");
    struct store_import *imp = begin_ok(path, NULL);
    add_ok(imp, new_bike(1), 2);
    add_ok(imp, new_bike(2), 3);
    struct store_import_result res;
    struct err_detail d;
    CHECK_OK(store_import_finish(imp, true, &res, &d));
    store_import_free(imp);
    CHECK_EQ(res.first_id, 11);
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM bikes"), 6);
    CHECK_EQ(raw_int(path, "SELECT id FROM bikes WHERE qr_code = 'NEW2'"), 12);
    /* A second import goes on from there. */
    imp = begin_ok(path, NULL);
    add_ok(imp, new_bike(3), 2);
    CHECK_OK(store_import_finish(imp, true, &res, &d));
    store_import_free(imp);
    CHECK_EQ(res.first_id, 13);
    CHECK_EQ(raw_int(path, "SELECT max(id) FROM bikes"), 13);
}

TEST(store_import_duplicates_in_database)
{
    const char *path = fresh_db("i.db", 3);
    int64_t before = bikes_sum(path);
    struct rejects rej = {0};
    struct store_import *imp = begin_ok(path, &rej);
    struct core_bike b = new_bike(1);
    snprintf(b.qr_code, sizeof(b.qr_code), "OLD2");
    add_ok(imp, b, 2);
    b = new_bike(2);
    b.imei = 770003;
    add_ok(imp, b, 3);
    b = new_bike(3);
    add_ok(imp, b, 4);
    b = new_bike(4);
    snprintf(b.qr_code, sizeof(b.qr_code), "OLD1");
    b.imei = 770001;
    add_ok(imp, b, 5);
    b = new_bike(5);
    snprintf(b.qr_code, sizeof(b.qr_code), "OLD1");
    b.imei = 770002;
    add_ok(imp, b, 6);
    struct store_import_result res;
    struct err_detail d;
    err_clear(&d);
    CHECK_ERR(store_import_finish(imp, true, &res, &d), ERR_CONFLICT);
    store_import_free(imp);
    CHECK(!res.committed);
    CHECK_EQ(res.added, 5);
    CHECK_EQ(res.rejected, 4);
    CHECK_EQ(rej.n, 4);
    CHECK_EQ(rej.lines[0], 2);
    CHECK_STR(rej.fields[0], "qr_code");
    CHECK_STR(rej.msgs[0], "duplicate qr_code 'OLD2' (bike 2 in the database)");
    CHECK_EQ(rej.lines[1], 3);
    CHECK_STR(rej.fields[1], "lock_imei");
    CHECK_STR(rej.msgs[1],
              "duplicate lock_imei '000000000770003' (bike 3 in the database)");
    CHECK_EQ(rej.lines[2], 5);
    CHECK_STR(rej.msgs[2], "duplicate bike: qr_code 'OLD1' and lock_imei "
                           "'000000000770001' are bike 1 in the database");
    CHECK_EQ(rej.lines[3], 6);
    CHECK_STR(rej.msgs[3], "duplicate qr_code 'OLD1' (bike 1 in the database)"
                           " and lock_imei '000000000770002' (bike 2 in the "
                           "database)");
    CHECK_EQ(bikes_sum(path), before);
}

TEST(store_import_duplicates_in_file)
{
    const char *path = fresh_db("i.db", 0);
    struct rejects rej = {0};
    struct store_import *imp = begin_ok(path, &rej);
    /* 300 bikes on lines 2..301: a duplicate in the same batch as its
     * first, and one two batches later. */
    for (int i = 1; i <= 300; i++) {
        struct core_bike b = new_bike(i);
        if (i == 20)
            snprintf(b.qr_code, sizeof(b.qr_code), "NEW10");
        if (i == 290)
            b.imei = new_bike(5).imei;
        add_ok(imp, b, i + 1);
    }
    struct store_import_result res;
    struct err_detail d;
    CHECK_ERR(store_import_finish(imp, true, &res, &d), ERR_CONFLICT);
    store_import_free(imp);
    CHECK_EQ(rej.n, 2);
    CHECK_EQ(rej.lines[0], 21);
    CHECK_STR(rej.msgs[0], "duplicate qr_code 'NEW10' (also on line 11)");
    CHECK_EQ(rej.lines[1], 291);
    CHECK_STR(rej.msgs[1],
              "duplicate lock_imei '860000000000005' (also on line 6)");
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM bikes"), 0);
}

/* A large import whose very last bike clashes leaves nothing behind. */
TEST(store_import_all_or_nothing)
{
    const char *path = fresh_db("i.db", 5);
    int64_t before = bikes_sum(path);
    struct rejects rej = {0};
    struct store_import *imp = begin_ok(path, &rej);
    enum { N = 60000 };
    for (int i = 1; i <= N; i++) {
        struct core_bike b = new_bike(i);
        if (i == N)
            snprintf(b.qr_code, sizeof(b.qr_code), "OLD5");
        add_ok(imp, b, i + 1);
    }
    struct store_import_result res;
    struct err_detail d;
    CHECK_ERR(store_import_finish(imp, true, &res, &d), ERR_CONFLICT);
    store_import_free(imp);
    CHECK_EQ(rej.n, 1);
    CHECK_EQ(rej.lines[0], N + 1);
    CHECK_EQ(res.added, N);
    CHECK(!res.committed);
    CHECK_EQ(bikes_sum(path), before);
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM bikes"), 5);
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM pragma_integrity_check"
                           " WHERE integrity_check != 'ok'"),
             0);
    char journal[300];
    snprintf(journal, sizeof(journal), "%s-journal", path);
    CHECK(access(journal, F_OK) != 0);
}

TEST(store_import_dry_run_and_abandon)
{
    const char *path = fresh_db("i.db", 2);
    int64_t before = bikes_sum(path);
    struct store_import *imp = begin_ok(path, NULL);
    for (int i = 1; i <= 200; i++)
        add_ok(imp, new_bike(i), i + 1);
    struct store_import_result res;
    struct err_detail d;
    CHECK_OK(store_import_finish(imp, false, &res, &d));
    store_import_free(imp);
    CHECK(!res.committed);
    CHECK_EQ(res.added, 200);
    CHECK_EQ(res.first_id, 3);
    CHECK_EQ(bikes_sum(path), before);

    /* Freed without finishing: rolled back too. */
    imp = begin_ok(path, NULL);
    for (int i = 1; i <= 200; i++)
        add_ok(imp, new_bike(i), i + 1);
    store_import_free(imp);
    store_import_free(NULL);
    CHECK_EQ(bikes_sum(path), before);

    /* An empty import commits nothing, fine. */
    imp = begin_ok(path, NULL);
    CHECK_OK(store_import_finish(imp, true, &res, &d));
    store_import_free(imp);
    CHECK(res.committed);
    CHECK_EQ(res.added, 0);
    CHECK_EQ(bikes_sum(path), before);
}

TEST(store_import_invalid_bikes)
{
    const char *path = fresh_db("i.db", 0);
    struct store_import *imp = begin_ok(path, NULL);
    struct core_bike bad[7];
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        bad[i] = new_bike(1);
    bad[0].qr_code[0] = '\0';
    bad[1].imei = UINT64_C(1000000000000000);
    bad[2].pos.lat_deg = 91;
    bad[3].battery_pct = 101;
    bad[4].state = CORE_VS_RESERVED;
    bad[5].state = CORE_VS_ON_TRIP;
    bad[6].vtype = CORE_VT_COUNT;
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        struct err_detail d;
        err_clear(&d);
        CHECK_ERR(store_import_add(imp, &bad[i], 2, &d), ERR_INVALID);
        CHECK(d.msg[0]);
    }
    add_ok(imp, new_bike(1), 9);
    struct store_import_result res;
    struct err_detail d;
    CHECK_OK(store_import_finish(imp, true, &res, &d));
    store_import_free(imp);
    CHECK_EQ(res.added, 1);
    CHECK_EQ(raw_int(path, "SELECT id FROM bikes WHERE qr_code = 'NEW1'"), 1);
}

TEST(store_import_begin_errors)
{
    struct store_import *imp = NULL;
    struct err_detail d;
    err_clear(&d);
    CHECK_ERR(
        store_import_begin(tmp_path("missing.db"), 1, NULL, NULL, &imp, &d),
        ERR_IO);
    CHECK(imp == NULL);
    CHECK_HAS(d.msg, "missing.db");

    /* An SQLite file that store_open never migrated. */
    const char *plain = tmp_path("plain.db");
    sqlite3 *db = NULL;
    CHECK_EQ(sqlite3_open(plain, &db), SQLITE_OK);
    CHECK_EQ(sqlite3_close(db), SQLITE_OK);
    err_clear(&d);
    CHECK_ERR(store_import_begin(plain, 1, NULL, NULL, &imp, &d), ERR_IO);
    CHECK_HAS(d.msg, "schema version 0");
    CHECK(imp == NULL);
}

/* Another connection (as a running server keeps) makes the import refuse
 * after the busy timeout instead of waiting forever. */
TEST(store_import_busy)
{
    const char *path = fresh_db("i.db", 1);
    sqlite3 *other = raw_open(path);
    CHECK_EQ(
        sqlite3_exec(other, "SELECT count(*) FROM bikes", NULL, NULL, NULL),
        SQLITE_OK);
    struct store_import *imp = NULL;
    struct err_detail d;
    err_clear(&d);
    CHECK_ERR(store_import_begin(path, 1, NULL, NULL, &imp, &d), ERR_BUSY);
    CHECK(imp == NULL);
    CHECK_HAS(d.msg, "in use by another process");
    CHECK_EQ(sqlite3_close(other), SQLITE_OK);
    /* Once it is gone, the import runs. */
    imp = begin_ok(path, NULL);
    add_ok(imp, new_bike(1), 2);
    struct store_import_result res;
    CHECK_OK(store_import_finish(imp, true, &res, &d));
    store_import_free(imp);
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM bikes"), 2);
}

/*
 * A disk that fills up at the commit: the file size limit of this (forked)
 * test process lets the database grow by a few pages only. The commit
 * fails, everything is rolled back, and the rows are as they were.
 */
TEST(store_import_disk_full_at_commit)
{
    const char *path = fresh_db("i.db", 4);
    int64_t before = bikes_sum(path);
    struct stat sb;
    CHECK_EQ(stat(path, &sb), 0);
    struct store_import *imp = begin_ok(path, NULL);
    for (int i = 1; i <= 20000; i++)
        add_ok(imp, new_bike(i), i + 1);
    CHECK(signal(SIGXFSZ, SIG_IGN) != SIG_ERR);
    struct rlimit old, lim;
    CHECK_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = (rlim_t)sb.st_size + 64 * 1024;
    CHECK_EQ(setrlimit(RLIMIT_FSIZE, &lim), 0);
    struct store_import_result res;
    struct err_detail d;
    err_clear(&d);
    CHECK_ERR(store_import_finish(imp, true, &res, &d), ERR_IO);
    CHECK(!res.committed);
    CHECK_HAS(d.msg, "cannot import into store");
    /* After a failure, adding and finishing again are refused. */
    struct core_bike b = new_bike(1);
    CHECK_ERR(store_import_add(imp, &b, 2, &d), ERR_IO);
    CHECK_ERR(store_import_finish(imp, true, &res, &d), ERR_IO);
    store_import_free(imp);
    CHECK_EQ(setrlimit(RLIMIT_FSIZE, &old), 0);
    CHECK_EQ(bikes_sum(path), before);
    CHECK_EQ(raw_int(path, "SELECT count(*) FROM pragma_integrity_check"
                           " WHERE integrity_check != 'ok'"),
             0);
}

const struct test_case test_suite_import[] = {
    CASE(csv_record_line_ends),
    CASE(csv_split_fields),
    CASE(bikecsv_header_variants),
    CASE(bikecsv_header_errors),
    CASE(bikecsv_row_defaults_and_values),
    CASE(bikecsv_row_quoting_and_crlf),
    CASE(bikecsv_row_errors),
    CASE(bikecsv_row_empty_lines),
    CASE(bikecsv_row_too_long),
    CASE(bikecsv_numbers_match_strtod),
    CASE(bikecsv_state_names),
    CASE(store_import_roundtrip),
    CASE(store_import_ids_continue),
    CASE(store_import_duplicates_in_database),
    CASE(store_import_duplicates_in_file),
    CASE(store_import_all_or_nothing),
    CASE(store_import_dry_run_and_abandon),
    CASE(store_import_invalid_bikes),
    CASE(store_import_begin_errors),
    CASE(store_import_busy),
    CASE(store_import_disk_full_at_commit),
    {0},
};
