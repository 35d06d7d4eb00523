# SPDX-License-Identifier: MIT
"""Durability under kill -9: worker threads create riders, reservations and
trips (simulated locks answer the unlocks and end the rides) and record
every acknowledged response; the server is killed with SIGKILL at a random
moment (one round uses SIGTERM); after a restart on the same database every
acknowledged rider, reservation, trip state and charge must be there, and
the fleet must agree with the trips and reservations. Several rounds, then
a normal ride.

The seed is printed on failure; set SPOKE_CRASH_SEED to replay a run
(thread timing still varies)."""

import http.client
import os
import random
import sqlite3
import threading
import time
import traceback
import unittest
import uuid

from spoke_harness import (HOME_LAT, HOME_LON, Spoke, SpokeTestCase, wait_until)

ROUNDS = int(os.environ.get("SPOKE_CRASH_ROUNDS", "5"))
WORKERS = 6
GRACEFUL_ROUND = 2  # this round ends with SIGTERM, the others with SIGKILL
BIKES = 10

# How far each trip state is along its path; "failed" is a dead end.
TRIP_ORDER = {"unlocking": 0, "riding": 1, "ended": 2}
EXPECTED = (OSError, http.client.HTTPException, ConnectionError, EOFError)


class Ledger:
    """Everything the server acknowledged, across rounds."""

    def __init__(self):
        self.lock = threading.Lock()
        self.riders = {}        # id -> token
        self.trips = {}         # id -> {"rider", "bike", "state", "fare"}
        self.reservations = {}  # id -> {"rider", "bike", "state"}

    def rider(self, rid, token):
        with self.lock:
            self.riders[rid] = token

    def trip(self, tid, rider, bike, state, fare=None):
        with self.lock:
            t = self.trips.setdefault(tid, {"rider": rider, "bike": bike,
                                            "state": "unlocking", "fare": None})
            if state == "failed" or TRIP_ORDER.get(state, -1) > TRIP_ORDER.get(t["state"], -1):
                t["state"] = state
            if fare is not None:
                t["fare"] = fare

    def reservation(self, res_id, rider, bike, state):
        with self.lock:
            r = self.reservations.setdefault(res_id, {"rider": rider, "bike": bike,
                                                      "state": "active"})
            if state != "active":
                r["state"] = state


