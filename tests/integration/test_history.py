# SPDX-License-Identifier: MIT
"""Telemetry and the position history: a ride's positions become its route,
a bike's track and "where was it at time T" answer over HTTP, before and
after the history is written, and across a restart."""

import time
import unittest
from datetime import datetime, timezone

from spoke_harness import HOME_LAT, HOME_LON, SpokeTestCase, parse_time_ms


def rfc3339(ms):
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


class HistoryTest(SpokeTestCase):

    def test_route_track_and_position_at(self):
        srv = self.start_server()
        sp = self.spoke(srv)
        bike = sp.add_bike(HOME_LAT, HOME_LON)
        lock = sp.lock(bike)
        sp.wait_lock_online(bike["id"])
        rider = sp.rider()
        r = rider.http.post("/v1/trips", {"bike_id": bike["id"]})
        self.assertEqual(r.status, 202, r)
        tid = r.json["id"]
        sp.wait_trip(rider, tid, "riding")
        # Three positions during the ride, 20 ms apart.
        path = [(HOME_LAT + 0.001 * i, HOME_LON + 0.0005 * i) for i in (1, 2, 3)]
        for lat, lon in path:
            lock.position(lat, lon)
            lock.alarm(1)  # acked: the position before it was handled
            time.sleep(0.02)
        lock.locked(user_id=rider.id)
        t = sp.wait_trip(rider, tid, "ended")

        # The rider's route: exactly the positions reported while riding.
        r = rider.http.get("/v1/trips/%d/route" % tid)
        self.assertEqual(r.status, 200, r)
        pts = r.json["points"]
        self.assertEqual(r.json["trip_id"], tid)
        self.assertEqual([(p["lat"], p["lon"]) for p in pts],
                         [(round(a, 7), round(b, 7)) for a, b in path])
        times = [parse_time_ms(p["t"]) for p in pts]
        self.assertEqual(times, sorted(times))
        self.assertGreaterEqual(times[0], parse_time_ms(t["started_at"]))
        self.assertLessEqual(times[-1], parse_time_ms(t["ended_at"]))
        # The operators' route is the same; another rider gets a 404.
        self.assertEqual(sp.ops.get("/v1/ops/trips/%d/route" % tid).json["points"],
                         pts)
        other = sp.rider()
        self.assertProblem(other.http.get("/v1/trips/%d/route" % tid), 404,
                           "not_found")

        # Where was the bike at the second report, and just before the first?
        r = sp.ops.get("/v1/ops/bikes/%d/position?at=%s"
                       % (bike["id"], rfc3339(times[1])))
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json["lat"], r.json["lon"]),
                         (pts[1]["lat"], pts[1]["lon"]))
        self.assertEqual(r.json["reported_at"], pts[1]["t"])
        track = sp.ops.get("/v1/ops/bikes/%d/positions" % bike["id"]).json
        self.assertGreaterEqual(len(track["points"]), 3)

        # The same answers from the store after a restart (clean stop: the
        # buffered history and the bike's last position are written).
        srv.restart()
        sp2 = self.spoke(srv)
        rider2 = sp2.rider_from(rider.data)
        r = rider2.http.get("/v1/trips/%d/route" % tid)
        self.assertEqual(r.json["points"], pts)
        b = sp2.bike(bike["id"])
        self.assertEqual((b["lat"], b["lon"]), (pts[-1]["lat"], pts[-1]["lon"]))
        r = sp2.ops.get("/v1/ops/bikes/%d/position?at=%s"
                        % (bike["id"], rfc3339(times[2] + 5)))
        self.assertEqual(r.json["reported_at"], pts[2]["t"])
        lock.close()

    def test_bad_parameters(self):
        srv = self.start_server()
        sp = self.spoke(srv)
        bike = sp.add_bike()
        path = "/v1/ops/bikes/%d" % bike["id"]
        self.assertProblem(sp.ops.get(path + "/position"), 400,
                           "missing_parameter")
        self.assertProblem(sp.ops.get(path + "/position?at=yesterday"), 400,
                           "invalid_parameter")
        self.assertProblem(sp.ops.get(path + "/positions?from=2026-13-01T00:00:00Z"),
                           400, "invalid_parameter")
        self.assertProblem(
            sp.ops.get(path + "/positions?from=2026-01-10T00:00:00Z"
                       "&to=2026-01-01T00:00:00Z"), 400, "invalid_parameter")
        self.assertProblem(sp.ops.get(path + "/position?at=2020-01-01T00:00:00Z"),
                           404, "no_position")
        self.assertProblem(sp.ops.get("/v1/ops/bikes/999/positions"), 404,
                           "not_found")
        rider = sp.rider()
        self.assertProblem(rider.http.get(path + "/positions"), 403,
                           "operator_only")


if __name__ == "__main__":
    unittest.main()
