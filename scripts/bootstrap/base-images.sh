#!/usr/bin/env bash
# Make sure the Debian base images every project image builds FROM exist
# locally. Pull where a registry answers; otherwise build them offline from
# Debian's archive with mmdebstrap, baking in this machine's extra CA
# certificates so that pip inside images works behind TLS-inspecting proxies.
set -euo pipefail

SUITES="${SUITES:-trixie bookworm}"
EXTRA_CA_DIR="${EXTRA_CA_DIR:-/usr/local/share/ca-certificates}"

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

build_offline() {
  local suite=$1 tag=$2 work
  if ! command -v mmdebstrap >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "bootstrap: installing mmdebstrap"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null
    else
      echo "bootstrap: cannot pull $tag and mmdebstrap is missing; install mmdebstrap or give Docker registry access" >&2
      return 1
    fi
  fi
  work=$(mktemp -d)
  echo "bootstrap: building $tag offline from Debian's archive"
  # No mirror argument: mmdebstrap then uses this machine's own apt sources.
  local hooks=()
  if compgen -G "$EXTRA_CA_DIR/*.crt" >/dev/null; then
    hooks=(--customize-hook="mkdir -p \"\$1/usr/local/share/ca-certificates\""
           --customize-hook="cp $EXTRA_CA_DIR/*.crt \"\$1/usr/local/share/ca-certificates/\""
           --customize-hook="chroot \"\$1\" update-ca-certificates >/dev/null 2>&1")
  fi
  mmdebstrap --quiet --variant=minbase --include=ca-certificates \
    --aptopt='Acquire::Languages "none"' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    "${hooks[@]}" "$suite" "$work/rootfs.tar" >/dev/null
  docker import -c 'CMD ["bash"]' "$work/rootfs.tar" "$tag" >/dev/null
  rm -rf "$work"
}

for suite in $SUITES; do
  tag="debian:${suite}-slim"
  have_image "$tag" && continue
  if timeout 60 docker pull -q "$tag" >/dev/null 2>&1; then
    continue
  fi
  build_offline "$suite" "$tag"
done
