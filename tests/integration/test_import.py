# SPDX-License-Identifier: MIT
"""`spoke import bikes`: a CSV fleet imported into a stopped server's
database is served after the next start (GET /v1/bikes, GET /v1/ops/bikes);
a file with bad rows, a disk that fills up at the commit and a kill -9 in
the middle all leave every table's rows exactly as they were; bad rows are
reported with their lines; a running server makes the import refuse.

Run as a script, this file writes a generated fleet CSV for benchmarks:
  python3 tests/integration/test_import.py --csv ROWS FILE [--first N]
      [--random-keys]
"""

import hashlib
import os
import random
import resource
import signal
import sqlite3
import subprocess
import sys
import time
import unittest

from spoke_harness import (HOME_LAT, HOME_LON, SANITIZER_MARKERS, Server,
                           SpokeTestCase, spoke_path)

IMPORT_TIMEOUT_S = 120
HEADER = "qr_code,lock_imei,lat,lon,state,battery,vehicle_type"
STATES = ["available"] * 17 + ["non_operational", "missing", "removed"]


def fleet_rows(n, first=1, seed=1, random_keys=False, spread_deg=0.02):
    """n generated bikes as dicts (qr_code, lock_imei, lat, lon, state,
    battery, vehicle_type): keys SPK<10 digits> and 86<13 digits> from
    first on, scattered (a bijection) with random_keys, positions around
    HOME within spread_deg."""
    rng = random.Random(seed)
    for i in range(first, first + n):
        q, m = i, i
        if random_keys:
            q = (i * 2654435761) % 10 ** 10
            m = (i * 2862933555777941757 + 12345) % 10 ** 13
        yield {"qr_code": "SPK%010d" % q, "lock_imei": "86%013d" % m,
               "lat": "%.6f" % (HOME_LAT + rng.uniform(-spread_deg, spread_deg)),
               "lon": "%.6f" % (HOME_LON + rng.uniform(-spread_deg, spread_deg)),
               "state": STATES[rng.randrange(len(STATES))],
               "battery": str(rng.randrange(101)),
               "vehicle_type": "ebike" if rng.random() < 0.3 else "bicycle"}


def write_csv(path, rows, columns=HEADER.split(","), line_end="\n"):
    with open(path, "w", newline="", buffering=1 << 20) as f:
        f.write(",".join(columns) + line_end)
        for r in rows:
            f.write(",".join(r[c] for c in columns) + line_end)


def run_import(args, stdin=None, preexec_fn=None):
    out = subprocess.run([spoke_path(), "import"] + args, input=stdin,
                         capture_output=True, timeout=IMPORT_TIMEOUT_S,
                         preexec_fn=preexec_fn)
    err = out.stderr.decode("utf-8", "replace")
    for marker in SANITIZER_MARKERS:
        if marker in err:
            raise AssertionError("sanitizer report from spoke import:\n" + err)
    return out.returncode, out.stdout.decode("utf-8", "replace"), err


def db_fingerprint(path):
    """Every table's row count and a hash of its rows in rowid order (the
    rows as SQLite returns them, types included), and the schema."""
    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    try:
        tables = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            " ORDER BY name")]
        out = {"schema": con.execute(
            "SELECT group_concat(sql, ';') FROM sqlite_master").fetchone()[0]}
        for t in tables:
            h = hashlib.sha256()
            n = 0
            for row in con.execute('SELECT * FROM "%s" ORDER BY rowid' % t):
                h.update(repr(row).encode())
                n += 1
            out[t] = (n, h.hexdigest())
        return out
    finally:
        con.close()


