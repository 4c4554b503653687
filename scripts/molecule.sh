#!/usr/bin/env bash
# Runs Molecule with the images and cgroup mount that scripts/images.sh chose for this machine.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

[ -f "$CACHE_DIR/molecule.env" ] || die "$CACHE_DIR/molecule.env is missing: run scripts/images.sh (make images) first"
set -a
# shellcheck disable=SC1091 # written at run time by images.sh
. "$CACHE_DIR/molecule.env"
set +a
# Molecule runs ansible-config and ansible-playbook by name: the venv's, also when run by hand.
export PATH="$VENV/bin:$PATH"
cd "$REPO_ROOT"
exec "$VENV/bin/molecule" "$@"
