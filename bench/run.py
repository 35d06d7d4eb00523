#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`make bench`: one run, one table, the same fleet for every system.

Builds the standard fleet (bench/common.c: 2,000,000 bikes by default in the
box 121.30-121.65 E, 31.10-31.35 N, half uniform, half in 400 hotspots) into
spoke's in-process index, a spoke database, Redis and PostgreSQL+PostGIS,
times kNN queries (k = 10, r = 500 m), position updates, memory and restart,
and prints one Markdown table with the issue's targets and spoke/Redis
ratios. Every server runs on 127.0.0.1 on a free port out of a temporary
directory, and is stopped and removed afterwards, also on failure or Ctrl-C.
What each row measures and the caveats: docs/benchmarks.md.

Python 3 standard library only. The programs it drives are built by
`make bench` into build/<config>/bench/.
"""

import argparse
import ctypes
import datetime
import http.client
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

PG_BIN = "/usr/lib/postgresql/15/bin"
SYSTEMS = ("spoke", "redis", "postgis")

# The lock-session row: LOCKS locks in SIM_PROCS `spoke sim locks`
# processes (--locks, --sim-procs). `spoke serve` holds one descriptor per
# lock and this machine caps a process at 20,000 open files.
LOCKS = 18000
SIM_PROCS = 2            # at least; more for more locks
LOCKS_PER_SIM = 9000
REPORT_MS = 50           # each idle lock sends a position (D0) this often
HTTP_CONNS = 64          # keep-alive connections of the HTTP load generator
PIPELINE_DEPTH = 64      # Redis and PostGIS commands in flight per connection
CLIENT_CONNS = 2         # Redis and PostGIS client connections
PG_BATCH = 1000          # PostGIS updates per transaction
RESTARTS = 3             # `spoke serve` starts timed; the median is shown
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 60.0

# The service area of `spoke serve`: the box (GeoJSON order, lon lat).
SERVICE_AREA = [[121.30, 31.10], [121.65, 31.10], [121.65, 31.35],
                [121.30, 31.35]]


class BenchError(Exception):
    pass


class Interrupted(BaseException):
    pass


def note(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


_libc = None


def _die_with_parent():
    """In the child before exec: get SIGKILL if the harness dies."""
    global _libc
    try:
        if _libc is None:
            _libc = ctypes.CDLL(None, use_errno=True)
        _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


# ---------------------------------------------------------------------------
# CPU used by other processes while a row is timed. The machine may be shared;
# a row measured while something else ran is marked in the table.


def _proc_stat_busy_s():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal
    busy = v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)
    return busy / os.sysconf("SC_CLK_TCK")


def _processes():
    """{pid: (parent pid, CPU s incl. reaped children)} of every process."""
    tck = os.sysconf("SC_CLK_TCK")
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                s = f.read()
        except OSError:
            continue
        rest = s[s.rfind(")") + 2:].split()
        out[int(d)] = (int(rest[1]), sum(int(x) for x in rest[11:15]) / tck)
    return out


def _descendants(root, procs):
    for pid, (ppid, _) in procs.items():
        p, hops = ppid, 0
        while p and p != root and hops < 64:
            p, hops = procs.get(p, (0, 0))[0], hops + 1
        if p == root and pid != root:
            yield pid


def tree_pids(root):
    """root and its live descendants."""
    return [root] + list(_descendants(root, _processes()))


def _own_tree_cpu_s():
    """CPU of this process, its reaped children and its live descendants
    (with what they reaped): everything the bench itself started."""
    t = os.times()
    total = t.user + t.system + t.children_user + t.children_system
    procs = _processes()
    return total + sum(procs[p][1] for p in _descendants(os.getpid(), procs))


class CpuWatch:
    """Other processes' CPU, in cores, between start() and stop()."""

    def start(self):
        self.t0 = time.monotonic()
        self.busy0 = _proc_stat_busy_s()
        self.own0 = _own_tree_cpu_s()

    def stop(self):
        wall = time.monotonic() - self.t0
        busy = _proc_stat_busy_s() - self.busy0
        own = _own_tree_cpu_s() - self.own0
        return max(0.0, (busy - own) / wall) if wall > 0 else 0.0


# ---------------------------------------------------------------------------


