#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Many idle lock sessions on one server (`make bench-sessions`).

Imports LOCKS bikes, starts `spoke serve --gateway-workers W`, connects them
with P `spoke sim locks` processes (a heartbeat every 30 s and a position
every 30 s, as the issue's fleet), waits until all are online, holds them
for HOLD seconds and prints: time to all online, the server's resident
memory (the main process and its workers), bytes per session, and the CPU
the server used while holding. Everything lives in a temporary directory.
"""
import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)],
                         capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def metric(port, name):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spoke", required=True)
    ap.add_argument("--locks", type=int, default=100000)
    ap.add_argument("--workers", type=int, default=6)
    ap.add_argument("--sims", type=int, default=6)
    ap.add_argument("--hold", type=int, default=60)
    a = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="spoke-sessions-")
    procs = []
    try:
        db = os.path.join(tmp, "spoke.db")
        csv = os.path.join(tmp, "bikes.csv")
        rnd = random.Random(1)
        with open(csv, "w") as f:
            f.write("qr_code,lock_imei,lat,lon\n")
            for i in range(a.locks):
                f.write("B%07d,%d,%.6f,%.6f\n" % (
                    i, 860000000000000 + i, rnd.uniform(31.10, 31.35),
                    rnd.uniform(121.30, 121.65)))
        subprocess.run([a.spoke, "import", "bikes", csv, "--db", db],
                       check=True, stdout=subprocess.DEVNULL)
        hp, lp = free_port(), free_port()
        log = open(os.path.join(tmp, "serve.log"), "w")
        srv = subprocess.Popen(
            [a.spoke, "serve", "--db", db, "--http", "127.0.0.1:%d" % hp,
             "--locks", "127.0.0.1:%d" % lp, "--log-level", "warn",
             "--gateway-workers", str(a.workers)], stdout=log, stderr=log)
        procs.append(srv)
        deadline = time.monotonic() + 30
        while True:
            try:
                metric(hp, "spoke_locks_online")
                break
            except OSError:
                if time.monotonic() > deadline or srv.poll() is not None:
                    sys.exit("sessions: spoke serve did not start")
                time.sleep(0.1)
        t0 = time.monotonic()
        per = -(-a.locks // a.sims)
        for k in range(a.sims):
            cnt = min(per, a.locks - k * per)
            procs.append(subprocess.Popen(
                [a.spoke, "sim", "locks", "--locks", "127.0.0.1:%d" % lp,
                 "--db", db, "--offset", str(k * per), "--count", str(cnt),
                 "--heartbeat-s", "30", "--report-ms", "30000",
                 "--sources", "127.0.0.1-127.0.0.8"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        online = 0
        while online < a.locks:
            online = int(metric(hp, "spoke_locks_online"))
            if time.monotonic() - t0 > 300:
                break
            time.sleep(0.5)
        t_online = time.monotonic() - t0
        pids = [srv.pid] + children(srv.pid)
        c0 = sum(cpu_s(p) for p in pids)
        time.sleep(a.hold)
        c1 = sum(cpu_s(p) for p in pids)
        held = int(metric(hp, "spoke_locks_online"))
        rss = sum(rss_kib(p) for p in pids) * 1024
        frames = metric(hp, "spoke_lock_frames_total")
        print("lock sessions: %d locks, %d gateway worker processes, "
              "%d `spoke sim locks` processes" % (a.locks, a.workers, a.sims))
        print("| measure | value |")
        print("|---|---:|")
        print("| online | %d of %d after %.1f s |" % (online, a.locks, t_online))
        print("| online after holding %d s | %d |" % (a.hold, held))
        print("| spoke serve RSS, main + %d workers | %.0f MB |"
              % (len(pids) - 1, rss / 1e6))
        print("| RSS per session (fleet of %d bikes included) | %.0f bytes |"
              % (a.locks, rss / max(held, 1)))
        print("| server CPU while holding | %.2f cores |"
              % ((c1 - c0) / a.hold))
        print("| lock frames received in all | %d |" % frames)
        return 0 if held == a.locks else 1
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
        for p in reversed(procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
