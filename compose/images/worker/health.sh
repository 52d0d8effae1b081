#!/bin/sh
# Healthy only when every Supervisor program is RUNNING: a STARTING, BACKOFF,
# STOPPED or FATAL process is not serving its queue.
set -eu
# supervisorctl exits non-zero when any program is not RUNNING: keep its output
# and judge it below instead of stopping at the exit code.
status=$(supervisorctl status 2>&1) || true
[ -n "$status" ] || { echo "worker-health: no programs" >&2; exit 1; }
bad=$(printf '%s\n' "$status" | awk '$2 != "RUNNING"')
[ -z "$bad" ] || { printf 'worker-health: not running:\n%s\n' "$bad" >&2; exit 1; }
