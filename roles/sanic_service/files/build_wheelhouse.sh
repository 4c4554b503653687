#!/bin/bash
# Build, on the control node, the wheelhouse one service needs on one kind of host: the
# app_instrumentation wheel from this repository plus binary wheels of everything it and the app's
# requirements pull in, for the host's CPython version, glibc and CPU. Hosts install from it with
# --no-index, so they need no package index. The archive is named after a digest of all inputs and
# is only built when missing. Prints the archive's path.
# Usage: build_wheelhouse.sh PYTHON CACHE_DIR PY_VERSION GLIBC_VERSION ARCH INSTRUMENTATION_SRC [REQUIREMENTS]
set -euo pipefail

control_python=$1   # interpreter whose pip (and pip configuration) fetches the wheels
cache_dir=$2
py_version=$3       # e.g. 3.13
glibc_version=$4    # e.g. 2.41
arch=$5             # e.g. x86_64
instrumentation_src=$6
requirements=${7:-}

here=$(dirname "$(readlink -f "$0")")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

instrumentation_tar=$("$here/pack_directory.sh" "$instrumentation_src" "$work/source" pyproject.toml src)
requirements_digest=$( { [ -z "$requirements" ] || cat "$requirements"; } | sha256sum | cut -d' ' -f1)
target="cp${py_version/./}-glibc$glibc_version-$arch"
# The target is part of the key: a host whose Python changes gets a new virtualenv, not a stale one.
key=$(printf '%s\n' "$target" "$(basename "$instrumentation_tar" .tar)" "$requirements_digest" \
    | sha256sum | cut -c1-16)
wheelhouse="$cache_dir/wheelhouse/$target/$key.tar"
if [ -e "$wheelhouse" ]; then
    touch "$wheelhouse"  # its age is its last use: the cache pruning keeps the most recent spares
    echo "$wheelhouse"
    exit 0
fi

mkdir -p "$work/src" "$work/wheels"
tar --extract --file "$instrumentation_tar" --directory "$work/src"
"$control_python" -m pip wheel --quiet --no-deps --wheel-dir "$work/wheels" "$work/src" >&2

# Binary wheels only: the host's interpreter differs from this one, so nothing can be built here.
platforms=(--platform "manylinux2014_$arch")
for minor in $(seq 17 "${glibc_version#2.}"); do
    platforms+=(--platform "manylinux_2_${minor}_$arch")
done
requirement_args=()
[ -z "$requirements" ] || requirement_args=(--requirement "$requirements")
"$control_python" -m pip download --quiet --dest "$work/wheels" --find-links "$work/wheels" \
    --only-binary=:all: --implementation cp --python-version "$py_version" "${platforms[@]}" \
    app-instrumentation "${requirement_args[@]}" >&2

packed=$("$here/pack_directory.sh" "$work/wheels" "$work/packed")
mkdir -p "$(dirname "$wheelhouse")"
mv -f "$packed" "$wheelhouse"
echo "$wheelhouse"
