#!/bin/sh
# The VRRP process is alive. (NGINX health is keepalived's own track script; the VIP is checked by its users.)
set -eu
pid=$(cat "${KEEPALIVED_RUN_DIR:-/run/keepalived}/vrrp.pid" 2>/dev/null) || exit 1
kill -0 "$pid"
