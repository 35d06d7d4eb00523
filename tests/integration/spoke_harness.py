# SPDX-License-Identifier: MIT
"""Shared harness of the integration and API suites (Python 3 stdlib only).

- Server: runs `spoke serve` on port 0 with a fresh temporary database (and
  an optional JSON config), finds its ports in the "listening" log line,
  stops it with SIGTERM (then SIGKILL), can kill -9 and restart it on the
  same database, and scans its stderr for sanitizer reports.
- Client / RawConn: a keep-alive JSON HTTP client, and a raw socket for
  requests http.client cannot send (malformed, pipelined, half-sent).
- Spoke: a running server plus an operator token, riders, bikes and locks.
- SimLock: a simulated Omni smart lock speaking the gateway protocol (SCOR
  or CMDR dialect) that answers unlock requests, reports, and checks every
  acknowledgement byte for byte.
- SpokeTestCase: a unittest base class that owns servers, always stops them,
  fails a test whose server crashed or printed a sanitizer report, and shows
  the tail of the server's stderr when a test fails.

The spoke binary comes from set_spoke() (run.py --spoke) or $SPOKE.
"""

import atexit
import collections
import http.client
import itertools
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

_SPOKE = os.path.abspath(os.environ["SPOKE"]) if os.environ.get("SPOKE") else ""

# Time limits. A sanitizer build is slower, so every wait has room.
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 20.0
WAIT_S = 15.0
HTTP_TIMEOUT_S = 30.0

SANITIZER_MARKERS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",
    "ThreadSanitizer",
)

# The reason phrases the server uses: the status line's and, per RFC 9457
# for "type": "about:blank", the problem's "title".
STATUS_TEXT = {
    200: "OK", 201: "Created", 202: "Accepted", 204: "No Content",
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 408: "Request Timeout", 409: "Conflict",
    413: "Content Too Large", 414: "URI Too Long", 415: "Unsupported Media Type",
    422: "Unprocessable Content", 431: "Request Header Fields Too Large",
    500: "Internal Server Error", 503: "Service Unavailable",
}

# A spot in Paris; bikes are placed around it.
HOME_LAT = 48.8566
HOME_LON = 2.3522


def set_spoke(path):
    global _SPOKE
    _SPOKE = os.path.abspath(path)
    os.environ["SPOKE"] = _SPOKE


def spoke_path():
    if not _SPOKE:
        raise RuntimeError("no spoke binary: pass --spoke PATH or set $SPOKE")
    return _SPOKE


