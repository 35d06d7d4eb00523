# SPDX-License-Identifier: MIT
"""Start-up: a bad configuration or a busy port stops `spoke serve` with a
message and a non-zero status (never a crash); good settings take effect."""

import os
import shutil
import socket
import subprocess
import tempfile
import unittest

from spoke_harness import SANITIZER_MARKERS, SpokeTestCase, spoke_path


class ConfigTest(SpokeTestCase):

    def serve(self, config_text=None, extra=()):
        """Runs spoke serve expecting it to refuse to start."""
        d = tempfile.mkdtemp(prefix="spoke-cfg-")
        self.addCleanup(shutil.rmtree, d, True)
        args = [spoke_path(), "serve", "--http", "127.0.0.1:0", "--locks", "127.0.0.1:0",
                "--db", os.path.join(d, "t.db")] + list(extra)
        if config_text is not None:
            path = os.path.join(d, "c.json")
            with open(path, "w") as f:
                f.write(config_text)
            args += ["--config", path]
        try:
            p = subprocess.run(args, capture_output=True, timeout=30, cwd=d)
        except subprocess.TimeoutExpired:
            self.fail("spoke serve started with %r" % (config_text,))
        err = p.stderr.decode("utf-8", "replace")
        for m in SANITIZER_MARKERS:
            self.assertNotIn(m, err)
        return p.returncode, err

    def test_bad_configs_are_refused(self):
        cases = [
            ("{", "cannot read config"),
            ("[]", "must be a JSON object"),
            ('{"colour": "red"}', "unknown key 'colour'"),
            ('{"reservation_hold_s": 5}', "reservation_hold_s"),
            ('{"unlock_timeout_s": 0}', "unlock_timeout_s"),
            ('{"unlock_timeout_s": 601}', "unlock_timeout_s"),
            ('{"unlock_timeout_s": "2"}', "unlock_timeout_s"),
            ('{"lock_idle_timeout_s": 9}', "lock_idle_timeout_s"),
            ('{"max_bad_frames": -1}', "max_bad_frames"),
            ('{"service_area": [[2.3, 48.8], [2.4, 48.9]]}', "service_area"),
            ('{"service_area": "paris"}', "service_area"),
            ('{"index_cell_m": 5}', "index_cell_m"),
            ('{"log_level": "loud"}', "log_level"),
            ('{"http": 8080}', "'http' must be a string"),
            ('{"dispatch": []}', "dispatch"),
            ('{"dispatch": {"trucks": -1}}', "trucks"),
            ('{"dispatch": {"cell_m": 10}}', "cell_m"),
            ('{"dispatch": {"route_iters": -5}}', "route_iters"),
            ('{"dispatch": {"service_level": 1.5}}', "service_level"),
            ('{"dispatch": {"depot": {"lat": 31.2}}}', "depot"),
            ('{"dispatch": {"reward": {"max_per_day": "3"}}}', "max_per_day"),
            ('{"dispatch": {"maintenance": {"colour": 1}}}', "colour"),
            ('{"dispatch": {"lorries": 3}}', "lorries"),
        ]
        for text, message in cases:
            with self.subTest(config=text):
                code, err = self.serve(text)
                self.assertNotEqual(code, 0, err)
                self.assertIn(message, err)

    def test_missing_config_file(self):
        code, err = self.serve(extra=["--config", "/nonexistent/spoke.json"])
        self.assertNotEqual(code, 0)
        self.assertIn("/nonexistent/spoke.json", err)

    def test_busy_port(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        try:
            code, err = self.serve(extra=["--http", "127.0.0.1:%d" % port])
            self.assertNotEqual(code, 0, err)
            self.assertIn(str(port), err)
            code, err = self.serve(extra=["--locks", "127.0.0.1:%d" % port])
            self.assertNotEqual(code, 0, err)
        finally:
            s.close()

    def test_settings_take_effect(self):
        srv = self.start_server(config={"max_bad_frames": 2, "unlock_key_valid_s": 45,
                                        "log_level": "info"})
        sp = self.spoke(srv)
        bike = sp.add_bike()
        lock = sp.lock(bike)
        bad = b"*SCOR,OM," + lock.imei.encode() + b",H0,bad#\n"
        lock.send_raw(bad + bad)
        lock.alarm(1)           # two bad frames are allowed
        lock.send_raw(bad)      # the third closes the session
        self.assertTrue(lock.wait_closed())
        lock = sp.lock(bike)
        rider = sp.rider()
        rider.http.post("/v1/trips", {"bike_id": bike["id"]})
        self.assertEqual(lock.wait_unlock_request().values[1], "45")

    def test_flags_override_the_config(self):
        d = tempfile.mkdtemp(prefix="spoke-cfg-")
        self.addCleanup(shutil.rmtree, d, True)
        srv = self.start_server(config={"db": os.path.join(d, "from-config.db"),
                                        "http": "127.0.0.1:1"})
        # --db and --http given by the harness win over the config file.
        self.assertFalse(os.path.exists(os.path.join(d, "from-config.db")))
        self.assertTrue(os.path.exists(srv.db))
        self.assertNotEqual(srv.http_port, 1)


if __name__ == "__main__":
    unittest.main()
