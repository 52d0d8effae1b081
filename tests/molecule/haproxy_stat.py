"""HAProxy's own view of its servers, read from the admin socket on the lb host."""

from __future__ import annotations

import csv
import io
import re
import shlex

ADMIN_SOCKET = "/run/haproxy/admin.sock"
BACKEND = "rabbitmq_amqp"

# `show stat` over the admin socket (python3 is on every host; socat is not).
SHOW_STAT = (
    "import socket\n"
    "s = socket.socket(socket.AF_UNIX)\n"
    f"s.connect({ADMIN_SOCKET!r})\n"
    "s.sendall(b'show stat\\n')\n"
    "data = b''\n"
    "while chunk := s.recv(65536):\n"
    "    data += chunk\n"
    "print(data.decode())\n"
)

# Runs on the lb host in the background: watches one broker with the same
# AMQP check HAProxy uses (protocol header, expect connection.start) and
# HAProxy's status of it, until HAProxy says DOWN. Writes epoch times of the
# last answer, the first miss and the first DOWN seen; how each miss looked.
WATCH_DOWN = """
import json, os, socket, sys, time
victim, port, backend, until, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], \\
    time.time() + float(sys.argv[4]), sys.argv[5]
PERIOD, PROBE_TIMEOUT = 0.2, 0.5
def answers():
    try:
        with socket.create_connection((victim, port), timeout=PROBE_TIMEOUT) as s:
            s.sendall(b"AMQP\\x00\\x00\\x09\\x01")
            return "ok" if s.recv(1) == b"\\x01" else "closed"
    except ConnectionRefusedError:
        return "refused"
    except OSError as exc:
        return type(exc).__name__
def status():
    s = socket.socket(socket.AF_UNIX)
    s.connect("/run/haproxy/admin.sock")
    s.sendall(b"show stat\\n")
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    lines = data.decode().splitlines()
    head = lines[0].lstrip("# ").split(",")
    for line in lines[1:]:
        row = dict(zip(head, line.split(",")))
        if row.get("pxname") == backend and row.get("svname") == victim:
            return row["status"]
    return "absent"
rec = {"period": PERIOD, "probe_timeout": PROBE_TIMEOUT, "last_ok": None, "first_miss": None,
       "down": None, "misses": []}
def save():
    with open(out + ".tmp", "w") as fh:
        json.dump(rec, fh)
    os.replace(out + ".tmp", out)
while time.time() < until and rec["down"] is None:
    t = time.time()
    if status().startswith("DOWN"):
        rec["down"] = t
    a = answers()
    if a == "ok":
        rec["last_ok"] = t
    elif rec["last_ok"] is not None:
        rec["first_miss"] = rec["first_miss"] or t
        if len(rec["misses"]) < 20:
            rec["misses"].append(a)
    save()
    time.sleep(PERIOD)
save()
"""


def python(script: str, *args: str) -> str:
    """A shell command running ``script`` with python3 on the host."""
    return " ".join(["python3", "-c", shlex.quote(script), *map(shlex.quote, args)])


def servers(lb) -> dict[str, str]:
    """svname -> status (UP, DOWN, MAINT, ...) of the AMQP backend's servers."""
    result = lb.run(python(SHOW_STAT))
    assert result.rc == 0, result.stderr
    rows = csv.DictReader(io.StringIO(result.stdout.lstrip("# ")))
    return {r["svname"]: r["status"] for r in rows
            if r["pxname"] == BACKEND and r["svname"] not in ("FRONTEND", "BACKEND")}


def check_timing(cfg: str) -> tuple[float, int]:
    """(inter in seconds, fall) from the rendered haproxy.cfg's default-server line."""
    line = next(x for x in cfg.splitlines() if x.strip().startswith("default-server check"))
    inter = re.search(r"\binter (\d+)(ms|s)\b", line)
    fall = re.search(r"\bfall (\d+)\b", line)
    assert inter and fall, f"no inter/fall in {line!r}"
    seconds = int(inter.group(1)) / (1000 if inter.group(2) == "ms" else 1)
    return seconds, int(fall.group(1))
