# SPDX-License-Identifier: MIT
"""The secure lock dialect: a per-lock key made at registration; every frame
carries a counter and an HMAC; spoofed, replayed and reordered frames are
refused; the unlock is one command bound to lock, trip and expiry; plain
frames from a lock with a key, and plain locks of a vehicle type that
requires the secure dialect, are refused; the lock's counter outlives a
restart."""

import hashlib
import hmac
import re
import socket
import time
import unittest

from spoke_harness import HOME_LAT, HOME_LON, SpokeTestCase, new_imei, wait_until

FRAME = re.compile(rb"\xff\xff\*SCSS,([^#]*),([0-9a-f]{32})#\n")


class SecureLock:
    """A lock speaking the secure dialect, synchronously."""

    def __init__(self, port, imei, key_hex, counter=None):
        self.imei = imei
        self.key = bytes.fromhex(key_hex)
        self.counter = counter or int(time.time() * 1000)
        self.server_counter = 0
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def close(self):
        self.sock.close()

    def mac(self, text):
        return hmac.new(self.key, text, hashlib.sha256).hexdigest()[:32]

    def frame(self, cmd, *values, counter=None, key=None):
        if counter is None:
            self.counter += 1
            counter = self.counter
        head = "*SCSR,OM,%s,%d,%s," % (self.imei, counter, cmd)
        if values:
            head += ",".join(str(v) for v in values) + ","
        text = head.encode()
        mac = hmac.new(key or self.key, text, hashlib.sha256).hexdigest()[:32]
        return text + mac.encode() + b"#\n"

    def send(self, data):
        self.sock.sendall(data)

    def read(self, timeout=5.0):
        """The next server frame, verified: (counter, cmd, values); None if
        the connection closed; raises on a bad frame or a timeout."""
        deadline = time.monotonic() + timeout
        while True:
            m = FRAME.match(self.buf)
            if m:
                self.buf = self.buf[m.end():]
                body, mac = m.group(1), m.group(2).decode()
                text = b"*SCSS," + body + b","
                assert self.mac(text) == mac, "bad MAC from the server"
                f = body.decode().split(",")
                assert f[0] == "OM" and f[1] == self.imei, f
                counter = int(f[2])
                assert counter > self.server_counter, "server counter went back"
                self.server_counter = counter
                return counter, f[3], f[4:]
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(4096)
            except socket.timeout:
                raise AssertionError("no frame from the server; have %r" % self.buf)
            if not chunk:
                return None
            self.buf += chunk

    def silent(self, wait=0.3):
        """True if the server says nothing for a while (and stays connected)."""
        self.sock.settimeout(wait)
        try:
            chunk = self.sock.recv(4096)
        except socket.timeout:
            return True
        self.buf += chunk
        return False


