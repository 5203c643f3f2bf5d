#!/usr/bin/env bash
# The Redis password reaches haproxy.cfg's health check through the environment of this process only.
set -Eeuo pipefail
LOG_TAG=haproxy-entrypoint
source /usr/local/lib/forum/lib.sh   # log, die, file_env, start_loop (images/base/lib.sh)
file_env REDIS_PASSWORD
[[ -n "$REDIS_PASSWORD" ]] || die "REDIS_PASSWORD_FILE (secret redis_password) is required"
export REDIS_NODES="${REDIS_NODES:-redis-0,redis-1,redis-2}"
CFG=${HAPROXY_CFG:-/usr/local/etc/haproxy/haproxy.cfg}
haproxy -c -q -f "$CFG"
SOCK=/var/run/haproxy/admin.sock
# follow-dns.sh keeps each redis node's address in HAProxy current; healthcheck.sh fails while it is not running
start_loop follow-dns /usr/local/bin/follow-dns.sh "$SOCK"
exec /usr/local/bin/run-service haproxy -W -db -f "$CFG"