def wait_until(fn, timeout=WAIT_S, interval=0.01, desc="condition"):
    """Polls fn() until it returns a truthy value (returned) or the deadline
    passes (AssertionError naming desc and the last value)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = fn()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s (last: %r)"
                                 % (timeout, desc, last))
        time.sleep(interval)
        interval = min(interval * 1.5, 0.2)


# ---------------------------------------------------------------------------
# The server process


_live_servers = set()
_all_dirs = set()
_live_lock = threading.Lock()


def kill_all_servers():
    """Kills every server still running (used at exit and by watchdogs)."""
    with _live_lock:
        servers = list(_live_servers)
    for s in servers:
        try:
            s.kill9()
        except Exception:
            pass


def _at_exit():
    kill_all_servers()
    with _live_lock:
        dirs = list(_all_dirs)
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)


atexit.register(_at_exit)


class ServerError(Exception):
    pass


class Server:
    """One `spoke serve` with its own temporary directory and database.

    start() may be called again after stop() or kill9(): the server comes back
    on the same database (with new ports)."""

    def __init__(self, config=None, spoke=None, name="spoke"):
        self.spoke = spoke or spoke_path()
        self.dir = tempfile.mkdtemp(prefix="spoke-test-")
        with _live_lock:
            _all_dirs.add(self.dir)
        self.db = os.path.join(self.dir, "spoke.db")
        self.config = config
        self.name = name
        self.proc = None
        self.http_port = None
        self.locks_port = None
        self.starts = 0
        self.log_paths = []
        self.exit_codes = []  # (how, code) for every stop or kill
        self._stderr_cache = None
        self._op_token = None

    # -- lifecycle ----------------------------------------------------------

    def start(self):
        if self.proc is not None:
            raise ServerError("already running")
        self.starts += 1
        log_path = os.path.join(self.dir, "stderr.%d.log" % self.starts)
        self.log_paths.append(log_path)
        args = [self.spoke, "serve", "--http", "127.0.0.1:0", "--locks",
                "127.0.0.1:0", "--db", self.db]
        # Runs a suite with lock sessions in worker processes (run.py
        # --gateway-workers N sets it).
        workers = os.environ.get("SPOKE_TEST_GATEWAY_WORKERS")
        if workers:
            args += ["--gateway-workers", workers]
        if self.config is not None:
            cfg_path = os.path.join(self.dir, "config.json")
            with open(cfg_path, "w") as f:
                json.dump(self.config, f)
            args += ["--config", cfg_path]
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        with open(log_path, "wb") as err:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL,
                                         stderr=err, cwd=self.dir, env=env)
        with _live_lock:
            _live_servers.add(self)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            line = self._listening_line(log_path)
            if line:
                self.http_port = int(line["http"].rsplit(":", 1)[1])
                self.locks_port = int(line["locks"].rsplit(":", 1)[1])
                return self
            code = self.proc.poll()
            if code is not None:
                self._reap(("start", code))
                raise ServerError("spoke serve exited with %d at start:\n%s"
                                  % (code, self.stderr_tail()))
            if time.monotonic() > deadline:
                self.kill9()
                raise ServerError("spoke serve did not log 'listening':\n%s"
                                  % self.stderr_tail())
            time.sleep(0.01)

    @staticmethod
    def _listening_line(path):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            return None
        for raw in data.splitlines():
            try:
                obj = json.loads(raw)
            except ValueError:
                continue
            if isinstance(obj, dict) and obj.get("msg") == "listening":
                return obj
        return None

    def _reap(self, how_code):
        self.exit_codes.append(how_code)
        self.proc = None
        with _live_lock:
            _live_servers.discard(self)

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """SIGTERM, then SIGKILL after STOP_TIMEOUT_S. Returns the exit code
        (None if it was not running)."""
        if self.proc is None:
            return None
        proc = self.proc
        code = proc.poll()
        how = "exited"
        if code is None:
            how = "sigterm"
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                how = "sigkill-after-sigterm"
                proc.kill()
                code = proc.wait()
        self._reap((how, code))
        return code

    def kill9(self):
        if self.proc is None:
            return None
        proc = self.proc
        if proc.poll() is None:
            proc.kill()
        code = proc.wait()
        self._reap(("kill9", code))
        return code

    def restart(self):
        self.stop()
        return self.start()

    def cleanup(self):
        """Stops the server, keeps its stderr in memory, removes the dir."""
        self.stop()
        self._stderr_cache = self.stderr_text()
        shutil.rmtree(self.dir, ignore_errors=True)
        with _live_lock:
            _all_dirs.discard(self.dir)

    # -- output -------------------------------------------------------------

    def stderr_text(self):
        if self._stderr_cache is not None:
            return self._stderr_cache
        parts = []
        for i, p in enumerate(self.log_paths):
            try:
                with open(p, "rb") as f:
                    data = f.read().decode("utf-8", "replace")
            except OSError:
                data = ""
            if len(self.log_paths) > 1:
                parts.append("---- start %d ----\n" % (i + 1))
            parts.append(data)
        return "".join(parts)

    def stderr_tail(self, lines=40):
        text = self.stderr_text().splitlines()
        return "\n".join(text[-lines:])

    def sanitizer_report(self):
        """The sanitizer report in stderr (with context), or None."""
        text = self.stderr_text()
        for marker in SANITIZER_MARKERS:
            i = text.find(marker)
            if i >= 0:
                start = text.rfind("\n", 0, max(0, i - 200)) + 1
                return text[start:start + 6000]
        return None

    def log_events(self, msg=None):
        """The JSON log lines, optionally only those with "msg" == msg."""
        out = []
        for raw in self.stderr_text().splitlines():
            try:
                obj = json.loads(raw)
            except ValueError:
                continue
            if isinstance(obj, dict) and (msg is None or obj.get("msg") == msg):
                out.append(obj)
        return out

    # -- helpers ------------------------------------------------------------

    def operator_token(self):
        """A fresh operator token (spoke token create), cached per server."""
        if self._op_token is None:
            self._op_token = create_operator_token(self.spoke, self.db)
        return self._op_token

    def client(self, token=None, timeout=HTTP_TIMEOUT_S):
        return Client("127.0.0.1", self.http_port, token=token, timeout=timeout)

    def raw(self, timeout=10.0):
        return RawConn("127.0.0.1", self.http_port, timeout=timeout)


def create_operator_token(spoke, db):
    out = subprocess.run([spoke, "token", "create", "--role", "operator",
                          "--db", db], stdin=subprocess.DEVNULL,
                         capture_output=True, timeout=60)
    if out.returncode != 0:
        raise ServerError("spoke token create failed (%d): %s"
                          % (out.returncode, out.stderr.decode("utf-8", "replace")))
    token = out.stdout.decode().strip()
    if not re.fullmatch(r"[A-Za-z0-9_-]{43}", token):
        raise ServerError("spoke token create printed %r" % token)
    return token


# ---------------------------------------------------------------------------
# HTTP


class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name, value)
        self.body = body
        self._json = None

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    @property
    def content_type(self):
        return self.header("Content-Type", "")

    @property
    def json(self):
        if self._json is None:
            try:
                self._json = json.loads(self.body.decode("utf-8"))
            except ValueError as e:
                raise AssertionError("response body is not JSON (%s): %r"
                                     % (e, self.body[:300]))
        return self._json

    @property
    def code(self):
        """The problem `code` of an error response (None if not JSON)."""
        try:
            j = self.json
        except AssertionError:
            return None
        return j.get("code") if isinstance(j, dict) else None

    def __repr__(self):
        return "<Response %d %s>" % (self.status, self.body[:300])


class Client:
    """A keep-alive HTTP/1.1 client. Bodies that are not bytes/str are sent
    as JSON. token=None uses the client's token; token="" sends none."""

    def __init__(self, host, port, token=None, timeout=HTTP_TIMEOUT_S):
        self.host = host
        self.port = port
        self.token = token
        self.timeout = timeout
        self.conn = http.client.HTTPConnection(host, port, timeout=timeout)

    def close(self):
        self.conn.close()

    def request(self, method, path, body=None, token=None, headers=None,
                content_type="application/json"):
        hdrs = {}
        tok = self.token if token is None else token
        if tok:
            hdrs["Authorization"] = "Bearer " + tok
        data = None
        if body is not None:
            if isinstance(body, bytes):
                data = body
            elif isinstance(body, str):
                data = body.encode("utf-8")
            else:
                data = json.dumps(body).encode("utf-8")
            if content_type:
                hdrs["Content-Type"] = content_type
        if headers:
            hdrs.update(headers)
        try:
            self.conn.request(method, path, body=data, headers=hdrs)
            r = self.conn.getresponse()
            payload = r.read()
        except Exception:
            self.conn.close()
            raise
        resp = Response(r.status, r.reason, r.getheaders(), payload)
        if (resp.header("Connection", "").lower() == "close"):
            self.conn.close()
        return resp

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


