# SPDX-License-Identifier: MIT
"""Authentication and authorisation: missing and bad tokens, riders kept
apart (another rider's trip or reservation is indistinguishable from a
missing one), roles, and the operator's forced trip end."""

import base64
import os
import unittest

from spoke_harness import (SharedServerTestCase, create_operator_token, fare_for,
                           parse_time_ms)

RIDER_ROUTES = [
    ("GET", "/v1/me", None),
    ("POST", "/v1/reservations", {"bike_id": 1}),
    ("GET", "/v1/reservations/1", None),
    ("DELETE", "/v1/reservations/1", None),
    ("POST", "/v1/trips", {"bike_id": 1}),
    ("GET", "/v1/trips", None),
    ("GET", "/v1/trips/1", None),
]
OPS_ROUTES = [
    ("POST", "/v1/ops/bikes", {"qr_code": "Z", "lock_imei": "1" * 15, "lat": 0, "lon": 0}),
    ("GET", "/v1/ops/bikes", None),
    ("GET", "/v1/ops/bikes/1", None),
    ("POST", "/v1/ops/bikes/1/events", {"event": "maintenance_start"}),
    ("GET", "/v1/ops/trips/1", None),
    ("POST", "/v1/ops/trips/1/end", {}),
    ("GET", "/v1/ops/pricing", None),
    ("PUT", "/v1/ops/pricing", {"plan_id": "x", "name": "x", "currency": "EUR",
                                "price": 1.0, "per_min_pricing": []}),
]


def random_token():
    return base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()


