# SPDX-License-Identifier: MIT
"""Dispatch end to end: a server with demand history plans where bikes
are missing, a crew follows the plan (the fleet state follows, with the MDS
events), the next plan sees the moved bikes; maintenance tasks from lock
alarms are routed and cleared; rider incentives are granted only by the
rules; a kill -9 loses no confirmation."""

import math
import random
import sqlite3
import time
import unittest

from spoke_harness import HOME_LAT, HOME_LON, SpokeTestCase, wait_until

# Demand at A (home), returns at B (2 km north), idle bikes at X (2.2 km
# east), all inside the service area.
A = (HOME_LAT, HOME_LON)
B = (HOME_LAT + 0.018, HOME_LON)
X = (HOME_LAT, HOME_LON + 0.03)
AREA = [[HOME_LON - 0.05, HOME_LAT - 0.05], [HOME_LON + 0.05, HOME_LAT - 0.05],
        [HOME_LON + 0.05, HOME_LAT + 0.05], [HOME_LON - 0.05, HOME_LAT + 0.05]]
PLAN_WAIT_S = 60


def config(trucks=1, capacity=10, reward=None):
    cfg = {"service_area": AREA,
           "dispatch": {"trucks": trucks, "truck_capacity": capacity,
                        "depot": {"lat": A[0], "lon": A[1]},
                        "route_budget_ms": 300, "history_days": 14,
                        "plan_interval_s": 3600, "replan_min_s": 1}}
    if reward is not None:
        cfg["dispatch"]["reward"] = reward
    return cfg


def seed_history(db, per_hour=3, days=14):
    """Anonymous demand history: per_hour trips an hour, every hour of the
    last days, from around A to around B."""
    rng = random.Random(7)
    now = int(time.time())
    rows = []
    for h in range(days * 24):
        t0 = now - (h + 1) * 3600
        for _ in range(per_hour):
            s = t0 + rng.randrange(3600)
            rows.append(((s * 1000), (s + 600) * 1000,
                         A[0] + rng.uniform(-0.0008, 0.0008),
                         A[1] + rng.uniform(-0.0008, 0.0008),
                         B[0] + rng.uniform(-0.0008, 0.0008),
                         B[1] + rng.uniform(-0.0008, 0.0008)))
    con = sqlite3.connect(db)
    con.executemany("INSERT INTO demand_trips (started_ms, ended_ms,"
                    " start_lat, start_lon, end_lat, end_lon)"
                    " VALUES (?, ?, ?, ?, ?, ?)", rows)
    con.commit()
    con.close()
    return len(rows)


