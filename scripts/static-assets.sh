#!/usr/bin/env bash
# Fetch the browser files listed in neuronest/static/vendor.txt (Swagger UI, GraphiQL, React) into
# neuronest/static/vendor/, so that /docs and /graphql need no internet. A no-op when every file is
# there. Each package's tarball comes from npm (`npm pack`), is cached in
# ${NEURONEST_NPM_CACHE:-~/.cache/neuronest/npm} and must match the integrity in vendor.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

LIST=neuronest/static/vendor.txt
VENDOR=neuronest/static/vendor
CACHE=${NEURONEST_NPM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/neuronest/npm}

sha512() {
    python3 -c 'import base64, hashlib, sys; print("sha512-" + base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' "$1"
}

fetched=0
while read -r name version integrity files; do
    [[ -z "$name" || "$name" == \#* ]] && continue
    dest="$VENDOR/$name@$version"
    complete=1
    for file in $files; do
        [[ -s "$dest/$(basename "$file")" ]] || complete=0
    done
    [[ $complete -eq 1 ]] && continue

    command -v npm >/dev/null || { echo "static-assets: npm is missing (scripts/system-deps.sh --run installs it)" >&2; exit 1; }
    mkdir -p "$CACHE"
    tarball="$CACHE/$name-$version.tgz"
    if [[ ! -s "$tarball" || "$(sha512 "$tarball")" != "$integrity" ]]; then
        work=$(mktemp -d)
        (cd "$work" && npm pack --silent "$name@$version" >/dev/null)
        mv "$work"/*.tgz "$tarball"
        rm -rf "$work"
    fi
    if [[ "$(sha512 "$tarball")" != "$integrity" ]]; then
        echo "static-assets: $name@$version does not match the integrity in $LIST" >&2
        rm -f "$tarball"
        exit 1
    fi
    work=$(mktemp -d)
    members=()
    for file in $files; do members+=("package/$file"); done
    tar -xzf "$tarball" -C "$work" "${members[@]}"
    rm -rf "$dest"
    mkdir -p "$dest"
    for file in $files; do cp "$work/package/$file" "$dest/"; done
    rm -rf "$work"
    fetched=$((fetched + 1))
done <"$LIST"

# Versions no longer listed are left from earlier lists: remove them.
for dir in "$VENDOR"/*/; do
    [[ -d "$dir" ]] || continue
    entry=$(basename "$dir")
    grep -Eq "^${entry%@*}[[:space:]]+${entry##*@}[[:space:]]" "$LIST" || rm -rf "$dir"
done

[[ $fetched -eq 0 ]] || echo "static-assets: fetched $fetched package(s) into $VENDOR"
