#!/usr/bin/env bash
# The Redis password reaches haproxy.cfg's health check through a rendered copy of the config (mode 600, readable by
# the haproxy user only), never through an environment variable: a process's environment is readable in
# /proc/<pid>/environ for its whole life, and HAProxy's master re-executes itself with it on a reload.
set -Eeuo pipefail
LOG_TAG=haproxy-entrypoint
source /usr/local/lib/forum/lib.sh   # log, die, file_env, start_loop (images/base/lib.sh)
file_env REDIS_PASSWORD
[[ -n "$REDIS_PASSWORD" ]] || die "REDIS_PASSWORD_FILE (secret redis_metrics_password: the health check's ACL user) is required"
export REDIS_NODES="${REDIS_NODES:-redis-0,redis-1,redis-2}"
TEMPLATE=${HAPROXY_CFG:-/usr/local/etc/haproxy/haproxy.cfg}
CFG=/var/run/haproxy/haproxy.cfg
# ${REDIS_PASSWORD} in the template is replaced by the value escaped for HAProxy's double-quoted strings
# (backslash, double quote and $ would otherwise be read by HAProxy's parser)
render_config() {
  local pw=${REDIS_PASSWORD//\\/\\\\} text
  pw=${pw//\"/\\\"}
  pw=${pw//\$/\\\$}
  text=$(<"$TEMPLATE")
  (umask 077; printf '%s\n' "${text//'${REDIS_PASSWORD}'/"$pw"}" >"$CFG")
}
render_config
unset REDIS_PASSWORD
haproxy -c -q -f "$CFG"
SOCK=/var/run/haproxy/admin.sock
# follow-dns.sh keeps each redis node's address in HAProxy current; healthcheck.sh fails while it is not running
start_loop follow-dns /usr/local/bin/follow-dns.sh "$SOCK"
exec /usr/local/bin/run-service haproxy -W -db -f "$CFG"