class ImportTest(SpokeTestCase):

    def new_server(self):
        """A server whose database exists but which has not started."""
        srv = Server()
        self._servers.append(srv)
        self.addCleanup(self._finish_server, srv)
        return srv

    def csv(self, srv, name, text):
        path = os.path.join(srv.dir, name)
        with open(path, "w", newline="") as f:
            f.write(text)
        return path

    def assert_ok_summary(self, out, n, first_id):
        self.assertRegex(out, r"^imported %d bikes into '.*' as ids %d\.\.%d "
                              r"in [0-9.]+ s \([0-9]+ rows/s\)\n$"
                         % (n, first_id, first_id + n - 1))

    def test_imported_bikes_are_served_after_start(self):
        srv = self.new_server()
        rows = list(fleet_rows(400, seed=7))
        # Some optional values empty, one row quoted, CRLF line ends.
        rows[0]["state"] = rows[0]["battery"] = rows[0]["vehicle_type"] = ""
        rows[1]["state"] = "available"
        path = os.path.join(srv.dir, "fleet.csv")
        write_csv(path, rows, line_end="\r\n")
        with open(path, "a", newline="") as f:
            f.write('"SPKQUOTED","860000000999999","%.6f","%.6f",,"42",ebike\r\n'
                    "\r\n\r\n" % (HOME_LAT, HOME_LON))
        code, out, err = run_import(["bikes", path, "--db", srv.db])
        self.assertEqual(code, 0, err)
        self.assertEqual(err, "")
        self.assert_ok_summary(out, 401, 1)

        srv.start()
        sp = self.spoke(srv)
        fleet = {b["id"]: b for b in sp.bikes()}
        self.assertEqual(sorted(fleet), list(range(1, 402)))
        for i, r in enumerate(rows, start=1):
            b = fleet[i]
            self.assertEqual(b["qr_code"], r["qr_code"])
            self.assertEqual(b["lock_imei"], r["lock_imei"])
            self.assertAlmostEqual(b["lat"], float(r["lat"]), places=6)
            self.assertAlmostEqual(b["lon"], float(r["lon"]), places=6)
            self.assertEqual(b["state"], r["state"] or "available")
            self.assertEqual(b["battery_pct"],
                             int(r["battery"]) if r["battery"] else None)
            self.assertEqual(b["vehicle_type"], r["vehicle_type"] or "bicycle")
            self.assertIsNone(b["trip_id"])
            self.assertIsNone(b["last_report_at"])
        q = fleet[401]
        self.assertEqual((q["qr_code"], q["lock_imei"], q["battery_pct"],
                          q["vehicle_type"], q["state"]),
                         ("SPKQUOTED", "860000000999999", 42, "ebike",
                          "available"))
        self.assertEqual(sp.bike(401)["qr_code"], "SPKQUOTED")

        # The search finds available bikes where they were imported, and
        # never the others.
        for b in list(fleet.values())[::9] + [q]:
            r = sp.anon.get("/v1/bikes?lat=%.7f&lon=%.7f&radius_m=1&limit=100"
                            % (b["lat"], b["lon"]))
            self.assertEqual(r.status, 200, r)
            found = {x["id"] for x in r.json["bikes"]}
            self.assertEqual(b["id"] in found, b["state"] == "available", b)
        r = sp.anon.get("/v1/bikes?lat=%f&lon=%f&radius_m=5000&limit=100"
                        % (HOME_LAT, HOME_LON))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(r.json["bikes"]), 100)
        for x in r.json["bikes"]:
            self.assertEqual(fleet[x["id"]]["state"], "available")
            self.assertEqual(x["vehicle_type"], fleet[x["id"]]["vehicle_type"])

        # New bikes registered later continue after the imported ids.
        b = sp.add_bike()
        self.assertEqual(b["id"], 402)

    def test_import_into_existing_fleet_continues_ids(self):
        srv = self.new_server()
        first = os.path.join(srv.dir, "first.csv")
        write_csv(first, fleet_rows(50, first=1), columns=HEADER.split(",")[:4])
        code, out, err = run_import(["bikes", first, "--db", srv.db])
        self.assertEqual(code, 0, err)
        second = os.path.join(srv.dir, "second.csv")
        write_csv(second, fleet_rows(30, first=1000))
        code, out, err = run_import(["bikes", second, "--db=" + srv.db])
        self.assertEqual(code, 0, err)
        self.assert_ok_summary(out, 30, 51)
        srv.start()
        sp = self.spoke(srv)
        bikes = sp.bikes()
        self.assertEqual([b["id"] for b in bikes], list(range(1, 81)))
        self.assertEqual(bikes[50]["qr_code"], "SPK0000001000")

    def test_bad_rows_are_reported_and_nothing_changes(self):
        srv = self.new_server()
        good = os.path.join(srv.dir, "good.csv")
        write_csv(good, fleet_rows(20, first=1))
        self.assertEqual(run_import(["bikes", good, "--db", srv.db])[0], 0)
        before = db_fingerprint(srv.db)
        self.assertEqual(before["bikes"][0], 20)

        rows = [",".join(r[c] for c in HEADER.split(","))
                for r in fleet_rows(3000, first=100)]
        bad = {
            3: "SPK!,861000000000001,48.85,2.35,available,50,bicycle",
            5: "SPK0000000001,861000000000002,48.85,2.35,,,",
            6: "SPKNEW6,860000000000002,48.85,2.35,,,",
            8: "SPKNEW8,86100000000000,48.85,2.35,,,",
            9: "SPKNEW9,861000000000009,north,2.35,,,",
            10: "SPKNEW10,861000000000010,48.85,181,,,",
            11: "SPKNEW11,861000000000011,48.85,2.35,reserved,,",
            12: "SPKNEW12,861000000000012,48.85,2.35,on_trip,,",
            13: "SPKNEW13,861000000000013,48.85,2.35,parked,,",
            14: "SPKNEW14,861000000000014,48.85,2.35,,101,",
            15: "SPKNEW15,861000000000015,48.85,2.35,,,scooter",
            16: "SPKNEW16,861000000000016,48.85",
            17: 'SPKNEW17,"861000000000017"x,48.85,2.35,,,',
            19: "",
            20: "SPK0000000100,861000000000020,48.85,2.35,,,",
        }
        lines = [HEADER] + rows
        for line_no, text in sorted(bad.items()):
            lines[line_no - 1] = text
        # The very last row clashes with a bike already in the database.
        lines.append("SPKLAST,860000000000020,48.85,2.35,,,")
        path = self.csv(srv, "bad.csv", "\n".join(lines) + "\n")
        code, out, err = run_import(["bikes", path, "--db", srv.db])
        self.assertEqual(code, 1, err)
        self.assertEqual(out, "")
        msgs = err.splitlines()
        want = [
            (3, "bad qr_code 'SPK!'"),
            (5, "duplicate qr_code 'SPK0000000001' (bike 1 in the database)"),
            (6, "duplicate lock_imei '860000000000002' (bike 2 in the "
                "database)"),
            (8, "bad lock_imei '86100000000000': must be exactly 15 digits"),
            (9, "bad lat 'north': not a number"),
            (10, "bad lon '181': must be from -180 to 180"),
            (11, "state 'reserved' cannot be imported"),
            (12, "state 'on_trip' cannot be imported"),
            (13, "unknown state 'parked'"),
            (14, "bad battery '101'"),
            (15, "unknown vehicle_type 'scooter'"),
            (16, "wrong number of fields: 3, expected 7"),
            (17, "text after the closing quote of field 2"),
            (19, "empty line"),
            (20, "duplicate qr_code 'SPK0000000100' (also on line 2)"),
            (len(lines), "duplicate lock_imei '860000000000020' (bike 20 in "
                         "the database)"),
        ]
        self.assertEqual(len(msgs), len(want) + 1, err)
        for (line_no, text), msg in zip(want, msgs):
            self.assertTrue(msg.startswith("spoke: %s:%d: " % (path, line_no)),
                            (line_no, msg))
            self.assertIn(text, msg)
        self.assertEqual(msgs[-1], "spoke: %s: %d bad rows; nothing was "
                                   "imported" % (path, len(want)))
        self.assertEqual(db_fingerprint(srv.db), before)

        # A failing row at the end of a large file: still all or nothing.
        big = os.path.join(srv.dir, "big.csv")
        write_csv(big, list(fleet_rows(200000, first=10 ** 6)) +
                  [dict(next(fleet_rows(1, first=5)), qr_code="SPKZ")])
        code, out, err = run_import(["bikes", big, "--db", srv.db])
        self.assertEqual(code, 1, err)
        self.assertIn(":200002: duplicate lock_imei '860000000000005' "
                      "(bike 5 in the database)", err)
        self.assertEqual(db_fingerprint(srv.db), before)

        srv.start()
        sp = self.spoke(srv)
        self.assertEqual(len(sp.bikes()), 20)

    def test_error_report_is_capped(self):
        srv = self.new_server()
        lines = [HEADER] + ["SPK%d,86%013d,99,2.35,,," % (i, i)
                            for i in range(250)]
        path = self.csv(srv, "bad.csv", "\n".join(lines))
        code, out, err = run_import(["bikes", path, "--db", srv.db])
        self.assertEqual(code, 1)
        msgs = err.splitlines()
        self.assertEqual(len(msgs), 101)
        self.assertTrue(msgs[0].startswith("spoke: %s:2: bad lat '99'" % path))
        self.assertTrue(msgs[99].startswith("spoke: %s:101: " % path))
        self.assertEqual(msgs[100], "spoke: %s: 250 bad rows (the first ones "
                                    "by line shown); nothing was imported"
                         % path)

    def test_dry_run_and_stdin(self):
        srv = self.new_server()
        text = "\n".join([HEADER] + [",".join(r[c] for c in HEADER.split(","))
                                     for r in fleet_rows(100)]) + "\n"
        self.assertEqual(run_import(["bikes", "-", "--db", srv.db],
                                    stdin=b"qr_code,lock_imei,lat,lon\n")[0], 0)
        before = db_fingerprint(srv.db)
        code, out, err = run_import(["bikes", "-", "--db", srv.db,
                                     "--dry-run"], stdin=text.encode())
        self.assertEqual(code, 0, err)
        self.assertRegex(out, r"^dry run: 100 bikes are valid \(they would get "
                              r"ids 1\.\.100\); nothing was imported")
        self.assertEqual(db_fingerprint(srv.db), before)
        code, out, err = run_import(["bikes", "-", "--db", srv.db,
                                     "--dry-run"],
                                    stdin=(text + "X,1,2,3,,,\n").encode())
        self.assertEqual(code, 1)
        self.assertIn("spoke: stdin:102: bad lock_imei '1'", err)
        self.assertIn("1 bad row; nothing was imported (dry run)", err)
        code, out, err = run_import(["bikes", "-", "--db", srv.db],
                                    stdin=text.encode())
        self.assertEqual(code, 0, err)
        self.assert_ok_summary(out, 100, 1)

    def test_header_and_usage_errors(self):
        srv = self.new_server()
        cases = [
            ("", "is empty; its first line must name the columns"),
            ("qr_code,lat,lon\n", ":1: the header has no column 'lock_imei'"),
            ("qr_code,lock_imei,lat,lon,colour\n", ":1: unknown column "
                                                   "'colour'"),
            ("qr_code,lock_imei,lat,lat,lon\n", ":1: column 'lat' appears "
                                                "twice"),
        ]
        for text, msg in cases:
            path = self.csv(srv, "h.csv", text)
            code, out, err = run_import(["bikes", path, "--db", srv.db])
            self.assertEqual(code, 1, (text, err))
            self.assertIn(msg, err)
        code, _, err = run_import(["bikes", os.path.join(srv.dir, "none.csv"),
                                   "--db", srv.db])
        self.assertEqual(code, 1)
        self.assertIn("cannot open", err)
        for args in (["bikes"], ["riders", "x.csv"], ["bikes", "--db", "x"],
                     ["bikes", "x.csv", "--colour"], ["bikes", "x.csv",
                                                      "--dry-run=1"]):
            code, _, err = run_import(args)
            self.assertEqual(code, 2, (args, err))
        code, out, _ = run_import(["bikes", "--help"])
        self.assertEqual(code, 0)
        self.assertIn("spoke import bikes FILE", out)

    def test_disk_full_at_commit_changes_nothing(self):
        srv = self.new_server()
        good = os.path.join(srv.dir, "good.csv")
        write_csv(good, fleet_rows(10, first=1))
        self.assertEqual(run_import(["bikes", good, "--db", srv.db])[0], 0)
        before = db_fingerprint(srv.db)
        limit = os.path.getsize(srv.db) + 64 * 1024

        def small_disk():
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

        big = os.path.join(srv.dir, "big.csv")
        write_csv(big, fleet_rows(20000, first=100))
        code, out, err = run_import(["bikes", big, "--db", srv.db],
                                    preexec_fn=small_disk)
        self.assertEqual(code, 1, err)
        self.assertEqual(out, "")
        self.assertIn("cannot import into store '%s' (commit)" % srv.db, err)
        self.assertEqual(db_fingerprint(srv.db), before)
        srv.start()
        sp = self.spoke(srv)
        self.assertEqual(len(sp.bikes()), 10)

    def test_killed_import_leaves_the_database_as_it_was(self):
        srv = self.new_server()
        good = os.path.join(srv.dir, "good.csv")
        write_csv(good, fleet_rows(10, first=1))
        self.assertEqual(run_import(["bikes", good, "--db", srv.db])[0], 0)
        before = db_fingerprint(srv.db)
        # The import reads stdin, so it waits in the middle of its
        # transaction for the rest of the file, and is killed there.
        proc = subprocess.Popen([spoke_path(), "import", "bikes", "-", "--db",
                                 srv.db], stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            lines = [HEADER] + [",".join(r[c] for c in HEADER.split(","))
                                for r in fleet_rows(50000, first=100)]
            proc.stdin.write(("\n".join(lines) + "\n").encode())
            proc.stdin.flush()
            time.sleep(1.0)
            self.assertIsNone(proc.poll())
        finally:
            proc.kill()
            proc.wait()
            proc.stdin.close()
        self.assertEqual(db_fingerprint(srv.db), before)
        srv.start()
        sp = self.spoke(srv)
        self.assertEqual([b["id"] for b in sp.bikes()], list(range(1, 11)))

    def test_refused_while_the_server_runs(self):
        srv = self.start_server()
        sp = self.spoke(srv)
        sp.add_bike()
        path = self.csv(srv, "f.csv", "qr_code,lock_imei,lat,lon\n"
                                      "SPKX,869999999999999,48.85,2.35\n")
        before = db_fingerprint(srv.db)
        code, out, err = run_import(["bikes", path, "--db", srv.db])
        self.assertEqual(code, 1, err)
        self.assertIn("is in use by another process (is spoke serve running "
                      "on it?)", err)
        self.assertEqual(db_fingerprint(srv.db), before)
        self.assertEqual(len(sp.bikes()), 1)
        # Stopped, the same import goes through and the next start has it.
        srv.stop()
        code, out, err = run_import(["bikes", path, "--db", srv.db])
        self.assertEqual(code, 0, err)
        srv.start()
        sp = self.spoke(srv)
        self.assertEqual([b["qr_code"] for b in sp.bikes()][1:], ["SPKX"])


def main(argv):
    if len(argv) < 3 or argv[0] != "--csv":
        sys.stderr.write(__doc__.split("\n\n", 1)[1])
        return 2
    n, path = int(argv[1]), argv[2]
    first = int(argv[argv.index("--first") + 1]) if "--first" in argv else 1
    write_csv(path, fleet_rows(n, first=first, seed=first,
                               random_keys="--random-keys" in argv,
                               spread_deg=0.1))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--csv":
        sys.exit(main(sys.argv[1:]))
    unittest.main()
