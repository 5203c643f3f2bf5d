#!/usr/bin/env bash
# The Redis password reaches haproxy.cfg's health check through the environment of this process only.
set -Eeuo pipefail
if [[ -n "${REDIS_PASSWORD_FILE:-}" ]]; then REDIS_PASSWORD="$(< "$REDIS_PASSWORD_FILE")"; fi
[[ -n "${REDIS_PASSWORD:-}" ]] || { echo "REDIS_PASSWORD_FILE (secret redis_password) is required" >&2; exit 1; }
export REDIS_PASSWORD REDIS_NODES="${REDIS_NODES:-redis-0,redis-1,redis-2}"
CFG=${HAPROXY_CFG:-/usr/local/etc/haproxy/haproxy.cfg}
haproxy -c -q -f "$CFG"
exec haproxy -W -db -f "$CFG"
