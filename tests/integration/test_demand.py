# SPDX-License-Identifier: MIT
"""The demand history: `spoke import trips` (CSV, and the Singapore dockless
trips when ../shared/data has them) as named sources, all or nothing, with
bad rows reported by file and line; `spoke forecast --db` on what was
imported; ended trips of the live server copied once (failed ones never);
and the search log of GET /v1/bikes: counts per minute, 0.001-degree square
and found, nothing about the rider."""

import os
import sqlite3
import subprocess
import time
import unittest

from spoke_harness import (HOME_LAT, HOME_LON, SANITIZER_MARKERS, Server,
                           SpokeTestCase, spoke_path, wait_until)

TIMEOUT_S = 300
HEADER = "started_at,ended_at,start_lat,start_lon,end_lat,end_lon"
HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.environ.get("SPOKE_DATA") or os.path.normpath(
    os.path.join(HERE, "..", "..", "..", "shared", "data"))
SG = os.path.join(DATA, "singapore-dockless-trips-2017")
SG_WORKDAYS = ["bike_trips2_nodes_distances_201709%d.dat" % d
               for d in (11, 12, 13, 14, 15)]
T0 = 1788220800  # 2026-09-01T00:00:00Z, a Tuesday


def run_spoke(args):
    out = subprocess.run([spoke_path()] + args, capture_output=True,
                         timeout=TIMEOUT_S)
    err = out.stderr.decode("utf-8", "replace")
    for marker in SANITIZER_MARKERS:
        if marker in err:
            raise AssertionError("sanitizer report from spoke %s:\n%s"
                                 % (args[0], err))
    return out.returncode, out.stdout.decode("utf-8", "replace"), err


def query(db, sql, args=()):
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def trip_rows(days=3, per_hour=6):
    """Trips around HOME: every day, per_hour an hour from 07:00 to 21:00,
    starting in one of four spots and ending in another; times alternate
    between Unix seconds and RFC 3339."""
    spots = [(HOME_LAT + dy, HOME_LON + dx)
             for dy, dx in ((0, 0), (0.01, 0), (0, 0.012), (0.01, 0.012))]
    rows = []
    for day in range(days):
        for hour in range(7, 22):
            for k in range(per_hour):
                s = T0 + day * 86400 + hour * 3600 + k * 600
                e = s + 300 + 60 * k
                a = spots[(hour + k) % 4]
                b = spots[(hour + k + 1 + day) % 4]
                ts = (str(s), str(e)) if k % 2 else (iso(s), iso(e))
                rows.append("%s,%s,%.6f,%.6f,%.6f,%.6f" % (ts + a + b))
    return rows


