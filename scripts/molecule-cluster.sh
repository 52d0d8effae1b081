#!/usr/bin/env bash
# Molecule scenario `cluster` on every distro given (make molecule).
#
# Every distro's converge and idempotence run at once, each on its own
# hosts, network and Molecule state: the 7-host plays keep both cores busy,
# but the single-host plays (HAProxy, Redis, workers, Flower) leave one core
# idle, which the other distro's run fills. Verify waits for both: its
# watchdog check measures a cron bound, so it must not share the machine
# with a converge. Every distro's verify then runs at once (it mostly waits:
# the watchdog's cron bound is 3 minutes of it). Each log is printed whole
# when its step ends. Every host is destroyed at the end, failed or not.
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

prepare() {  # prepare DISTRO: syntax, fresh hosts, converge, idempotence (0 changed)
  local step t
  for step in destroy syntax create converge idempotence; do
    t=$SECONDS
    mol "$1" "$step" || { echo "== molecule $step on $1 failed" >&2; return 1; }
    echo "== molecule $step on $1: $((SECONDS - t)) s"
  done
}

# at_once STEP: function STEP for every distro at once; each log printed; fail if any failed
at_once() {
  local d failed=()
  declare -A pid
  echo "== molecule $1 on $DISTROS at once"
  for d in $DISTROS; do "$1" "$d" >"$logs/$1-$d.log" 2>&1 & pid[$d]=$!; done
  for d in $DISTROS; do
    wait "${pid[$d]}" || failed+=("$d")
    echo "== molecule $1 on $d"; cat "$logs/$1-$d.log"
  done
  [ ${#failed[@]} -eq 0 ] || { echo "== molecule $1 failed on: ${failed[*]}" >&2; return 1; }
}

verify() { mol "$1" verify; }

DISTROS="$*"
at_once prepare || exit 1
at_once verify || exit 1
echo "== molecule cluster passed on $*"
