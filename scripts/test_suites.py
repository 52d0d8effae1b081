"""Run make test's suites one after another and time each one.

usage: test_suites.py --out FILE [--cleanup TARGET] -- SUITE [SUITE...]

Each SUITE is a make target, run as `make -s SUITE` in the order given. A
SUITE written A+B,C is a group of lanes run at once: lane A, and lane B,C
(B then C); each suite of a group is still timed on its own, its output is
kept and printed whole when it ends, a lane stops at its first failure and
the group ends when every lane has. The first lane may have a phase that
measures time bounds: it waits, before that phase, for the file named in
$CELERY_STACK_SUITES_BESIDE_DONE, created once every other lane has ended
(molecule does, before its verifies). The run
stops at the first failing suite or group (later suites would only fail on
its leftovers). On a failure the --cleanup target runs too (it removes the
stack the stack suites share), so a failed run leaves no project behind.
At the end, each failed group suite's failed test lines and the end of its
output are printed again (a CI log often shows only its tail); then, pass or
fail, it prints one line per suite with its duration
and writes the same to FILE as JSON: that file is where the README's
make test figure comes from. Only the standard library: this runs before
bootstrap has built the virtualenv.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path


def run_suite(make: str, target: str) -> tuple[bool, float]:
    """Runs `make -s target`, output streaming through; returns (passed, seconds)."""
    started = time.monotonic()
    # make and the target come from the Makefile's own recipe, no shell.
    rc = subprocess.call([make, "-s", "--no-print-directory", target])  # noqa: S603
    return rc == 0, round(time.monotonic() - started, 1)


# Output of the group suites that failed, by target: printed again at the end.
FAILED_OUTPUT: dict[str, str] = {}
# Lines of a failed suite's output printed again at the end, besides its failed tests.
TAIL_LINES = 8


def failure_digest(target: str, text: str) -> list[str]:
    """pytest's FAILED/ERROR lines of ``text`` (molecule boxes them in), then its last lines."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", ln) for ln in text.splitlines()]
    # Molecule wraps its box at 80 columns: "│ FAILED" alone, the test id on
    # the lines after it (itself cut): join those back first.
    bare = [ln.strip(" │") for ln in lines]
    failed = []
    for i, ln in enumerate(bare):
        if ln in ("FAILED", "ERROR"):
            rest = ""
            for nxt in bare[i + 1:i + 4]:
                if not nxt or nxt.startswith(("FAILED", "ERROR", "=")):
                    break
                rest += nxt
            ln = f"{ln} {rest}"
        if re.search(r"(^|\s)(FAILED|ERROR) \S+::", ln):
            failed.append(ln[:200])
    return ([f"== make test: {target} FAILED; its failed tests:"] + (failed or ["(none named)"])
            + [f"== make test: the last {TAIL_LINES} lines of {target}'s output:"]
            + lines[-TAIL_LINES:])


def entry(name: str, ok: bool, seconds: float, beside: str | None = None) -> dict:
    row = {"name": name, "seconds": seconds, "result": "passed" if ok else "FAILED"}
    if beside:
        row["beside"] = beside
    return row


def lanes(token: str) -> list[list[str]]:
    """"A+B,C" -> [["A"], ["B", "C"]]: the lanes of a group, each its suites in order."""
    return [lane.split(",") for lane in token.split("+")]


def run_captured(make: str, target: str, lock: threading.Lock, beside: str,
                 env: dict[str, str] | None = None) -> tuple[bool, float]:
    """run_suite with the output kept in a file and printed whole, under ``lock``, at the end."""
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as out:
        started = time.monotonic()
        # As in run_suite: make and the target come from the Makefile's recipe.
        rc = subprocess.call([make, "-s", "--no-print-directory", target],  # noqa: S603
                             stdout=out, stderr=subprocess.STDOUT, env=env)
        seconds = round(time.monotonic() - started, 1)
        out.seek(0)
        with lock:
            print(f"== make test: {target} ({seconds:.1f} s, "
                  f"{'passed' if rc == 0 else 'FAILED'}, beside {beside})", flush=True)
            text = out.read()
            sys.stdout.write(text)
            sys.stdout.flush()
            if rc != 0:
                FAILED_OUTPUT[target] = text
    return rc == 0, seconds


def run_group(make: str, group: list[list[str]]) -> list[dict]:
    """Every lane at once, each in its own thread; rows in lane order. The first
    lane's suites see $CELERY_STACK_SUITES_BESIDE_DONE (see above)."""
    lock = threading.Lock()
    rows: list[list[dict]] = [[] for _ in group]
    with tempfile.TemporaryDirectory() as tmp:
        done = Path(tmp) / "beside-done"
        first_env = {**os.environ, "CELERY_STACK_SUITES_BESIDE_DONE": str(done)}

        def lane(i: int) -> None:
            beside = " + ".join(",".join(other) for j, other in enumerate(group) if j != i)
            for target in group[i]:
                ok, seconds = run_captured(make, target, lock, beside,
                                           first_env if i == 0 else None)
                rows[i].append(entry(target, ok, seconds, beside))
                if not ok:
                    return
        threads = [threading.Thread(target=lane, args=(i,)) for i in range(len(group))]
        for t in threads:
            t.start()
        for t in threads[1:]:
            t.join()
        done.touch()  # every other lane ended (passed or not): the first may go on alone
        threads[0].join()
    return [row for lane_rows in rows for row in lane_rows]


def summary_lines(suites: list[dict], total_s: float, passed: bool) -> list[str]:
    """One line per suite (name, seconds, result), then the total."""
    width = max((len(s["name"]) for s in suites), default=5)
    lines = [f"make test: {s['name']:<{width}} {s['seconds']:>7.1f} s  {s['result']}"
             + (f"  (beside {s['beside']})" if s.get("beside") else "")
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
        "not_run": [name for token in planned for lane in lanes(token) for name in lane
                    if name not in {s["name"] for s in suites}],
        "machine": {"cpus": os.cpu_count(), "load_at_start": list(os.getloadavg())},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--cleanup", help="make target to run after a failure")
    parser.add_argument("suites", nargs="+")
    args = parser.parse_args(argv)
    make = os.environ.get("MAKE", "make")
    FAILED_OUTPUT.clear()
    load = os.getloadavg()
    started = time.monotonic()
    suites: list[dict] = []
    passed = True
    for token in args.suites:
        group = lanes(token)
        if len(group) > 1:
            rows = run_group(make, group)
        else:
            rows = []
            for target in group[0]:
                ok, seconds = run_suite(make, target)
                rows.append(entry(target, ok, seconds))
                if not ok:
                    break
        suites.extend(rows)
        if any(r["result"] != "passed" for r in rows):
            passed = False
            break
    if not passed and args.cleanup and args.cleanup not in [s["name"] for s in suites]:
        run_suite(make, args.cleanup)
    total_s = round(time.monotonic() - started, 1)
    data = record(suites, total_s, passed, args.suites)
    data["machine"]["load_at_start"] = [round(x, 2) for x in load]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    for target, text in FAILED_OUTPUT.items():
        print("\n".join(failure_digest(target, text)))
    print("\n".join(summary_lines(suites, total_s, passed)))
    if not passed:
        failed = ", ".join(r["name"] for r in suites if r["result"] != "passed")
        print(f"make test: stopped at {failed}; not run: "
              f"{', '.join(data['not_run']) or 'none'}", file=sys.stderr)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