class ImportTripsTest(SpokeTestCase):

    def new_server(self):
        """A server directory and database path, not started."""
        srv = Server()
        self._servers.append(srv)
        self.addCleanup(self._finish_server, srv)
        return srv

    def write(self, srv, name, text):
        path = os.path.join(srv.dir, name)
        with open(path, "w", newline="") as f:
            f.write(text)
        return path

    def counts(self, db):
        return (query(db, "SELECT count(*) FROM demand_trips")[0][0],
                query(db, "SELECT name, trips FROM demand_sources"
                          " ORDER BY name"))

    def test_csv_import_then_forecast(self):
        srv = self.new_server()
        rows = trip_rows()
        path = self.write(srv, "trips.csv", HEADER + "\n" + "\n".join(rows)
                          + "\n")
        code, out, err = run_spoke(["import", "trips", path, "--db", srv.db])
        self.assertEqual(code, 0, err)
        self.assertRegex(out, r"^imported %d trips from 1 file into '.*' as "
                              r"source 'trips.csv' \(2026-09-01T07:00:00.000Z"
                              r" \.\. 2026-09-03T22:00:00.000Z\) in [0-9.]+ s "
                              r"\([0-9]+ rows/s\)\n$" % len(rows))
        self.assertEqual(self.counts(srv.db), (len(rows), [("trips.csv",
                                                             len(rows))]))
        self.assertEqual(query(srv.db, "SELECT count(*) FROM demand_trips"
                                       " WHERE trip_id IS NULL AND"
                                       " source_id IS NOT NULL")[0][0],
                         len(rows))

        # The forecast of the next day from it.
        code, out, err = run_spoke(
            ["forecast", "--db", srv.db, "--at", "2026-09-04T00:00:00Z",
             "--days", "7", "--top", "3"])
        self.assertEqual(code, 0, err)
        self.assertIn("demand history of '%s': %d events" % (srv.db,
                                                             2 * len(rows)),
                      out)
        self.assertIn("%d trips on 3 days" % len(rows), out)
        self.assertIn("forecast from Fri 2026-09-04 00:00 (UTC+0) for 24 h",
                      out)
        self.assertIn("history %d trips" % len(rows), out)
        self.assertIn("top 3 cells by rentals over the next 24 h", out)
        total = [l for l in out.splitlines() if l.startswith("total")]
        self.assertEqual(len(total), 1, out)
        rentals = float(total[0].split()[1])
        self.assertGreater(rentals, 0.5 * len(rows) / 3, out)
        self.assertLess(rentals, 2.0 * len(rows) / 3, out)

        # The same name again is refused; --replace replaces it.
        code, out, err = run_spoke(["import", "trips", path, "--db", srv.db])
        self.assertEqual(code, 1)
        self.assertIn("has a source 'trips.csv' already (%d trips); "
                      "--replace replaces it" % len(rows), err)
        half = rows[:len(rows) // 2]
        path2 = self.write(srv, "half.csv", HEADER + "\n" + "\n".join(half))
        code, out, err = run_spoke(["import", "trips", path2, "--db", srv.db,
                                    "--source", "trips.csv", "--replace"])
        self.assertEqual(code, 0, err)
        self.assertIn("replaced the %d trips the source had before"
                      % len(rows), out)
        self.assertEqual(self.counts(srv.db), (len(half), [("trips.csv",
                                                             len(half))]))
        # A dry run checks and imports nothing.
        code, out, err = run_spoke(["import", "trips", path, "--db", srv.db,
                                    "--source", "other", "--dry-run"])
        self.assertEqual(code, 0, err)
        self.assertRegex(out, r"^dry run: %d trips in 1 file are valid"
                         % len(rows))
        self.assertEqual(self.counts(srv.db)[0], len(half))
        # The server starts on it and serves as before.
        srv.start()
        sp = self.spoke(srv)
        self.assertEqual(sp.bikes(), [])

    def test_bad_rows_are_reported_and_nothing_is_imported(self):
        srv = self.new_server()
        good = trip_rows(days=1, per_hour=1)
        f1 = self.write(srv, "a.csv", "\n".join(
            [HEADER, good[0],
             "1788249600,1788249000,48.85,2.35,48.86,2.36",  # line 3
             good[1],
             "",
             "1788249600,1788250000,48.85,2.35,48.86",        # line 6
             "1788249600,1788350000,48.85,2.35,48.86,2.36",  # line 7
             good[2]]) + "\n")
        f2 = self.write(srv, "b.csv", "\n".join(
            [HEADER, good[3],
             "2026-09-01,1788249600,48.85,2.35,48.86,2.36",   # line 3
             "1788249600,1788250000,95,2.35,48.86,2.36",      # line 4
             "1788249600,1788250000,48.85,2.35,48.86,x"]))     # line 5
        code, out, err = run_spoke(["import", "trips", f1, f2, "--db", srv.db])
        self.assertEqual(code, 1, err)
        self.assertEqual(out, "")
        lines = err.splitlines()
        self.assertEqual(lines, [
            "spoke: %s:3: the trip ends before it starts" % f1,
            "spoke: %s:6: wrong number of fields, expected 6" % f1,
            "spoke: %s:7: the trip lasts longer than 24 h" % f1,
            "spoke: %s:3: bad started_at '2026-09-01': not Unix seconds or "
            "an RFC 3339 time (with Z or an offset)" % f2,
            "spoke: %s:4: bad start_lat '95': must be from -90 to 90" % f2,
            "spoke: %s:5: bad end_lon 'x': not a number" % f2,
            "spoke: 6 bad rows; nothing was imported"])
        self.assertEqual(self.counts(srv.db), (0, []))

        # A directory of files, one of them without a header.
        d = os.path.join(srv.dir, "dir")
        os.mkdir(d)
        self.write(srv, "dir/1.csv", HEADER + "\n" + good[0] + "\n")
        self.write(srv, "dir/2.csv", good[1] + "\n")
        code, out, err = run_spoke(["import", "trips", d, "--db", srv.db])
        self.assertEqual(code, 1)
        self.assertIn("dir/2.csv:1: unknown column", err)
        self.assertEqual(self.counts(srv.db), (0, []))
        os.remove(os.path.join(d, "2.csv"))
        code, out, err = run_spoke(["import", "trips", d + "/", "--db",
                                    srv.db])
        self.assertEqual(code, 0, err)
        self.assertEqual(self.counts(srv.db), (1, [("dir", 1)]))

    def test_usage_errors(self):
        srv = self.new_server()
        cases = [
            (["import", "trips", "--db", srv.db], "usage: spoke import trips"),
            (["import", "trips", "x.csv", "--format", "tsv"],
             "--format is csv or singapore"),
            (["import", "trips", "x.csv", "--format", "singapore"],
             "--nodes FILE goes with --format singapore"),
            (["import", "trips", "x.csv", "--nodes", "n.dat"],
             "--nodes FILE goes with --format singapore"),
            (["import", "trips", os.path.join(srv.dir, "none.csv"), "--db",
              srv.db], "cannot open"),
            (["forecast", "--db", srv.db, "--days", "0"], "--days"),
            (["forecast", "--db", srv.db, "--utc-offset", "8.3"],
             "--utc-offset"),
            (["forecast", "--db", srv.db], "no demand history"),
        ]
        for args, msg in cases:
            code, out, err = run_spoke(args)
            self.assertNotEqual(code, 0, args)
            self.assertIn(msg, err, args)

    def test_refused_while_the_server_runs(self):
        srv = self.start_server()
        path = self.write(srv, "t.csv", HEADER + "\n" + trip_rows(1, 1)[0])
        code, out, err = run_spoke(["import", "trips", path, "--db", srv.db])
        self.assertEqual(code, 1)
        self.assertIn("is in use by another process (is spoke serve running "
                      "on it?)", err)
        srv.stop()
        code, out, err = run_spoke(["import", "trips", path, "--db", srv.db])
        self.assertEqual(code, 0, err)

    @unittest.skipUnless(os.path.isdir(os.path.join(SG, "trips")),
                         "the Singapore trips are not in %s (../shared/data "
                         "or SPOKE_DATA)" % SG)
    def test_singapore_import(self):
        srv = self.new_server()
        nodes = os.path.join(SG, "sg_osm_nodes.dat")
        files = [os.path.join(SG, "trips", f) for f in SG_WORKDAYS]
        # The count, from the files themselves: one trip a line.
        want = 0
        for f in files:
            with open(f, "rb") as fh:
                want += sum(1 for line in fh if line.strip())
        self.assertEqual(want, 188769)
        code, out, err = run_spoke(["import", "trips"] + files +
                                   ["--format", "singapore", "--nodes", nodes,
                                    "--source", "sg-workdays", "--db",
                                    srv.db])
        self.assertEqual(code, 0, err)
        self.assertIn("imported 188769 trips from 5 files", out)
        self.assertEqual(self.counts(srv.db),
                         (188769, [("sg-workdays", 188769)]))
        # Monday 11 to Friday 15 September 2017, UTC+8.
        lo, hi = query(srv.db, "SELECT min(started_ms), max(ended_ms)"
                               " FROM demand_trips")[0]
        self.assertGreaterEqual(lo, 1505059200000)  # 2017-09-11T00:00+08:00
        self.assertLess(lo, 1505059200000 + 3600000)
        self.assertLess(hi, 1505491200000 + 86400000)
        # Every position is on the island.
        box = query(srv.db, "SELECT min(start_lat), max(start_lat),"
                            " min(end_lon), max(end_lon) FROM demand_trips")[0]
        self.assertTrue(1.2 < box[0] < box[1] < 1.5, box)
        self.assertTrue(103.6 < box[2] < box[3] < 104.1, box)

        # The directory (with the Sunday file too) as a second source.
        code, out, err = run_spoke(["import", "trips", os.path.join(SG,
                                                                    "trips"),
                                    "--format", "singapore", "--nodes",
                                    nodes, "--db", srv.db])
        self.assertEqual(code, 0, err)
        n = len(os.listdir(os.path.join(SG, "trips")))
        self.assertIn("from %d files" % n, out)
        self.assertEqual(self.counts(srv.db)[1][1][0], "trips")

        # The forecast of Friday from Monday..Thursday, at local midnight.
        code, out, err = run_spoke(
            ["forecast", "--db", srv.db, "--at", "2017-09-14T16:00:00Z",
             "--utc-offset", "8", "--days", "4", "--cell-m", "500",
             "--top", "3"])
        self.assertEqual(code, 0, err)
        self.assertIn("forecast from Fri 2017-09-15 00:00 (UTC+8)", out)
        self.assertIn("on 4 days", out)


class LiveDemandTest(SpokeTestCase):

    def test_search_log(self):
        srv = self.start_server({"search_flush_s": 1})
        sp = self.spoke(srv)
        bike = sp.add_bike(HOME_LAT, HOME_LON)
        t_before = int(time.time() * 1000)
        near = "/v1/bikes?lat=%f&lon=%f" % (HOME_LAT, HOME_LON)
        # About 30 km away: nothing there.
        empty = "/v1/bikes?lat=48.9001&lon=2.7501&radius_m=300"
        for path, want in ((near, 1), (near, 1), (empty, 0), (empty, 0),
                           (empty, 0)):
            r = sp.anon.get(path)
            self.assertEqual(r.status, 200, r)
            self.assertEqual([b["id"] for b in r.json["bikes"]],
                             [bike["id"]] * want)
        # A search refused as malformed is not a search.
        r = sp.anon.get("/v1/bikes?lat=91&lon=2.35")
        self.assertEqual(r.status, 400, r)

        def logged():
            rows = query(srv.db, "SELECT ts_ms, lat, lon, found, n"
                                 " FROM searches")
            return rows if sum(r[4] for r in rows) == 5 else None
        rows = wait_until(logged, timeout=10, desc="5 searches logged")
        t_after = int(time.time() * 1000)
        by_key = {}
        for ts, lat, lon, found, n in rows:
            self.assertEqual(ts % 60000, 0, rows)
            self.assertGreaterEqual(ts, t_before - t_before % 60000)
            self.assertLessEqual(ts, t_after)
            key = (round(lat, 6), round(lon, 6), found)
            by_key[key] = by_key.get(key, 0) + n
        # Positions are the centres of the 0.001-degree squares.
        self.assertEqual(by_key, {(48.8565, 2.3525, 1): 2,
                                  (48.9005, 2.7505, 0): 3})
        # No rider, no token, no exact position: only these columns.
        cols = [r[1] for r in query(srv.db, "PRAGMA table_info(searches)")]
        self.assertEqual(cols, ["id", "ts_ms", "lat", "lon", "found", "n"])
        self.assertEqual(sp.metric("spoke_searches_total"), 5)
        self.assertEqual(sp.metric("spoke_search_rows_total"),
                         len(rows))

    def test_ended_trip_copied_failed_not(self):
        srv = self.start_server()
        sp = self.spoke(srv)
        bike = sp.add_bike(HOME_LAT, HOME_LON)
        offline = sp.add_bike(HOME_LAT + 0.001, HOME_LON)
        lock = sp.lock(bike)
        sp.wait_lock_online(bike["id"])
        rider = sp.rider()
        r = rider.http.post("/v1/trips", {"bike_id": offline["id"]})
        self.assertEqual(r.status, 202, r)
        failed = sp.wait_trip(rider, r.json["id"], "failed")
        r = rider.http.post("/v1/trips", {"bike_id": bike["id"]})
        self.assertEqual(r.status, 202, r)
        tid = r.json["id"]
        sp.wait_trip(rider, tid, "riding")
        lock.locked(user_id=rider.id)
        t = sp.wait_trip(rider, tid, "ended")
        srv.stop()
        rows = query(srv.db, "SELECT trip_id, source_id, started_ms, ended_ms,"
                             " start_lat, start_lon, end_lat, end_lon"
                             " FROM demand_trips")
        self.assertEqual(len(rows), 1, rows)
        trip_id, source_id, started_ms, ended_ms = rows[0][:4]
        self.assertEqual(trip_id, tid)
        self.assertNotEqual(trip_id, failed["id"])
        self.assertIsNone(source_id)
        self.assertLessEqual(started_ms, ended_ms)
        self.assertAlmostEqual(rows[0][4], t["start"]["lat"], places=6)
        self.assertAlmostEqual(rows[0][7], t["end"]["lon"], places=6)
        cols = [r[1] for r in query(srv.db,
                                    "PRAGMA table_info(demand_trips)")]
        self.assertFalse([c for c in cols if "rider" in c or "bike" in c],
                         cols)


if __name__ == "__main__":
    unittest.main()
