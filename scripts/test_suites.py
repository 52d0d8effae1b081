"""Run make test's suites one after another and time each one.

usage: test_suites.py --out FILE [--cleanup TARGET] -- SUITE [SUITE...]

Each SUITE is a make target, run as `make -s SUITE` in the order given. The
run stops at the first failing suite (later suites would only fail on its
leftovers). On a failure the --cleanup target runs too (it removes the
stack the stack suites share), so a failed run leaves no project behind.
At the end, pass or fail, it prints one line per suite with its duration
and writes the same to FILE as JSON: that file is where the README's
make test figure comes from. Only the standard library: this runs before
bootstrap has built the virtualenv.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path


def run_suite(make: str, target: str) -> tuple[bool, float]:
    """Runs `make -s target`, output streaming through; returns (passed, seconds)."""
    started = time.monotonic()
    # make and the target come from the Makefile's own recipe, no shell.
    rc = subprocess.call([make, "-s", "--no-print-directory", target])  # noqa: S603
    return rc == 0, round(time.monotonic() - started, 1)


def summary_lines(suites: list[dict], total_s: float, passed: bool) -> list[str]:
    """One line per suite (name, seconds, result), then the total."""
    width = max((len(s["name"]) for s in suites), default=5)
    lines = [f"make test: {s['name']:<{width}} {s['seconds']:>7.1f} s  {s['result']}"
             for s in suites]
    verdict = "all passed" if passed else "FAILED"
    lines.append(f"make test: {'total':<{width}} {total_s:>7.1f} s  {verdict}"
                 f" ({total_s / 60:.1f} min)")
    return lines


def record(suites: list[dict], total_s: float, passed: bool, planned: list[str]) -> dict:
    """The JSON written to --out: what ran, how long, on what machine and commit."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
                            capture_output=True, text=True, check=False).stdout.strip()
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit or None,
        "result": "passed" if passed else "failed",
        "total_s": total_s,
        "suites": suites,
        "not_run": planned[len(suites):],
        "machine": {"cpus": os.cpu_count(), "load_at_start": list(os.getloadavg())},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--cleanup", help="make target to run after a failure")
    parser.add_argument("suites", nargs="+")
    args = parser.parse_args(argv)
    make = os.environ.get("MAKE", "make")
    load = os.getloadavg()
    started = time.monotonic()
    suites: list[dict] = []
    passed = True
    for target in args.suites:
        ok, seconds = run_suite(make, target)
        suites.append({"name": target, "seconds": seconds, "result": "passed" if ok else "FAILED"})
        if not ok:
            passed = False
            break
    if not passed and args.cleanup and args.cleanup not in [s["name"] for s in suites]:
        run_suite(make, args.cleanup)
    total_s = round(time.monotonic() - started, 1)
    data = record(suites, total_s, passed, args.suites)
    data["machine"]["load_at_start"] = [round(x, 2) for x in load]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print("\n".join(summary_lines(suites, total_s, passed)))
    if not passed:
        print(f"make test: stopped at {suites[-1]['name']}; not run: "
              f"{', '.join(data['not_run']) or 'none'}", file=sys.stderr)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