class AuthTest(SharedServerTestCase):

    def test_no_token_is_401_unauthorized(self):
        c = self.sp.client()
        nbikes = len(self.sp.bikes())
        for method, path, body in RIDER_ROUTES + OPS_ROUTES:
            with self.subTest(method=method, path=path):
                r = c.request(method, path, body=body)
                self.assertProblem(r, 401, "unauthorized")
                self.assertEqual(r.header("WWW-Authenticate"), "Bearer")
        # Nothing was created by those requests.
        self.assertEqual(len(self.sp.bikes()), nbikes)

    def test_bad_token_is_401_invalid_token(self):
        rider = self.sp.rider()
        c = self.sp.client()
        bad = [
            "Bearer nope",
            "Bearer " + random_token(),           # well-formed, unknown
            "Bearer " + rider.token + "x",
            "Bearer " + rider.token[:-1],
            "Bearer  " + rider.token,             # two spaces
            "Basic " + base64.b64encode(b"a:b").decode(),
            "Bearer",
            "Token " + rider.token,
            "Bearer " + rider.token[:-1] + "!",
        ]
        for auth in bad:
            for method, path, body in (RIDER_ROUTES[0], OPS_ROUTES[1]):
                with self.subTest(auth=auth, path=path):
                    r = c.request(method, path, body=body, headers={"Authorization": auth})
                    self.assertProblem(r, 401, "invalid_token")
                    self.assertEqual(r.header("WWW-Authenticate"),
                                     'Bearer error="invalid_token"')
        # The scheme is case-insensitive.
        r = c.get("/v1/me", headers={"Authorization": "bearer " + rider.token})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["id"], rider.id)

    def test_roles(self):
        rider = self.sp.rider()
        for method, path, body in OPS_ROUTES:
            with self.subTest(method=method, path=path):
                r = rider.http.request(method, path, body=body)
                self.assertProblem(r, 403, "operator_only")
        for method, path, body in RIDER_ROUTES:
            with self.subTest(method=method, path=path):
                r = self.sp.ops.request(method, path, body=body)
                self.assertProblem(r, 403, "rider_only")
        # Open endpoints need no token.
        anon = self.sp.client()
        self.assertEqual(anon.get("/v1/bikes?lat=0&lon=0").status, 200)
        self.assertEqual(anon.get("/healthz").status, 200)
        self.assertEqual(anon.post("/v1/riders", {}).status, 201)

    def test_operator_token_created_while_running(self):
        tok = create_operator_token(self.srv.spoke, self.srv.db)
        r = self.sp.client(tok).get("/v1/ops/pricing")
        self.assertEqual(r.status, 200, r)

    def test_riders_are_kept_apart(self):
        sp = self.sp
        a, b = sp.rider(), sp.rider()
        bike = sp.add_bike()
        bike2 = sp.add_bike()
        lock = sp.lock(bike)
        sp.wait_lock_online(bike["id"])
        r = a.http.post("/v1/trips", {"bike_id": bike["id"]})
        self.assertEqual(r.status, 202, r)
        tid = r.json["id"]
        sp.wait_trip(a, tid, "riding")
        r = a.http.post("/v1/reservations", {"bike_id": bike2["id"]})
        self.assertEqual(r.status, 409, r)  # a is on a trip
        c = sp.rider()
        r = c.http.post("/v1/reservations", {"bike_id": bike2["id"]})
        self.assertEqual(r.status, 201, r)
        rid = r.json["id"]

        missing_trip = tid + 1000
        missing_res = rid + 1000

        def same_as_missing(r_other, r_missing, real_id, missing_id):
            self.assertProblem(r_other, 404, "not_found")
            self.assertProblem(r_missing, 404, "not_found")
            j1 = dict(r_other.json, detail=r_other.json["detail"].replace(str(real_id), "N"))
            j2 = dict(r_missing.json, detail=r_missing.json["detail"].replace(str(missing_id), "N"))
            self.assertEqual(j1, j2)
            self.assertEqual(r_other.content_type, r_missing.content_type)

        same_as_missing(b.http.get("/v1/trips/%d" % tid),
                        b.http.get("/v1/trips/%d" % missing_trip), tid, missing_trip)
        same_as_missing(b.http.get("/v1/reservations/%d" % rid),
                        b.http.get("/v1/reservations/%d" % missing_res), rid, missing_res)
        same_as_missing(b.http.delete("/v1/reservations/%d" % rid),
                        b.http.delete("/v1/reservations/%d" % missing_res), rid, missing_res)
        self.assertEqual(b.http.get("/v1/trips").json["trips"], [])
        self.assertEqual(c.http.get("/v1/trips").json["trips"], [])
        # The owner still sees both, unchanged.
        self.assertEqual(c.http.get("/v1/reservations/%d" % rid).json["state"], "active")
        self.assertEqual(a.http.get("/v1/trips/%d" % tid).json["state"], "riding")
        # Another rider cannot take the reserved bike.
        r = b.http.post("/v1/trips", {"bike_id": bike2["id"]})
        self.assertProblem(r, 409, "bike_unavailable")
        # The operator sees any trip, with its rider.
        t = sp.ops_trip(tid)
        self.assertEqual(t["rider_id"], a.id)
        lock.locked(user_id=a.id)
        sp.wait_trip(a, tid, "ended")
        # Even ended (and so read from the store), it stays private.
        same_as_missing(b.http.get("/v1/trips/%d" % tid),
                        b.http.get("/v1/trips/%d" % missing_trip), tid, missing_trip)
        lock.assert_clean()

    def test_operator_force_end(self):
        sp = self.sp
        rider = sp.rider()
        bike = sp.add_bike()
        lock = sp.lock(bike)
        sp.wait_lock_online(bike["id"])
        r = rider.http.post("/v1/trips", {"bike_id": bike["id"]})
        tid = r.json["id"]
        sp.wait_trip(rider, tid, "riding")
        r = sp.ops.post("/v1/ops/trips/%d/end" % tid, {})
        self.assertEqual(r.status, 200, r)
        t = r.json
        self.assertEqual(t["state"], "ended")
        self.assertEqual(t["reason"], "operator")
        self.assertEqual(t["rider_id"], rider.id)
        self.assertEqual(t["fare"]["charged"], True)
        fare = fare_for(parse_time_ms(t["ended_at"]) - parse_time_ms(t["started_at"]))
        self.assertEqual(t["fare"]["amount_cents"], fare)
        self.assertEqual(rider.balance(), -fare)
        self.assertEqual(sp.bike(bike["id"])["state"], "available")
        self.assertEqual(rider.http.get("/v1/trips/%d" % tid).json,
                         dict((k, v) for k, v in t.items() if k != "rider_id"))
        r = sp.ops.post("/v1/ops/trips/%d/end" % tid, {})
        self.assertProblem(r, 409, "trip_not_active")
        # The lock closing afterwards is acknowledged and charges nothing.
        lock.locked(user_id=rider.id)
        lock.heartbeat(locked=True)
        self.assertEqual(rider.balance(), -fare)

        # charge: false ends it for free.
        r = rider.http.post("/v1/trips", {"bike_id": bike["id"]})
        tid2 = r.json["id"]
        sp.wait_trip(rider, tid2, "riding")
        r = sp.ops.post("/v1/ops/trips/%d/end" % tid2, {"charge": False})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["fare"]["amount_cents"], 0)
        self.assertIs(r.json["fare"]["charged"], False)
        self.assertEqual(rider.balance(), -fare)

        # An unlocking trip fails; the lock's late key is not used.
        lock.key_mode = "manual"
        r = rider.http.post("/v1/trips", {"bike_id": bike["id"]})
        tid3 = r.json["id"]
        lock.wait_unlock_request(3)
        r = sp.ops.post("/v1/ops/trips/%d/end" % tid3, {})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["state"], "failed")
        self.assertEqual(r.json["reason"], "operator")
        self.assertIsNone(r.json["fare"])
        self.assertEqual(sp.bike(bike["id"])["state"], "available")
        lock.answer_key()
        lock.alarm(1)  # acked after the key: the key was handled by then
        self.assertEqual(len(lock.unlock_commands), 2)
        self.assertEqual(rider.http.get("/v1/trips/%d" % tid3).json["state"], "failed")
        self.assertEqual(rider.balance(), -fare)
        r = sp.ops.post("/v1/ops/trips/%d/end" % (tid3 + 100), {})
        self.assertProblem(r, 404, "not_found")
        lock.assert_clean()


if __name__ == "__main__":
    unittest.main()
