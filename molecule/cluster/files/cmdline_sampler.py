#!/usr/bin/env python3
"""Record every distinct process command line on this host, one scan per PERIOD s.

usage: cmdline_sampler.py PERIOD OUT_DIR

Started by molecule's prepare step, before converge; it runs until the host
is destroyed. OUT_DIR/cmdlines holds each distinct command line once (NUL
separated arguments joined by spaces); OUT_DIR/status.json, rewritten every
few seconds, when it started, how many scans it made, and how many of the
gaps between scan starts were above LATE_S (test_no_secret_on_a_command_line).
"""

import json
import os
import sys
import time

LATE_S = 0.2  # the acceptance's bound between two looks at a process table


def scan(seen: set[bytes], out) -> None:
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                raw = f.read()
        except OSError:  # the process ended between listdir and open
            continue
        if raw and raw not in seen:
            seen.add(raw)
            out.write(raw.rstrip(b"\0").replace(b"\0", b" ") + b"\n")
            out.flush()


def main() -> None:
    period, out_dir = float(sys.argv[1]), sys.argv[2]
    os.makedirs(out_dir, mode=0o700, exist_ok=True)
    status = {"started": time.time(), "period": period, "late_s": LATE_S,
              "scans": 0, "late": 0, "max_gap": 0.0, "pid": os.getpid()}
    seen: set[bytes] = set()
    last = written = time.monotonic()
    with open(os.path.join(out_dir, "cmdlines"), "ab") as out:
        while True:
            start = time.monotonic()
            scan(seen, out)
            gap = start - last
            last = start
            if status["scans"]:
                status["late"] += gap > LATE_S
                status["max_gap"] = max(status["max_gap"], round(gap, 3))
            status["scans"] += 1
            if start - written > 5:
                written = start
                status["updated"] = time.time()
                tmp = os.path.join(out_dir, "status.json.tmp")
                with open(tmp, "w") as f:
                    json.dump(status, f)
                os.replace(tmp, os.path.join(out_dir, "status.json"))
            time.sleep(max(0.0, period - (time.monotonic() - start)))


if __name__ == "__main__":
    main()
