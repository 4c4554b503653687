#!/usr/bin/env bash
# The lab: the Molecule fleet's containers, deployed with the operator's own command
# (`ansible-playbook site.yml` on ansible/inventories/lab), then left running.
#   scripts/lab.sh up     create the containers, deploy, send traffic, print a report
#   scripts/lab.sh down   destroy the containers
# The lab and `make test` share the containers: `make test` replaces a running lab.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

all_lab_hosts_running() {
  local host
  for host in $(cd "$REPO_ROOT/ansible" && ansible-inventory --list | "$VENV/bin/python" -c \
    'import json, sys; print(" ".join(json.load(sys.stdin)["_meta"]["hostvars"]))'); do
    [ "$(docker inspect -f '{{.State.Running}}' "$host" 2>/dev/null)" = true ] || return 1
  done
}

up() {
  "$REPO_ROOT/scripts/setup.sh"
  export PATH="$VENV/bin:$PATH"
  # Molecule remembers creating the fleet even after something else (make test, a reboot of the
  # Docker engine) removed or stopped the containers: start from scratch unless all of them run.
  if ! all_lab_hosts_running; then
    log "creating the lab containers"
    "$REPO_ROOT/scripts/molecule.sh" destroy
    "$REPO_ROOT/scripts/molecule.sh" create
  fi
  log "deploying: (cd ansible && ansible-playbook lab.yml site.yml)"
  (cd "$REPO_ROOT/ansible" && ansible-playbook lab.yml site.yml)
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
