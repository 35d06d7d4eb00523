#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The BRP benchmark table (`make bench-brp`, docs/brp.md).

Solves the Dell'Amico et al. (2014) instances with `spoke plan` at a fixed
time limit and seed, one at a time, and prints one row per instance and a
summary: the mean gap to the best-known values of ids 1-37 (26 has none),
how many of the proven optima of ids 1-23 were hit, and for ids 38-65 the
cost and time only. A missing data directory is a note, not a failure.
"""
import argparse
import concurrent.futures
import csv
import os
import subprocess
import sys
import time


def parse_ids(spec):
    ids = set()
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            ids.update(range(int(lo), int(hi) + 1))
        else:
            ids.add(int(part))
    return sorted(ids)


def solve(args, row):
    path = os.path.join(args.data, "instances_rbrp_format", row["rbrp_file"])
    cmd = [args.spoke, "plan", "--instance", path, "--seed", str(args.seed),
           "--quiet", "--clock", args.clock]
    if args.iters:
        cmd += ["--iters", str(args.iters)]
    else:
        cmd += ["--time-limit", str(args.seconds)]
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.monotonic() - t0
    lines = [l for l in p.stdout.splitlines() if l and not l.startswith("#")]
    if not lines:
        return {"ok": False, "err": (p.stderr.strip() or "no output")[:200],
                "wall": wall}
    f = lines[-1].split()
    return {"ok": f[5] == "yes" and p.returncode == 0, "cost": int(f[1]),
            "time": float(f[4]), "wall": wall, "err": p.stderr.strip()[:200]}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--spoke", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--iters", type=int, default=0)
    ap.add_argument("--ids", default="1-65")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--clock", default="wall", choices=["wall", "cpu"])
    ap.add_argument("--jobs", type=int, default=1,
                    help="instances solved at once (1 for timing)")
    args = ap.parse_args()

    table = os.path.join(args.data, "best_known.csv")
    if not os.path.isfile(table):
        print(f"bench-brp: no BRP data at {args.data} (expected "
              f"best_known.csv and instances_rbrp_format/); nothing to run. "
              f"Set BRP_DATA=DIR to point at a copy.")
        return 0
    with open(table, newline="") as fh:
        rows = {int(r["id"]): r for r in csv.DictReader(fh)}
    ids = [i for i in parse_ids(args.ids) if i in rows]
    budget = (f"{args.iters} iterations" if args.iters
              else f"{args.seconds:g} s ({args.clock} clock)")
    print(f"BRP benchmark: {len(ids)} instances, {budget} each, seed "
          f"{args.seed}")
    hdr = (f"{'id':>3} {'instance':<18} {'n':>4} {'Q':>3} {'cost':>8} "
           f"{'best':>8} {'gap%':>6} {'time_s':>7} feasible")
    print(hdr)
    print("-" * len(hdr))
    sys.stdout.flush()
    results = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as ex:
        futs = {i: ex.submit(solve, args, rows[i]) for i in ids}
        for i in ids:
            r = futs[i].result()
            results[i] = r
            row = rows[i]
            bk = row["best_known"]
            if not r.get("cost") and not r["ok"]:
                print(f"{i:>3} {row['instance']:<18} {row['n_nodes_incl_depot']:>4} "
                      f"{row['Q']:>3} failed: {r['err']}")
                continue
            gap = (f"{100.0 * (r['cost'] - int(bk)) / int(bk):6.2f}" if bk
                   else f"{'-':>6}")
            print(f"{i:>3} {row['instance']:<18} {row['n_nodes_incl_depot']:>4} "
                  f"{row['Q']:>3} {r['cost']:>8} {bk or '-':>8} {gap} "
                  f"{r['time']:>7.2f} {'yes' if r['ok'] else 'NO'}")
            sys.stdout.flush()

    known = [i for i in ids if i <= 37 and rows[i]["best_known"]
             and "cost" in results[i]]
    gaps = [100.0 * (results[i]["cost"] - int(rows[i]["best_known"]))
            / int(rows[i]["best_known"]) for i in known]
    proven = [i for i in ids if i <= 23 and "cost" in results[i]]
    hit = [i for i in proven
           if results[i]["cost"] == int(rows[i]["best_known"])]
    feasible = sum(1 for i in ids if results[i]["ok"])
    total = sum(results[i].get("time", 0) for i in ids)
    print("-" * len(hdr))
    if gaps:
        print(f"mean gap ids 1-37 (with a best-known value): "
              f"{sum(gaps) / len(gaps):.3f} % over {len(gaps)} instances "
              f"(max {max(gaps):.2f} %)")
    if proven:
        miss = [i for i in proven if i not in hit]
        print(f"proven optima hit, ids 1-23: {len(hit)}/{len(proven)}"
              + (f" (missed: {', '.join(map(str, miss))})" if miss else ""))
    rest = [i for i in ids if i >= 38 and "cost" in results[i]]
    if rest:
        print(f"ids 38-65: {len(rest)} solved, total cost "
              f"{sum(results[i]['cost'] for i in rest)}, no reference values")
    print(f"feasible: {feasible}/{len(ids)}   total time: {total:.1f} s")
    return 0 if feasible == len(ids) else 1


if __name__ == "__main__":
    sys.exit(main())
