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
# failed or not. A sampler of every command line on the machine (all hosts'
# processes and the controller's) runs from before the hosts are created
# until every idempotence has ended; verify reads what it saw
# (tests/molecule/test_no_secret_on_a_command_line.py).
set -uo pipefail

[ $# -gt 0 ] || { echo "usage: $0 DISTRO..." >&2; exit 2; }
state="${MOLECULE_STATE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/celery-stack/molecule}"
logs="$(mktemp -d)"

mol() {  # mol DISTRO STEP: one Molecule step on that distro's hosts
  MOLECULE_DISTRO="$1" MOLECULE_EPHEMERAL_DIRECTORY="$state/$1" molecule "$2" -s cluster
}

# Ansible and testinfra reach the hosts over SSH, as Ansible reaches real
# hosts (molecule.yml): the controller's key, made once per machine (0600,
# outside the repository), and an SSH config that maps each host's name to
# its container's address (the controller cannot resolve container names).
# Host keys are new with every host: none is remembered.
command -v ssh >/dev/null || { echo "molecule-cluster: no ssh client; install openssh-client" >&2; exit 2; }
export MOLECULE_SSH_DIR="$state/ssh"
mkdir -p -m 0700 "$MOLECULE_SSH_DIR"
if [ ! -f "$MOLECULE_SSH_DIR/id_ed25519" ]; then
  ssh-keygen -q -t ed25519 -N '' -C celery-stack-molecule -f "$MOLECULE_SSH_DIR/id_ed25519" || exit 1
fi
cat >"$MOLECULE_SSH_DIR/config" <<EOF
Include $MOLECULE_SSH_DIR/hosts-*
Host *
  User root
  IdentityFile $MOLECULE_SSH_DIR/id_ed25519
  IdentitiesOnly yes
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  LogLevel ERROR
  # One connection per host, reused by every command (testinfra sets no ControlPath itself);
  # a master whose host is gone ends within 15 s, and every run starts with none.
  ControlMaster auto
  ControlPersist 120s
  ControlPath $MOLECULE_SSH_DIR/cm-%C
  ServerAliveInterval 5
  ServerAliveCountMax 3
EOF
rm -f "$MOLECULE_SSH_DIR"/cm-*

ssh_hosts() {  # ssh_hosts DISTRO: an SSH Host entry for each of its containers, by name
  local name
  docker ps --filter "label=owner=molecule" --filter "name=-$1\$" --format '{{.Names}}' | while read -r name; do
    printf 'Host %s\n  HostName %s\n' "$name" \
      "$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$name")"
  done >"$MOLECULE_SSH_DIR/hosts-$1"
  for name in $(awk '/^Host /{print $2}' "$MOLECULE_SSH_DIR/hosts-$1"); do  # sshd up: systemd boots it
    for _ in $(seq 60); do ssh -F "$MOLECULE_SSH_DIR/config" "$name" true 2>/dev/null && continue 2; sleep 1; done
    echo "== $name: no SSH login within 60 s" >&2; return 1
  done
}

destroy() {  # destroy DISTRO: remove its hosts; with none left over, only reset its state
  local hosts
  hosts="$(docker ps -aq --filter "label=owner=molecule" --filter "name=-$1\$")"
  if [ -z "$hosts" ]; then
    rm -rf "${state:?}/$1"
  elif [ -f "$state/$1/molecule.yml" ]; then
    mol "$1" destroy
  else  # hosts Molecule no longer knows (its state is gone): remove them directly
    # shellcheck disable=SC2086 # one id per word
    docker rm -f $hosts >/dev/null && rm -rf "${state:?}/$1"
  fi
}

cleanup() {
  local d
  for d in "$@"; do destroy "$d" >"$logs/destroy-$d.log" 2>&1 & done
  for d in "$@"; do wait -n \
    || { echo "== molecule destroy failed:" >&2; cat "$logs"/destroy-*.log >&2; }; done
  rm -rf "$logs"
}
sampler_pid=
stop_sampler() {  # SIGTERM: the sampler scans once more, writes its status and exits
  [ -n "$sampler_pid" ] || return 0
  kill -TERM "$sampler_pid" 2>/dev/null && wait "$sampler_pid"
  local rc=$?
  sampler_pid=
  return $rc
}
trap 'stop_sampler; cleanup "$@"' EXIT

prepare() {  # prepare DISTRO: syntax, fresh hosts, converge, idempotence (0 changed)
  local step t
  for step in destroy syntax create converge idempotence; do
    t=$SECONDS
    case $step in
      destroy) destroy "$1" ;;
      create) mol "$1" create && ssh_hosts "$1" ;;
      *) mol "$1" "$step" ;;
    esac || { echo "== molecule $step on $1 failed" >&2; return 1; }
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
export CELERY_STACK_CMDLINE_SAMPLER_DIR="$state/cmdline-sampler"
rm -rf "$CELERY_STACK_CMDLINE_SAMPLER_DIR"
mkdir -p "$state"
python3 "$(dirname "$0")/cmdline_sampler.py" "$CELERY_STACK_CMDLINE_SAMPLER_DIR" \
  </dev/null >"$logs/sampler.log" 2>&1 &
sampler_pid=$!
sleep 0.5
kill -0 "$sampler_pid" 2>/dev/null \
  || { echo "== the command-line sampler did not start:" >&2; cat "$logs/sampler.log" >&2; exit 1; }
at_once prepare || exit 1
stop_sampler || { echo "== the command-line sampler failed:" >&2; cat "$logs/sampler.log" >&2; exit 1; }
if [ -n "${CELERY_STACK_SUITES_BESIDE_DONE:-}" ]; then
  t=$SECONDS
  echo "== molecule verify waits for the suites beside it (they would stretch its time bounds)"
  until [ -e "$CELERY_STACK_SUITES_BESIDE_DONE" ]; do sleep 2; done
  echo "== molecule verify waited $((SECONDS - t)) s"
fi
at_once verify || exit 1
echo "== molecule cluster passed on $*"
