#!/bin/bash
# Renders the config from the environment (keepalived-setup.sh reports every bad variable), then runs keepalived in
# the foreground (VRRP only) logging to stdout.
# A stop (SIGTERM: a drain, an update) hands the VIP over before keepalived exits: 1 in $run/stopping puts the
# instance in FAULT (a track_file, keepalived-setup.sh), which drops the VIP with a priority-0 advert, so a peer takes
# it within about a second; keepalived is stopped KEEPALIVED_STOP_HANDOVER_SECONDS (2) later. keepalived's own SIGTERM
# was slower here: the backup waited for its master-down timer (4.1 s with VRRP's 3 adverts, test/edge). The price:
# a stop takes 2 s longer (stop_grace_period 10 s).
set -Eeuo pipefail
here=$(dirname "$(readlink -f "$0")")
LOG_TAG=keepalived-entrypoint
# lib.sh: log, die, file_env (images/base/lib.sh; from the repository when run from it, as the edge tests do)
lib=$here/../base/lib.sh
[[ -r $lib ]] || lib=/usr/local/lib/forum/lib.sh
source "$lib"
run=${KEEPALIVED_RUN_DIR:-/run/keepalived}
mkdir -p "$run"
echo 0 >"$run/stopping"
"$here/keepalived-setup.sh"
log "starting keepalived (VRRP)"
keepalived --dont-fork --log-console --log-detail --vrrp --no-syslog \
  --pid="$run/keepalived.pid" --vrrp_pid="$run/vrrp.pid" \
  --use-file="${KEEPALIVED_CONF:-/etc/keepalived/keepalived.conf}" "$@" &
ka=$!
handover() {
  log "stopping: FAULT first, so a peer takes the VIP"
  echo 1 >"$run/stopping"
  sleep "${KEEPALIVED_STOP_HANDOVER_SECONDS:-2}"
  kill -TERM "$ka" 2>/dev/null || true
  wait "$ka" || true
  exit 0
}
trap handover TERM INT
set +e
wait "$ka"
rc=$?
# a trapped signal ends `wait` at once and runs the trap, which exits; otherwise keepalived ended on its own
exit "$rc"
