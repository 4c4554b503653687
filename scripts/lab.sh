#!/usr/bin/env bash
# The lab: the Molecule fleet's containers, deployed with the operator's own command
# (`ansible-playbook site.yml` on ansible/inventories/lab), then left running.
#   scripts/lab.sh up     create the containers, deploy, send traffic, print a report
#   scripts/lab.sh down   destroy the containers
# The lab and `make test` share the containers: `make test` replaces a running lab.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

up() {
  "$REPO_ROOT/scripts/setup.sh"
  export PATH="$VENV/bin:$PATH"
  log "creating the lab containers"
  "$REPO_ROOT/scripts/molecule.sh" create
  log "deploying: (cd ansible && ansible-playbook site.yml)"
  (cd "$REPO_ROOT/ansible" && ansible-playbook site.yml)
  "$VENV/bin/python" "$REPO_ROOT/scripts/lab_report.py"
}

down() {
  export PATH="$VENV/bin:$PATH"
  "$REPO_ROOT/scripts/molecule.sh" destroy
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) DIE_STATUS=2 die "usage: $0 up|down" ;;
esac
