#!/usr/bin/env bash
# Install the Debian packages that the test suite needs, only when missing.
#
# Usage: scripts/system-deps.sh          everything `make test` needs
#        scripts/system-deps.sh --run    only what `make run` needs (python3-venv, bubblewrap, slirp4netns,
#                                        npm)
#
# Checks each tool by its binary and installs only what is absent, so the
# second run does nothing (no `apt-get update`) and takes well under a second.
# Needs root (or sudo) only when something is missing.
set -euo pipefail

missing=()

have() { command -v "$1" >/dev/null 2>&1; }
# Also look in sbin dirs, which may be absent from a non-root PATH.
have_bin() {
    have "$1" && return 0
    local d
    for d in /usr/sbin /sbin /usr/local/sbin; do
        [[ -x "$d/$1" ]] && return 0
    done
    return 1
}

python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
have_bin bwrap || missing+=(bubblewrap)
# Sandboxes' user-mode network (published ports, the outbound policy) and its routes.
have_bin slirp4netns || missing+=(slirp4netns)
have_bin ip || missing+=(iproute2)
# scripts/static-assets.sh fetches the browser files of /docs and /graphql with npm.
have npm || missing+=(npm)

if [[ "${1:-}" != "--run" ]]; then
    have_bin redis-server || missing+=(redis-server)
    have_bin redis-cli || missing+=(redis-tools)
    { have_bin dockerd && have_bin docker; } || missing+=(docker.io)
    # gVisor, registered with the test dockerd by services.sh (Docker runsc tests).
    have_bin runsc || missing+=(runsc)
    have_bin debootstrap || missing+=(debootstrap)
    have_bin python3 || missing+=(python3)
    # debootstrap downloads with wget; an https mirror needs the CA bundle.
    have_bin wget || missing+=(wget)
    # The web console: built with node and npm, tested in headless chromium and firefox-esr
    # (tests/console).
    have_bin node || missing+=(nodejs)
    have_bin npm || missing+=(npm)
    [[ -x /usr/bin/chromium ]] || missing+=(chromium)
    [[ -x /usr/bin/firefox-esr ]] || missing+=(firefox-esr)
    [[ -e /etc/ssl/certs/ca-certificates.crt ]] || missing+=(ca-certificates)

    # PostgreSQL server binaries live in a versioned dir, not on PATH.
    pg_present=0
    for f in /usr/lib/postgresql/*/bin/initdb; do
        [[ -x "$f" ]] && pg_present=1 && break
    done
    if [[ $pg_present -eq 0 ]]; then
        missing+=(postgresql)
    else
        # Client tools (psql, pg_isready) ship in the server's bin dir too; the
        # wrappers on PATH come from postgresql-client-common.
        have psql || missing+=(postgresql-client)
    fi
fi

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "system-deps: all present"
    exit 0
fi

echo "system-deps: installing ${missing[*]}"

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
    if have sudo; then SUDO=(sudo); else
        echo "system-deps: need root to install: ${missing[*]}" >&2
        exit 1
    fi
fi

# Keep package postinst scripts from starting system-wide redis/postgres/docker
# services: the test suite starts private instances itself.
policy=/usr/sbin/policy-rc.d
added_policy=0
cleanup() {
    if [[ $added_policy -eq 1 ]]; then "${SUDO[@]}" rm -f "$policy"; fi
}
trap cleanup EXIT
if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
    "${SUDO[@]}" chmod 755 "$policy"
    added_policy=1
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends "${missing[@]}"
echo "system-deps: done"
