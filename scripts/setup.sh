#!/usr/bin/env bash
# Installs and starts everything the tests and the lab need, idempotently: Debian packages, the
# Docker engine, the pinned Python virtualenv and the systemd base images.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

# docker.io/debootstrap: the lab's containers; shellcheck: lint; prometheus: promtool;
# prometheus-alertmanager: amtool and two real Alertmanagers for tests/alerting; wrk: the benchmark's load generator; python3-venv: the control node's virtualenv;
# curl: the manual's commands, which tests/docs/ checks against curl --help.
DEBIAN_PACKAGES=(docker.io debootstrap shellcheck prometheus prometheus-alertmanager wrk make python3-venv git curl)
LOCK_FILE="$REPO_ROOT/requirements/dev.lock"

install_debian_packages() {
  local missing=() pkg
  for pkg in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    log "Debian packages present: ${DEBIAN_PACKAGES[*]}"
    return
  fi
  [ "$(id -u)" -eq 0 ] || die "missing Debian packages (${missing[*]}); run as root or install them yourself"
  log "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  # The prometheus packages are wanted for promtool, amtool and binaries the tests start: a
  # policy-rc.d that exits 101 keeps apt from starting their servers (or any other daemon) here.
  local policy=/usr/sbin/policy-rc.d own_policy=false status=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    own_policy=true
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    status=$?
  if $own_policy; then rm -f "$policy"; fi
  [ "$status" -eq 0 ] || die "apt-get install ${missing[*]} failed (exit $status)"
}

create_venv() {
  local stamp="$VENV/.dev-lock.sha256" want
  want=$(sha256sum "$LOCK_FILE" "$REPO_ROOT/app_instrumentation/pyproject.toml" \
    "$REPO_ROOT/app_instrumentation/testkit/pyproject.toml" | sha256sum | cut -c1-64)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    log "virtualenv $VENV matches requirements/dev.lock"
    return
  fi
  log "installing the pinned toolchain into $VENV (a minute or two the first time)"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$LOCK_FILE"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps -e "$REPO_ROOT/app_instrumentation"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps -e "$REPO_ROOT/app_instrumentation/testkit"
  echo "$want" >"$stamp"
}

# OpenTelemetry in a directory of its own, which only the test of exemplars from spans puts on its
# services' path (requirements/opentelemetry.lock says why).
install_opentelemetry() {
  local target="$CACHE_DIR/opentelemetry" lock="$REPO_ROOT/requirements/opentelemetry.lock"
  local stamp="$target/.lock.sha256" want
  want=$(sha256sum "$lock" | cut -c1-64)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    log "$target matches requirements/opentelemetry.lock"
    return
  fi
  rm -rf "$target"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps --target "$target" -r "$lock"
  echo "$want" >"$stamp"
}

# The checkout is the collection sanic_prometheus.multiprocess: ansible/ansible.cfg, Molecule and
# the tests (pytest.ini) find it, as Ansible and as Python, through this link in a collections path.
link_collection() {
  local namespace_dir="$CACHE_DIR/collections/ansible_collections/sanic_prometheus"
  mkdir -p "$namespace_dir"
  ln -sfn ../../../.. "$namespace_dir/multiprocess"
  log "collection sanic_prometheus.multiprocess: $namespace_dir/multiprocess -> $REPO_ROOT"
}

main() {
  install_debian_packages
  "$REPO_ROOT/scripts/ensure-dockerd.sh"
  create_venv
  install_opentelemetry
  link_collection
  "$REPO_ROOT/scripts/images.sh"
}

main "$@"
