#!/usr/bin/env bash
# Make sure a Docker engine answers. On Debian as root with no engine, install
# Debian's docker.io and start dockerd (no systemd as PID 1 on CI machines).
# Anywhere else, say what to install instead of guessing.
set -euo pipefail

if docker info >/dev/null 2>&1; then
  exit 0
fi

is_debian_root() {
  [ "$(id -u)" = 0 ] && [ -r /etc/debian_version ] && command -v apt-get >/dev/null
}

if ! is_debian_root; then
  echo "bootstrap: no Docker engine answers. Install Docker Engine (https://docs.docker.com/engine/install/)" >&2
  echo "bootstrap: and start it, or run 'make bootstrap' as root on Debian to install docker.io." >&2
  exit 1
fi

if ! command -v dockerd >/dev/null; then
  echo "bootstrap: installing Debian's docker.io (engine)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
  systemctl start docker
else
  echo "bootstrap: starting dockerd (log: /var/log/dockerd.log)"
  # setsid: the daemon must outlive make and the shell that started it.
  setsid nohup dockerd >>/var/log/dockerd.log 2>&1 </dev/null &
fi

for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    exit 0
  fi
  sleep 1
done
echo "bootstrap: dockerd did not answer within 60 s; see /var/log/dockerd.log" >&2
exit 1
