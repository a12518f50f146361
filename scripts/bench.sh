#!/usr/bin/env bash
# Load benchmark (see bench/README.md): installs what is missing (wrk included), starts a private
# PostgreSQL, Redis and (when none runs) dockerd, runs bench/run.py against servers on 127.0.0.1,
# stops what it started. Prints markdown tables. Extra arguments go to bench/run.py
# (e.g. --duration 5 --runs 10).
# NEURONEST_VENV=DIR: use that virtualenv as it is (default: .venv, created by scripts/venv.sh).
# NEURONEST_NO_DOCKER=1: no dockerd is started or used (the Docker runtime rows are skipped).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

scripts/system-deps.sh
VENV=${NEURONEST_VENV:-.venv}
if [[ -z ${NEURONEST_VENV:-} ]]; then scripts/venv.sh; fi
# The peers (Celery, SQLAlchemy) are the `bench` extra, installed only when missing.
if ! "$VENV/bin/python" -c 'import celery, sqlalchemy.ext.asyncio' >/dev/null 2>&1; then
    echo "bench: installing the bench extra (the peers)"
    "$VENV/bin/python" -m pip install -q -e ".[bench]"
fi
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
if [[ ${NEURONEST_NO_DOCKER:-0} != 1 ]]; then scripts/build-images.sh; fi
# shellcheck disable=SC1091
source "$STATE/env"
if [[ ${NEURONEST_NO_DOCKER:-0} == 1 ]]; then unset NEURONEST_TEST_DOCKER; fi

# Every wrk run is bounded by its -d; this bounds the whole run as well.
timeout --foreground --kill-after=30 1500 "$VENV/bin/python" -m bench.run "$@"
echo
echo "bench: total runtime $((SECONDS - started)) s"