class Worker(threading.Thread):
    """Creates riders, reservations and trips until stopped; records the
    acknowledged results; keeps unexpected errors in .failures."""

    def __init__(self, sp, bikes, locks, ledger, rng, killed):
        super().__init__(daemon=True)
        self.sp = sp
        self.bikes = bikes
        self.locks = locks
        self.ledger = ledger
        self.rng = rng
        self.killed = killed  # set just before the kill
        self.stop = threading.Event()
        self.failures = []
        self.done = 0
        self.clients = []

    def run(self):
        try:
            while not self.stop.is_set():
                self.one_rider()
        except EXPECTED as e:
            if not self.killed.is_set():
                self.failures.append("connection error before the kill: %r\n%s"
                                     % (e, traceback.format_exc()))
        except Exception as e:
            if not self.killed.is_set():
                self.failures.append("%r\n%s" % (e, traceback.format_exc()))
        finally:
            for c in self.clients:
                c.close()

    def expect(self, cond, what):
        if not cond and not self.killed.is_set():
            raise AssertionError(what)

    def poll_trip(self, c, tid, states, timeout=15):
        deadline = time.monotonic() + timeout
        while not self.stop.is_set():
            r = c.get("/v1/trips/%d" % tid)
            self.expect(r.status == 200, "GET trip %d: %r" % (tid, r))
            if r.json["state"] in states:
                return r.json
            if time.monotonic() > deadline:
                raise AssertionError("trip %d stuck in %s" % (tid, r.json["state"]))
            time.sleep(0.005)
        return None

    def one_rider(self):
        sp, rng, led = self.sp, self.rng, self.ledger
        anon = sp.server.client()
        self.clients.append(anon)
        r = anon.post("/v1/riders", {})
        self.expect(r.status == 201, "POST /v1/riders: %r" % r)
        rider_id, token = r.json["id"], r.json["token"]
        led.rider(rider_id, token)
        c = sp.server.client(token=token)
        self.clients.append(c)
        for _ in range(rng.randint(1, 4)):
            # Try a few bikes: others may hold the first ones.
            for bike in rng.sample(self.bikes, 3):
                if self.stop.is_set():
                    return
                if rng.random() < 0.35:
                    ok = self.reserve(c, rider_id, bike)
                else:
                    ok = self.ride(c, rider_id, bike)
                if ok:
                    self.done += 1
                    break

    def reserve(self, c, rider_id, bike):
        r = c.post("/v1/reservations", {"bike_id": bike["id"]})
        if r.status == 409:
            return False
        self.expect(r.status == 201, "POST reservation: %r" % r)
        res_id = r.json["id"]
        self.ledger.reservation(res_id, rider_id, bike["id"], "active")
        if self.rng.random() < 0.5:
            r = c.delete("/v1/reservations/%d" % res_id)
            self.expect(r.status == 200 and r.json["state"] == "cancelled",
                        "DELETE reservation: %r" % r)
            self.ledger.reservation(res_id, rider_id, bike["id"], "cancelled")
            return True
        return self.ride(c, rider_id, bike, res_id=res_id)

    def ride(self, c, rider_id, bike, res_id=None):
        key = uuid.uuid4().hex
        body = {"bike_id": bike["id"]} if self.rng.random() < 0.5 else {"qr_code": bike["qr_code"]}
        r = c.post("/v1/trips", body, headers={"Idempotency-Key": key})
        if r.status == 409:
            self.expect(r.code in ("bike_unavailable", "rider_on_trip"), "409: %r" % r)
            if res_id is not None:
                # The rider's own reserved bike cannot be unavailable.
                self.expect(False, "trip on own reservation refused: %r" % r)
            return False
        self.expect(r.status == 202, "POST trip: %r" % r)
        tid = r.json["id"]
        self.ledger.trip(tid, rider_id, bike["id"], "unlocking")
        if res_id is not None:
            self.ledger.reservation(res_id, rider_id, bike["id"], "used")
        if self.rng.random() < 0.3:
            # A retry is the same trip.
            r2 = c.post("/v1/trips", body, headers={"Idempotency-Key": key})
            self.expect(r2.status == 202 and r2.json["id"] == tid, "retry: %r" % r2)
        t = self.poll_trip(c, tid, ("riding", "failed"))
        if t is None:
            return True
        self.expect(t["state"] == "riding", "unlock failed: %r" % t)
        self.ledger.trip(tid, rider_id, bike["id"], "riding")
        lock = self.locks[bike["id"]]
        for _ in range(self.rng.randint(0, 3)):
            lock.position(HOME_LAT + self.rng.uniform(-0.002, 0.002),
                          HOME_LON + self.rng.uniform(-0.002, 0.002))
        lock.locked(user_id=rider_id)
        t = self.poll_trip(c, tid, ("ended",))
        if t is None:
            return True
        self.expect(t["fare"]["charged"] is True, "fare: %r" % t)
        self.ledger.trip(tid, rider_id, bike["id"], "ended", t["fare"]["amount_cents"])
        return True


