#!/bin/bash
# Pack a directory into OUT_DIR/<sha256>.tar and print that path. The archive is byte-for-byte
# reproducible (sorted names, fixed owner, mode and mtime, no bytecode), so an unchanged source
# gives the same name and nothing is pushed or restarted.
# Usage: pack_directory.sh SOURCE_DIR OUT_DIR [PATH_IN_SOURCE...]
set -euo pipefail

source_dir=$1
out_dir=$2
shift 2
members=("$@")
[ ${#members[@]} -gt 0 ] || members=(.)

mkdir -p "$out_dir"
partial=$(mktemp "$out_dir/.partial.XXXXXX")
trap 'rm -f "$partial"' EXIT

tar --create --file "$partial" --directory "$source_dir" \
    --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --mode='u+rw,go+rX,go-w' \
    --format=gnu --exclude=__pycache__ --exclude='*.pyc' --exclude='*.egg-info' \
    --exclude=.git --exclude=.pytest_cache \
    "${members[@]}"

digest=$(sha256sum "$partial" | cut -d' ' -f1)
mv -f "$partial" "$out_dir/$digest.tar"
echo "$out_dir/$digest.tar"
