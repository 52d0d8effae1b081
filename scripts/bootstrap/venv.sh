#!/usr/bin/env bash
# Create or refresh the project virtualenv. Skips all work when the pinned
# inputs have not changed since the last successful run (stamp = their hash).
set -euo pipefail

VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
inputs=(requirements/dev.txt requirements/constraints.txt pyproject.toml)
stamp="$VENV/.bootstrap-stamp"
want=$(cat "${inputs[@]}" | sha256sum | cut -d' ' -f1)

if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi

echo "bootstrap: preparing $VENV with pinned tools"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check \
  -c requirements/constraints.txt -r requirements/dev.txt -e . \
  2> >(grep -v "^WARNING: Location .* is ignored" >&2)
echo "$want" > "$stamp"
