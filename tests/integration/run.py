#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Runs the integration suite (tests/integration/test_*.py) against a spoke
binary and ends with the line "N passed, N failed" (the form CI reads).

usage: python3 tests/integration/run.py --spoke PATH [-v] [-k PATTERN]...
                                        [--failfast] [--timeout S] [TEST...]

TEST is a unittest name relative to this directory: test_lock,
test_lock.UnlockTimeoutTest or test_lock.LockProtocolTest.test_acks_exact_scor.
-k selects test methods whose name contains PATTERN. The exit status is 0
only if every test passed. Python 3 standard library only.
"""

import argparse
import faulthandler
import os
import sys
import threading
import time
import unittest
import warnings

sys.dont_write_bytecode = True  # keep __pycache__ out of the tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import spoke_harness  # noqa: E402


class TimedResult(unittest.TextTestResult):
    """Records each test's duration and which tests failed (a test with
    several failing subtests counts once)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.started = []
        self.durations = {}
        self.failed_ids = set()
        self._t0 = {}

    def startTest(self, test):
        self.started.append(test.id())
        self._t0[test.id()] = time.monotonic()
        super().startTest(test)

    def stopTest(self, test):
        self.durations[test.id()] = time.monotonic() - self._t0.pop(test.id(), time.monotonic())
        super().stopTest(test)

    def _mark(self, test):
        self.failed_ids.add(getattr(test, "test_case", test).id())

    def addFailure(self, test, err):
        self._mark(test)
        super().addFailure(test, err)

    def addError(self, test, err):
        self._mark(test)
        super().addError(test, err)

    def addSubTest(self, test, subtest, err):
        if err is not None:
            self._mark(test)
        super().addSubTest(test, subtest, err)

    def addUnexpectedSuccess(self, test):
        self._mark(test)
        super().addUnexpectedSuccess(test)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spoke", required=True, help="the spoke binary to test")
    ap.add_argument("-v", "--verbose", action="store_true", help="more output")
    ap.add_argument("-q", "--quiet", action="store_true", help="one dot per test")
    ap.add_argument("-k", action="append", default=[], metavar="PATTERN",
                    help="only test methods whose name contains PATTERN")
    ap.add_argument("--failfast", action="store_true")
    ap.add_argument("--timeout", type=float, default=900,
                    help="give up (and kill every server) after S seconds")
    ap.add_argument("--gateway-workers", type=int, default=0, metavar="N",
                    help="run every server with N lock gateway worker processes")
    ap.add_argument("tests", nargs="*")
    args = ap.parse_args()
    if args.gateway_workers:
        os.environ["SPOKE_TEST_GATEWAY_WORKERS"] = str(args.gateway_workers)

    if not (os.path.isfile(args.spoke) and os.access(args.spoke, os.X_OK)):
        sys.stderr.write("run.py: %s is not an executable\n" % args.spoke)
        return 2
    spoke_harness.set_spoke(args.spoke)
    warnings.simplefilter("ignore", ResourceWarning)
    os.chdir(HERE)

    def on_timeout():
        sys.stderr.write("\nrun.py: timed out after %.0fs; stacks:\n" % args.timeout)
        faulthandler.dump_traceback(all_threads=True)
        spoke_harness.kill_all_servers()
        sys.stderr.write("0 passed, 1 failed\n")
        sys.stderr.flush()
        os._exit(1)
    watchdog = threading.Timer(args.timeout, on_timeout)
    watchdog.daemon = True
    watchdog.start()

    loader = unittest.TestLoader()
    if args.k:
        loader.testNamePatterns = ["*%s*" % p for p in args.k]
    if args.tests:
        suite = loader.loadTestsFromNames(args.tests)
    else:
        suite = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)

    print("spoke: %s" % spoke_harness.spoke_path())
    sys.stdout.flush()
    t0 = time.monotonic()
    runner = unittest.TextTestRunner(stream=sys.stdout,
                                     verbosity=0 if args.quiet else 2,
                                     failfast=args.failfast,
                                     resultclass=TimedResult)
    result = runner.run(suite)
    watchdog.cancel()
    spoke_harness.kill_all_servers()

    slow = sorted(result.durations.items(), key=lambda kv: -kv[1])[:5]
    if slow and not args.quiet:
        print("slowest: " + ", ".join("%s %.1fs" % (k.split(".", 1)[1], v) for k, v in slow))
    skipped = set(t.id() for t, _ in result.skipped)
    passed = len([t for t in result.started
                  if t not in result.failed_ids and t not in skipped])
    failed = len(result.failed_ids)
    print("total %.1fs" % (time.monotonic() - t0))
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
