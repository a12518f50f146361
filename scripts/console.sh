#!/usr/bin/env bash
# Build the web console (console/, a Vite + TypeScript project) into console/dist, which the API
# serves at `/`. A no-op when the sources and lock file are unchanged since the last build (their
# hash is stamped in console/dist/.sources); installs Debian's nodejs and npm when they are missing.
set -euo pipefail
cd "$(dirname "$0")/../console"

STAMP=dist/.sources
want=$(
    {
        find src -type f -print0 | sort -z | xargs -0 sha256sum
        sha256sum package.json package-lock.json index.html tsconfig.json vite.config.ts .npmrc
    } | sha256sum | cut -d' ' -f1
)
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" && -f dist/index.html ]]; then
    exit 0
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "console: installing nodejs and npm"
    SUDO=()
    if [[ $(id -u) -ne 0 ]]; then
        if command -v sudo >/dev/null 2>&1; then SUDO=(sudo); else
            echo "console: need root to install nodejs and npm" >&2
            exit 1
        fi
    fi
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends nodejs npm
fi

# node_modules follows the lock file exactly; reinstalled only when the lock file changed.
lock=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ ! -f node_modules/.lock-hash || "$(cat node_modules/.lock-hash)" != "$lock" ]]; then
    npm ci --no-audit --no-fund --loglevel=error
    echo "$lock" > node_modules/.lock-hash
fi
npm run --silent build -- --logLevel warn
echo "$want" > "$STAMP"
echo "console: built into console/dist"