class Harness:
    def __init__(self, args):
        self.args = args
        build = os.path.abspath(args.build)
        self.bin = os.path.join(build, "bench")
        self.spoke = os.path.join(build, "spoke")
        self.dir = tempfile.mkdtemp(prefix="spoke-bench-")
        # The PostgreSQL server runs as `postgres`; it must reach its dir.
        os.chmod(self.dir, 0o755)
        self.procs = []      # (name, Popen, stop function)
        self.results = {}
        self.info = {}
        self.background = {}  # row group -> other processes' CPU (cores)
        self.failures = []
        self.lock_warnings = []
        self.cpu = CpuWatch()

    # -- processes ------------------------------------------------------

    def log_path(self, name):
        return os.path.join(self.dir, name + ".log")

    def start(self, name, argv, stop=None, user_env=None):
        env = dict(os.environ)
        if user_env:
            env.update(user_env)
        log = open(self.log_path(name), "ab")
        try:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                 stderr=log, cwd=self.dir, env=env,
                                 start_new_session=True,
                                 preexec_fn=_die_with_parent)
        except OSError as e:
            raise BenchError("cannot start %s: %s" % (name, e))
        finally:
            log.close()
        self.procs.append((name, p, stop))
        return p

    def stop(self, p, sig=signal.SIGTERM, timeout=STOP_TIMEOUT_S):
        """Stops one process we started; returns its exit code."""
        entry = next((e for e in self.procs if e[1] is p), None)
        if entry is not None:
            self.procs.remove(entry)
        if p.poll() is None:
            try:
                if entry is not None and entry[2] is not None:
                    entry[2]()
                else:
                    p.send_signal(sig)
                return p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                note("%s did not stop within %.0f s; killing it"
                     % (entry[0] if entry else p.args[0], timeout))
                p.kill()
        return p.wait()

    def cleanup(self):
        for name, p, _ in reversed(list(self.procs)):
            try:
                self.stop(p, timeout=20)
            except Exception as e:  # keep cleaning up
                note("cannot stop %s: %s" % (name, e))
        self.procs = []
        if self.args.keep:
            note("kept %s" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def tail(self, name, lines=15):
        try:
            with open(self.log_path(name), errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def run_prog(self, name, argv, timeout):
        """Runs a bench program to completion; collects RESULT/INFO lines."""
        try:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=None,
                                 cwd=self.dir, text=True,
                                 start_new_session=True,
                                 preexec_fn=_die_with_parent)
        except OSError as e:
            raise BenchError("cannot run %s: %s" % (name, e))
        self.procs.append((name, p, None))
        try:
            out, _ = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            raise BenchError("%s took more than %.0f s" % (name, timeout))
        finally:
            self.procs = [e for e in self.procs if e[1] is not p]
        if p.returncode != 0:
            raise BenchError("%s exited with %d" % (name, p.returncode))
        for line in out.splitlines():
            parts = line.split(None, 2)
            if len(parts) == 3 and parts[0] == "RESULT":
                self.results[parts[1]] = float(parts[2])
            elif len(parts) == 3 and parts[0] == "INFO":
                self.info[parts[1]] = parts[2]

    def phase(self, group, fn):
        """Runs one measured phase, noting other load and any failure."""
        self.cpu.start()
        try:
            fn()
        except BenchError as e:
            self.failures.append("%s: %s" % (group, e))
            note("FAILED %s: %s" % (group, e))
        except Exception as e:  # a harness bug or a dead server: go on
            msg = "%s: %s" % (type(e).__name__, e)
            self.failures.append("%s: %s" % (group, msg))
            note("FAILED %s: %s" % (group, msg))
        finally:
            self.background[group] = max(self.background.get(group, 0.0),
                                         self.cpu.stop())

    # -- spoke ------------------------------------------------------------

    def http_get(self, port, path, timeout=2.0):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            c.request("GET", path)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def metrics(self, port):
        status, body = self.http_get(port, "/metrics", timeout=10)
        if status != 200:
            raise BenchError("/metrics answered %d" % status)
        out = {}
        for line in body.decode().splitlines():
            if line.startswith("#") or not line.strip():
                continue
            name, _, value = line.rpartition(" ")
            try:
                out[name] = float(value)
            except ValueError:
                pass
        return out

    def serve(self, db, name):
        """Starts `spoke serve`; returns (Popen, http port, locks port,
        seconds until /healthz answered 200)."""
        cfg = os.path.join(self.dir, "spoke.json")
        with open(cfg, "w") as f:
            json.dump({"service_area": SERVICE_AREA}, f)
        hp, lp = free_port(), free_port()
        argv = [self.spoke, "serve", "--db", db, "--config", cfg,
                "--http", "127.0.0.1:%d" % hp, "--locks", "127.0.0.1:%d" % lp]
        argv += self.args.serve_arg
        t0 = time.monotonic()
        p = self.start(name, argv)
        while True:
            try:
                status, _ = self.http_get(hp, "/healthz", timeout=5)
                if status == 200:
                    return p, hp, lp, time.monotonic() - t0
            except (OSError, http.client.HTTPException):
                pass
            if p.poll() is not None:
                raise BenchError("spoke serve exited with %d at start:\n%s"
                                 % (p.returncode, self.tail(name)))
            if time.monotonic() - t0 > START_TIMEOUT_S:
                raise BenchError("spoke serve did not answer /healthz in "
                                 "%.0f s" % START_TIMEOUT_S)
            time.sleep(0.005)

    def stop_serve(self, p, name):
        code = self.stop(p)
        if code != 0:
            raise BenchError("spoke serve exited with %d:\n%s"
                             % (code, self.tail(name)))

    @staticmethod
    def cpu_s(pid):
        """CPU seconds used so far by pid and its descendants (say, gateway
        worker processes), all threads."""
        total = 0.0
        for q in tree_pids(pid):
            try:
                with open("/proc/%d/stat" % q) as f:
                    st = f.read()
            except OSError:
                continue
            rest = st[st.rfind(")") + 2:].split()
            total += sum(int(x) for x in rest[11:15])
        return total / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def rss_bytes(pid):
        """Resident memory of pid and its descendants."""
        total = 0
        for q in tree_pids(pid):
            try:
                with open("/proc/%d/status" % q) as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1]) * 1024
            except OSError:
                pass
        return total

    def spoke_all(self):
        a = self.args
        n = a.bikes
        db = os.path.join(self.dir, "fleet.db")
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        want = a.locks if a.locks else LOCKS
        self.nlocks = min(n, want)
        if not a.locks:
            # spoke serve holds a descriptor per lock (unless
            # --serve-arg moves sessions elsewhere and --locks says so).
            self.nlocks = min(self.nlocks, max(1, nofile - 200))
        if self.nlocks < want:
            note("lock sessions: %d locks (open files limit %d, %d bikes)"
                 % (self.nlocks, nofile, n))
        if not a.sim_procs:
            a.sim_procs = max(SIM_PROCS, -(-self.nlocks // LOCKS_PER_SIM))
        self.results["locks"] = self.nlocks

        def mkdb():
            t0 = time.monotonic()
            self.run_prog("spoke_mkdb", [os.path.join(self.bin, "spoke_mkdb"),
                                         "--db", db, "--bikes", str(n)],
                          timeout=1200)
            self.results["mkdb_s"] = time.monotonic() - t0
            # Each `spoke sim locks` simulates the first --count bikes of
            # its database, so each gets a database of its own share.
            first = 1
            for k in range(a.sim_procs):
                cnt = self.nlocks // a.sim_procs + (
                    k < self.nlocks % a.sim_procs)
                if cnt == 0:
                    continue
                self.run_prog("spoke_mkdb",
                              [os.path.join(self.bin, "spoke_mkdb"),
                               "--db", os.path.join(self.dir, "locks%d.db" % k),
                               "--bikes", str(cnt), "--first", str(first)],
                              timeout=600)
                first += cnt

        def index():
            self.run_prog("spoke_index",
                          [os.path.join(self.bin, "spoke_index"),
                           "--bikes", str(n), "--seconds", str(a.seconds)],
                          timeout=600 + 8 * a.seconds)

        self.phase("setup", mkdb)
        if any(f.startswith("setup") for f in self.failures):
            return
        self.phase("knn_inproc", index)
        self.background["put_inproc"] = self.background["knn_inproc"]

        def memory_and_restart():
            # An empty server first: the growth over it is the fleet's.
            empty = os.path.join(self.dir, "empty.db")
            p, _, _, _ = self.serve(empty, "serve-empty")
            time.sleep(1)
            rss_empty = self.rss_bytes(p.pid)
            self.stop_serve(p, "serve-empty")
            times, rss = [], []
            for i in range(RESTARTS):
                name = "serve-%d" % i
                p, hp, lp, t = self.serve(db, name)
                times.append(t)
                note("spoke serve on %d bikes answered /healthz after %.2f s"
                     % (n, t))
                time.sleep(1)
                rss.append(self.rss_bytes(p.pid))
                if i + 1 < RESTARTS:
                    self.stop_serve(p, name)
            self.server = (p, hp, lp, name)
            self.results["restart_s"] = statistics.median(times)
            self.results["restart_min_s"] = min(times)
            self.results["restart_max_s"] = max(times)
            self.results["serve_rss_empty_mb"] = rss_empty / 1e6
            self.results["serve_rss_mb"] = rss[-1] / 1e6
            self.results["serve_bytes_per_bike"] = (
                (statistics.median(rss) - rss_empty) / n)

        self.server = None
        self.phase("restart", memory_and_restart)
        if self.server is None:
            return

        p, hp, lp, name = self.server

        def http_row():
            c0, t0 = self.cpu_s(p.pid), time.monotonic()
            ch0 = os.times().children_user + os.times().children_system
            self.run_prog("http_load",
                          [os.path.join(self.bin, "http_load"),
                           "--addr", "127.0.0.1:%d" % hp,
                           "--conns", str(HTTP_CONNS),
                           "--seconds", str(a.seconds),
                           "--warmup", str(a.warmup)],
                          timeout=120 + a.seconds + a.warmup)
            wall = time.monotonic() - t0
            ch1 = os.times().children_user + os.times().children_system
            self.results["http_serve_cores"] = (self.cpu_s(p.pid) - c0) / wall
            self.results["http_client_cores"] = (ch1 - ch0) / wall

        self.phase("knn_http", http_row)

        def wait_online(target, sims, timeout):
            """Waits until target locks are online; returns how many are."""
            t0 = time.monotonic()
            while True:
                m = self.metrics(hp)
                online = int(m.get("spoke_locks_online", 0))
                if online >= target:
                    return online
                for s in sims:
                    if s.poll() is not None:
                        raise BenchError("spoke sim locks exited with %d"
                                         % s.returncode)
                if time.monotonic() - t0 > timeout:
                    self.lock_warnings.append(
                        "only {:,} of {:,} locks were online after {:.0f} s "
                        "({:,.0f} sessions rejected so far, {:,.0f} bad "
                        "frames); the rate is that of the locks online"
                        .format(online, target, timeout,
                                m.get("spoke_lock_sessions_rejected_total", 0),
                                m.get("spoke_lock_bad_frames_total", 0)))
                    note("lock sessions: " + self.lock_warnings[-1])
                    return online
                time.sleep(0.2)

        def locks_row():
            sims = []
            try:
                # One simulator at a time, each once the previous one's
                # locks are all online: signing in 18,000 locks at once
                # on a busy machine can starve a simulator's loop.
                t0 = time.monotonic()
                online = 0
                for k in range(a.sim_procs):
                    path = os.path.join(self.dir, "locks%d.db" % k)
                    if not os.path.exists(path):
                        continue
                    cnt = self.nlocks // a.sim_procs + (
                        k < self.nlocks % a.sim_procs)
                    src = "127.0.%d.1-127.0.%d.4" % (k + 1, k + 1)
                    sims.append(self.start(
                        "sim-%d" % k,
                        [self.spoke, "sim", "locks",
                         "--locks", "127.0.0.1:%d" % lp, "--db", path,
                         "--count", str(cnt), "--report-ms", str(REPORT_MS),
                         "--heartbeat-s", "600", "--sources", src]))
                    online += cnt
                    got = wait_online(online, sims, 60)
                self.results["locks_online_start"] = got
                self.results["locks_connect_s"] = time.monotonic() - t0
                time.sleep(a.warmup)
                m0, t0 = self.metrics(hp), time.monotonic()
                self.cpu.start()  # the steady interval only
                c0 = [self.cpu_s(x.pid) for x in [p] + sims]
                time.sleep(a.seconds)
                m1, t1 = self.metrics(hp), time.monotonic()
                c1 = [self.cpu_s(x.pid) for x in [p] + sims]
                self.results["locks_serve_cores"] = (c1[0] - c0[0]) / (t1 - t0)
                self.results["locks_sim_cores"] = (
                    sum(c1[1:]) - sum(c0[1:])) / (t1 - t0)
                frames = (m1["spoke_lock_frames_total"]
                          - m0["spoke_lock_frames_total"])
                self.results["lock_frames_per_s"] = frames / (t1 - t0)
                self.results["lock_frames_offered"] = (
                    min(got, self.nlocks) * 1000.0 / REPORT_MS)
                self.results["locks_online_end"] = m1.get(
                    "spoke_locks_online", 0)
                self.results["serve_rss_locks_mb"] = self.rss_bytes(p.pid) / 1e6
                note("lock sessions: %d locks, %.0f frames/s accepted"
                     % (self.nlocks, self.results["lock_frames_per_s"]))
            finally:
                # The locks go first: `spoke sim locks` without a gateway
                # retries in a tight loop and can stop answering SIGTERM.
                killed = 0
                for s in sims:
                    killed += self.stop(s, timeout=10) == -signal.SIGKILL
                self.results["sims_killed"] = killed
                t = time.monotonic()
                self.stop_serve(p, name)
                self.results["serve_stop_s"] = time.monotonic() - t

        self.phase("put_locks", locks_row)

    # -- Redis ------------------------------------------------------------

    def redis_all(self):
        a = self.args
        out = subprocess.run(["redis-server", "--version"],
                             capture_output=True, text=True).stdout
        m = re.search(r"v=(\S+)", out)
        self.info["redis_version"] = m.group(1) if m else out.strip()
        port = free_port()
        rdir = os.path.join(self.dir, "redis")
        os.mkdir(rdir)
        p = self.start("redis", [
            "redis-server", "--bind", "127.0.0.1", "--port", str(port),
            "--save", "", "--appendonly", "no", "--dir", rdir,
            "--daemonize", "no", "--protected-mode", "yes"])
        try:
            t0 = time.monotonic()
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), 1) as s:
                        s.sendall(b"PING\r\n")
                        if s.recv(16).startswith(b"+PONG"):
                            break
                except OSError:
                    pass
                if p.poll() is not None or time.monotonic() - t0 > 30:
                    raise BenchError("redis-server did not start:\n%s"
                                     % self.tail("redis"))
                time.sleep(0.02)
            self.run_prog("redis_bench", [
                os.path.join(self.bin, "redis_bench"), "--port", str(port),
                "--bikes", str(a.bikes), "--seconds", str(a.seconds),
                "--conns", str(CLIENT_CONNS), "--depth", str(PIPELINE_DEPTH)],
                timeout=900 + 4 * a.seconds)
        finally:
            self.stop(p, timeout=30)

    # -- PostgreSQL + PostGIS ----------------------------------------------

    def postgis_all(self):
        a = self.args
        if os.geteuid() != 0:
            raise BenchError("PostgreSQL is started as user postgres via "
                             "runuser, which needs root")
        pgdir = os.path.join(self.dir, "pg")
        os.mkdir(pgdir)
        shutil.chown(pgdir, "postgres", "postgres")
        data = os.path.join(pgdir, "data")
        r = subprocess.run(
            ["runuser", "-u", "postgres", "--", PG_BIN + "/initdb", "-D", data,
             "--auth=trust", "--username=postgres", "--encoding=UTF8",
             "--locale=C.UTF-8"],
            capture_output=True, text=True, cwd=pgdir)
        if r.returncode != 0:
            raise BenchError("initdb failed:\n%s" % r.stderr)
        port = free_port()
        settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": pgdir,
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "shared_buffers": "2GB",
            "work_mem": "64MB",
            "maintenance_work_mem": "1GB",
            "max_wal_size": "8GB",
            "checkpoint_timeout": "1h",
            "jit": "off",
        }
        self.info["postgres_settings"] = ", ".join(
            "%s=%s" % kv for kv in settings.items()
            if kv[0] not in ("listen_addresses", "unix_socket_directories"))
        argv = ["runuser", "-u", "postgres", "--", PG_BIN + "/postgres",
                "-D", data, "-p", str(port)]
        for k, v in settings.items():
            argv += ["-c", "%s=%s" % (k, v)]

        def stop_pg():
            # runuser forks; the postmaster's pid is in its pid file.
            try:
                with open(os.path.join(data, "postmaster.pid")) as f:
                    os.kill(int(f.readline()), signal.SIGINT)  # fast shutdown
            except (OSError, ValueError):
                p.send_signal(signal.SIGTERM)

        p = self.start("postgres", argv, stop=stop_pg)
        try:
            t0 = time.monotonic()
            while subprocess.run([PG_BIN + "/pg_isready", "-q", "-h",
                                  "127.0.0.1", "-p", str(port)]).returncode:
                if p.poll() is not None or time.monotonic() - t0 > 60:
                    raise BenchError("postgres did not start:\n%s"
                                     % self.tail("postgres"))
                time.sleep(0.1)
            self.run_prog("pg_bench", [
                os.path.join(self.bin, "pg_bench"), "--conninfo",
                "host=127.0.0.1 port=%d user=postgres dbname=postgres" % port,
                "--bikes", str(a.bikes), "--seconds", str(a.seconds),
                "--conns", str(CLIENT_CONNS), "--depth", str(PIPELINE_DEPTH),
                "--batch", str(PG_BATCH)], timeout=1800 + 4 * a.seconds)
        finally:
            self.stop(p, timeout=60)