def distance_m(a, b):
    r = 6371008.8
    p1, p2 = math.radians(a[0]), math.radians(b[0])
    dp, dl = p2 - p1, math.radians(b[1] - a[1])
    h = (math.sin(dp / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2)
    return 2 * r * math.asin(math.sqrt(h))


class DispatchTest(SpokeTestCase):

    def server_with_history(self, cfg):
        """A server whose store holds the demand history (seeded while it
        was stopped)."""
        srv = self.start_server(cfg)
        srv.stop()
        self.history = seed_history(srv.db)
        srv.start()
        return srv

    def plan(self, sp, after_id=0):
        """Waits for a plan with id > after_id; returns it."""
        def ready():
            r = sp.ops.get("/v1/ops/plan")
            if r.status == 503:
                self.assertEqual(r.code, "plan_not_ready")
                return None
            self.assertEqual(r.status, 200, r)
            return r.json if r.json["plan_id"] > after_id else None
        return wait_until(ready, PLAN_WAIT_S, interval=0.1,
                          desc="a plan after %d" % after_id)

    def replan(self, sp, plan):
        """Asks for a plan of the fleet as it is now and waits for it."""
        r = sp.ops.post("/v1/ops/plan")
        self.assertEqual(r.status, 202, r)
        self.assertGreaterEqual(r.json["current_plan_id"], plan["plan_id"])
        self.assertGreater(r.json["next_plan_id"], r.json["current_plan_id"])
        return self.plan(sp, r.json["next_plan_id"] - 1)

    def cells(self, sp):
        out, after = {}, -1
        while True:
            r = sp.ops.get("/v1/ops/plan/cells?limit=50&after=%d" % after)
            self.assertEqual(r.status, 200, r)
            for c in r.json["cells"]:
                out[c["cell"]] = c
            if r.json["next_after"] is None:
                return out
            after = r.json["next_after"]

    def cell_near(self, cells, p):
        c = min(cells.values(), key=lambda c: distance_m((c["lat"], c["lon"]), p))
        self.assertLess(distance_m((c["lat"], c["lon"]), p), 400)
        return c

    def test_crew_follows_the_plan(self):
        srv = self.server_with_history(config())
        sp = self.spoke(srv)
        bikes = [sp.add_bike(*X) for _ in range(8)]
        ids = {b["id"] for b in bikes}
        plan = self.replan(sp, self.plan(sp))

        # The forecast sees riders at A and returns at B; the idle bikes at
        # X are surplus, A is short.
        self.assertIsNone(plan["note"], plan)
        self.assertEqual(plan["summary"]["history_events"], 2 * self.history)
        # It read on from the first plan's history (rows added since: none).
        self.assertIs(plan["summary"]["history_incremental"], True)
        cells = self.cells(sp)
        a, x = self.cell_near(cells, A), self.cell_near(cells, X)
        self.assertGreater(a["forecast_rentals"], 5)
        self.assertEqual(a["available"], 0)
        self.assertGreaterEqual(a["deficit"], 10)
        self.assertEqual(x["available"], 8)
        self.assertEqual(x["target"], 0)
        self.assertEqual(x["surplus"], 8)
        b = self.cell_near(cells, B)
        self.assertEqual(b["target"], 0)

        # One truck of 10: load all 8 at X, unload them at A.
        [route] = plan["trucks"]
        self.assertEqual(route["truck_id"], 1)
        stops = route["stops"]
        picks = [s for s in stops if s["action"] == "pick_up"]
        drops = [s for s in stops if s["action"] == "drop_off"]
        self.assertEqual(sum(s["bikes"] for s in picks), 8, stops)
        self.assertEqual(sum(s["bikes"] for s in drops), 8, stops)
        self.assertEqual({s["cell"] for s in picks}, {x["cell"]})
        self.assertEqual({s["cell"] for s in drops}, {a["cell"]})
        self.assertLess(stops.index(picks[0]), stops.index(drops[0]))
        self.assertEqual(plan["summary"]["bikes_moved"], 8)
        etas = [s["eta_s"] for s in stops]
        self.assertEqual(etas, sorted(etas))

        # The crew loads the suggested bikes.
        aboard = []
        for s in picks:
            self.assertEqual(len(s["bike_ids"]), s["bikes"])
            for bid in s["bike_ids"]:
                self.assertIn(bid, ids)
                r = sp.ops.post("/v1/ops/trucks/1/pick-up", {"bike_id": bid})
                self.assertEqual(r.status, 200, r)
                self.assertIs(r.json["on_plan"], True)
                self.assertEqual(r.json["bike"]["state"], "removed")
                self.assertEqual(r.json["bike"]["truck_id"], 1)
                aboard.append(bid)
                self.assertEqual(r.json["truck"]["load"], len(aboard))
        r = sp.anon.get("/v1/bikes?lat=%f&lon=%f&radius_m=500" % X)
        self.assertEqual(r.json["bikes"], [])

        # A kill -9 now loses nothing the crew confirmed.
        srv.kill9()
        srv.start()
        sp = self.spoke(srv)
        r = sp.ops.get("/v1/ops/trucks")
        self.assertEqual(r.json["trucks"][0]["load"], 8, r)
        for bid in aboard:
            self.assertEqual(sp.bike(bid)["state"], "removed")
        plan = self.plan(sp)
        # The new plan has the truck drop what it carries at A.
        [route] = plan["trucks"]
        self.assertEqual(route["load"], 8)
        drops = [s for s in route["stops"] if s["action"] == "drop_off"]
        self.assertEqual(sum(s["bikes"] for s in drops), 8, route)

        # The crew unloads at the stop; the bikes are available there.
        for s in drops:
            for _ in range(s["bikes"]):
                bid = aboard.pop()
                r = sp.ops.post("/v1/ops/trucks/1/drop-off",
                                {"bike_id": bid, "lat": s["lat"],
                                 "lon": s["lon"]})
                self.assertEqual(r.status, 200, r)
                self.assertIs(r.json["on_plan"], True)
                self.assertEqual(r.json["bike"]["state"], "available")
                self.assertIsNone(r.json["bike"]["truck_id"])
        self.assertEqual(aboard, [])
        r = sp.anon.get("/v1/bikes?lat=%f&lon=%f&radius_m=400&limit=100" % A)
        self.assertEqual(len(r.json["bikes"]), 8)
        r = sp.ops.get("/v1/ops/trucks")
        self.assertEqual(r.json["trucks"][0]["load"], 0)
        self.assertLess(distance_m((r.json["trucks"][0]["lat"],
                                    r.json["trucks"][0]["lon"]), A), 400)

        # The MDS events are recorded.
        con = sqlite3.connect(srv.db)
        ev = dict(con.execute("SELECT event_type, count(*) FROM vehicle_events"
                              " WHERE event_type IN ('rebalance_pick_up',"
                              " 'provider_drop_off') GROUP BY event_type"))
        con.close()
        self.assertEqual(ev, {"rebalance_pick_up": 8, "provider_drop_off": 8})

        # The next plan sees the bikes at A and none left at X.
        plan2 = self.replan(sp, plan)
        cells = self.cells(sp)
        a2 = self.cell_near(cells, A)
        self.assertEqual(a2["available"], 8)
        self.assertEqual(a2["deficit"], a["deficit"] - 8)
        self.assertNotIn(x["cell"], cells)
        self.assertEqual(plan2["summary"]["bikes_moved"], 0)

    def test_plans_reproducible_with_route_iters(self):
        cfg = config(trucks=2)
        cfg["dispatch"].update({"route_iters": 400, "route_budget_ms": 60000})
        srv = self.server_with_history(cfg)
        sp = self.spoke(srv)
        for i in range(12):
            sp.add_bike(X[0] + 0.001 * (i % 4), X[1] + 0.001 * (i // 4))

        def routes(plan):
            return [(t["truck_id"], t["metres"], t["seconds"],
                     [(st["action"], st.get("cell"), st["lat"], st["lon"],
                       st["bikes"], st["eta_s"], st.get("bike_ids"))
                      for st in t["stops"]]) for t in plan["trucks"]]

        def slot(plan):  # the forecast's 15-minute slot
            return plan["created_at"][:14] + str(int(plan["created_at"][14:16]) // 15)

        p1 = self.replan(sp, self.plan(sp))
        p2 = self.replan(sp, p1)
        if slot(p1) != slot(p2):  # the forecast moved on between them
            p1, p2 = p2, self.replan(sp, p2)
        for p in (p1, p2):
            self.assertEqual(p["summary"]["route_iters"], 400, p["summary"])
            self.assertIs(p["summary"]["route_deadline"], False)
        self.assertGreater(p1["summary"]["bikes_moved"], 0, p1)
        self.assertEqual(routes(p1), routes(p2))
        self.assertEqual(p1["summary"], p2["summary"])

    def test_lost_searches_count_at_most_ten_a_minute_and_square(self):
        cfg = config(trucks=0)
        cfg["search_flush_s"] = 1
        srv = self.start_server(cfg)
        sp = self.spoke(srv)
        for _ in range(30):  # an app refreshing where there is no bike
            r = sp.anon.get("/v1/bikes?lat=%f&lon=%f&radius_m=200" % B)
            self.assertEqual((r.status, r.json["bikes"]), (200, []), r)

        def logged():
            con = sqlite3.connect(srv.db)
            rows = con.execute("SELECT n FROM searches WHERE found = 0"
                               ).fetchall()
            con.close()
            return rows if sum(n for (n,) in rows) == 30 else None
        rows = wait_until(logged, timeout=10, desc="30 searches logged")
        plan = self.replan(sp, self.plan(sp))
        self.assertEqual(plan["summary"]["history_events"],
                         sum(min(n, 10) for (n,) in rows), rows)
        self.assertLess(plan["summary"]["history_events"], 30)
        self.assertIs(plan["summary"]["history_incremental"], True)

    def test_trucks_work_their_shift_only(self):
        day = 86400
        now = int(time.time()) % day  # utc_offset_s is 0 here
        # The shift ends in 30 minutes: no route may take longer.
        cfg = config(trucks=2)
        cfg["dispatch"].update({"shift_start_s": (now - 3600) % day,
                                "shift_end_s": (now + 1800) % day,
                                "route_s": 7200})
        srv = self.server_with_history(cfg)
        sp = self.spoke(srv)
        for i in range(12):
            sp.add_bike(X[0] + 0.001 * (i % 4), X[1] + 0.001 * (i // 4))
        plan = self.replan(sp, self.plan(sp))
        self.assertIsNone(plan["note"], plan)
        self.assertGreater(plan["summary"]["bikes_moved"], 0, plan)
        for t in plan["trucks"]:
            self.assertLessEqual(t["seconds"], 1800, t)
        srv.stop()
        # Off shift (it begins in an hour): no routes, and the plan says so.
        srv.config["dispatch"].update({"shift_start_s": (now + 3600) % day,
                                       "shift_end_s": (now + 7200) % day})
        srv.start()
        sp = self.spoke(srv)
        plan = self.replan(sp, self.plan(sp))
        self.assertEqual(plan["note"], "the trucks are off shift")
        self.assertEqual(plan["summary"]["bikes_moved"], 0)
        self.assertTrue(all(t["stops"] == [] for t in plan["trucks"]), plan)
        self.assertGreater(plan["summary"]["deficit_bikes"], 0)

    def test_crew_errors(self):
        srv = self.start_server(config())
        sp = self.spoke(srv)
        bike = sp.add_bike(*X)
        other = sp.add_bike(*A)
        cases = [
            ("/v1/ops/trucks/9/pick-up", {"bike_id": bike["id"]}, 404,
             "truck_not_found"),
            ("/v1/ops/trucks/1/pick-up", {"bike_id": 999}, 404,
             "bike_not_found"),
            ("/v1/ops/trucks/1/pick-up", {}, 422, "missing_field"),
            ("/v1/ops/trucks/1/pick-up", {"bike_id": "1"}, 422,
             "invalid_field"),
            ("/v1/ops/trucks/1/pick-up", {"bike_id": 1, "x": 1}, 422,
             "unknown_field"),
            ("/v1/ops/trucks/1/drop-off", {"bike_id": bike["id"], "lat": 1},
             422, "missing_field"),
            ("/v1/ops/trucks/1/drop-off",
             {"bike_id": bike["id"], "lat": A[0], "lon": A[1]}, 409,
             "not_on_truck"),
        ]
        for path, body, status, code in cases:
            r = sp.ops.post(path, body)
            self.assertEqual((r.status, r.code), (status, code), (path, body, r))
            self.assertEqual(r.content_type, "application/problem+json")
        r = sp.ops.post("/v1/ops/trucks/1/pick-up", {"bike_id": bike["id"]})
        self.assertEqual(r.status, 200, r)
        # Another truck cannot unload it; nor can it go outside the area.
        r = sp.ops.post("/v1/ops/trucks/2/drop-off",
                        {"bike_id": bike["id"], "lat": A[0], "lon": A[1]})
        self.assertEqual(r.status, 404, r)
        r = sp.ops.post("/v1/ops/trucks/1/drop-off",
                        {"bike_id": bike["id"], "lat": A[0] + 1, "lon": A[1]})
        self.assertEqual((r.status, r.code), (422, "outside_service_area"))
        r = sp.ops.post("/v1/ops/trucks/1/pick-up", {"bike_id": bike["id"]})
        self.assertEqual((r.status, r.code), (409, "illegal_transition"))
        self.assertEqual(sp.bike(bike["id"])["state"], "removed")
        # A rider's token is not an operator's.
        rider = sp.rider()
        r = rider.http.post("/v1/ops/trucks/1/pick-up",
                            {"bike_id": other["id"]})
        self.assertEqual(r.status, 403, r)
        r = rider.http.get("/v1/ops/plan")
        self.assertEqual(r.status, 403, r)
        self.assertEqual(sp.bike(other["id"])["state"], "available")

    def test_maintenance_tasks_are_routed_and_cleared(self):
        srv = self.start_server(config())
        sp = self.spoke(srv)
        broken = sp.add_bike(X[0], X[1])
        fallen = sp.add_bike(B[0], B[1])
        lb = sp.lock(broken)
        lf = sp.lock(fallen)
        sp.wait_lock_online(broken["id"])
        sp.wait_lock_online(fallen["id"])
        lb.fault(3)
        lf.alarm(2)  # fell over

        def tasks():
            r = sp.ops.get("/v1/ops/tasks")
            self.assertEqual(r.status, 200, r)
            return r.json
        t = wait_until(lambda: tasks() if tasks()["total"] == 2 else None,
                       desc="two tasks")
        self.assertEqual([(x["bike_id"], x["kind"], x["priority"])
                          for x in t["tasks"]],
                         [(broken["id"], "repair", 1),
                          (fallen["id"], "upright", 2)])
        self.assertEqual(sp.bike(broken["id"])["alarms"], ["fault"])
        self.assertEqual(sp.bike(fallen["id"])["alarms"], ["fall"])

        plan = self.replan(sp, self.plan(sp))
        [route] = plan["trucks"]
        done = {s["task"]["bike_id"]: s for s in route["stops"]
                if s["action"] == "task"}
        self.assertEqual(set(done), {broken["id"], fallen["id"]}, route)
        self.assertEqual(done[broken["id"]]["bikes"], 1)  # goes aboard
        self.assertEqual(plan["summary"]["tasks"], 2)

        # The crew takes the broken bike for repair, stands the other up.
        r = sp.ops.post("/v1/ops/trucks/1/pick-up",
                        {"bike_id": broken["id"], "maintenance": True})
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json["on_plan"], True)
        self.assertEqual(r.json["truck"]["broken"], 1)
        r = sp.ops.post("/v1/ops/bikes/%d/inspect" % fallen["id"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["alarms"], [])
        self.assertEqual(tasks()["total"], 0)
        # Repaired at the depot, it comes back without alarms.
        r = sp.ops.post("/v1/ops/trucks/1/drop-off",
                        {"bike_id": broken["id"], "lat": A[0], "lon": A[1]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["bike"]["alarms"], [])
        self.assertEqual(r.json["truck"]["broken"], 0)
        con = sqlite3.connect(srv.db)
        n = con.execute("SELECT count(*) FROM vehicle_events"
                        " WHERE event_type = 'maintenance_pick_up'").fetchone()
        con.close()
        self.assertEqual(n[0], 1)
        # A fall that clears itself (code 6) ends the task too.
        lf.alarm(2)
        wait_until(lambda: tasks()["total"] == 1, desc="fall task")
        lf.alarm(6)
        wait_until(lambda: tasks()["total"] == 0, desc="fall cleared")

    def test_incentives_only_by_the_rules(self):
        reward = {"amount_cents": 120, "min_duration_s": 2,
                  "min_distance_m": 300, "max_per_day": 1}
        srv = self.server_with_history(config(trucks=0, reward=reward))
        sp = self.spoke(srv)
        bikes = [sp.add_bike(X[0] + 0.0002 * i, X[1]) for i in range(4)]
        locks = {b["id"]: sp.lock(b) for b in bikes}
        for b in bikes:
            sp.wait_lock_online(b["id"])
        self.replan(sp, self.plan(sp))

        r = sp.anon.get("/v1/bikes?lat=%f&lon=%f&radius_m=200" % X)
        self.assertEqual(len(r.json["bikes"]), 4)
        self.assertEqual({b.get("reward_cents") for b in r.json["bikes"]}, {120})
        r = sp.anon.get("/v1/bikes?lat=%f&lon=%f&radius_m=200" % A)
        self.assertEqual(r.json["bikes"], [])

        def ride(rider, bike, to, wait_s):
            r = rider.http.post("/v1/trips", {"bike_id": bike["id"]})
            self.assertEqual(r.status, 202, r)
            tid = r.json["id"]
            self.assertEqual(r.json["reward"],
                             {"offer_cents": 120, "amount_cents": 0,
                              "status": "pending"})
            sp.wait_trip(rider, tid, "riding")
            lk = locks[bike["id"]]
            lk.position(*to)
            time.sleep(wait_s)
            lk.locked(user_id=rider.id)
            return sp.wait_trip(rider, tid, "ended")

        # Granted: taken to A, far enough, long enough.
        r1 = sp.rider()
        t = ride(r1, bikes[0], A, 2.5)
        self.assertEqual(t["reward"]["status"], "granted", t)
        self.assertEqual(t["reward"]["amount_cents"], 120)
        self.assertEqual(r1.balance(), 120 - t["fare"]["amount_cents"])
        # The same rider again the same day: capped.
        t = ride(r1, bikes[1], A, 2.5)
        self.assertEqual(t["reward"]["status"], "daily_cap", t)
        # To B, where nobody needs bikes: nothing.
        t = ride(sp.rider(), bikes[2], B, 2.5)
        self.assertEqual(t["reward"]["status"], "not_deficit", t)
        # Straight to A without riding long enough: nothing.
        r4 = sp.rider()
        t = ride(r4, bikes[3], A, 0)
        self.assertEqual(t["reward"]["status"], "too_short", t)
        self.assertEqual(r4.balance(), -t["fare"]["amount_cents"])


if __name__ == "__main__":
    unittest.main()
