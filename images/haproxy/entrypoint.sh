#!/usr/bin/env bash
# The Redis password reaches haproxy.cfg's health check through the environment of this process only.
set -Eeuo pipefail
if [[ -n "${REDIS_PASSWORD_FILE:-}" ]]; then REDIS_PASSWORD="$(< "$REDIS_PASSWORD_FILE")"; fi
[[ -n "${REDIS_PASSWORD:-}" ]] || { echo "REDIS_PASSWORD_FILE (secret redis_password) is required" >&2; exit 1; }
export REDIS_PASSWORD REDIS_NODES="${REDIS_NODES:-redis-0,redis-1,redis-2}"
CFG=${HAPROXY_CFG:-/usr/local/etc/haproxy/haproxy.cfg}
haproxy -c -q -f "$CFG"
# follow-dns: every second, each redis node's address in HAProxy is set to what Docker's DNS answers for its
# name, when that differs (a replaced task has a new IP). A name that does not resolve (task being replaced) is
# left alone. Why not HAProxy's resolvers: see haproxy.cfg.
SOCK=/var/run/haproxy/admin.sock
follow_dns() {
  set +e
  local name ip cur
  while sleep "${FOLLOW_DNS_INTERVAL:-1}"; do
    [[ -S $SOCK ]] || continue
    for name in ${REDIS_NODES//,/ }; do
      ip=$(getent ahostsv4 "$name" 2>/dev/null | awk 'NR==1{print $1}')
      [[ -n $ip ]] || continue
      cur=$(echo "show servers state redis-master" | socat -t2 - "UNIX-CONNECT:$SOCK" 2>/dev/null | awk -v n="$name" '$4 == n {print $5}')
      [[ -n $cur && $cur != "$ip" ]] || continue
      echo "set server redis-master/$name addr $ip port 6379" | socat -t2 - "UNIX-CONNECT:$SOCK" >/dev/null 2>&1 &&
        echo "follow-dns: $name $cur -> $ip" >&2
    done
  done
}
follow_dns &
exec /usr/local/bin/run-service haproxy -W -db -f "$CFG"
