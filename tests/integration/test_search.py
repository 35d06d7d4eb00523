# SPDX-License-Identifier: MIT
"""GET /v1/bikes against a brute-force model: a seeded fleet, some of it
not available, queried from many points with many radii and limits; bikes
moved by their locks (also outside the service area and far away) are found
where they are, and only there."""

import random
import unittest

from spoke_harness import HOME_LAT, HOME_LON, SpokeTestCase, distance_m


class SearchTest(SpokeTestCase):

    def check_query(self, sp, fleet, lat, lon, radius, limit):
        r = sp.anon.get("/v1/bikes?lat=%.7f&lon=%.7f&radius_m=%g&limit=%d"
                        % (lat, lon, radius, limit))
        self.assertEqual(r.status, 200, r)
        got = r.json["bikes"]
        want = sorted((distance_m((lat, lon), (b["lat"], b["lon"])), b["id"])
                      for b in fleet.values() if b["state"] == "available")
        want = [(d, i) for d, i in want if d <= radius]
        ctx = "query %.6f,%.6f r=%g k=%d" % (lat, lon, radius, limit)
        self.assertEqual(len(got), min(limit, len(want)), ctx)
        dists = [b["distance_m"] for b in got]
        self.assertEqual(dists, sorted(dists), ctx)
        for b in got:
            self.assertIn(b["id"], fleet, ctx)
            f = fleet[b["id"]]
            self.assertEqual(f["state"], "available", ctx)
            self.assertAlmostEqual(b["distance_m"],
                                   distance_m((lat, lon), (f["lat"], f["lon"])), delta=0.11)
            self.assertLessEqual(b["distance_m"], radius + 0.05, ctx)
        # The nearest ones: the same distances as the model (ids may swap
        # only between bikes at the same distance).
        for (d, _), b in zip(want, got):
            self.assertAlmostEqual(b["distance_m"], d, delta=0.11, msg=ctx)
        if len(got) == limit and len(want) > limit:
            # Nothing left out was nearer than the farthest shown.
            self.assertGreaterEqual(want[limit][0] + 0.11, got[-1]["distance_m"], ctx)

    def test_nearest_bikes_match_a_brute_force_model(self):
        rng = random.Random(20261129)
        srv = self.start_server()
        sp = self.spoke(srv)
        fleet = {}
        for _ in range(220):
            b = sp.add_bike(HOME_LAT + rng.uniform(-0.03, 0.03),
                            HOME_LON + rng.uniform(-0.04, 0.04),
                            vehicle_type=rng.choice(["bicycle", "ebike"]))
            fleet[b["id"]] = b
        # A cluster of bikes on exactly the same spot.
        for _ in range(5):
            b = sp.add_bike(HOME_LAT, HOME_LON)
            fleet[b["id"]] = b
        # Take some out of service, reserve some others.
        ids = sorted(fleet)
        for i in rng.sample(ids, 30):
            r = sp.ops.post("/v1/ops/bikes/%d/events" % i, {"event": "maintenance_start"})
            self.assertEqual(r.status, 200, r)
            fleet[i]["state"] = "non_operational"
        for i in rng.sample([i for i in ids if fleet[i]["state"] == "available"], 20):
            r = sp.rider().http.post("/v1/reservations", {"bike_id": i})
            self.assertEqual(r.status, 201, r)
            fleet[i]["state"] = "reserved"
        for _ in range(60):
            self.check_query(sp, fleet, HOME_LAT + rng.uniform(-0.035, 0.035),
                             HOME_LON + rng.uniform(-0.045, 0.045),
                             rng.choice([1, 30, 120, 500, 1000, 2500, 5000]),
                             rng.choice([1, 3, 10, 50, 100]))
        self.check_query(sp, fleet, HOME_LAT, HOME_LON, 1, 100)  # the cluster

        # Bikes moved by their locks are found where they are now.
        movers = rng.sample([i for i in ids if fleet[i]["state"] == "available"], 5)
        for i in movers:
            lock = sp.lock(fleet[i])
            lat, lon = lock.position(fleet[i]["lat"] + rng.uniform(-0.01, 0.01),
                                     fleet[i]["lon"] + rng.uniform(-0.01, 0.01))
            lock.alarm(1)  # acked once the fix is handled
            fleet[i]["lat"], fleet[i]["lon"] = lat, lon
        for i in movers:
            self.check_query(sp, fleet, fleet[i]["lat"], fleet[i]["lon"], 200, 100)
        for _ in range(20):
            self.check_query(sp, fleet, HOME_LAT + rng.uniform(-0.035, 0.035),
                             HOME_LON + rng.uniform(-0.045, 0.045),
                             rng.choice([100, 1000, 5000]), rng.choice([5, 100]))

    def test_bikes_outside_the_service_area_are_still_found(self):
        area = [[2.25, 48.81], [2.42, 48.81], [2.42, 48.90], [2.25, 48.90]]
        srv = self.start_server(config={"service_area": area})
        sp = self.spoke(srv)
        inside = sp.add_bike(HOME_LAT, HOME_LON)
        runaway = sp.add_bike(HOME_LAT + 0.001, HOME_LON)
        lock = sp.lock(runaway)
        for lat, lon in ((48.95, 2.35),          # just outside the area
                         (-33.8688, 151.2093)):  # another continent
            dlat, dlon = lock.position(lat, lon)
            lock.alarm(1)
            r = sp.anon.get("/v1/bikes?lat=%f&lon=%f&radius_m=50" % (dlat, dlon))
            self.assertEqual([b["id"] for b in r.json["bikes"]], [runaway["id"]], (lat, lon))
            r = sp.anon.get("/v1/bikes?lat=%f&lon=%f&radius_m=500" % (HOME_LAT, HOME_LON))
            self.assertEqual([b["id"] for b in r.json["bikes"]], [inside["id"]])
        # It can be ridden back; the ride ends where the lock is.
        rider = sp.rider()
        r = rider.http.post("/v1/trips", {"bike_id": runaway["id"]})
        sp.wait_trip(rider, r.json["id"], "riding")
        dlat, dlon = lock.position(HOME_LAT + 0.002, HOME_LON)
        lock.locked(user_id=rider.id)
        sp.wait_trip(rider, r.json["id"], "ended")
        r = sp.anon.get("/v1/bikes?lat=%f&lon=%f&radius_m=50" % (dlat, dlon))
        self.assertEqual([b["id"] for b in r.json["bikes"]], [runaway["id"]])
        lock.assert_clean()


if __name__ == "__main__":
    unittest.main()
