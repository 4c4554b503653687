#!/usr/bin/env bash
# Makes sure a Docker engine answers on this machine, starting dockerd in the background if needed.
# There is no systemd on the dev/CI machines, so nothing else starts it; a dockerd killed at the end
# of a previous session can leave a stale pid file that would stop a new one from starting.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

DOCKERD_LOG=${DOCKERD_LOG:-/var/log/spm-dockerd.log}
DOCKERD_PIDFILE=${DOCKERD_PIDFILE:-/var/run/docker.pid}
START_TIMEOUT=${DOCKERD_START_TIMEOUT:-60}
# Extra dockerd flags, word-split (e.g. "--data-root /srv/docker").
read -r -a DOCKERD_ARGS <<<"${DOCKERD_ARGS:-}"

docker_answers() { docker info >/dev/null 2>&1; }

if docker_answers; then
  log "Docker engine answers"
  exit 0
fi
command -v dockerd >/dev/null || die "dockerd is not installed (apt-get install docker.io)"

if [ -f "$DOCKERD_PIDFILE" ]; then
  pid=$(cat "$DOCKERD_PIDFILE" 2>/dev/null || true)
  if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ]; then
    log "dockerd (pid $pid) is running but not answering yet; waiting"
  else
    log "removing stale $DOCKERD_PIDFILE (pid '${pid}' is not a running dockerd)"
    rm -f "$DOCKERD_PIDFILE"
    pid=
  fi
fi

if [ -z "${pid:-}" ]; then
  log "starting dockerd in the background (log: $DOCKERD_LOG)"
  setsid dockerd --pidfile "$DOCKERD_PIDFILE" "${DOCKERD_ARGS[@]}" >>"$DOCKERD_LOG" 2>&1 </dev/null &
  pid=$!
fi

for _ in $(seq "$START_TIMEOUT"); do
  if docker_answers; then
    log "Docker engine answers"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    tail -n 20 "$DOCKERD_LOG" >&2 || true
    die "dockerd exited before answering; see $DOCKERD_LOG (last lines above)"
  fi
  sleep 1
done
tail -n 20 "$DOCKERD_LOG" >&2 || true
die "the Docker engine did not answer within ${START_TIMEOUT}s; see $DOCKERD_LOG (last lines above)"