class CrashTest(SpokeTestCase):

    def test_kill9_under_load(self):
        seed = int(os.environ.get("SPOKE_CRASH_SEED", str(random.randrange(1 << 30))))
        self.seed = seed
        rng = random.Random(seed)
        srv = self.start_server()
        sp = Spoke(srv)
        bikes = [sp.add_bike(HOME_LAT + 0.0003 * i, HOME_LON - 0.0002 * i)
                 for i in range(BIKES)]
        sp.close()
        ledger = Ledger()
        total_done = 0
        for rnd in range(ROUNDS):
            sp = Spoke(srv)
            try:
                locks = {b["id"]: sp.lock(b) for b in bikes}
                for b in bikes:
                    sp.wait_lock_online(b["id"])
                self.free_bikes(sp, ledger)
                killed = threading.Event()
                workers = [Worker(sp, bikes, locks, ledger, random.Random(rng.random()), killed)
                           for _ in range(WORKERS)]
                for w in workers:
                    w.start()
                # The kill comes at a random moment of the load. One round
                # stops the server with SIGTERM instead: a clean stop under
                # load must exit 0 and keep everything too.
                time.sleep(rng.uniform(0.3, 1.5))
                killed.set()
                if rnd == GRACEFUL_ROUND:
                    self.assertEqual(srv.stop(), 0, "SIGTERM under load")
                else:
                    srv.kill9()
                for w in workers:
                    w.stop.set()
                for w in workers:
                    w.join(30)
                    self.assertFalse(w.is_alive(), "worker hung")
                failures = [f for w in workers for f in w.failures]
                self.assertEqual(failures, [], "seed %d round %d" % (seed, rnd))
                total_done += sum(w.done for w in workers)
                for lk in locks.values():
                    errs = [e for e in lk.errors if "trailing bytes" not in e]
                    self.assertEqual(errs, [], "lock %s" % lk.imei)
            finally:
                sp.close()
            srv.start()
            sp = Spoke(srv)
            try:
                self.verify(sp, ledger, "seed %d round %d" % (seed, rnd))
            finally:
                sp.close()
        # Enough happened to mean something.
        ended = sum(1 for t in ledger.trips.values() if t["state"] == "ended")
        self.assertGreater(len(ledger.riders), ROUNDS, "too little load")
        self.assertGreater(ended, 0, "no ride ended in %d rounds" % ROUNDS)

        # The server keeps working: a new ride from start to end.
        sp = self.spoke(srv)
        locks = {b["id"]: sp.lock(b) for b in bikes}
        for b in bikes:
            sp.wait_lock_online(b["id"])
        self.free_bikes(sp, ledger)
        rider = sp.rider()
        bike = sp.bikes(state="available")[0]  # others may be reserved
        r = rider.http.post("/v1/trips", {"bike_id": bike["id"]})
        self.assertEqual(r.status, 202, r)
        sp.wait_trip(rider, r.json["id"], "riding")
        locks[bike["id"]].locked(user_id=rider.id)
        t = sp.wait_trip(rider, r.json["id"], "ended")
        self.assertEqual(rider.balance(), -t["fare"]["amount_cents"])
        self.verify(sp, ledger, "after the final ride")

    def free_bikes(self, sp, ledger):
        """Ends the trips left over from the last round (operator end)."""
        for b in sp.bikes():
            if b["trip_id"] is None:
                continue
            r = sp.ops.post("/v1/ops/trips/%d/end" % b["trip_id"], {})
            if r.status == 409:
                continue  # it ended on its own meanwhile
            self.assertEqual(r.status, 200, r)
            t = r.json
            fare = t["fare"]["amount_cents"] if t["fare"] else None
            ledger.trip(t["id"], t["rider_id"], t["bike_id"], t["state"], fare)
        wait_until(lambda: all(b["state"] in ("available", "reserved") for b in sp.bikes()),
                   desc="all bikes free")

    def verify(self, sp, ledger, ctx):
        trips_by_rider = {}
        me_by_rider = {}
        for rid, token in sorted(ledger.riders.items()):
            c = sp.client(token)
            r = c.get("/v1/me")
            self.assertEqual(r.status, 200, "%s: rider %d lost: %r" % (ctx, rid, r))
            self.assertEqual(r.json["id"], rid)
            me_by_rider[rid] = r.json
            trips, before = [], None
            while True:
                r = c.get("/v1/trips?limit=100" + ("&before=%d" % before if before else ""))
                self.assertEqual(r.status, 200, r)
                trips += r.json["trips"]
                before = r.json["next_before"]
                if before is None:
                    break
            trips_by_rider[rid] = {t["id"]: t for t in trips}
            # The charges are exactly the fares of the rider's ended trips.
            charged = sum(t["fare"]["amount_cents"] for t in trips
                          if t["state"] == "ended" and t["fare"]["charged"])
            self.assertEqual(r.status, 200)
            self.assertEqual(me_by_rider[rid]["balance_cents"], -charged,
                             "%s: rider %d balance vs fares %r" % (ctx, rid, trips))
        # Every acknowledged trip, at least in its acknowledged state.
        for tid, want in sorted(ledger.trips.items()):
            got = trips_by_rider[want["rider"]].get(tid)
            self.assertIsNotNone(got, "%s: trip %d lost (%r)" % (ctx, tid, want))
            self.assertEqual(got["bike_id"], want["bike"])
            if want["state"] == "failed":
                self.assertEqual(got["state"], "failed", (ctx, tid, got))
            elif got["state"] == "failed":
                self.assertEqual(want["state"], "unlocking", (ctx, tid, got, want))
            else:
                self.assertGreaterEqual(TRIP_ORDER[got["state"]], TRIP_ORDER[want["state"]],
                                        "%s: trip %d went back: %r, acked %r"
                                        % (ctx, tid, got, want))
            if want["state"] == "ended" and want["fare"] is not None:
                self.assertEqual(got["fare"]["amount_cents"], want["fare"], (ctx, tid, got))
        # Every acknowledged reservation, in its acknowledged state.
        for res_id, want in sorted(ledger.reservations.items()):
            c = sp.client(ledger.riders[want["rider"]])
            r = c.get("/v1/reservations/%d" % res_id)
            self.assertEqual(r.status, 200, "%s: reservation %d lost: %r" % (ctx, res_id, r))
            self.assertEqual(r.json["bike_id"], want["bike"])
            if want["state"] != "active":
                self.assertEqual(r.json["state"], want["state"], (ctx, res_id, r.json))
        # The fleet agrees with the trips and reservations.
        active_trips = {}
        for rid, trips in trips_by_rider.items():
            for t in trips.values():
                if t["state"] in ("unlocking", "riding"):
                    self.assertNotIn(t["bike_id"], active_trips,
                                     "%s: two active trips on bike %d" % (ctx, t["bike_id"]))
                    active_trips[t["bike_id"]] = t["id"]
                    self.assertEqual(me_by_rider[rid]["active_trip_id"], t["id"], ctx)
            if me_by_rider[rid]["active_trip_id"] is not None:
                self.assertIn(me_by_rider[rid]["active_trip_id"], trips, ctx)
        held = {me["reservation_id"]: rid for rid, me in me_by_rider.items()
                if me["reservation_id"] is not None}
        on_trip = 0
        for b in sp.bikes():
            where = "%s: bike %r" % (ctx, b)
            if b["state"] == "on_trip":
                on_trip += 1
                self.assertIsNotNone(b["trip_id"], where)
                self.assertIsNone(b["reservation_id"], where)
                t = sp.ops_trip(b["trip_id"])
                self.assertIn(t["state"], ("unlocking", "riding"), where)
                self.assertEqual(t["bike_id"], b["id"], where)
            else:
                self.assertIsNone(b["trip_id"], where)
                self.assertNotIn(b["id"], active_trips, where)
            if b["state"] == "reserved":
                self.assertIsNotNone(b["reservation_id"], where)
                if b["reservation_id"] in held:
                    c = sp.client(ledger.riders[held[b["reservation_id"]]])
                    r = c.get("/v1/reservations/%d" % b["reservation_id"]).json
                    self.assertEqual(r["state"], "active", where)
                    self.assertEqual(r["bike_id"], b["id"], where)
            elif b["state"] == "available":
                self.assertIsNone(b["reservation_id"], where)
            else:
                self.assertIn(b["state"], ("on_trip",), where)
            if b["id"] in active_trips:
                self.assertEqual(b["trip_id"], active_trips[b["id"]], where)
        for res_id, rid in held.items():
            bike = [b for b in sp.bikes() if b["reservation_id"] == res_id]
            self.assertEqual(len(bike), 1, "%s: reservation %d of rider %d on %r"
                             % (ctx, res_id, rid, bike))
        self.assertEqual(sp.metric("spoke_bikes", 'state="on_trip"'), on_trip)
        self.assertGreaterEqual(sp.metric("spoke_riders"), len(ledger.riders))

    def run(self, result=None):
        self.seed = None
        before = len(result.failures) + len(result.errors) if result else 0
        out = super().run(result)
        if result is not None and len(result.failures) + len(result.errors) > before:
            print("\n[test_crash] seed %s (replay: SPOKE_CRASH_SEED=%s)" % (self.seed, self.seed))
        return out


