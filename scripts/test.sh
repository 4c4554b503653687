#!/usr/bin/env bash
# Everything CI runs, in timed phases: set-up, lint, Python tests, benchmark smoke test, and the
# Molecule fleet (created once, converged once, verified many ways, always destroyed).
# A failed phase does not stop the later ones; the run fails if any phase failed.
set -uo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

failures=0
run_phase() { phase "$@" || failures=$((failures + 1)); }

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
  "$VENV/bin/pytest" -q -p no:cacheprovider -n "$PYTEST_WORKERS" --dist loadscope \
    app_instrumentation/tests tests
}

molecule_fleet() {
  local status=0 step
  for step in destroy syntax create converge idempotence verify; do
    phase "molecule $step" "$REPO_ROOT/scripts/molecule.sh" "$step" || {
      status=1
      break
    }
  done
  phase "molecule destroy" "$REPO_ROOT/scripts/molecule.sh" destroy || status=1
  return "$status"
}

main() {
  local started
  started=$(date +%s)
  export PATH="$VENV/bin:$PATH"
  phase setup "$REPO_ROOT/scripts/setup.sh" || {
    phase_report
    die "set-up failed; nothing else can run"
  }
  run_phase lint lint
  run_phase "python tests" python_tests
  run_phase "benchmark smoke" "$VENV/bin/python" "$REPO_ROOT/app_instrumentation/bench/run.py" --quick
  run_phase "molecule fleet" molecule_fleet
  phase_report
  log "total $(($(date +%s) - started))s, $failures failed phase(s)"
  [ "$failures" -eq 0 ]
}

main "$@"