# ---------------------------------------------------------------------------
# The table


def fmt_num(v, unit):
    if v is None:
        return "n/a"
    if unit in ("ms", "s"):
        return "%.2f" % v
    if unit == "bytes":
        return "%.1f" % v
    return "{:,.0f}".format(v)


def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    return "%s, %d cores, %.1f GiB RAM, Linux %s" % (
        cpu, os.cpu_count() or 0, mem / 2**30, platform.release())


def spoke_version(root):
    try:
        rev = subprocess.run(["git", "-C", root, "rev-parse", "--short",
                              "HEAD"], capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain",
                                "--untracked-files=no", "src"],
                               capture_output=True, text=True,
                               timeout=10).stdout.strip()
        return rev + (" + uncommitted changes in src/" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def table(h, a, wall_s):
    R, I = h.results, h.info
    g = R.get
    lines = []
    n = a.bikes
    lines.append("spoke benchmark, %s" % datetime.datetime.now(
        datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    lines.append("")
    lines.append("- machine: %s" % machine())
    lines.append("- spoke %s (%s); Redis %s; PostgreSQL %s; PostGIS %s"
                 % (spoke_version(os.path.dirname(os.path.dirname(
                     os.path.abspath(__file__)))),
                    a.config + " build" + (", spoke serve " + " ".join(
                        a.serve_arg) if a.serve_arg else ""),
                    I.get("redis_version", "n/a"),
                    I.get("postgres_version", "n/a").split(" ")[0],
                    I.get("postgis_version", "n/a")))
    lines.append("- data: {:,} bikes in 121.30-121.65 E, 31.10-31.35 N, 50% "
                 "uniform + 50% in 400 hotspots of 50-300 m; query centres "
                 "from the same mix; kNN k=10 within 500 m; each rate timed "
                 "for {:g} s after {:g} s of warm-up where it has one"
                 .format(n, a.seconds, a.warmup))
    lines.append("- bg load: CPU used by processes other than the bench's own "
                 "while the row ran, in cores of %d (0.00 = quiet machine)"
                 % (os.cpu_count() or 0))
    lines.append("")

    def ratio(v, ref):
        if v is None or not ref:
            return ""
        return "{:,.1f}x".format(v / ref) if v / ref < 100 else \
            "{:,.0f}x".format(v / ref)

    def verdict(v, target, higher):
        if v is None or target is None:
            return ""
        ok = v >= target if higher else v <= target
        return "met" if ok else "**missed**"

    def bg(group):
        v = h.background.get(group)
        return "" if v is None else "%.2f" % v

    redis_q, redis_u = g("redis_knn_qps"), g("redis_update_ups")
    rows = []

    def row(measure, system, v, unit, target=None, higher=True, vs=None,
            vs_target=None, group=None):
        tgt = ""
        if target is not None:
            tgt = ("≥ " if higher else "≤ ") + fmt_num(target, unit)
        r = ratio(v, vs) if vs else ""
        if r and vs_target:
            r += " (target ≥ %dx: %s)" % (vs_target,
                                          verdict(v / vs, vs_target, True))
        rows.append((measure, system, fmt_num(v, unit), unit, tgt,
                     verdict(v, target, higher), r, bg(group) if group else ""))

    k = "kNN k=10 r=500 m"
    row(k, "spoke in-process, 1 thread", g("knn_1t_qps"), "queries/s",
        1e6, vs=redis_q, vs_target=100, group="knn_inproc")
    row("", "spoke in-process, 2 threads at once", g("knn_2t_qps"),
        "queries/s", 2e6, vs=redis_q, group="knn_inproc")
    row("", "spoke HTTP, %d keep-alive conns" % int(g("http_conns", HTTP_CONNS)),
        g("http_qps"), "queries/s", 5e4, vs=redis_q, group="knn_http")
    row("", "Redis GEOSEARCH, %d conns x %d pipelined"
        % (CLIENT_CONNS, PIPELINE_DEPTH), redis_q, "queries/s",
        group="redis")
    row("", "PostGIS GiST kNN, %d conns x %d pipelined"
        % (CLIENT_CONNS, PIPELINE_DEPTH), g("pg_knn_qps"), "queries/s",
        vs=redis_q, group="postgis")
    row("HTTP kNN latency", "spoke p50", g("http_p50_ms"), "ms",
        group="knn_http")
    row("", "spoke p99", g("http_p99_ms"), "ms", group="knn_http")
    u = "position updates"
    row(u, "spoke in-process geo_index_put, 1 thread", g("put_1t_ups"),
        "updates/s", 1e6, vs=redis_u, vs_target=10, group="put_inproc")
    online = g("locks_online_start")
    row("", "spoke lock sessions, {}{:,} locks, D0 every {} ms".format(
        "{:,} of ".format(int(online)) if online is not None
        and online < g("locks", 0) else "", int(g("locks", 0)), REPORT_MS),
        g("lock_frames_per_s"), "frames/s", 3e5, vs=redis_u,
        group="put_locks")
    row("", "Redis GEOADD, %d conns x %d pipelined"
        % (CLIENT_CONNS, PIPELINE_DEPTH), redis_u, "updates/s",
        group="redis")
    row("", "PostGIS UPDATE, %d conns, %d per transaction"
        % (CLIENT_CONNS, PG_BATCH), g("pg_update_ups"), "updates/s",
        vs=redis_u, group="postgis")
    mb = "memory per bike"
    redis_m = g("redis_bytes_per_bike")
    row(mb, "spoke index (geo_index_memory_bytes)", g("index_bytes_per_bike"),
        "bytes", 64, higher=False, vs=redis_m)
    row("", "spoke serve RSS over an empty server",
        g("serve_bytes_per_bike"), "bytes", vs=redis_m)
    row("", "Redis used_memory", redis_m, "bytes")
    row("", "PostGIS table + indexes", g("pg_bytes_per_bike"), "bytes",
        vs=redis_m)
    row("restart", "spoke serve start to /healthz 200 (median of %d)"
        % RESTARTS, g("restart_s"), "s", 5, higher=False, group="restart")

    head = ("measure", "system", "value", "unit", "target", "target met",
            "spoke/Redis (or system/Redis)", "bg load")
    busy = [k for k, v in h.background.items() if v > 0.25]
    if busy:
        lines.append("**Warning:** other processes used more than a quarter "
                     "of a core during: %s. Those figures are low; rerun on "
                     "a quiet machine before publishing them."
                     % ", ".join(sorted(busy)))
        lines.append("")
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "|".join(["---", "---", "---:", "---", "---", "---",
                                 "---:", "---:"]) + "|")
    for r in rows:
        lines.append("| " + " | ".join(r) + " |")
    lines.append("")

    details = []
    if g("knn_hits_avg") is not None:
        details.append("hits per query: in-process %.2f, HTTP %s, Redis %s, "
                       "PostGIS %s" % (
                           g("knn_hits_avg"),
                           "%.2f" % g("http_hits_avg") if g("http_hits_avg")
                           is not None else "n/a",
                           "%.2f" % g("redis_knn_hits_avg")
                           if redis_q is not None else "n/a",
                           "%.2f" % g("pg_knn_hits_avg")
                           if g("pg_knn_hits_avg") is not None else "n/a"))
    if g("http_qps") is not None:
        details.append("HTTP: p99.9 %.2f ms, %d errors, %d reconnects; "
                       "spoke serve used %.2f cores, the load generator "
                       "(bench/http_load.c, one thread) %.2f"
                       % (g("http_p999_ms"), g("http_errors"),
                          g("http_reconnects"), g("http_serve_cores", 0),
                          g("http_client_cores", 0)))
    if g("restart_s") is not None:
        details.append(
            "restart: min %.2f s, max %.2f s; spoke serve RSS %.0f MB empty, "
            "%.0f MB with the fleet" % (g("restart_min_s"), g("restart_max_s"),
                                        g("serve_rss_empty_mb"),
                                        g("serve_rss_mb")))
    if g("lock_frames_per_s") is not None:
        details.append(
            "lock sessions: {:,} locks in {} `spoke sim locks` processes "
            "offering {:,.0f} frames/s, online after {:.1f} s, {:,} "
            "online at the end; spoke serve used {:.2f} cores, the "
            "simulators {:.2f}; spoke serve RSS {:.0f} MB under lock load, "
            "stopped in {:.1f} s".format(
                int(g("locks")), a.sim_procs, g("lock_frames_offered"),
                g("locks_connect_s"), int(g("locks_online_end")),
                g("locks_serve_cores", 0), g("locks_sim_cores", 0),
                g("serve_rss_locks_mb"), g("serve_stop_s", 0)))
    for w in h.lock_warnings:
        details.append("**lock sessions: %s**" % w)
    if g("sims_killed"):
        details.append("%d `spoke sim locks` process(es) ignored SIGTERM "
                       "for 10 s and were killed" % g("sims_killed"))
    if g("index_bytes_per_bike_after_moves") is not None:
        details.append("index after the in-process moves: %.1f bytes/bike"
                       % g("index_bytes_per_bike_after_moves"))
    if g("pg_table_bytes_per_bike") is not None:
        details.append(
            "PostGIS: table %.1f + GiST %.1f bytes/bike (+ primary key); "
            "%.1f bytes/bike after the updates; COPY %.1f s, GiST build "
            "%.1f s; settings: %s" % (
                g("pg_table_bytes_per_bike"), g("pg_gist_bytes_per_bike"),
                g("pg_bytes_per_bike_after_updates"), g("pg_load_s"),
                g("pg_index_s"), I.get("postgres_settings", "")))
    if redis_q is not None:
        details.append("Redis: no persistence (save '', appendonly no); "
                       "GEOADD load of the fleet %.1f s; Redis's own time per "
                       "call (INFO commandstats): GEOSEARCH %.1f µs, GEOADD "
                       "%.2f µs" % (g("redis_load_s"),
                                    g("redis_knn_usec_per_call", 0),
                                    g("redis_update_usec_per_call", 0)))
    if g("mkdb_s") is not None:
        details.append("spoke database of the fleet written in %.1f s; "
                       "index built in-process in %.2f s"
                       % (g("mkdb_s"), g("index_load_s", 0)))
    details.append("whole run %.0f s" % wall_s)
    for d in details:
        lines.append("- " + d)
    if h.failures:
        lines.append("")
        lines.append("FAILED (rows show n/a):")
        for f in h.failures:
            lines.append("- " + f.replace("\n", "\n  "))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build/release")
    ap.add_argument("--config", default="release")
    ap.add_argument("--bikes", type=int, default=2000000)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--locks", type=int, default=0,
                    help="lock sessions in the lock-session row (default "
                    "%d, capped by the open files limit)" % LOCKS)
    ap.add_argument("--sim-procs", type=int, default=0,
                    help="`spoke sim locks` processes sharing them (default: "
                    "one per %d locks, at least %d)" % (LOCKS_PER_SIM,
                                                        SIM_PROCS))
    ap.add_argument("--serve-arg", action="append", default=[],
                    help="an extra argument for every `spoke serve`, e.g. "
                    "--serve-arg=--gateway-workers --serve-arg=2")
    ap.add_argument("--only", default=",".join(SYSTEMS),
                    help="comma-separated: " + ",".join(SYSTEMS))
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary directory (logs, databases)")
    a = ap.parse_args()
    only = [s for s in a.only.split(",") if s]
    for s in only:
        if s not in SYSTEMS:
            ap.error("unknown system '%s'" % s)
    if a.bikes < 1 or a.bikes > 10000000:
        ap.error("--bikes must be 1..10000000")
    if a.locks < 0 or not 0 <= a.sim_procs <= 200:
        ap.error("--locks must be positive, --sim-procs 1..200")
    if a.config != "release":
        note("warning: timing a '%s' build; use a release build for "
             "numbers you publish" % a.config)

    def interrupted(sig, frame):
        raise Interrupted()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupted)

    h = Harness(a)
    t0 = time.monotonic()
    code = 0
    try:
        note("working in %s" % h.dir)
        if "spoke" in only:
            h.spoke_all()
        if "redis" in only:
            h.phase("redis", h.redis_all)
        if "postgis" in only:
            h.phase("postgis", h.postgis_all)
    except Interrupted:
        note("interrupted; stopping everything")
        code = 130
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        h.cleanup()
    if code:
        return code
    print(table(h, a, time.monotonic() - t0), flush=True)
    return 1 if h.failures else 0


if __name__ == "__main__":
    sys.exit(main())
