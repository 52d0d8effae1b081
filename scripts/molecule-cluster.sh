#!/usr/bin/env bash
# Molecule scenario `cluster` on every distro given (make molecule).
#
# Every distro's converge and idempotence run at once, each on its own
# hosts, network and Molecule state: the 7-host plays keep both cores busy,
# but the single-host plays (HAProxy, Redis, workers, Flower) leave one core
# idle, which the other distro's run fills. Verify waits for both: its
# watchdog check measures a cron bound, so it must not share the machine
# with a converge, nor with the suites make test runs beside molecule: when
# $CELERY_STACK_SUITES_BESIDE_DONE is set (scripts/test_suites.py), verify
# waits until that file exists. Every distro's verify then runs at once (it
# mostly waits: the watchdog's cron bound is 3 minutes of it). Each log is
# printed whole when its step ends. Every host is destroyed at the end,
# failed or not.
set -uo pipefail

[ $# -gt 0 ] || { echo "usage: $0 DISTRO..." >&2; exit 2; }
state="${MOLECULE_STATE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/celery-stack/molecule}"
logs="$(mktemp -d)"

mol() {  # mol DISTRO STEP: one Molecule step on that distro's hosts
  MOLECULE_DISTRO="$1" MOLECULE_EPHEMERAL_DIRECTORY="$state/$1" molecule "$2" -s cluster
}

destroy() {  # destroy DISTRO: remove its hosts; with none left over, only reset its state
  if [ -z "$(docker ps -aq --filter "label=owner=molecule" --filter "name=-$1\$")" ]; then
    rm -rf "${state:?}/$1"
  else
    mol "$1" destroy
  fi
}

cleanup() {
  local d
  for d in "$@"; do destroy "$d" >"$logs/destroy-$d.log" 2>&1 & done
  for d in "$@"; do wait -n \
    || { echo "== molecule destroy failed:" >&2; cat "$logs"/destroy-*.log >&2; }; done
  rm -rf "$logs"
}
trap 'cleanup "$@"' EXIT

prepare() {  # prepare DISTRO: syntax, fresh hosts (create runs molecule prepare: the sampler), converge, idempotence (0 changed)
  local step t
  for step in destroy syntax create converge idempotence; do
    t=$SECONDS
    if [ "$step" = destroy ]; then destroy "$1"; else mol "$1" "$step"; fi || { echo "== molecule $step on $1 failed" >&2; return 1; }
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
if [ -n "${CELERY_STACK_SUITES_BESIDE_DONE:-}" ]; then
  t=$SECONDS
  echo "== molecule verify waits for the suites beside it (they would stretch its time bounds)"
  until [ -e "$CELERY_STACK_SUITES_BESIDE_DONE" ]; do sleep 2; done
  echo "== molecule verify waited $((SECONDS - t)) s"
fi
at_once verify || exit 1
echo "== molecule cluster passed on $*"
