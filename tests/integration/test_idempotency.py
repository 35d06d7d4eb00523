# SPDX-License-Identifier: MIT
"""Retried POST /v1/trips with an Idempotency-Key: the same trip whatever
state it reached (unlocking, riding, ended, failed, after a restart), a
conflict when the key is reused for another bike, and one charge only."""

import unittest
import uuid

from spoke_harness import SpokeTestCase


class IdempotencyTest(SpokeTestCase):

    def post_trip(self, rider, body, key):
        return rider.http.post("/v1/trips", body, headers={"Idempotency-Key": key})

    def assertReplay(self, r, tid, state):
        self.assertEqual(r.status, 202, r)
        self.assertEqual(r.header("Idempotent-Replayed"), "true", r.headers)
        self.assertEqual(r.json["id"], tid)
        self.assertEqual(r.json["state"], state)
        self.assertEqual(r.header("Location"), "/v1/trips/%d" % tid)
        return r.json

    def test_retries_in_every_state(self):
        srv = self.start_server()
        sp = self.spoke(srv)
        bike = sp.add_bike()
        bike2 = sp.add_bike()
        lock = sp.lock(bike, key_mode="manual")
        sp.wait_lock_online(bike["id"])
        rider = sp.rider()
        key = "trip-" + uuid.uuid4().hex

        r = self.post_trip(rider, {"bike_id": bike["id"]}, key)
        self.assertEqual(r.status, 202, r)
        self.assertIsNone(r.header("Idempotent-Replayed"))
        tid = r.json["id"]
        lock.wait_unlock_request()

        # While unlocking.
        for _ in range(3):
            self.assertReplay(self.post_trip(rider, {"bike_id": bike["id"]}, key),
                              tid, "unlocking")
        # The same bike named by its QR code is the same request.
        self.assertReplay(self.post_trip(rider, {"qr_code": bike["qr_code"]}, key),
                          tid, "unlocking")
        # The same key for another bike is a conflict, and changes nothing.
        for body in ({"bike_id": bike2["id"]}, {"qr_code": bike2["qr_code"]}):
            r = self.post_trip(rider, body, key)
            self.assertProblem(r, 409, "idempotency_key_reused",
                               field="Idempotency-Key")
        self.assertEqual(sp.bike(bike2["id"])["state"], "available")
        self.assertEqual(len(lock.unlock_requests), 1)

        # While riding.
        lock.answer_key()
        sp.wait_trip(rider, tid, "riding")
        t = self.assertReplay(self.post_trip(rider, {"bike_id": bike["id"]}, key),
                              tid, "riding")
        self.assertIsNotNone(t["started_at"])
        r = self.post_trip(rider, {"bike_id": bike2["id"]}, key)
        self.assertProblem(r, 409, "idempotency_key_reused")

        # After it ended: same trip, same fare, charged once.
        lock.locked(user_id=rider.id)
        ended = sp.wait_trip(rider, tid, "ended")
        fare = ended["fare"]["amount_cents"]
        for _ in range(5):
            t = self.assertReplay(self.post_trip(rider, {"bike_id": bike["id"]}, key),
                                  tid, "ended")
            self.assertEqual(t["fare"], ended["fare"])
        r = self.post_trip(rider, {"bike_id": bike2["id"]}, key)
        self.assertProblem(r, 409, "idempotency_key_reused")
        self.assertEqual(rider.balance(), -fare)
        self.assertEqual(sp.bike(bike["id"])["state"], "available")
        self.assertEqual([x["id"] for x in rider.http.get("/v1/trips").json["trips"]],
                         [tid])
        self.assertEqual(len(lock.unlock_requests), 1)

        # Keys belong to a rider: another rider may use the same one.
        other = sp.rider()
        r = self.post_trip(other, {"bike_id": bike2["id"]}, key)
        self.assertEqual(r.status, 202, r)
        self.assertIsNone(r.header("Idempotent-Replayed"))
        self.assertNotEqual(r.json["id"], tid)

        # After a restart the trip comes from the store: still the same.
        srv.restart()
        sp2 = self.spoke(srv)
        rider2 = sp2.rider_from(rider.data)
        for _ in range(2):
            t = self.assertReplay(self.post_trip(rider2, {"bike_id": bike["id"]}, key),
                                  tid, "ended")
            self.assertEqual(t["fare"], ended["fare"])
        r = self.post_trip(rider2, {"bike_id": bike2["id"]}, key)
        self.assertProblem(r, 409, "idempotency_key_reused")
        self.assertEqual(rider2.balance(), -fare)
        lock.assert_clean()

    def test_failed_trip_is_replayed_not_retried(self):
        """A retry after the unlock failed returns the failed trip."""
        srv = self.start_server()
        sp = self.spoke(srv)
        bike = sp.add_bike()  # no lock: the unlock fails, lock_offline
        rider = sp.rider()
        key = "k-" + uuid.uuid4().hex
        r = self.post_trip(rider, {"bike_id": bike["id"]}, key)
        self.assertEqual(r.status, 202, r)
        tid = r.json["id"]
        t = sp.wait_trip(rider, tid, ("failed",))
        self.assertEqual(t["reason"], "lock_offline")
        t = self.assertReplay(self.post_trip(rider, {"bike_id": bike["id"]}, key),
                              tid, "failed")
        self.assertEqual(t["reason"], "lock_offline")
        self.assertEqual(len(rider.http.get("/v1/trips").json["trips"]), 1)
        # A new key is a new attempt.
        r = self.post_trip(rider, {"bike_id": bike["id"]}, key + "-2")
        self.assertEqual(r.status, 202, r)
        self.assertNotEqual(r.json["id"], tid)
        self.assertEqual(rider.balance(), 0)

    def test_invalid_keys(self):
        srv = self.start_server()
        sp = self.spoke(srv)
        bike = sp.add_bike()
        rider = sp.rider()
        for bad in ("", "x" * 65, "has space", "tab\there", "caf\u00e9"):
            r = rider.http.post("/v1/trips", {"bike_id": bike["id"]},
                                headers={"Idempotency-Key": bad.encode("utf-8")})
            self.assertProblem(r, 400, "invalid_idempotency_key",
                               field="Idempotency-Key")
        self.assertEqual(sp.bike(bike["id"])["state"], "available")
        self.assertEqual(rider.http.get("/v1/trips").json["trips"], [])
        # 64 visible ASCII characters are fine.
        key = "".join(chr(0x21 + i % 94) for i in range(64))
        r = rider.http.post("/v1/trips", {"bike_id": bike["id"]},
                            headers={"Idempotency-Key": key})
        self.assertEqual(r.status, 202, r)


if __name__ == "__main__":
    unittest.main()
