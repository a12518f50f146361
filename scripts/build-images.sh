#!/usr/bin/env bash
# Build the offline Docker images the project needs, without any image registry.
#
# Usage: scripts/build-images.sh
#
# Images (each skipped when `docker image inspect NAME` already succeeds):
#   neuronest/base-bookworm:latest    base of the project's Dockerfile (python3 3.11, venv, pip)
#   neuronest/runtime-python:latest   python3
#   neuronest/runtime-node:latest     nodejs (node)
#   neuronest/runtime-bash:latest     bash, coreutils
# All four are one debootstrap rootfs (minbase + python3 python3-venv python3-pip
# ca-certificates nodejs), imported once and tagged four times.
#
# The rootfs tarball is cached in $NEURONEST_IMAGE_CACHE (default
# /var/cache/neuronest-images), so rebuilding after the images were removed
# does not run debootstrap again. The Debian mirror is the one configured for
# apt on this machine (or $NEURONEST_DEBIAN_MIRROR).
# Needs a docker daemon that answers (scripts/services.sh start); without one it
# prints a warning and exits 0 (docker tests are then skipped).
set -euo pipefail

SUITE=${NEURONEST_DEBIAN_SUITE:-bookworm}
CACHE=${NEURONEST_IMAGE_CACHE:-/var/cache/neuronest-images}
BASE_IMAGE=neuronest/base-bookworm:latest
RUNTIME_IMAGES=(neuronest/runtime-python:latest neuronest/runtime-node:latest neuronest/runtime-bash:latest)
INCLUDE=python3,python3-venv,python3-pip,ca-certificates,nodejs,bash,coreutils
# bump when the rootfs recipe changes, to invalidate the cached tarball
RECIPE="v1 $SUITE minbase $INCLUDE"

log() { echo "build-images: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

start=$(date +%s)

if ! timeout 20 docker info >/dev/null 2>&1; then
    log "WARNING: no docker daemon answers; skipping image build (start one with scripts/services.sh start DIR)"
    exit 0
fi

missing=()
for img in "$BASE_IMAGE" "${RUNTIME_IMAGES[@]}"; do
    docker image inspect "$img" >/dev/null 2>&1 || missing+=("$img")
done
if [[ ${#missing[@]} -eq 0 ]]; then
    log "all images present ($(($(date +%s) - start))s)"
    exit 0
fi
log "missing: ${missing[*]}"

# Print the Debian mirror that apt uses here: first enabled `deb` entry for
# $SUITE with component main, from deb822 *.sources or one-line *.list files.
find_mirror() {
    python3 - "$SUITE" <<'PY'
import glob, os, re, sys
suite = sys.argv[1]
files = []
if os.path.exists("/etc/apt/sources.list"):
    files.append("/etc/apt/sources.list")
files += sorted(glob.glob("/etc/apt/sources.list.d/*.list"))
files += sorted(glob.glob("/etc/apt/sources.list.d/*.sources"))

def ok(uri):
    return re.match(r"^(https?|file)://", uri) is not None

found = []
for f in files:
    try:
        text = open(f, encoding="utf-8", errors="replace").read()
    except OSError:
        continue
    if f.endswith(".sources"):
        for stanza in re.split(r"\n\s*\n", text):
            fields, key = {}, None
            for line in stanza.splitlines():
                if line.startswith("#") or not line.strip():
                    continue
                if line[0] in " \t" and key:
                    fields[key] += " " + line.strip()
                    continue
                if ":" in line:
                    key, val = line.split(":", 1)
                    key = key.strip().lower()
                    fields[key] = val.strip()
            if fields.get("enabled", "yes").lower() == "no":
                continue
            if "deb" not in fields.get("types", "").split():
                continue
            if suite not in fields.get("suites", "").split():
                continue
            if "main" not in fields.get("components", "").split():
                continue
            for uri in fields.get("uris", "").split():
                if ok(uri):
                    found.append(uri)
    else:
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            if not line.startswith("deb "):
                continue
            line = re.sub(r"\[[^\]]*\]", " ", line[4:])
            parts = line.split()
            if len(parts) >= 3 and parts[1] == suite and "main" in parts[2:] and ok(parts[0]):
                found.append(parts[0])
if not found:
    sys.exit(1)
print(found[0].rstrip("/"))
PY
}

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9   # one build at a time

tarball="$CACHE/rootfs-$SUITE.tar"
stamp="$CACHE/rootfs-$SUITE.recipe"

if [[ -s "$tarball" && -f "$stamp" && "$(cat "$stamp")" == "$RECIPE" ]]; then
    log "using cached rootfs $tarball"
else
    command -v debootstrap >/dev/null 2>&1 || [[ -x /usr/sbin/debootstrap ]] \
        || die "debootstrap missing; run scripts/system-deps.sh"
    mirror=${NEURONEST_DEBIAN_MIRROR:-}
    if [[ -z "$mirror" ]]; then
        mirror=$(find_mirror) || die "no Debian mirror for $SUITE found in /etc/apt/sources.list{,.d/*}; set NEURONEST_DEBIAN_MIRROR"
    fi
    # honour an apt proxy, if one is configured
    if [[ -z "${http_proxy:-}" ]] && command -v apt-config >/dev/null 2>&1; then
        eval "$(apt-config shell http_proxy Acquire::http::Proxy)"
        if [[ -n "${http_proxy:-}" ]]; then export http_proxy; fi
    fi
    rootfs="$CACHE/rootfs-$SUITE.tmp"
    rm -rf "$rootfs" "$tarball" "$stamp"
    log "debootstrap $SUITE from $mirror (minbase + $INCLUDE)"
    t0=$(date +%s)
    PATH="$PATH:/usr/sbin:/sbin" debootstrap --variant=minbase --include="$INCLUDE" \
        "$SUITE" "$rootfs" "$mirror" >"$CACHE/debootstrap.log" 2>&1 || {
        tail -n 30 "$CACHE/debootstrap.log" >&2
        tail -n 30 "$rootfs/debootstrap/debootstrap.log" >&2 2>/dev/null || true
        rm -rf "$rootfs"
        die "debootstrap failed (log: $CACHE/debootstrap.log)"
    }
    log "debootstrap took $(($(date +%s) - t0))s"
    # slim down, and do not ship this host's identity files
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
        "$rootfs"/tmp/* "$rootfs"/var/tmp/*
    rm -f "$rootfs/etc/resolv.conf" "$rootfs/etc/hostname" "$rootfs/etc/hosts"
    tar -C "$rootfs" --numeric-owner --exclude='./dev/*' --exclude='./proc/*' \
        --exclude='./sys/*' -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    echo "$RECIPE" >"$stamp"
    rm -rf "$rootfs"
fi

t0=$(date +%s)
id=$(docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    --message "neuronest offline rootfs: $RECIPE" \
    "$tarball")
log "docker import took $(($(date +%s) - t0))s ($id)"
for img in "${missing[@]}"; do
    docker tag "$id" "$img"
    log "tagged $img"
done

# smoke test: each runtime answers
docker run --rm --network none "$BASE_IMAGE" python3 -c 'import sys, venv, ensurepip; assert sys.version_info >= (3, 11)' \
    || die "$BASE_IMAGE: python3 check failed"
docker run --rm --network none neuronest/runtime-node:latest node -e '1' \
    || die "runtime-node: node check failed"

log "done in $(($(date +%s) - start))s"
