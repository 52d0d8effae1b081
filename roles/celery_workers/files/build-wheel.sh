#!/bin/sh
# Build the celery-stack wheel on the controller, reproducibly: from a clean
# copy of the source (a stale build/ or *.egg-info can never leak in), with a
# pinned build backend and fixed archive timestamps. The same source gives
# the same bytes, so the copy to the hosts changes only when the code does.
# Usage: build-wheel.sh SOURCE_DIR OUT_DIR PYTHON BACKEND_SPEC
# Prints the path of the wheel on stdout (pip's output goes to stderr).
set -eu
src=$1 out=$2 python=$3 backend=$4

[ -f "$src/pyproject.toml" ] || { echo "build-wheel: $src/pyproject.toml not found" >&2; exit 64; }
mkdir -p "$out/src" "$out/dist"
cp "$src/pyproject.toml" "$src/README.md" "$out/src/"
tar -C "$src" -cf - --exclude=__pycache__ --exclude='*.egg-info' --exclude='*.pyc' src \
  | tar -C "$out/src" -xf -
printf '%s\n' "$backend" > "$out/build-constraints.txt"
SOURCE_DATE_EPOCH=315532800 PIP_CONSTRAINT="$out/build-constraints.txt" \
  "$python" -m pip wheel --quiet --no-deps --wheel-dir "$out/dist" "$out/src" >&2
ls "$out"/dist/*.whl
