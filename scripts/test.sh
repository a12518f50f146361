#!/usr/bin/env bash
# The whole suite on real services: installs what is missing, starts a private PostgreSQL, Redis
# and (when none answers) dockerd, builds the offline runtime images, runs pytest, stops what it
# started. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

scripts/system-deps.sh
scripts/venv.sh
scripts/console.sh

STATE=$(mktemp -d /tmp/neuronest-test.XXXXXX)
cleanup() {
    "$ROOT/scripts/services.sh" stop "$STATE" || true
    rm -rf "$STATE"
}
trap cleanup EXIT INT TERM

scripts/services.sh start "$STATE"
scripts/build-images.sh
# shellcheck disable=SC1091
source "$STATE/env"

.venv/bin/python -m pytest "$@"
