#!/usr/bin/env bash
# Molecule scenario `cluster` on every distro given (make molecule).
#
# Converge and idempotence are CPU-bound (7 hosts on this machine's cores):
# they run one distro at a time. Verify mostly waits (the watchdog's cron
# bound is 3 minutes of it): every distro's verify runs at once, on its own
# hosts, network and Molecule state, and its log is printed whole when it
# ends. Every host is destroyed at the end, failed or not.
set -uo pipefail

[ $# -gt 0 ] || { echo "usage: $0 DISTRO..." >&2; exit 2; }
state="${MOLECULE_STATE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/celery-stack/molecule}"
logs="$(mktemp -d)"

mol() {  # mol DISTRO STEP: one Molecule step on that distro's hosts
  MOLECULE_DISTRO="$1" MOLECULE_EPHEMERAL_DIRECTORY="$state/$1" molecule "$2" -s cluster
}

cleanup() {
  for d in "$@"; do mol "$d" destroy >"$logs/destroy-$d.log" 2>&1 \
    || { echo "== molecule destroy on $d failed:" >&2; cat "$logs/destroy-$d.log" >&2; }; done
  rm -rf "$logs"
}
trap 'cleanup "$@"' EXIT

for d in "$@"; do
  echo "== molecule cluster on $d: syntax, create, converge, idempotence"
  for step in destroy syntax create converge idempotence; do
    mol "$d" "$step" || { echo "== molecule $step on $d failed" >&2; exit 1; }
  done
done

echo "== molecule verify on $* at once"
declare -A pid
for d in "$@"; do mol "$d" verify >"$logs/verify-$d.log" 2>&1 & pid[$d]=$!; done
failed=()
for d in "$@"; do
  wait "${pid[$d]}" || failed+=("$d")
  echo "== molecule verify on $d"; cat "$logs/verify-$d.log"
done
[ ${#failed[@]} -eq 0 ] || { echo "== molecule verify failed on: ${failed[*]}" >&2; exit 1; }
echo "== molecule cluster passed on $*"
