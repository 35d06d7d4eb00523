# SPDX-License-Identifier: MIT
"""Races: many riders unlocking or reserving the same bike at the same
moment from separate connections. Exactly one wins; the others get 409
bike_unavailable; exactly one trip exists."""

import threading
import unittest

from spoke_harness import SharedServerTestCase


def race(clients, fn):
    """Runs fn(client) on every client at once (one thread each, released
    together by a barrier after each connection is open); returns the
    results in order. Exceptions are returned, not raised."""
    barrier = threading.Barrier(len(clients))
    results = [None] * len(clients)

    def run(i):
        c = clients[i]
        try:
            c.get("/healthz", token="")  # open the connection first
            barrier.wait(30)
            results[i] = fn(c)
        except Exception as e:  # reported by the caller
            results[i] = e
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


class RaceTest(SharedServerTestCase):

    def unlock_race(self, n):
        sp = self.sp
        bike = sp.add_bike()
        lock = sp.lock(bike)  # answers, so the winner's trip stays active
        sp.wait_lock_online(bike["id"])
        riders = [sp.rider() for _ in range(n)]
        started = sp.metric("spoke_trips_started_total")
        results = race([r.http for r in riders],
                       lambda c: c.post("/v1/trips", {"bike_id": bike["id"]}))
        for res in results:
            self.assertNotIsInstance(res, Exception, res)
        wins = [(i, r) for i, r in enumerate(results) if r.status == 202]
        self.assertEqual(len(wins), 1, [r.status for r in results])
        for i, r in enumerate(results):
            if r.status != 202:
                self.assertProblem(r, 409, "bike_unavailable", field="bike_id")
        wi, win = wins[0]
        winner = riders[wi]
        tid = win.json["id"]
        self.assertEqual(win.json["state"], "unlocking")
        sp.wait_trip(winner, tid, "riding")
        # Exactly one trip exists: in the counters, on the bike, per rider.
        self.assertEqual(sp.metric("spoke_trips_started_total") - started, 1)
        self.assertEqual(sp.bike(bike["id"])["trip_id"], tid)
        self.assertEqual(len(lock.unlock_requests), 1)
        for i, rd in enumerate(riders):
            trips = rd.http.get("/v1/trips").json["trips"]
            me = rd.me()
            if i == wi:
                self.assertEqual([t["id"] for t in trips], [tid])
                self.assertEqual(me["active_trip_id"], tid)
            else:
                self.assertEqual(trips, [])
                self.assertIsNone(me["active_trip_id"])
                self.assertEqual(me["balance_cents"], 0)
        lock.locked(user_id=winner.id)
        t = sp.wait_trip(winner, tid, "ended")
        self.assertEqual(winner.balance(), -t["fare"]["amount_cents"])
        lock.assert_clean()

    def test_two_riders_unlock_same_bike(self):
        self.unlock_race(2)

    def test_twelve_riders_unlock_same_bike(self):
        self.unlock_race(12)

    def test_unlock_races_repeated(self):
        for _ in range(5):
            self.unlock_race(8)

    def test_reservation_race(self):
        sp = self.sp
        bike = sp.add_bike()
        riders = [sp.rider() for _ in range(10)]
        results = race([r.http for r in riders],
                       lambda c: c.post("/v1/reservations", {"bike_id": bike["id"]}))
        for res in results:
            self.assertNotIsInstance(res, Exception, res)
        wins = [i for i, r in enumerate(results) if r.status == 201]
        self.assertEqual(len(wins), 1, [r.status for r in results])
        for r in results:
            if r.status != 201:
                self.assertProblem(r, 409, "bike_unavailable", field="bike_id")
        res_id = results[wins[0]].json["id"]
        b = sp.bike(bike["id"])
        self.assertEqual(b["state"], "reserved")
        self.assertEqual(b["reservation_id"], res_id)
        for i, rd in enumerate(riders):
            self.assertEqual(rd.me()["reservation_id"], res_id if i == wins[0] else None)

    def test_reservation_and_unlock_race(self):
        """Half the riders reserve, half unlock the same bike: one wins."""
        sp = self.sp
        bike = sp.add_bike()
        lock = sp.lock(bike)
        sp.wait_lock_online(bike["id"])
        riders = [sp.rider() for _ in range(10)]
        reservers = set(id(r.http) for r in riders[::2])

        def act(c):
            if id(c) in reservers:
                return c.post("/v1/reservations", {"bike_id": bike["id"]})
            return c.post("/v1/trips", {"bike_id": bike["id"]})
        results = race([r.http for r in riders], act)
        for res in results:
            self.assertNotIsInstance(res, Exception, res)
        wins = [r for r in results if r.status in (201, 202)]
        self.assertEqual(len(wins), 1, [r.status for r in results])
        for r in results:
            if r.status not in (201, 202):
                self.assertProblem(r, 409, "bike_unavailable", field="bike_id")
        b = sp.bike(bike["id"])
        if wins[0].status == 201:
            self.assertEqual(b["state"], "reserved")
        else:
            self.assertEqual(b["state"], "on_trip")
        lock.assert_clean()

    def test_same_rider_same_key_many_connections(self):
        """One rider retries the same Idempotency-Key on 10 connections at
        once: one trip, every answer names it, all but one are replays."""
        sp = self.sp
        bike = sp.add_bike()
        lock = sp.lock(bike)
        sp.wait_lock_online(bike["id"])
        rider = sp.rider()
        clients = [sp.client(rider.token) for _ in range(10)]
        started = sp.metric("spoke_trips_started_total")
        results = race(clients, lambda c: c.post(
            "/v1/trips", {"bike_id": bike["id"]},
            headers={"Idempotency-Key": "same-key-many-conns"}))
        for res in results:
            self.assertNotIsInstance(res, Exception, res)
        self.assertEqual([r.status for r in results], [202] * 10)
        self.assertEqual(len(set(r.json["id"] for r in results)), 1)
        replays = [r.header("Idempotent-Replayed") for r in results]
        self.assertEqual(replays.count(None), 1, replays)
        self.assertEqual(replays.count("true"), 9, replays)
        self.assertEqual(sp.metric("spoke_trips_started_total") - started, 1)
        tid = results[0].json["id"]
        sp.wait_trip(rider, tid, "riding")
        lock.locked(user_id=rider.id)
        t = sp.wait_trip(rider, tid, "ended")
        self.assertEqual(rider.balance(), -t["fare"]["amount_cents"])

    def test_same_rider_two_bikes_at_once(self):
        """A rider unlocking two bikes at once gets one trip and one 409
        rider_on_trip."""
        sp = self.sp
        bikes = [sp.add_bike(), sp.add_bike()]
        locks = [sp.lock(b) for b in bikes]
        rider = sp.rider()
        clients = [sp.client(rider.token) for _ in bikes]
        which = {id(c): b for c, b in zip(clients, bikes)}
        results = race(clients, lambda c: c.post(
            "/v1/trips", {"bike_id": which[id(c)]["id"]}))
        statuses = sorted(r.status for r in results)
        self.assertEqual(statuses, [202, 409], results)
        loser = [r for r in results if r.status == 409][0]
        self.assertProblem(loser, 409, "rider_on_trip")
        win = [r for r in results if r.status == 202][0]
        sp.wait_trip(rider, win.json["id"], "riding")
        other = [b for b in bikes if b["id"] != win.json["bike_id"]][0]
        self.assertEqual(sp.bike(other["id"])["state"], "available")
        for lk in locks:
            lk.assert_clean()


if __name__ == "__main__":
    unittest.main()
