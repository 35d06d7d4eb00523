#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Data-driven HTTP API cases: tests/api/NNNN-<name>.txt.

usage: python3 tests/api/run.py --spoke PATH [-v] [-j N] [CASE...]

Each case gets its own `spoke serve` (127.0.0.1, port 0, a fresh temporary
SQLite file), runs its statements in order, and passes if every response
matches. One line per case, then "N passed, N failed". CASE is a file name
or a prefix of one ("0012" or "0012-reservations"), or the path of a case
file elsewhere. Exit status 0 only if
every case passed. Python 3 standard library only; the server and the
simulated lock come from tests/integration/spoke_harness.py.

CASE FILE FORMAT

    # Lines that start with "#" are comments; blank lines end a block.
    title: what the case shows (one line; optional)
    config: {"reservation_hold_s": 10}     (optional: spoke serve --config)

    Setup statements (they may also come between requests):
      rider NAME                 POST /v1/riders; sets {NAME.id} {NAME.token}
      operator NAME              spoke token create; sets {NAME.token}
      bike NAME [lat=N] [lon=N] [qr=S] [imei=S] [type=bicycle|ebike]
                                 registered by an operator (one named "ops"
                                 is made if none exists); sets {NAME.id}
                                 {NAME.qr} {NAME.imei} {NAME.lat} {NAME.lon}
      lock BIKE [ok|refuse|silent|ignore]
                                 a simulated lock for bike BIKE, signed in;
                                 by default it confirms every unlock
                                 (refuse: answers failure; silent: never
                                 answers the unlock; ignore: never sends
                                 the key)
      locked BIKE RIDER          the lock reports L1 (locked) for RIDER
      position BIKE LAT LON      the lock reports a GPS fix
      heartbeat BIKE BATTERY [locked|unlocked]
      set NAME.FIELD VALUE       defines a variable

    A request, then its expected response:
      poll SECONDS               (optional, just before a request) repeat the
                                 request until the response matches, for up
                                 to SECONDS
      > METHOD PATH
      > Header-Name: value       request headers ("Content-Type: (none)"
                                 sends no Content-Type; otherwise a body
                                 goes as application/json)
      >                          an empty ">" line ends the headers
      > body lines               sent as they are (joined with newlines)
      < STATUS [CODE [FIELD]]    the status; with CODE, a problem document
                                 (application/problem+json) with that code
                                 (and field)
      < Header-Name: value       expected header: exact, "*" for any value,
                                 "(none)" for absent
      <                          an empty "<" line ends the headers
      < expected body            a JSON value matched as a subset (below);
                                 text that is not JSON: each line must occur
                                 in the body
      save NAME.FIELD = PATH     saves a value of the last response: a dotted
                                 JSON path (id, trips.0.id, fare.amount_cents)
                                 or header:Name

    {NAME.FIELD} is replaced everywhere in requests and expectations (raw:
    write "{b1.qr}" with quotes for a JSON string, {b1.id} without).

    JSON subset matching: an expected object's keys must all be in the
    response with matching values (other keys are allowed); arrays must
    have the same length and match element by element; numbers compare by
    value. (A problem's "title" must be the status's reason phrase.)
    Special strings: "$any" (present, any value, null included),
    "$absent" (the key must be missing), "$int", "$number", "$string",
    "$bool", "$time" (RFC 3339 UTC with milliseconds), "$token" (43
    URL-safe base64 characters), "$nonnull", "$re:REGEX" (a string that
    fully matches REGEX), "$len:N" (an array or string of length N).
    A JSON response also must have the right Content-Type:
    application/problem+json for 4xx/5xx, application/json otherwise.