class SecureDialectTest(SpokeTestCase):

    def setUp(self):
        super().setUp()
        self.srv = self.start_server(config={"unlock_key_valid_s": 45})
        self.sp = self.spoke(self.srv)

    def add_secure(self, vehicle_type="ebike"):
        r = self.sp.ops.post("/v1/ops/bikes", {
            "qr_code": "SEC-%d" % time.monotonic_ns(), "lock_imei": new_imei(),
            "lat": HOME_LAT, "lon": HOME_LON, "vehicle_type": vehicle_type,
            "secure_lock": True})
        self.assertEqual(r.status, 201, r)
        self.assertRegex(r.json["lock_key"], r"^[0-9a-f]{64}$")
        self.assertEqual(r.json["lock_dialect"], "secure")
        self.assertEqual(r.header("Cache-Control"), "no-store")
        return r.json

    def connect(self, bike):
        lock = SecureLock(self.srv.locks_port, bike["lock_imei"], bike["lock_key"])
        self.addCleanup(lock.close)
        lock.send(lock.frame("Q0", 412, 80, 28))
        self.sp.wait_lock_online(bike["id"])
        return lock

    def test_key_is_shown_once(self):
        bike = self.add_secure()
        got = self.sp.bike(bike["id"])
        self.assertNotIn("lock_key", got)
        self.assertEqual(got["lock_dialect"], "secure")
        plain = self.sp.add_bike()
        self.assertEqual(plain["lock_dialect"], "plain")
        self.assertNotIn("lock_key", plain)

    def test_ride_with_single_use_unlock(self):
        bike = self.add_secure()
        lock = self.connect(bike)
        lock.send(lock.frame("W0", 1))
        self.assertEqual(lock.read()[1:], ("W0", []))
        rider = self.sp.rider()
        r = rider.http.post("/v1/trips", {"bike_id": bike["id"]})
        self.assertEqual(r.status, 202, r)
        tid = r.json["id"]
        # One command, no key exchange: trip, rider and an expiry.
        _, cmd, values = lock.read()
        self.assertEqual(cmd, "L0")
        self.assertEqual(values[:2], [str(tid), str(rider.id)])
        self.assertAlmostEqual(int(values[2]), time.time() + 45, delta=5)
        lock.send(lock.frame("L0", 0, tid, int(time.time())))
        self.assertEqual(lock.read()[1], "L0")
        self.sp.wait_trip(rider, tid, "riding")
        lock.send(lock.frame("L1", rider.id, int(time.time()), 1))
        self.assertEqual(lock.read()[1], "L1")
        t = self.sp.wait_trip(rider, tid, "ended")
        self.assertEqual(rider.balance(), -t["fare"]["amount_cents"])

    def test_spoofed_replayed_and_reordered_frames(self):
        bike = self.add_secure()
        lock = self.connect(bike)
        bad_before = self.sp.metric("spoke_lock_bad_frames_total")
        # Spoofed: the right IMEI, the wrong key, on a new connection: it is
        # dropped, and the genuine session is not disturbed.
        spoof = SecureLock(self.srv.locks_port, bike["lock_imei"], "00" * 32)
        self.addCleanup(spoof.close)
        spoof.send(spoof.frame("Q0", 412, 80, 28))
        self.assertIsNone(spoof.read())
        self.assertIs(self.sp.bike(bike["id"])["lock_online"], True)
        # On the genuine session: a forged MAC, a replay, an old counter.
        lock.send(lock.frame("W0", 1, key=b"\x01" * 32))
        ok = lock.frame("W0", 2)
        lock.send(ok)
        self.assertEqual(lock.read()[1], "W0")
        lock.send(ok)  # the same frame again
        lock.send(lock.frame("W0", 3, counter=lock.counter - 5))
        self.assertTrue(lock.silent())
        wait_until(lambda: self.sp.metric("spoke_lock_bad_frames_total")
                   >= bad_before + 4, desc="bad frames counted")
        # A frame in the plain dialect from a lock with a key is refused too.
        lock.send(b"*SCOR,OM,%s,W0,1#\n" % bike["lock_imei"].encode())
        self.assertTrue(lock.silent())
        lock.send(lock.frame("W0", 4))
        self.assertEqual(lock.read()[1], "W0")
        # A plain connection claiming a secure lock is refused at once.
        plain = socket.create_connection(("127.0.0.1", self.srv.locks_port))
        self.addCleanup(plain.close)
        plain.sendall(b"*SCOR,OM,%s,Q0,412,80,28#\n" % bike["lock_imei"].encode())
        plain.settimeout(5)
        self.assertEqual(plain.recv(64), b"")
        self.assertIs(self.sp.bike(bike["id"])["lock_online"], True)

    def test_policy_refuses_plain_locks_of_a_type(self):
        r = self.sp.ops.put("/v1/ops/lock-policy", {"require_secure": ["ebike"]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.sp.ops.get("/v1/ops/lock-policy").json,
                         {"require_secure": ["ebike"]})
        ebike = self.sp.add_bike(vehicle_type="ebike")
        bicycle = self.sp.add_bike()
        for bike, allowed in ((ebike, False), (bicycle, True)):
            s = socket.create_connection(("127.0.0.1", self.srv.locks_port))
            self.addCleanup(s.close)
            s.sendall(b"*SCOR,OM,%s,W0,1#\n" % bike["lock_imei"].encode())
            s.settimeout(5)
            got = s.recv(64)
            self.assertEqual(got != b"", allowed, got)
        self.assertProblem(self.sp.ops.put("/v1/ops/lock-policy",
                                           {"require_secure": ["car"]}),
                           422, "invalid_field")
        # The policy outlives a restart.
        self.srv.restart()
        sp2 = self.spoke(self.srv)
        self.assertEqual(sp2.ops.get("/v1/ops/lock-policy").json,
                         {"require_secure": ["ebike"]})

    def test_counter_outlives_a_restart(self):
        bike = self.add_secure()
        lock = self.connect(bike)
        rider = self.sp.rider()
        r = rider.http.post("/v1/trips", {"bike_id": bike["id"]})
        tid = r.json["id"]
        lock.read()
        lock.send(lock.frame("L0", 0, tid, int(time.time())))
        lock.read()
        self.sp.wait_trip(rider, tid, "riding")
        l1 = lock.frame("L1", rider.id, int(time.time()), 1)
        lock.send(l1)
        lock.read()
        self.sp.wait_trip(rider, tid, "ended")
        lock.close()
        self.srv.kill9()
        self.srv.start()
        sp2 = self.spoke(self.srv)
        # The captured L1 (and the sign-in with the same counter) is refused.
        replay = SecureLock(self.srv.locks_port, bike["lock_imei"], bike["lock_key"])
        self.addCleanup(replay.close)
        replay.send(l1)
        self.assertIsNone(replay.read())
        # The lock itself, counting on, is welcome.
        lock2 = SecureLock(self.srv.locks_port, bike["lock_imei"],
                           bike["lock_key"], counter=lock.counter + 1)
        self.addCleanup(lock2.close)
        lock2.send(lock2.frame("Q0", 412, 80, 28))
        sp2.wait_lock_online(bike["id"])


if __name__ == "__main__":
    unittest.main()
