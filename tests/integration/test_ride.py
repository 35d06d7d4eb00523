# SPDX-License-Identifier: MIT
"""The ride from end to end with a simulated lock: find a bike, unlock it
through the lock handshake, ride while the lock reports positions, lock it,
and check the trip, the fare, the rider's balance and the bike."""

import unittest

from spoke_harness import (HOME_LAT, HOME_LON, SpokeTestCase, distance_m,
                           fare_for, parse_time_ms, wait_until)


class RideTest(SpokeTestCase):

    def test_ride_end_to_end(self):
        srv = self.start_server()
        sp = self.spoke(srv)
        bike = sp.add_bike(HOME_LAT, HOME_LON)
        far = sp.add_bike(HOME_LAT + 0.02, HOME_LON)  # about 2.2 km north
        lock = sp.lock(bike, battery=87)
        sp.wait_lock_online(bike["id"])
        rider = sp.rider()
        self.assertEqual(rider.balance(), 0)

        # Find: only the near bike, with the battery its lock reported.
        def near():
            r = rider.http.get("/v1/bikes?lat=%f&lon=%f&radius_m=500"
                               % (HOME_LAT, HOME_LON), token="")
            self.assertEqual(r.status, 200, r)
            return r.json["bikes"]
        bikes = wait_until(lambda: [b for b in near() if b["battery_pct"] == 87],
                           desc="battery_pct from the sign-in")
        self.assertEqual([b["id"] for b in near()], [bike["id"]])
        self.assertLess(bikes[0]["distance_m"], 1.0)
        self.assertEqual(bikes[0]["vehicle_type"], "bicycle")
        self.assertNotIn(far["id"], [b["id"] for b in near()])

        # Unlock.
        r = rider.http.post("/v1/trips", {"bike_id": bike["id"]},
                            headers={"Idempotency-Key": "ride-1"})
        self.assertEqual(r.status, 202, r)
        trip = r.json
        tid = trip["id"]
        self.assertEqual(trip["state"], "unlocking")
        self.assertEqual(trip["bike_id"], bike["id"])
        self.assertIsNone(trip["fare"])
        self.assertIsNone(trip["started_at"])
        self.assertEqual(r.header("Location"), "/v1/trips/%d" % tid)
        self.assertIsNone(r.header("Idempotent-Replayed"))

        req = lock.wait_unlock_request()
        self.assertEqual(req.values[0], "0")           # op: unlock
        self.assertEqual(req.values[1], "60")          # default key validity
        self.assertEqual(req.values[2], str(rider.id))  # user id = rider id
        cmd = lock.wait_unlock_command()
        self.assertEqual(cmd.values, [lock.last_key, str(rider.id), req.values[3]])

        t = sp.wait_trip(rider, tid, "riding")
        self.assertIsNotNone(t["started_at"])
        self.assertAlmostEqual(t["start"]["lat"], HOME_LAT, places=6)
        self.assertAlmostEqual(t["start"]["lon"], HOME_LON, places=6)
        b = sp.bike(bike["id"])
        self.assertEqual(b["state"], "on_trip")
        self.assertEqual(b["trip_id"], tid)
        self.assertEqual(rider.me()["active_trip_id"], tid)
        self.assertNotIn(bike["id"], [x["id"] for x in near()])

        # Ride: the lock reports a few positions.
        path = [(HOME_LAT + 0.0010 * i, HOME_LON + 0.0007 * i) for i in range(1, 5)]
        decoded = [lock.position(lat, lon) for lat, lon in path]
        want_dist = 0.0
        prev = (HOME_LAT, HOME_LON)
        for p in decoded:
            want_dist += distance_m(prev, p)
            prev = p
        def distance_reached():
            x = sp.ops_trip(tid)
            return x if x["distance_m"] >= want_dist - 1 else None
        t = wait_until(distance_reached, desc="distance from the positions")
        self.assertEqual(t["state"], "riding")
        lock.heartbeat(locked=False, battery=75)

        # Lock it: L1 is acknowledged exactly and the trip ends with a fare.
        lock.locked(user_id=rider.id, minutes=1)
        t = sp.wait_trip(rider, tid, "ended")
        self.assertEqual(t["reason"], "locked")
        started = parse_time_ms(t["started_at"])
        ended = parse_time_ms(t["ended_at"])
        self.assertGreaterEqual(ended, started)
        self.assertEqual(t["duration_s"], (ended - started) // 1000)
        fare = t["fare"]
        self.assertEqual(fare["amount_cents"], fare_for(ended - started))
        self.assertEqual(fare["currency"], "EUR")
        self.assertIs(fare["charged"], True)
        self.assertEqual(fare["pricing_version"], 1)
        self.assertGreater(t["distance_m"], 0)
        self.assertAlmostEqual(t["distance_m"], want_dist,
                               delta=max(1.0, want_dist * 0.005))
        self.assertAlmostEqual(t["end"]["lat"], decoded[-1][0], places=6)
        self.assertAlmostEqual(t["end"]["lon"], decoded[-1][1], places=6)

        # Charged exactly once; the bike is available where it was locked.
        me = rider.me()
        self.assertEqual(me["balance_cents"], -fare["amount_cents"])
        self.assertIsNone(me["active_trip_id"])
        b = sp.bike(bike["id"])
        self.assertEqual(b["state"], "available")
        self.assertIsNone(b["trip_id"])
        self.assertAlmostEqual(b["lat"], decoded[-1][0], places=6)
        self.assertAlmostEqual(b["lon"], decoded[-1][1], places=6)
        self.assertIs(b["lock_closed"], True)
        self.assertEqual(b["battery_pct"], 75)
        r = rider.http.get("/v1/bikes?lat=%f&lon=%f&radius_m=50"
                           % decoded[-1], token="")
        self.assertEqual([x["id"] for x in r.json["bikes"]], [bike["id"]])
        self.assertLess(r.json["bikes"][0]["distance_m"], 1.0)

        # The trip is in the rider's list; the counters agree.
        r = rider.http.get("/v1/trips")
        self.assertEqual([x["id"] for x in r.json["trips"]], [tid])
        self.assertEqual(r.json["trips"][0]["state"], "ended")
        self.assertEqual(sp.metric("spoke_trips_ended_total"), 1)
        self.assertEqual(sp.metric("spoke_fares_charged_cents_total"),
                         fare["amount_cents"])
        lock.assert_clean()

        # A second ride of the same rider on the same bike also works.
        r = rider.http.post("/v1/trips", {"qr_code": bike["qr_code"]})
        self.assertEqual(r.status, 202, r)
        sp.wait_trip(rider, r.json["id"], "riding")
        lock.locked(user_id=rider.id)
        t2 = sp.wait_trip(rider, r.json["id"], "ended")
        self.assertEqual(rider.balance(),
                         -fare["amount_cents"] - t2["fare"]["amount_cents"])
        lock.assert_clean()

    def test_ride_survives_restart(self):
        """A riding trip outlives a clean restart; the lock reconnects and
        ends it; the fare is charged once."""
        srv = self.start_server()
        sp = self.spoke(srv)
        bike = sp.add_bike()
        lock = sp.lock(bike)
        rider = sp.rider()
        r = rider.http.post("/v1/trips", {"bike_id": bike["id"]})
        self.assertEqual(r.status, 202, r)
        tid = r.json["id"]
        sp.wait_trip(rider, tid, "riding")
        self.assertEqual(srv.restart().http_port is not None, True)
        sp2 = self.spoke(srv)
        self.assertTrue(lock.wait_closed())
        rider2 = sp2.rider_from(rider.data)
        t = sp2.wait_trip(rider2, tid, "riding", timeout=5)
        self.assertEqual(sp2.bike(bike["id"])["state"], "on_trip")
        lock2 = sp2.lock(bike)
        lock2.locked(user_id=rider.id)
        t = sp2.wait_trip(rider2, tid, "ended")
        self.assertEqual(rider2.balance(), -t["fare"]["amount_cents"])
        self.assertEqual(sp2.bike(bike["id"])["state"], "available")
        lock2.assert_clean()

    def test_unlocking_trip_survives_restart(self):
        """A trip still unlocking at a restart gets its unlock when its lock
        reconnects; one whose lock never comes back times out."""
        srv = self.start_server(config={"unlock_timeout_s": 3})
        sp = self.spoke(srv)
        bike, bike2 = sp.add_bike(), sp.add_bike()
        lock = sp.lock(bike, key_mode="ignore")
        lock2 = sp.lock(bike2, key_mode="ignore")
        rider, rider2 = sp.rider(), sp.rider()
        tid = rider.http.post("/v1/trips", {"bike_id": bike["id"]}).json["id"]
        tid2 = rider2.http.post("/v1/trips", {"bike_id": bike2["id"]}).json["id"]
        lock.wait_unlock_request()
        lock2.wait_unlock_request()
        srv.restart()
        sp2 = self.spoke(srv)
        rider, rider2 = sp2.rider_from(rider.data), sp2.rider_from(rider2.data)
        self.assertEqual(rider.http.get("/v1/trips/%d" % tid).json["state"], "unlocking")
        self.assertEqual(sp2.bike(bike["id"])["state"], "on_trip")
        # The lock comes back: the unlock is sent again and succeeds.
        lock = sp2.lock(bike)
        req = lock.wait_unlock_request()
        self.assertEqual(req.values[2], str(rider.id))
        sp2.wait_trip(rider, tid, "riding")
        # The other lock stays away: the restored unlock times out.
        t = sp2.wait_trip(rider2, tid2, "failed", timeout=20)
        self.assertEqual(t["reason"], "unlock_timeout")
        self.assertEqual(sp2.bike(bike2["id"])["state"], "available")
        lock.locked(user_id=rider.id)
        t = sp2.wait_trip(rider, tid, "ended")
        self.assertEqual(rider.balance(), -t["fare"]["amount_cents"])
        self.assertEqual(rider2.balance(), 0)
        lock.assert_clean()


if __name__ == "__main__":
    unittest.main()
