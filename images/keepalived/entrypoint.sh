#!/bin/bash
# Renders the config from the environment (keepalived-setup.sh reports every bad variable), then runs keepalived in
# the foreground (VRRP only) logging to stdout. SIGTERM makes keepalived release the VIP, so a peer takes it at once.
set -Eeuo pipefail
here=$(dirname "$(readlink -f "$0")")
LOG_TAG=keepalived-entrypoint
# lib.sh: log, die, file_env (images/base/lib.sh; from the repository when run from it, as the edge tests do)
lib=$here/../base/lib.sh
[[ -r $lib ]] || lib=/usr/local/lib/forum/lib.sh
source "$lib"
run=${KEEPALIVED_RUN_DIR:-/run/keepalived}
mkdir -p "$run"
"$here/keepalived-setup.sh"
log "starting keepalived (VRRP)"
exec keepalived --dont-fork --log-console --log-detail --vrrp --no-syslog \
  --pid="$run/keepalived.pid" --vrrp_pid="$run/vrrp.pid" \
  --use-file="${KEEPALIVED_CONF:-/etc/keepalived/keepalived.conf}" "$@"
