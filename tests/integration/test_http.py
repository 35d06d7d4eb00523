# SPDX-License-Identifier: MIT
"""Bad input and the HTTP layer: every malformed, oversized or mistyped
request gets its documented problem document (status, code, content type),
and after each one the server still serves a request on another
connection. Pipelining keeps order; slow and half-sent requests do not
block anyone else."""

import json
import socket
import threading
import time
import unittest

from spoke_harness import SharedServerTestCase, http_request_bytes, wait_until


class BadInputTest(SharedServerTestCase):

    def setUp(self):
        super().setUp()
        self.rider = self.sp.rider()
        self.bike = self.sp.add_bike()

    def assert_alive(self):
        """The server answers a read and a write on a fresh connection."""
        c = self.sp.client()
        r = c.get("/healthz")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["status"], "ok")
        r = c.post("/v1/riders", {})
        self.assertEqual(r.status, 201, r)
        c.close()

    def check(self, resp, status, code, field=None):
        self.assertProblem(resp, status, code, field)
        self.assert_alive()

    def raw_check(self, data, status, code, closes):
        """Sends raw bytes on a new connection, checks the one response and
        whether the server closes the connection after it."""
        rc = self.srv.raw()
        try:
            rc.send(data)
            r = rc.read_response()
            self.assertProblem(r, status, code)
            if closes:
                self.assertEqual(r.header("Connection"), "close", r.headers)
                self.assertTrue(rc.closed_by_peer(), "connection not closed")
            return r
        finally:
            rc.close()
            self.assert_alive()

    # -- JSON bodies --------------------------------------------------------

    def test_broken_json(self):
        c = self.rider.http
        for body in (b'{"bike_id": ', b'{bike_id: 1}', b"{'bike_id': 1}", b'{"bike_id": 1,}',
                     b"{", b"}", b'{"bike_id": 1} trailing', b"\xff\xfe",
                     b'{"a": "\xc3\x28"}', b'{"a": "\\u0000"}', b'{"bike_id": 01}',
                     b"{\"bike_id\": 99999999999999999999999}", b'{"bike_id": 1e400}'):
            with self.subTest(body=body):
                r = c.post("/v1/reservations", body)
                self.check(r, 400, "invalid_json")
        # The connection that sent them still works.
        self.assertEqual(c.get("/v1/me").status, 200)

    def test_duplicate_keys(self):
        r = self.rider.http.post("/v1/reservations", b'{"bike_id": 1, "bike_id": 2}')
        self.check(r, 400, "invalid_json")

    def test_non_object_json(self):
        for body in (b"[]", b"[1]", b'"bike"', b"42", b"null", b"true", b"1.5"):
            with self.subTest(body=body):
                r = self.rider.http.post("/v1/trips", body)
                self.check(r, 400, "invalid_json")
                r = self.sp.ops.post("/v1/ops/bikes", body)
                self.check(r, 400, "invalid_json")

    def test_deeply_nested_json(self):
        c = self.rider.http
        # Depth 9 is over the limit of 8 levels.
        deep9 = '{"bike_id": ' + "[" * 8 + "1" + "]" * 8 + "}"
        self.check(c.post("/v1/trips", deep9), 400, "invalid_json")
        # Depth 8 parses (and is then the wrong type).
        deep8 = '{"bike_id": ' + "[" * 7 + "1" + "]" * 7 + "}"
        self.check(c.post("/v1/trips", deep8), 422, "invalid_field", "bike_id")
        # Brackets inside strings do not count.
        s = '{"qr_code": "' + "[{" * 20 + '"}'
        self.check(c.post("/v1/trips", s), 422, "invalid_field", "qr_code")
        # A very deep one (up to the body limit) is refused quickly.
        n = 32000
        t0 = time.monotonic()
        self.check(c.post("/v1/trips", "[" * n + "]" * n), 400, "invalid_json")
        self.check(c.post("/v1/trips", '{"a":' * 10000 + "1" + "}" * 10000), 400,
                   "invalid_json")
        self.assertLess(time.monotonic() - t0, 10)

    def test_wrong_types(self):
        c = self.rider.http
        for v in ("1", 1.5, True, [], {}, -1, 0, 1e30):
            with self.subTest(bike_id=v):
                r = c.post("/v1/reservations", {"bike_id": v})
                self.check(r, 422, "invalid_field", "bike_id")
                r = c.post("/v1/trips", {"bike_id": v})
                self.check(r, 422, "invalid_field", "bike_id")
        self.check(c.post("/v1/trips", {"qr_code": 12}), 422, "invalid_field", "qr_code")
        self.check(c.post("/v1/trips", {"qr_code": "x" * 33}), 422, "invalid_field", "qr_code")
        ops = self.sp.ops
        good = {"qr_code": "T-1", "lock_imei": "123456789012345", "lat": 1.0, "lon": 2.0}
        for field, v in (("qr_code", 5), ("qr_code", "has space"), ("qr_code", ""),
                         ("qr_code", "q" * 33), ("lock_imei", 123456789012345),
                         ("lock_imei", "12345678901234"), ("lock_imei", "1234567890123456"),
                         ("lock_imei", "12345678901234x"), ("lat", "48.8"),
                         ("lon", True), ("vehicle_type", "car"), ("vehicle_type", 1)):
            with self.subTest(field=field, value=v):
                r = ops.post("/v1/ops/bikes", dict(good, **{field: v}))
                self.check(r, 422, "invalid_field", field)
        b = self.bike["id"]
        self.check(ops.post("/v1/ops/bikes/%d/events" % b, {"event": 5}), 422,
                   "invalid_field", "event")
        self.check(ops.post("/v1/ops/bikes/%d/events" % b, {"event": "fly"}), 422,
                   "invalid_field", "event")
        self.check(ops.post("/v1/ops/trips/1/end", {"charge": "yes"}), 422,
                   "invalid_field", "charge")
        # Nothing was registered by the bad requests.
        self.assertNotIn("T-1", [x["qr_code"] for x in self.sp.bikes()])

    def test_out_of_range_coordinates(self):
        c = self.sp.client()
        for q, field in (("lat=91&lon=0", "lat"), ("lat=-90.0001&lon=0", "lat"),
                         ("lat=0&lon=180.5", "lon"), ("lat=0&lon=-181", "lon"),
                         ("lat=abc&lon=0", "lat"), ("lat=&lon=0", "lat"),
                         ("lat=1e999&lon=0", "lat"), ("lat=0&lon=1x", "lon"),
                         ("lat=nan&lon=0", "lat"), ("lat=0&lon=inf", "lon"),
                         ("lat=0&lon=0&radius_m=0", "radius_m"),
                         ("lat=0&lon=0&radius_m=5001", "radius_m"),
                         ("lat=0&lon=0&limit=0", "limit"),
                         ("lat=0&lon=0&limit=101", "limit"),
                         ("lat=0&lon=0&limit=1.5", "limit")):
            with self.subTest(query=q):
                r = c.get("/v1/bikes?" + q)
                self.check(r, 400, "invalid_parameter", field)
        for q, field in (("lon=0", "lat"), ("lat=0", "lon"), ("", "lat")):
            with self.subTest(query=q):
                self.check(c.get("/v1/bikes?" + q), 400, "missing_parameter", field)
        self.check(c.get("/v1/bikes"), 400, "missing_parameter", "lat")
        # The limits themselves are fine.
        for q in ("lat=90&lon=180", "lat=-90&lon=-180&radius_m=5000&limit=100",
                  "lat=0&lon=0&radius_m=1&limit=1"):
            self.assertEqual(c.get("/v1/bikes?" + q).status, 200, q)
        ops = self.sp.ops
        good = {"qr_code": "R-1", "lock_imei": "223456789012345", "lat": 1.0, "lon": 2.0}
        for field, v in (("lat", 90.0001), ("lat", -91), ("lon", 180.01), ("lon", -1000)):
            with self.subTest(field=field, value=v):
                r = ops.post("/v1/ops/bikes", dict(good, **{field: v}))
                self.check(r, 422, "invalid_field", field)

    def test_unknown_fields(self):
        c = self.rider.http
        self.check(self.sp.client().post("/v1/riders", {"name": "Ann"}), 422,
                   "unknown_field", "name")
        self.check(c.post("/v1/reservations", {"bike_id": self.bike["id"], "until": 5}),
                   422, "unknown_field", "until")
        self.check(c.post("/v1/trips", {"bike_id": self.bike["id"], "Bike_id": 1}),
                   422, "unknown_field", "Bike_id")
        self.check(self.sp.ops.post("/v1/ops/bikes", {
            "qr_code": "U-1", "lock_imei": "323456789012345", "lat": 1, "lon": 2,
            "color": "red"}), 422, "unknown_field", "color")
        self.check(self.sp.ops.post("/v1/ops/trips/1/end", {"refund": True}), 422,
                   "unknown_field", "refund")
        # Nothing changed: the bike is still available, no trip, no reservation.
        self.assertEqual(self.sp.bike(self.bike["id"])["state"], "available")
        me = self.rider.me()
        self.assertIsNone(me["active_trip_id"])
        self.assertIsNone(me["reservation_id"])

    def test_missing_fields(self):
        c = self.rider.http
        self.check(c.post("/v1/reservations", {}), 422, "missing_field", "bike_id")
        self.check(c.post("/v1/reservations", {"bike_id": None}), 422, "missing_field",
                   "bike_id")
        self.check(c.post("/v1/trips", {}), 422, "missing_field")
        self.check(c.post("/v1/trips", {"bike_id": self.bike["id"],
                                        "qr_code": self.bike["qr_code"]}),
                   422, "missing_field")
        good = {"qr_code": "M-1", "lock_imei": "423456789012345", "lat": 1.0, "lon": 2.0}
        for field in good:
            body = dict(good)
            del body[field]
            with self.subTest(missing=field):
                self.check(self.sp.ops.post("/v1/ops/bikes", body), 422, "missing_field",
                           field)
        self.check(self.sp.ops.post("/v1/ops/bikes/%d/events" % self.bike["id"], {}),
                   422, "missing_field", "event")

    def test_wrong_content_type(self):
        c = self.rider.http
        body = json.dumps({"bike_id": self.bike["id"]})
        for ct in ("text/plain", "application/x-www-form-urlencoded", "application/jsonx",
                   "application", "json", "multipart/form-data; boundary=x"):
            with self.subTest(content_type=ct):
                r = c.post("/v1/reservations", body, content_type=ct)
                self.check(r, 415, "unsupported_media_type")
        r = c.post("/v1/reservations", body, content_type=None)
        self.check(r, 415, "unsupported_media_type")
        self.assertEqual(self.sp.bike(self.bike["id"])["state"], "available")
        # Parameters and case are fine.
        r = c.post("/v1/reservations", body, content_type="Application/JSON; charset=utf-8")
        self.assertEqual(r.status, 201, r)

    # -- size limits --------------------------------------------------------

    def test_body_over_64k(self):
        # Declared too large: refused before the body is read.
        req = (b"POST /v1/riders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: 65537\r\n\r\n")
        self.raw_check(req, 413, "body_too_large", closes=True)
        # Sent in full.
        big = b'{"pad": "' + b"x" * 70000 + b'"}'
        self.raw_check(http_request_bytes("POST", "/v1/riders",
                                          {"Content-Type": "application/json"}, big),
                       413, "body_too_large", closes=True)
        # Chunked, growing past the limit.
        rc = self.srv.raw()
        try:
            rc.send(b"POST /v1/riders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                    b"\r\nTransfer-Encoding: chunked\r\n\r\n")
            chunk = b"x" * 16384
            for _ in range(4):
                rc.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            try:
                rc.send(b"10\r\n" + b"y" * 16 + b"\r\n")
            except OSError:
                pass
            r = rc.read_response()
            self.assertProblem(r, 413, "body_too_large")
            self.assertTrue(rc.closed_by_peer())
        finally:
            rc.close()
        self.assert_alive()
        # Exactly 64 KiB is accepted (and then judged on its content).
        body = b'{"pad": "' + b"x" * (65536 - 12) + b'"}'
        self.assertEqual(len(body), 65536 - 1)
        body = body[:-2] + b'x"}'
        self.assertEqual(len(body), 65536)
        r = self.sp.client().post("/v1/riders", body)
        self.check(r, 422, "unknown_field", "pad")

    def test_headers_over_8k(self):
        self.raw_check(http_request_bytes("GET", "/healthz", {"X-Big": "a" * 9000}),
                       431, "headers_too_large", closes=True)
        many = dict(("X-H%03d" % i, "v" * 90) for i in range(100))
        self.raw_check(http_request_bytes("GET", "/healthz", many),
                       431, "headers_too_large", closes=True)
        big_auth = {"Authorization": "Bearer " + "a" * 9000}
        self.raw_check(http_request_bytes("GET", "/v1/me", big_auth),
                       431, "headers_too_large", closes=True)
        # Under the limit is fine.
        rc = self.srv.raw()
        rc.send(http_request_bytes("GET", "/healthz", {"X-Big": "a" * 7000}))
        self.assertEqual(rc.read_response().status, 200)
        rc.close()

    def test_url_over_2k(self):
        self.raw_check(http_request_bytes("GET", "/v1/bikes?lat=0&lon=0&pad=" + "x" * 2100),
                       414, "uri_too_long", closes=True)
        self.raw_check(http_request_bytes("GET", "/" + "a" * 5000),
                       414, "uri_too_long", closes=True)
        r = self.sp.client().get("/v1/bikes?lat=0&lon=0&pad=" + "x" * 1900)
        self.assertEqual(r.status, 200, r)

    # -- HTTP framing -------------------------------------------------------

    def test_malformed_http(self):
        for data in (b"GARBAGE\r\n\r\n",
                     b"GET /healthz HTTP/1.1\r\nNo colon here\r\n\r\n",
                     b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
                     b"GET /healthz HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                     b"GET /health\x00z HTTP/1.1\r\n\r\n",
                     b"GET /healthz HTTP/1.1 extra\r\n\r\n",
                     b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS hello
                     b"POST /v1/riders HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"):
            with self.subTest(data=data):
                self.raw_check(data, 400, "malformed_request", closes=True)

    def test_unknown_route(self):
        c = self.sp.client()
        for path in ("/", "/v1", "/v1/nope", "/v1/trips/abc", "/v1/trips/0", "/v1/trips/01",
                     "/v1/trips/-1", "/v1/trips/1/x", "/v1/trips/", "/V1/ME", "/v1//me",
                     "/v1/trips/99999999999999999999", "/v1/ops/bikes/1/events/2",
                     "/healthz/"):
            with self.subTest(path=path):
                self.check(c.get(path, token=self.rider.token), 404, "route_not_found")

    def test_wrong_method(self):
        c = self.rider.http
        for method, path in (("DELETE", "/v1/me"), ("PUT", "/v1/trips"),
                             ("PATCH", "/v1/riders"), ("POST", "/healthz"),
                             ("DELETE", "/v1/trips/1"), ("GET", "/v1/riders"),
                             ("PUT", "/v1/ops/bikes/1"), ("OPTIONS", "/v1/me"),
                             ("POST", "/v1/ops/pricing")):
            with self.subTest(method=method, path=path):
                self.check(c.request(method, path), 405, "method_not_allowed")

    def test_head(self):
        rc = self.srv.raw()
        rc.send(http_request_bytes("HEAD", "/healthz") + http_request_bytes("GET", "/healthz"))
        head = rc.read_response(head_request=True)
        self.assertEqual(head.status, 200)
        self.assertGreater(int(head.header("Content-Length")), 0)
        get = rc.read_response()
        self.assertEqual(get.status, 200)
        self.assertEqual(json.loads(get.body)["status"], "ok")
        rc.close()

    def test_connection_close_and_http10(self):
        for req in (http_request_bytes("GET", "/healthz", {"Connection": "close"}),
                    http_request_bytes("GET", "/healthz", version="1.0")):
            rc = self.srv.raw()
            rc.send(req)
            r = rc.read_response()
            self.assertEqual(r.status, 200)
            self.assertTrue(rc.closed_by_peer())
            rc.close()
        self.assert_alive()

    def test_pipelined_requests_answered_in_order(self):
        rc = self.srv.raw()
        tok = self.rider.token
        auth = {"Authorization": "Bearer " + tok, "Content-Type": "application/json"}
        reqs = [
            ("GET", "/healthz", {}, b"", 200, None),
            ("POST", "/v1/riders", {"Content-Type": "application/json"}, b"{}", 201, None),
            ("GET", "/v1/me", auth, b"", 200, None),
            ("POST", "/v1/reservations", auth,
             json.dumps({"bike_id": self.bike["id"]}).encode(), 201, None),
            ("GET", "/v1/nope", {}, b"", 404, "route_not_found"),
            ("POST", "/v1/riders", {"Content-Type": "application/json"}, b"{", 400,
             "invalid_json"),
            ("GET", "/v1/me", auth, b"", 200, None),
            ("POST", "/v1/riders", {"Content-Type": "application/json"}, b"", 201, None),
            ("DELETE", "/v1/me", auth, b"", 405, "method_not_allowed"),
            ("GET", "/healthz", {}, b"", 200, None),
        ]
        rc.send(b"".join(http_request_bytes(m, p, h, b) for m, p, h, b, _, _ in reqs))
        resps = [rc.read_response() for _ in reqs]
        for (m, p, h, b, status, code), r in zip(reqs, resps):
            self.assertEqual(r.status, status, (m, p, r))
            if code:
                self.assertEqual(json.loads(r.body)["code"], code)
        ids = [json.loads(resps[i].body)["id"] for i in (1, 7)]
        self.assertLess(ids[0], ids[1])
        res_id = json.loads(resps[3].body)["id"]
        # The GET after the reservation sees it: responses follow the writes.
        self.assertEqual(json.loads(resps[6].body)["reservation_id"], res_id)
        self.assertIsNone(json.loads(resps[2].body)["reservation_id"])
        rc.close()

        # Far more than the pipeline depth, in one write.
        rc = self.srv.raw(timeout=30)
        n = 200
        batch = []
        for i in range(n):
            if i % 10 == 5:
                batch.append(http_request_bytes("POST", "/v1/riders",
                                                {"Content-Type": "application/json"}, b"{}"))
            else:
                batch.append(http_request_bytes("GET", "/v1/bikes?lat=0&lon=0&limit=%d"
                                                % (i % 100 + 1)))
        t = threading.Thread(target=rc.send, args=(b"".join(batch),))
        t.start()
        last_rider = 0
        for i in range(n):
            r = rc.read_response()
            if i % 10 == 5:
                self.assertEqual(r.status, 201, (i, r))
                rid = json.loads(r.body)["id"]
                self.assertGreater(rid, last_rider)
                last_rider = rid
            else:
                self.assertEqual(r.status, 200, (i, r))
                self.assertEqual(json.loads(r.body), {"bikes": []})
        t.join()
        rc.close()
        self.assert_alive()

    def test_chunked_body(self):
        rc = self.srv.raw()
        body = json.dumps({"bike_id": self.bike["id"]}).encode()
        rc.send(b"POST /v1/reservations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                + self.rider.token.encode() + b"\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
                + b"%x\r\n%s\r\n" % (5, body[:5]) + b"%x\r\n%s\r\n0\r\n\r\n"
                % (len(body) - 5, body[5:]))
        r = rc.read_response()
        self.assertEqual(r.status, 201, r)
        self.assertEqual(json.loads(r.body)["bike_id"], self.bike["id"])
        rc.close()

    def test_half_close_still_answered(self):
        """A client that sends its request and shuts down its side gets the
        (durable) answer, then the close."""
        rc = self.srv.raw()
        rc.send(http_request_bytes("POST", "/v1/riders", {"Content-Type": "application/json"},
                                   b"{}") + http_request_bytes("GET", "/healthz"))
        rc.sock.shutdown(socket.SHUT_WR)
        self.assertEqual(rc.read_response().status, 201)
        self.assertEqual(rc.read_response().status, 200)
        self.assertTrue(rc.closed_by_peer())
        rc.close()

    def test_pipelined_then_garbage(self):
        """Requests before a malformed one are answered, in order, before
        its 400 and the close."""
        rc = self.srv.raw()
        rc.send(http_request_bytes("POST", "/v1/riders", {"Content-Type": "application/json"},
                                   b"{}") + http_request_bytes("GET", "/healthz")
                + b"NONSENSE\r\n\r\n" + http_request_bytes("GET", "/healthz"))
        self.assertEqual(rc.read_response().status, 201)
        self.assertEqual(rc.read_response().status, 200)
        r = rc.read_response()
        self.assertProblem(r, 400, "malformed_request")
        self.assertTrue(rc.closed_by_peer())
        rc.close()
        self.assert_alive()

    def test_slow_client_does_not_block_others(self):
        rc = self.srv.raw(timeout=30)
        req = http_request_bytes("POST", "/v1/reservations",
                                 {"Authorization": "Bearer " + self.rider.token,
                                  "Content-Type": "application/json"},
                                 json.dumps({"bike_id": self.bike["id"]}).encode())
        half = len(req) // 2
        rc.send(req[:half])
        # Meanwhile others are served, reads and writes alike.
        t0 = time.monotonic()
        for _ in range(5):
            self.assert_alive()
        self.assertLess(time.monotonic() - t0, 10)
        other = self.sp.rider()
        r = other.http.post("/v1/trips", {"bike_id": self.sp.add_bike()["id"]})
        self.assertEqual(r.status, 202, r)
        # The slow request completes normally once the rest arrives, in
        # pieces.
        for i in range(half, len(req), 7):
            rc.send(req[i:i + 7])
        r = rc.read_response()
        self.assertEqual(r.status, 201, r)
        rc.close()
        # And one that gives up half-way changes nothing.
        rc = self.srv.raw()
        rc.send(req[:len(req) - 3])
        rc.close()
        self.assert_alive()
        self.assertEqual(self.sp.bike(self.bike["id"])["state"], "reserved")

    def test_many_connections(self):
        socks = []
        try:
            for _ in range(300):
                s = socket.create_connection(("127.0.0.1", self.srv.http_port), timeout=10)
                socks.append(s)
            for s in socks:
                s.sendall(http_request_bytes("GET", "/healthz"))
            for s in socks:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = s.recv(4096)
                    self.assertTrue(chunk)
                    data += chunk
                self.assertTrue(data.startswith(b"HTTP/1.1 200 "), data[:100])
        finally:
            for s in socks:
                s.close()
        self.assert_alive()
        wait_until(lambda: self.sp.metric("spoke_http_connections") < 50,
                   desc="closed connections counted down")


if __name__ == "__main__":
    unittest.main()
