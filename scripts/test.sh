#!/usr/bin/env bash
# Everything CI runs, in timed phases: set-up, lint, Python tests, benchmark smoke test, and the
# Molecule fleet (created once, converged once, checked many ways, always destroyed). Molecule's
# verify step is the fleet checks' runner (scripts/fleet_checks.py); here it runs directly.
# The Python tests and the benchmark smoke test need nothing of the fleet: they run beside its
# set-up (both sides are CPU-bound on 2 cores: docs/SETUP.md), and the fleet checks, which time
# faults and alerts, start only once both are done. Lint, which times nothing, runs beside the
# fleet checks at the lowest CPU priority, on the CPU they leave idle while they wait for alerts
# and outages. A failed phase does not stop the later ones; the run fails if any phase failed.
set -uo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

failures=0
# Counts a failed phase and returns its failure, so that a background copy (which counts in its own
# shell) can report it to main; `phase || failures=...` alone returned the assignment's 0, and a
# failed lint, Python test or fleet check that changes nothing passed the run (until 2026-12-06).
run_phase() {
  phase "$@" && return 0
  failures=$((failures + 1))
  return 1
}

lint() {
  cd "$REPO_ROOT" || return 1
  local status=0
  "$VENV/bin/yamllint" --strict . || status=1
  "$VENV/bin/ansible-lint" --profile production || status=1
  "$VENV/bin/ruff" check . || status=1
  "$VENV/bin/ruff" format --check . || status=1
  git ls-files -z '*.sh' .ci/run | xargs -0 shellcheck -x || status=1
  return "$status"
}

# Most tests wait (sanic workers starting, ansible-playbook, Prometheus) rather than compute, so
# more xdist workers than cores overlap them. loadscope runs each module whole on one worker: its
# module-scoped service or role runs start once, its tests in file order. (loadgroup would split
# modules, but xdist 3.8.0's xdist_group has no effect under pytest 9.2.)
PYTEST_WORKERS=3

python_tests() {
  cd "$REPO_ROOT" || return 1
  # --durations: the slowest tests, which are where this phase's time goes.
  "$VENV/bin/pytest" -q -p no:cacheprovider -n "$PYTEST_WORKERS" --dist loadscope --durations=15 \
    app_instrumentation/tests tests
}

# Where fleet_checks.py keeps each check's log, and each failed check's last lines (<name>.failed).
FLEET_CHECK_LOGS="$CACHE_DIR/fleet-checks"
fleet_checks() { "$VENV/bin/python" "$REPO_ROOT/scripts/fleet_checks.py" --log-dir "$FLEET_CHECK_LOGS" "$@"; }
benchmark_smoke() { "$VENV/bin/python" "$REPO_ROOT/app_instrumentation/bench/run.py" --quick; }
molecule() { "$REPO_ROOT/scripts/molecule.sh" "$@"; }
set_up_host() { "$REPO_ROOT/scripts/setup.sh"; }

# The fleet checks that change nothing (molecule/default/checks.yml: check mode, bad input), in the
# background beside the idempotence step, printing into their own log; the phase's line goes to $1.
checks_changing_nothing() {
  local summary_file=$1 status=0
  PHASE_SUMMARY=() # this background copy reports its own phase only
  run_phase "fleet checks changing nothing" fleet_checks --changing-nothing || status=1
  printf '%s\n' "${PHASE_SUMMARY[@]}" >"$summary_file"
  return "$status"
}

# Idempotence changes nothing either, so neither can disturb the other.
idempotence_beside_checks_changing_nothing() {
  local checks_log checks_summary checks_pid status=0
  checks_log=$(mktemp) checks_summary=$(mktemp)
  checks_changing_nothing "$checks_summary" >"$checks_log" 2>&1 &
  checks_pid=$!
  phase "molecule idempotence" molecule idempotence || status=1
  wait "$checks_pid" || failures=$((failures + 1))
  cat "$checks_log" >&2
  mapfile -t -O "${#PHASE_SUMMARY[@]}" PHASE_SUMMARY <"$checks_summary"
  rm -f "$checks_log" "$checks_summary"
  return "$status"
}