class RawConn:
    """A plain TCP connection to the HTTP port, with a response reader."""

    def __init__(self, host, port, timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed")
        self.buf += chunk

    def read_response(self, head_request=False):
        """Reads one response (Content-Length framed)."""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        m = re.fullmatch(r"HTTP/1\.[01] (\d{3}) (.*)", lines[0])
        if not m:
            raise AssertionError("bad status line %r" % lines[0])
        headers = []
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers.append((k.strip(), v.strip()))
        resp = Response(int(m.group(1)), m.group(2), headers, b"")
        n = 0 if head_request else int(resp.header("Content-Length", "0"))
        while len(self.buf) < n:
            self._fill()
        resp.body, self.buf = self.buf[:n], self.buf[n:]
        return resp

    def closed_by_peer(self, timeout=5.0):
        """True if the peer closes (EOF or reset) within timeout with no
        further bytes; False if bytes arrive or it stays open."""
        if self.buf:
            return False
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(1)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
        return data == b""


def http_request_bytes(method, path, headers=None, body=b"", version="1.1"):
    """Builds a request by hand (Host added; Content-Length if a body)."""
    lines = ["%s %s HTTP/%s" % (method, path, version), "Host: 127.0.0.1"]
    for k, v in (headers or {}).items():
        lines.append("%s: %s" % (k, v))
    if isinstance(body, str):
        body = body.encode()
    if body:
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


# ---------------------------------------------------------------------------
# The simulated lock


def nmea(deg, is_lon):
    """Decimal degrees as the NMEA text (ddmm.mmmm / dddmm.mmmm) and hemi."""
    hemi = ("E" if deg >= 0 else "W") if is_lon else ("N" if deg >= 0 else "S")
    a = abs(deg)
    d = int(a)
    minutes = round((a - d) * 60, 4)
    if minutes >= 60:
        d, minutes = d + 1, 0.0
    text = ("%03d" if is_lon else "%02d") % d + "%07.4f" % minutes
    return text, hemi


def nmea_value(text, is_lon):
    """The decimal degrees that NMEA text decodes to (unsigned)."""
    n = 3 if is_lon else 2
    return int(text[:n]) + float(text[n:]) / 60.0


_imei_seq = itertools.count(1)
_imei_base = random.randint(10 ** 10, 9 * 10 ** 10)


def new_imei():
    """A 15-digit IMEI unique within this test run."""
    return "86%013d" % (_imei_base * 100 + next(_imei_seq))


class Frame:
    """A frame from the server: raw bytes and its fields."""

    def __init__(self, raw, tag, vendor, imei, stamp, cmd, values):
        self.raw = raw
        self.tag = tag
        self.vendor = vendor
        self.imei = imei
        self.stamp = stamp
        self.cmd = cmd
        self.values = values

    @property
    def is_ack(self):
        return not self.values and self.cmd in ("L0", "L1", "W0", "E0")

    def __repr__(self):
        return "<Frame %r>" % self.raw


_FRAME_RE = re.compile(rb"\xff\xff\*([A-Z]{4}),([^#*]*)#\n")


def parse_server_frame(raw):
    """Parses raw (0xFF 0xFF ... #\\n) strictly; None if it does not match."""
    m = _FRAME_RE.fullmatch(raw)
    if not m:
        return None
    tag = m.group(1).decode()
    fields = m.group(2).decode("ascii", "replace").split(",")
    if tag not in ("SCOS", "CMDS") or len(fields) < 3:
        return None
    vendor, imei = fields[0], fields[1]
    rest = fields[2:]
    stamp = None
    if tag == "CMDS":
        if not rest or not re.fullmatch(r"\d{12}", rest[0]):
            return None
        stamp, rest = rest[0], rest[1:]
    elif len(rest) > 1 and re.fullmatch(r"\d{12}", rest[0]):
        stamp, rest = rest[0], rest[1:]
    if not rest or not re.fullmatch(r"\d{15}", imei):
        return None
    return Frame(raw, tag, vendor, imei, stamp, rest[0], rest[1:])


class SimLock:
    """A simulated Omni lock connected to the gateway.

    key_mode:    "auto" answers each R0 key request with a one-time key,
                 "ignore" never answers, "manual" waits for answer_key().
    result_mode: "ok" answers the L0 unlock with success, "refuse" with
                 failure, "silent" not at all.
    Every frame the server sends must be exactly 0xFF 0xFF *SCOS|*CMDS ... #\\n
    for this IMEI and dialect; every L0/L1/W0/E0 this lock sends must be
    acknowledged with exactly the expected bytes, in order. Violations are
    collected in .errors (see assert_clean)."""

    ACKED = ("L0", "L1", "W0", "E0")

    def __init__(self, port, imei, dialect="SCOR", key_mode="auto",
                 result_mode="ok", vendor="OM", host="127.0.0.1",
                 key_validity_s=None):
        assert dialect in ("SCOR", "CMDR")
        self.host = host
        self.port = port
        self.imei = str(imei)
        self.dialect = dialect
        self.vendor = vendor
        self.key_mode = key_mode
        self.result_mode = result_mode
        self.key_validity_s = key_validity_s
        self.sock = None
        self.frames = []          # every frame received, in order
        self.unlock_requests = []  # R0 frames from the server
        self.unlock_commands = []  # L0 frames (with a key) from the server
        self.acks = []            # ack frames received
        self.errors = []          # protocol violations seen
        self.closed = False
        self.riding_user = None   # user id of the last confirmed unlock
        self.last_key = None
        self._pending_acks = collections.deque()
        self._acked = 0
        self._sent_acked = 0
        self._cv = threading.Condition()
        self._send_lock = threading.Lock()
        self._stamp_base = int(time.time())
        self._stamp_seq = itertools.count(0)
        self._key_seq = itertools.count(1)
        self._manual = []
        self._reader = None

    # -- connection ---------------------------------------------------------

    def connect(self, sign_in=True, battery=87):
        self.sock = socket.create_connection((self.host, self.port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(None)
        self._reader = threading.Thread(target=self._read_loop, daemon=True,
                                        name="lock-%s" % self.imei)
        self._reader.start()
        if sign_in:
            self.sign_in(battery=battery)
        return self

    def close(self):
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                self.sock.close()
            except OSError:
                pass
        if self._reader is not None:
            self._reader.join(5)

    def wait_closed(self, timeout=WAIT_S):
        """True once the server closed the connection (within timeout)."""
        with self._cv:
            return self._cv.wait_for(lambda: self.closed, timeout)

    # -- building and sending ----------------------------------------------

    def next_stamp(self):
        t = self._stamp_base + next(self._stamp_seq)
        return time.strftime("%y%m%d%H%M%S", time.gmtime(t))

    def frame(self, cmd, *values, stamp=None):
        """The bytes of a lock-to-server frame (and the stamp it carries)."""
        tag = self.dialect
        fields = [tag, self.vendor, self.imei]
        if self.dialect == "CMDR":
            stamp = stamp or self.next_stamp()
        if stamp:
            fields.append(stamp)
        fields.append(cmd)
        fields += [str(v) for v in values]
        return ("*" + ",".join(fields) + "#\n").encode("ascii"), stamp

    def expected_ack(self, cmd, stamp):
        if self.dialect == "CMDR":
            body = "*CMDS,%s,%s,%s,%s#\n" % (self.vendor, self.imei, stamp, cmd)
        else:  # the SCOR dialect never echoes a stamp
            body = "*SCOS,%s,%s,%s#\n" % (self.vendor, self.imei, cmd)
        return b"\xff\xff" + body.encode("ascii")

    def send_raw(self, data, ack=None, wait_ack=True, timeout=WAIT_S):
        """Sends bytes as they are. ack: the exact acknowledgement (or list
        of them, in order) they must draw, waited for unless wait_ack is
        false."""
        if isinstance(data, str):
            data = data.encode("latin-1")
        if isinstance(ack, bytes):
            ack = [ack]
        with self._send_lock:
            if ack:
                with self._cv:
                    self._pending_acks.extend(ack)
                    self._sent_acked += len(ack)
                    target = self._sent_acked
            self.sock.sendall(data)
        if ack and wait_ack:
            self.wait_acked(target, timeout)

    def send(self, cmd, *values, stamp=None, wait_ack=True, timeout=WAIT_S):
        """Sends one report. For L0/L1/W0/E0 the exact acknowledgement is
        expected; with wait_ack it is waited for (AssertionError if it does
        not come)."""
        data, stamp = self.frame(cmd, *values, stamp=stamp)
        needs_ack = cmd in self.ACKED
        with self._send_lock:
            if needs_ack:
                with self._cv:
                    self._pending_acks.append(self.expected_ack(cmd, stamp))
                    self._sent_acked += 1
                    target = self._sent_acked
            self.sock.sendall(data)
        if needs_ack and wait_ack:
            self.wait_acked(target, timeout)
        return stamp

    def wait_acked(self, n=None, timeout=WAIT_S):
        """Waits until n (default: all sent so far) acks have arrived."""
        with self._cv:
            n = self._sent_acked if n is None else n
            ok = self._cv.wait_for(lambda: self._acked >= n or self.errors
                                   or self.closed, timeout)
            if self.errors:
                raise AssertionError("lock %s: %s" % (self.imei, self.errors))
            if self._acked < n and self.closed:
                raise ConnectionError("lock %s: connection closed with %d acks "
                                      "missing" % (self.imei, n - self._acked))
            if not ok:
                raise AssertionError("lock %s: %d of %d acks after %.1fs"
                                     % (self.imei, self._acked, n, timeout))

    def sign_in(self, battery=87, voltage_cv=412, signal=24):
        self.send("Q0", voltage_cv, battery, signal)

    def heartbeat(self, locked=True, battery=80, voltage_cv=405, signal=22,
                  charging=0):
        self.send("H0", 1 if locked else 0, voltage_cv, signal, battery,
                  charging)

    def position(self, lat, lon, valid=True):
        """Sends a D0 fix; returns the (lat, lon) the server should decode."""
        lat_t, lat_h = nmea(lat, False)
        lon_t, lon_h = nmea(lon, True)
        now = time.gmtime()
        self.send("D0", 0, time.strftime("%H%M%S", now) + ".00",
                  "A" if valid else "V", lat_t, lat_h, lon_t, lon_h, 9, "0.90",
                  time.strftime("%d%m%y", now), "35.0", "M", "A")
        dlat = nmea_value(lat_t, False) * (1 if lat_h == "N" else -1)
        dlon = nmea_value(lon_t, True) * (1 if lon_h == "E" else -1)
        return dlat, dlon

    def alarm(self, code=1):
        return self.send("W0", code)

    def fault(self, code=3):
        return self.send("E0", code)

    def locked(self, user_id=None, minutes=1, ts=None):
        """Sends L1 (the rider closed the lock) and waits for its ack."""
        uid = self.riding_user if user_id is None else user_id
        assert uid is not None, "no user to lock for"
        return self.send("L1", uid, int(ts or time.time()), minutes)

    # -- unlock handshake ---------------------------------------------------

    def wait_unlock_request(self, n=1, timeout=WAIT_S):
        """Waits until n R0 requests arrived; returns the n-th."""
        with self._cv:
            ok = self._cv.wait_for(lambda: len(self.unlock_requests) >= n,
                                   timeout)
            if not ok:
                raise AssertionError("lock %s: no unlock request #%d in %.1fs"
                                     % (self.imei, n, timeout))
            return self.unlock_requests[n - 1]

    def wait_unlock_command(self, n=1, timeout=WAIT_S):
        with self._cv:
            ok = self._cv.wait_for(lambda: len(self.unlock_commands) >= n,
                                   timeout)
            if not ok:
                raise AssertionError("lock %s: no L0 unlock #%d in %.1fs"
                                     % (self.imei, n, timeout))
            return self.unlock_commands[n - 1]

    def answer_key(self, timeout=WAIT_S):
        """In key_mode "manual": answers the oldest waiting R0."""
        with self._cv:
            ok = self._cv.wait_for(lambda: self._manual, timeout)
            if not ok:
                raise AssertionError("lock %s: no R0 to answer" % self.imei)
            req = self._manual.pop(0)
        self._send_key(req)

    def _send_key(self, req):
        key = "K%dx%s" % (next(self._key_seq), self.imei[-4:])
        self.last_key = key
        user, ts = req.values[2], req.values[3]
        self.send("R0", 0, key, user, ts, wait_ack=False)

    def _on_key_request(self, f):
        if len(f.values) != 4 or f.values[0] != "0":
            self._error("bad R0 from server: %r" % f.raw)
            return
        if not (f.values[1].isdigit() and f.values[2].isdigit()
                and f.values[3].isdigit()):
            self._error("non-numeric R0 values: %r" % f.raw)
            return
        if (self.key_validity_s is not None
                and int(f.values[1]) != self.key_validity_s):
            self._error("R0 key validity %s, expected %d"
                        % (f.values[1], self.key_validity_s))
        if abs(int(f.values[3]) - time.time()) > 120:
            self._error("R0 timestamp %s is not now" % f.values[3])
        if self.dialect == "CMDR" and not f.stamp:
            self._error("CMDS R0 without a stamp")
        self.unlock_requests.append(f)
        if self.key_mode == "auto":
            threading.Thread(target=self._send_key, args=(f,),
                             daemon=True).start()
        elif self.key_mode == "manual":
            self._manual.append(f)

    def _on_unlock(self, f):
        if len(f.values) != 3:
            self._error("bad L0 from server: %r" % f.raw)
            return
        key, user, ts = f.values
        if key != self.last_key:
            self._error("L0 key %r, expected %r" % (key, self.last_key))
        req = self.unlock_requests[-1] if self.unlock_requests else None
        if req is None or req.values[2] != user:
            self._error("L0 for user %s, R0 was for %r"
                        % (user, req and req.values[2]))
        self.unlock_commands.append(f)
        mode = self.result_mode
        if mode == "silent":
            return

        def answer():
            try:
                if mode == "ok":
                    self.riding_user = int(user)
                self.send("L0", 0 if mode == "ok" else 1, user, ts,
                          wait_ack=False)
            except OSError:
                pass
        threading.Thread(target=answer, daemon=True).start()

    # -- reading ------------------------------------------------------------

    def _error(self, msg):
        self.errors.append(msg)
        self._cv.notify_all()

    def _read_loop(self):
        buf = b""
        sock = self.sock
        try:
            while True:
                try:
                    chunk = sock.recv(65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    break
                buf += chunk
                while True:
                    i = buf.find(b"#\n")
                    if i < 0:
                        break
                    raw, buf = buf[:i + 2], buf[i + 2:]
                    with self._cv:
                        self._on_frame(raw)
                        self._cv.notify_all()
        finally:
            with self._cv:
                if buf:
                    self._error("trailing bytes before close: %r" % buf[:200])
                self.closed = True
                self._cv.notify_all()

    def _on_frame(self, raw):
        f = parse_server_frame(raw)
        if f is None:
            self._error("malformed frame from server: %r" % raw)
            return
        self.frames.append(f)
        want_tag = "CMDS" if self.dialect == "CMDR" else "SCOS"
        if f.tag != want_tag or f.imei != self.imei or f.vendor != self.vendor:
            self._error("frame for the wrong lock or dialect: %r" % raw)
            return
        if f.is_ack:
            if not self._pending_acks:
                self._error("unexpected ack %r" % raw)
                return
            want = self._pending_acks.popleft()
            if raw != want:
                self._error("ack %r, expected %r" % (raw, want))
                return
            self.acks.append(f)
            self._acked += 1
        elif f.cmd == "R0":
            self._on_key_request(f)
        elif f.cmd == "L0":
            self._on_unlock(f)
        # Other commands (D0 position requests, ...) are recorded only.

    def assert_clean(self, timeout=WAIT_S):
        """Fails on any protocol violation or ack still missing."""
        with self._cv:
            self._cv.wait_for(lambda: self._acked >= self._sent_acked
                              or self.errors or self.closed, timeout)
            if self.errors:
                raise AssertionError("lock %s: %s" % (self.imei, self.errors))
            if self._acked < self._sent_acked:
                raise AssertionError("lock %s: %d acks missing"
                                     % (self.imei, self._sent_acked - self._acked))


# ---------------------------------------------------------------------------
# A running server with its operator, riders, bikes and locks


class Rider:
    def __init__(self, spoke, data):
        self.id = data["id"]
        self.token = data["token"]
        self.data = data
        self.http = spoke.server.client(token=self.token)

    def me(self):
        r = self.http.get("/v1/me")
        assert r.status == 200, r
        return r.json

    def balance(self):
        return self.me()["balance_cents"]


_qr_seq = itertools.count(1)


class Spoke:
    """Conveniences over one running Server."""

    def __init__(self, server):
        self.server = server
        self.op_token = server.operator_token()
        self.ops = server.client(token=self.op_token)
        self.anon = server.client()
        self.locks = []
        self.clients = [self.ops, self.anon]

    def close(self):
        for lk in self.locks:
            lk.close()
        for c in self.clients:
            c.close()

    def client(self, token=None):
        c = self.server.client(token=token)
        self.clients.append(c)
        return c

    def rider(self):
        """A new rider (POST /v1/riders)."""
        r = self.anon.post("/v1/riders", {})
        if r.status != 201:
            raise AssertionError("POST /v1/riders: %r" % r)
        return self.rider_from(r.json)

    def rider_from(self, data):
        """A Rider for a rider created earlier (data has id and token)."""
        rd = Rider(self, data)
        self.clients.append(rd.http)
        return rd

    def add_bike(self, lat=HOME_LAT, lon=HOME_LON, qr=None, imei=None,
                 vehicle_type=None):
        body = {"qr_code": qr or "QR-%06d" % next(_qr_seq),
                "lock_imei": imei or new_imei(), "lat": lat, "lon": lon}
        if vehicle_type:
            body["vehicle_type"] = vehicle_type
        r = self.ops.post("/v1/ops/bikes", body)
        if r.status != 201:
            raise AssertionError("POST /v1/ops/bikes: %r" % r)
        return r.json

    def bike(self, bike_id):
        r = self.ops.get("/v1/ops/bikes/%d" % bike_id)
        assert r.status == 200, r
        return r.json

    def bikes(self, state=None):
        out, after = [], 0
        while True:
            q = "/v1/ops/bikes?limit=1000&after=%d" % after
            if state:
                q += "&state=" + state
            r = self.ops.get(q)
            assert r.status == 200, r
            out += r.json["bikes"]
            if r.json["next_after"] is None:
                return out
            after = r.json["next_after"]

    def ops_trip(self, trip_id):
        r = self.ops.get("/v1/ops/trips/%d" % trip_id)
        assert r.status == 200, r
        return r.json

    def lock(self, bike, dialect="SCOR", key_mode="auto", result_mode="ok",
             sign_in=True, battery=87):
        """A SimLock for bike (its representation), connected."""
        lk = SimLock(self.server.locks_port, bike["lock_imei"], dialect=dialect,
                     key_mode=key_mode, result_mode=result_mode)
        lk.connect(sign_in=sign_in, battery=battery)
        self.locks.append(lk)
        return lk

    def wait_lock_online(self, bike_id, online=True, timeout=WAIT_S):
        return wait_until(lambda: self.bike(bike_id)["lock_online"] == online,
                          timeout, desc="bike %d lock_online=%s" % (bike_id, online))

    def wait_trip(self, rider, trip_id, states, timeout=WAIT_S):
        """Polls the rider's trip until its state is in states; returns it."""
        if isinstance(states, str):
            states = (states,)
        last = {}

        def check():
            r = rider.http.get("/v1/trips/%d" % trip_id)
            assert r.status == 200, r
            last["t"] = r.json
            return r.json if r.json["state"] in states else None
        return wait_until(check, timeout,
                          desc="trip %d in %s" % (trip_id, states))

    def metric(self, name, labels=None):
        """The value of a /metrics sample (summed over its labels unless
        labels, e.g. 'state="on_trip"', picks one)."""
        r = self.anon.get("/metrics")
        assert r.status == 200, r
        total, found = 0.0, False
        for line in r.body.decode().splitlines():
            if not line or line.startswith("#"):
                continue
            key, _, val = line.rpartition(" ")
            base, _, lab = key.partition("{")
            if base != name:
                continue
            if labels is not None and lab.rstrip("}") != labels:
                continue
            total += float(val)
            found = True
        if not found:
            raise AssertionError("metric %s{%s} not found" % (name, labels or ""))
        return total


def fare_for(duration_ms, unlock_cents=100, rate_cents=15):
    """The default plan's fare: the unlock fee plus the rate for every
    started minute."""
    if duration_ms <= 0:
        return unlock_cents
    return unlock_cents + rate_cents * math.ceil(duration_ms / 60000.0)


def parse_time_ms(s):
    """RFC 3339 UTC with milliseconds ("2026-11-29T10:43:17.123Z") to ms."""
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})Z", s)
    assert m, "not an RFC 3339 UTC time with milliseconds: %r" % s
    import calendar
    secs = calendar.timegm(tuple(int(x) for x in m.groups()[:6]) + (0, 0, 0))
    return secs * 1000 + int(m.group(7))


# ---------------------------------------------------------------------------
# unittest integration


class SpokeTestCase(unittest.TestCase):
    """Base class: servers started through start_server()/start_class_server()
    are always stopped; a test fails if its server crashed, printed a
    sanitizer report, or did not exit 0 on SIGTERM; the stderr tail of the
    servers is printed when a test fails."""

    class_servers = ()

    @classmethod
    def start_class_server(cls, config=None):
        """A server shared by the tests of the class: checked after each
        test, stopped (and checked) after the class, even if setUpClass
        fails later on."""
        srv = Server(config=config)
        cls._class_server_list().append(srv)
        cls.addClassCleanup(cls._finish_class_server, srv)
        srv.start()
        return srv

    @classmethod
    def _class_server_list(cls):
        if "_cls_servers" not in cls.__dict__:
            cls._cls_servers = []
        return cls._cls_servers

    @classmethod
    def _finish_class_server(cls, srv):
        errors = []
        unexpected = [c for c in srv.exit_codes if c[0] in ("exited", "start")]
        code = srv.stop()
        if unexpected:
            errors.append("the server died by itself: %r" % unexpected)
        if code not in (None, 0):
            errors.append("the server exited with %s on SIGTERM" % code)
        rep = srv.sanitizer_report()
        if rep:
            errors.append("sanitizer report:\n" + rep)
        if errors:
            sys.stderr.write("\n==== %s server stderr (tail) ====\n%s\n"
                             % (cls.__name__, srv.stderr_tail(60)))
        srv.cleanup()
        cls._cls_servers.remove(srv)
        if errors:
            raise AssertionError("; ".join(errors))

    def setUp(self):
        self._servers = []

    def start_server(self, config=None):
        """A server owned by this test: stopped (and checked) at its end."""
        srv = Server(config=config)
        self._servers.append(srv)
        self.addCleanup(self._finish_server, srv)
        srv.start()
        return srv

    def spoke(self, srv):
        sp = Spoke(srv)
        self.addCleanup(sp.close)
        return sp

    def _finish_server(self, srv):
        unexpected = [c for c in srv.exit_codes if c[0] in ("exited", "start")]
        code = srv.stop()
        rep = srv.sanitizer_report()
        srv.cleanup()
        if rep:
            self.fail("sanitizer report on the server's stderr:\n" + rep)
        if unexpected:
            self.fail("the server died by itself: %r" % unexpected)
        if code not in (None, 0):
            self.fail("the server exited with %s on SIGTERM" % code)

    def check_server(self, srv):
        """Fails if srv died or reported a sanitizer error so far."""
        rep = srv.sanitizer_report()
        if rep:
            self.fail("sanitizer report on the server's stderr:\n" + rep)
        if srv.proc is not None and srv.proc.poll() is not None:
            self.fail("the server exited with %s" % srv.proc.returncode)

    def tearDown(self):
        for srv in self.__class__.__dict__.get("_cls_servers", []):
            self.check_server(srv)

    def run(self, result=None):
        before = 0
        if result is not None:
            before = len(result.failures) + len(result.errors)
        out = super().run(result)
        if result is not None and len(result.failures) + len(result.errors) > before:
            servers = list(getattr(self, "_servers", []))
            servers += self.__class__.__dict__.get("_cls_servers", [])
            for srv in servers:
                sys.stderr.write("\n==== %s: server stderr (tail) ====\n%s\n"
                                 % (self.id(), srv.stderr_tail(40)))
        return out

    # -- assertions ---------------------------------------------------------

    def assertProblem(self, resp, status, code, field=None):
        """resp is an RFC 9457 problem with this status and code."""
        self.assertEqual(resp.status, status, resp)
        self.assertTrue(resp.content_type.startswith("application/problem+json"),
                        "content type %r: %r" % (resp.content_type, resp))
        j = resp.json
        self.assertEqual(j.get("code"), code, j)
        self.assertEqual(j.get("status"), status, j)
        self.assertEqual(j.get("title"), STATUS_TEXT[status], j)
        self.assertEqual(resp.reason, STATUS_TEXT[status], resp)
        self.assertEqual(j.get("type"), "about:blank", j)
        self.assertIsInstance(j.get("detail"), str, j)
        if field is not None:
            self.assertEqual(j.get("field"), field, j)

    def assertStatus(self, resp, status):
        self.assertEqual(resp.status, status, resp)
        return resp.json if resp.body else None


class SharedServerTestCase(SpokeTestCase):
    """One server for the tests of the class (started with the class's
    server_config), and self.sp, a Spoke on it, in each test."""

    server_config = None

    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(config=cls.server_config)

    def setUp(self):
        super().setUp()
        self.sp = self.spoke(self.srv)


def distance_m(a, b):
    """Great-circle distance in metres between (lat, lon) pairs, with the
    mean Earth radius (as geo_distance_m)."""
    r = 6371008.8
    dlat = math.radians(b[0] - a[0])
    dlon = math.radians(b[1] - a[1])
    h = (math.sin(dlat / 2) ** 2 + math.cos(math.radians(a[0]))
         * math.cos(math.radians(b[0])) * math.sin(dlon / 2) ** 2)
    return 2 * r * math.asin(math.sqrt(min(1.0, h)))
