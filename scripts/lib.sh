#!/usr/bin/env bash
# Shared helpers for the bundle's scripts: logging, timed phases, clear failures.
# Sourced, never run: every script here does `. "$(dirname "$0")/lib.sh"`.

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE_DIR="$REPO_ROOT/.cache"
VENV="$REPO_ROOT/.venv"
export REPO_ROOT CACHE_DIR VENV

log() { printf '==> %s\n' "$*" >&2; }
die() {
  printf 'ERROR: %s\n' "$*" >&2
  exit "${DIE_STATUS:-1}"
}

PHASE_SUMMARY=()
# Runs "$@" as a named phase, prints its duration and remembers it for phase_report.
phase() {
  local name=$1 started status
  shift
  started=$(date +%s)
  log "phase '$name' started at $(date +%T)"
  "$@"
  status=$?
  local took=$(($(date +%s) - started))
  PHASE_SUMMARY+=("$(printf '%-28s %5ss  %s' "$name" "$took" "$([ "$status" -eq 0 ] && echo ok || echo "FAILED ($status)")")")
  log "phase '$name' took ${took}s (exit $status)"
  return "$status"
}

phase_report() {
  printf '\n%-28s %6s  %s\n' PHASE SECONDS RESULT
  printf '%s\n' "${PHASE_SUMMARY[@]}"
  # The machine may be shared: times mean little without the load they were taken under.
  printf 'load average (1, 5, 15 min): %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
}
