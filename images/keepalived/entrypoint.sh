#!/bin/bash
# Renders the config from the environment (keepalived-setup.sh reports every bad variable), then runs keepalived in
# the foreground (VRRP only) logging to stdout. SIGTERM makes keepalived release the VIP, so a peer takes it at once.
set -Eeuo pipefail
here=$(dirname "$(readlink -f "$0")")
run=${KEEPALIVED_RUN_DIR:-/run/keepalived}
mkdir -p "$run"
"$here/keepalived-setup.sh"
exec keepalived --dont-fork --log-console --log-detail --vrrp --no-syslog \
  --pid="$run/keepalived.pid" --vrrp_pid="$run/vrrp.pid" \
  --use-file="${KEEPALIVED_CONF:-/etc/keepalived/keepalived.conf}" "$@"
