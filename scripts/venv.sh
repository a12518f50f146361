#!/usr/bin/env bash
# Create .venv and install the project with its dev tools; a no-op when pyproject.toml is unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."

# The browser files of /docs and /graphql (their own check, whether or not pyproject.toml changed).
scripts/static-assets.sh

VENV=.venv
STAMP="$VENV/.installed"
want=$(sha256sum pyproject.toml | cut -d' ' -f1)

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" && -x "$VENV/bin/neuronest" ]]; then
    exit 0
fi
[[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e ".[dev,bench]"
echo "$want" > "$STAMP"
echo "venv: installed into $VENV"