"""

import argparse
import json
import os
import re
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

sys.dont_write_bytecode = True  # keep __pycache__ out of the tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import spoke_harness as H  # noqa: E402

VAR_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)\}")


class CaseError(Exception):
    """The case file is wrong (not the server)."""


class Mismatch(AssertionError):
    pass


# ---------------------------------------------------------------------------
# Parsing


class Request:
    def __init__(self, line):
        self.line = line  # file line number
        self.start = None
        self.headers = []
        self.body = None
        self.status = None
        self.code = None
        self.field = None
        self.expect_headers = []
        self.expect_body = None
        self.poll = 0.0


def parse_case(path):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    meta = {"title": "", "config": None}
    steps = []
    i = 0
    pending_poll = 0.0

    def block(prefix, start):
        out = []
        j = start
        while j < len(lines) and (lines[j] == prefix or lines[j].startswith(prefix + " ")):
            out.append(lines[j][len(prefix) + 1:] if lines[j] != prefix else None)
            j += 1
        return out, j

    while i < len(lines):
        raw = lines[i]
        s = raw.strip()
        if not s or raw.startswith("#"):
            i += 1
            continue
        if raw.startswith(">"):
            req = Request(i + 1)
            req.poll, pending_poll = pending_poll, 0.0
            blk, i = block(">", i)
            if blk[0] is None:
                raise CaseError("line %d: a request starts with '> METHOD PATH'" % req.line)
            req.start = blk[0]
            k = 1
            while k < len(blk) and blk[k] is not None:
                name, sep, value = blk[k].partition(":")
                if not sep:
                    raise CaseError("line %d: header without ':': %r" % (req.line + k, blk[k]))
                req.headers.append((name.strip(), value.strip()))
                k += 1
            if k < len(blk):
                req.body = "\n".join(x or "" for x in blk[k + 1:])
            while i < len(lines) and not lines[i].strip():
                i += 1
            if i >= len(lines) or not lines[i].startswith("<"):
                raise CaseError("line %d: a request needs an expected response ('<')" % req.line)
            blk, i = block("<", i)
            if blk[0] is None:
                raise CaseError("line %d: expected '< STATUS'" % req.line)
            parts = blk[0].split()
            try:
                req.status = int(parts[0])
            except (ValueError, IndexError):
                raise CaseError("line %d: bad status line %r" % (req.line, blk[0]))
            req.code = parts[1] if len(parts) > 1 else None
            req.field = parts[2] if len(parts) > 2 else None
            k = 1
            while k < len(blk) and blk[k] is not None:
                name, sep, value = blk[k].partition(":")
                if not sep:
                    raise CaseError("line %d: expected header without ':'" % req.line)
                req.expect_headers.append((name.strip(), value.strip()))
                k += 1
            if k < len(blk):
                text = "\n".join(x or "" for x in blk[k + 1:]).strip()
                req.expect_body = text or None
            steps.append(("request", req))
            continue
        if raw.startswith("<"):
            raise CaseError("line %d: an expected response without a request" % (i + 1))
        word, _, rest = s.partition(" ")
        if word.endswith(":") and word[:-1] in ("title", "config"):
            key = word[:-1]
            if key == "config":
                try:
                    meta["config"] = json.loads(rest)
                except ValueError as e:
                    raise CaseError("line %d: config is not JSON: %s" % (i + 1, e))
            else:
                meta["title"] = rest.strip()
        elif word == "poll":
            try:
                pending_poll = float(rest)
            except ValueError:
                raise CaseError("line %d: poll SECONDS" % (i + 1))
        elif word in ("rider", "operator", "bike", "lock", "locked", "position",
                      "heartbeat", "set", "save"):
            steps.append((word, (i + 1, rest.strip())))
        else:
            raise CaseError("line %d: unknown statement %r" % (i + 1, s))
        i += 1
    if not any(kind == "request" for kind, _ in steps):
        raise CaseError("no request in the case")
    return meta, steps


# ---------------------------------------------------------------------------
# Matching


TIME_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{43}")


def match(expected, actual, path="$"):
    """Raises Mismatch unless actual matches the expected subset."""
    if isinstance(expected, str) and expected.startswith("$"):
        kind = expected
        ok = True
        if kind == "$any":
            return
        if kind == "$nonnull":
            ok = actual is not None
        elif kind == "$int":
            ok = isinstance(actual, int) and not isinstance(actual, bool)
        elif kind == "$number":
            ok = isinstance(actual, (int, float)) and not isinstance(actual, bool)
        elif kind == "$string":
            ok = isinstance(actual, str)
        elif kind == "$bool":
            ok = isinstance(actual, bool)
        elif kind == "$time":
            ok = isinstance(actual, str) and TIME_RE.fullmatch(actual) is not None
        elif kind == "$token":
            ok = isinstance(actual, str) and TOKEN_RE.fullmatch(actual) is not None
        elif kind.startswith("$re:"):
            ok = isinstance(actual, str) and re.fullmatch(kind[4:], actual) is not None
        elif kind.startswith("$len:"):
            ok = isinstance(actual, (list, str)) and len(actual) == int(kind[5:])
        else:
            raise CaseError("unknown matcher %r" % kind)
        if not ok:
            raise Mismatch("%s: %r does not match %s" % (path, actual, kind))
        return
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            raise Mismatch("%s: expected an object, got %r" % (path, actual))
        for k, v in expected.items():
            if v == "$absent":
                if k in actual:
                    raise Mismatch("%s.%s: should be absent, is %r" % (path, k, actual[k]))
                continue
            if k not in actual:
                raise Mismatch("%s.%s: missing" % (path, k))
            match(v, actual[k], "%s.%s" % (path, k))
        return
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            raise Mismatch("%s: expected %d elements, got %r" % (path, len(expected), actual))
        for n, (e, a) in enumerate(zip(expected, actual)):
            match(e, a, "%s[%d]" % (path, n))
        return
    if isinstance(expected, bool) or isinstance(actual, bool) or expected is None:
        if expected is not actual:
            raise Mismatch("%s: expected %r, got %r" % (path, expected, actual))
        return
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        if expected != actual:
            raise Mismatch("%s: expected %r, got %r" % (path, expected, actual))
        return
    if expected != actual:
        raise Mismatch("%s: expected %r, got %r" % (path, expected, actual))


def lookup(obj, path):
    cur = obj
    for part in path.split("."):
        if isinstance(cur, list):
            cur = cur[int(part)]
        elif isinstance(cur, dict):
            if part not in cur:
                raise Mismatch("save: no %r in the response" % path)
            cur = cur[part]
        else:
            raise Mismatch("save: no %r in the response" % path)
    return cur


# ---------------------------------------------------------------------------
# Running


class Case:
    def __init__(self, path, verbose=False):
        self.path = path
        self.name = os.path.basename(path)[:-4]
        self.verbose = verbose
        self.vars = {}
        self.log = []
        self.srv = None
        self.sp = None
        self.locks = {}
        self.clients = {}
        self.last = None

    def subst(self, text):
        def repl(m):
            name, field = m.group(1), m.group(2)
            if name not in self.vars or field not in self.vars[name]:
                raise CaseError("unknown variable {%s.%s}" % (name, field))
            v = self.vars[name][field]
            return v if isinstance(v, str) else json.dumps(v)
        return VAR_RE.sub(repl, text)

    def setvar(self, name, field, value):
        self.vars.setdefault(name, {})[field] = value

    def operator(self):
        for name, v in self.vars.items():
            if v.get("_role") == "operator":
                return v["token"]
        self.setvar("ops", "token", self.srv.operator_token())
        self.setvar("ops", "_role", "operator")
        return self.vars["ops"]["token"]

    def client(self):
        c = self.clients.get("main")
        if c is None:
            c = self.clients["main"] = self.srv.client(token="")
        return c

    def run(self):
        meta, steps = parse_case(self.path)
        self.title = meta["title"]
        self.srv = H.Server(config=meta["config"])
        try:
            self.srv.start()
            self.sp = H.Spoke(self.srv)
            for kind, arg in steps:
                if kind == "request":
                    self.do_request(arg)
                else:
                    self.do_statement(kind, *arg)
            for name, lk in self.locks.items():
                lk.assert_clean(timeout=5)
        finally:
            for lk in self.locks.values():
                lk.close()
            for c in self.clients.values():
                c.close()
            if self.sp:
                self.sp.close()
            code = self.srv.stop() if self.srv.proc else 0
            rep = self.srv.sanitizer_report()
            self.stderr_tail = self.srv.stderr_tail(30)
            self.srv.cleanup()
        if rep:
            raise Mismatch("sanitizer report:\n" + rep)
        if code not in (None, 0):
            raise Mismatch("the server exited with %s on SIGTERM" % code)

    def do_statement(self, kind, line, rest):
        args = rest.split()
        try:
            if kind == "rider":
                (name,) = args
                r = self.sp.anon.post("/v1/riders", {})
                if r.status != 201:
                    raise Mismatch("rider %s: %r" % (name, r))
                self.setvar(name, "id", r.json["id"])
                self.setvar(name, "token", r.json["token"])
            elif kind == "operator":
                (name,) = args
                self.setvar(name, "token", H.create_operator_token(self.srv.spoke, self.srv.db))
                self.setvar(name, "_role", "operator")
            elif kind == "bike":
                name, opts = args[0], dict(a.split("=", 1) for a in args[1:])
                body = {"qr_code": opts.get("qr", "QR-%s-%d" % (name, line)),
                        "lock_imei": opts.get("imei", H.new_imei()),
                        "lat": float(opts.get("lat", H.HOME_LAT)),
                        "lon": float(opts.get("lon", H.HOME_LON))}
                if "type" in opts:
                    body["vehicle_type"] = opts["type"]
                ops = self.clients.get("ops")
                if ops is None:
                    ops = self.clients["ops"] = self.srv.client(token=self.operator())
                r = ops.post("/v1/ops/bikes", body)
                if r.status != 201:
                    raise Mismatch("bike %s: %r" % (name, r))
                for k, f in (("id", "id"), ("qr", "qr_code"), ("imei", "lock_imei"),
                             ("lat", "lat"), ("lon", "lon")):
                    self.setvar(name, k, r.json[f])
            elif kind == "lock":
                name = args[0]
                mode = args[1] if len(args) > 1 else "ok"
                modes = {"ok": ("auto", "ok"), "refuse": ("auto", "refuse"),
                         "silent": ("auto", "silent"), "ignore": ("ignore", "ok")}
                if mode not in modes:
                    raise CaseError("line %d: lock mode %r" % (line, mode))
                lk = H.SimLock(self.srv.locks_port, self.vars[name]["imei"],
                               key_mode=modes[mode][0], result_mode=modes[mode][1])
                lk.connect()
                self.locks[name] = lk
                H.wait_until(lambda: self.sp.bike(self.vars[name]["id"])["lock_online"],
                             desc="lock of %s online" % name)
            elif kind == "locked":
                bike, rider = args
                # A ride lasts at least a few milliseconds, so its fare
                # has begun its first minute even on a fast machine.
                time.sleep(0.005)
                self.locks[bike].locked(user_id=self.vars[rider]["id"])
            elif kind == "position":
                bike, lat, lon = args
                self.locks[bike].position(float(lat), float(lon))
                self.locks[bike].alarm(0)  # acked once the fix is handled
            elif kind == "heartbeat":
                bike, battery = args[0], int(args[1])
                locked = len(args) < 3 or args[2] == "locked"
                self.locks[bike].heartbeat(locked=locked, battery=battery)
                self.locks[bike].alarm(0)
            elif kind == "set":
                var, value = rest.split(None, 1)
                name, field = var.split(".", 1)
                self.setvar(name, field, self.subst(value))
            elif kind == "save":
                var, sep, path = rest.partition("=")
                name, _, field = var.strip().partition(".")
                path = path.strip()
                if not sep or not field or not path:
                    raise CaseError("line %d: save NAME.FIELD = PATH" % line)
                if self.last is None:
                    raise CaseError("line %d: save before any request" % line)
                if path.startswith("header:"):
                    value = self.last.header(path[7:])
                else:
                    value = lookup(self.last.json, path)
                self.setvar(name, field, value)
        except (ValueError, KeyError, IndexError) as e:
            raise CaseError("line %d: %s %s: %r" % (line, kind, rest, e))

    def do_request(self, req):
        deadline = time.monotonic() + req.poll
        while True:
            try:
                resp = self.send(req)
                self.check(req, resp)
                return
            except Mismatch:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)

    def send(self, req):
        start = self.subst(req.start)
        parts = start.split(" ", 1)
        if len(parts) != 2:
            raise CaseError("line %d: '> METHOD PATH'" % req.line)
        method, path = parts
        headers = {}
        ctype = "application/json"
        for k, v in req.headers:
            v = self.subst(v)
            if k.lower() == "content-type":
                ctype = None if v == "(none)" else v
                continue
            headers[k] = v
        body = self.subst(req.body) if req.body is not None else None
        c = self.client()
        resp = c.request(method, path, body=body.encode("utf-8") if body is not None else None,
                         token="", headers=headers, content_type=ctype)
        self.last = resp
        self.log.append("line %d: %s %s -> %d %s" % (req.line, method, path, resp.status,
                                                     resp.body[:400].decode("utf-8", "replace")))
        return resp

    def check(self, req, resp):
        where = "line %d" % req.line
        if resp.status != req.status:
            raise Mismatch("%s: status %d, expected %d: %s"
                           % (where, resp.status, req.status, resp.body[:400]))
        if resp.reason != H.STATUS_TEXT.get(resp.status, resp.reason):
            raise Mismatch("%s: status line %d %r" % (where, resp.status, resp.reason))
        is_json = resp.content_type.startswith("application/json") or \
            resp.content_type.startswith("application/problem+json")
        if is_json and not any(k.lower() == "content-type" for k, _ in req.expect_headers):
            want = "application/problem+json" if resp.status >= 400 else "application/json"
            if not resp.content_type.startswith(want):
                raise Mismatch("%s: content type %r, expected %s" % (where, resp.content_type, want))
        if req.code:
            if not resp.content_type.startswith("application/problem+json"):
                raise Mismatch("%s: not a problem document: %r" % (where, resp.content_type))
            p = resp.json
            for k, v in (("code", req.code), ("title", H.STATUS_TEXT.get(req.status)),
                         ("status", req.status), ("type", "about:blank")):
                if p.get(k) != v:
                    raise Mismatch("%s: problem %s %r, expected %r" % (where, k, p.get(k), v))
            if req.field and p.get("field") != req.field:
                raise Mismatch("%s: problem field %r, expected %r" % (where, p.get("field"),
                                                                     req.field))
        for name, want in req.expect_headers:
            want = self.subst(want)
            got = resp.header(name)
            if want == "(none)":
                if got is not None:
                    raise Mismatch("%s: header %s should be absent, is %r" % (where, name, got))
            elif got is None:
                raise Mismatch("%s: header %s missing" % (where, name))
            elif want != "*" and got != want:
                raise Mismatch("%s: header %s is %r, expected %r" % (where, name, got, want))
        if req.expect_body is not None:
            text = self.subst(req.expect_body)
            try:
                expected = json.loads(text)
            except ValueError:
                expected = None
                body = resp.body.decode("utf-8", "replace")
                for ln in text.split("\n"):
                    if ln.strip() and ln.strip() not in body:
                        raise Mismatch("%s: %r not in the body" % (where, ln.strip()))
            if expected is not None:
                try:
                    actual = json.loads(resp.body)
                except ValueError:
                    raise Mismatch("%s: the body is not JSON: %r" % (where, resp.body[:300]))
                try:
                    match(expected, actual)
                except Mismatch as e:
                    raise Mismatch("%s: %s\n  body: %s" % (where, e, json.dumps(actual)[:1500]))


def run_case(path, verbose):
    case = Case(path, verbose)
    t0 = time.monotonic()
    err = None
    try:
        case.run()
    except (Mismatch, AssertionError) as e:
        err = str(e)
    except CaseError as e:
        err = "case error: %s" % e
    except Exception:
        err = "error: " + traceback.format_exc()
    return case, err, time.monotonic() - t0


def find_cases(names):
    all_cases = sorted(f for f in os.listdir(HERE)
                       if re.fullmatch(r"\d{4}-[A-Za-z0-9_-]+\.txt", f))
    if not names:
        return [os.path.join(HERE, f) for f in all_cases]
    out = []
    for n in names:
        if os.path.isfile(n):  # a case file anywhere
            out.append(os.path.abspath(n))
            continue
        base = os.path.basename(n)
        hits = [f for f in all_cases if f == base or f.startswith(base)]
        if not hits:
            raise SystemExit("run.py: no case %r" % n)
        out += [os.path.join(HERE, f) for f in hits if os.path.join(HERE, f) not in out]
    return out


def main():
    ap = argparse.ArgumentParser(description="Runs the tests/api cases.")
    ap.add_argument("--spoke", required=True)
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="show the requests of failing cases and the server log")
    ap.add_argument("-j", "--jobs", type=int, default=1, help="cases run at once")
    ap.add_argument("cases", nargs="*")
    args = ap.parse_args()
    if not (os.path.isfile(args.spoke) and os.access(args.spoke, os.X_OK)):
        sys.stderr.write("run.py: %s is not an executable\n" % args.spoke)
        return 2
    H.set_spoke(args.spoke)
    paths = find_cases(args.cases)
    t0 = time.monotonic()
    passed = failed = 0
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for case, err, secs in pool.map(lambda p: run_case(p, args.verbose), paths):
            if err is None:
                passed += 1
                print("PASS %s (%.2fs)" % (case.name, secs))
            else:
                failed += 1
                print("FAIL %s (%.2fs): %s" % (case.name, secs, err))
                for ln in case.log[-6 if not args.verbose else 0:]:
                    print("    " + ln)
                tail = getattr(case, "stderr_tail", "")
                if tail:
                    print("    server stderr (tail):")
                    for ln in tail.splitlines()[-15 if not args.verbose else -30:]:
                        print("      " + ln)
            sys.stdout.flush()
    H.kill_all_servers()
    print("total %.1fs" % (time.monotonic() - t0))
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