class LockAckTest(SpokeTestCase):

    def test_lock_report_acked_only_when_durable(self):
        """A lock's L1 is acknowledged only once the ended trip is durable.
        While another connection holds the database's write lock nothing can
        commit: the L1 gets no ack, and after a kill -9 the trip is still
        riding. The lock, never acked, sends L1 again on its next session,
        and that ends the trip, charged once."""
        srv = self.start_server()
        sp = self.spoke(srv)
        bike = sp.add_bike()
        lock = sp.lock(bike)
        rider = sp.rider()
        tid = rider.http.post("/v1/trips", {"bike_id": bike["id"]}).json["id"]
        sp.wait_trip(rider, tid, "riding")
        blocker = sqlite3.connect(srv.db, timeout=10, isolation_level=None)
        try:
            blocker.execute("BEGIN IMMEDIATE")
            lock.wait_acked()  # the L0 of the unlock
            acked = len(lock.acks)
            lock.send("L1", rider.id, int(time.time()), 1, wait_ack=False)
            time.sleep(1.0)
            self.assertEqual(len(lock.acks), acked, "L1 acked before it was durable")
            srv.kill9()
        finally:
            blocker.close()
        lock.close()
        srv.start()
        sp2 = self.spoke(srv)
        rider = sp2.rider_from(rider.data)
        self.assertEqual(rider.http.get("/v1/trips/%d" % tid).json["state"], "riding")
        lock = sp2.lock(bike)
        lock.locked(user_id=rider.id)  # waits for the ack
        t = sp2.wait_trip(rider, tid, "ended")
        self.assertEqual(rider.balance(), -t["fare"]["amount_cents"])
        lock.assert_clean()


if __name__ == "__main__":
    unittest.main()
