#!/usr/bin/env bash
# Load benchmark (see bench/README.md): installs what is missing (wrk included), starts a private
# PostgreSQL, Redis and (when none runs) dockerd, runs bench/run.py against servers on 127.0.0.1,
# stops what it started. Prints markdown tables. Extra arguments go to bench/run.py
# (e.g. --duration 5 --runs 10).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

scripts/system-deps.sh
scripts/venv.sh
if ! command -v wrk >/dev/null 2>&1; then
    echo "bench: installing wrk"
    SUDO=()
    if [[ $(id -u) -ne 0 ]]; then SUDO=(sudo); fi
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk \
        || { "${SUDO[@]}" apt-get update -qq \
            && "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk; }
fi

STATE=$(mktemp -d /tmp/neuronest-bench.XXXXXX)
cleanup() {
    scripts/services.sh stop "$STATE" || true
    rm -rf "$STATE"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

scripts/services.sh start "$STATE"
scripts/build-images.sh
# shellcheck disable=SC1091
source "$STATE/env"

# Every wrk run is bounded by its -d; this bounds the whole run as well.
timeout --foreground --kill-after=30 900 .venv/bin/python -m bench.run "$@"
echo
echo "bench: total runtime $((SECONDS - started)) s"