# The fleet up to a converged, idempotent state; stops at the first failed step.
molecule_fleet_up() {
  local step
  for step in destroy syntax create converge; do
    phase "molecule $step" molecule "$step" || return 1
  done
  idempotence_beside_checks_changing_nothing
}

# The Python tests, then the benchmark smoke test: run in the background beside the fleet's
# set-up, printing into their own log; each phase's summary line goes to $1.
checks_without_fleet() {
  local summary_file=$1 status=0
  PHASE_SUMMARY=() # this background copy reports its own phases only
  run_phase "python tests" python_tests || status=1
  run_phase "benchmark smoke" benchmark_smoke || status=1
  printf '%s\n' "${PHASE_SUMMARY[@]}" >"$summary_file"
  return "$status"
}

# Lint at nice 19, in the background beside the fleet checks, printing into its own log; its
# phase's line goes to $1. Beside the converge it took CPU the converge needed (docs/SETUP.md).
lint_at_lowest_priority() {
  local summary_file=$1 status=0
  PHASE_SUMMARY=() # this background copy reports its own phase only
  renice -n 19 -p "$BASHPID" >/dev/null
  run_phase lint lint || status=1
  printf '%s\n' "${PHASE_SUMMARY[@]}" >"$summary_file"
  return "$status"
}

# Each failed fleet check's last lines once more, at the end, where an excerpt of a long CI log
# finds them (the checks print them when they fail, long before).
report_failed_checks() {
  local record
  for record in "$FLEET_CHECK_LOGS"/*.failed; do
    [ -e "$record" ] || continue
    printf '\n==> fleet check %s FAILED; the end of its log (%s):\n' \
      "$(basename "$record" .failed)" "$FLEET_CHECK_LOGS"
    tail -n 30 "$record"
  done
}

main() {
  local started
  started=$(date +%s)
  rm -f "$FLEET_CHECK_LOGS"/*.failed # a failure of an earlier run is not this run's
  export PATH="$VENV/bin:$PATH"
  phase setup set_up_host || {
    phase_report
    die "set-up failed; nothing else can run"
  }

  local checks_log checks_summary checks_pid fleet_up=0
  checks_log=$(mktemp) checks_summary=$(mktemp)
  checks_without_fleet "$checks_summary" >"$checks_log" 2>&1 &
  checks_pid=$!
  log "python tests and benchmark smoke run beside the fleet's set-up; their output follows it"
  molecule_fleet_up || fleet_up=1
  wait "$checks_pid" || failures=$((failures + 1))
  cat "$checks_log" >&2
  mapfile -t -O "${#PHASE_SUMMARY[@]}" PHASE_SUMMARY <"$checks_summary"
  rm -f "$checks_log" "$checks_summary"

  local lint_log lint_summary lint_pid
  lint_log=$(mktemp) lint_summary=$(mktemp)
  lint_at_lowest_priority "$lint_summary" >"$lint_log" 2>&1 &
  lint_pid=$!
  log "lint runs at the lowest CPU priority beside the fleet checks; its output follows them"
  if [ "$fleet_up" -eq 0 ]; then
    run_phase "fleet checks" fleet_checks --changing-something
  else
    failures=$((failures + 1))
  fi
  wait "$lint_pid" || failures=$((failures + 1))
  cat "$lint_log" >&2
  mapfile -t -O "${#PHASE_SUMMARY[@]}" PHASE_SUMMARY <"$lint_summary"
  rm -f "$lint_log" "$lint_summary"
  run_phase "molecule destroy" molecule destroy
  report_failed_checks
  phase_report
  log "total $(($(date +%s) - started))s, $failures failed phase(s)"
  [ "$failures" -eq 0 ]
}

# Sourced by tests/test_make_test.py, which replaces the phases' bodies to test this bookkeeping.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  main "$@"
fi
