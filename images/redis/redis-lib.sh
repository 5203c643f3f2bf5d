#!/usr/bin/env bash
# Shared by the redis and sentinel entrypoints (both images COPY this one file): master discovery.
LOG_TAG=${LOG_TAG:-redis}
source /usr/local/lib/forum/lib.sh   # log, die, file_env (images/base/lib.sh)
MASTER_NAME=${MASTER_NAME:-mymaster}
REDIS_NODES=${REDIS_NODES:-redis-0,redis-1,redis-2}
SENTINEL_SERVICE=${SENTINEL_SERVICE:-sentinel}
BOOTSTRAP_NODE=${BOOTSTRAP_NODE:-redis-0}
# the IPv4 addresses a name resolves to (Docker's DNS; a task's name or tasks.<service>), one per line, or nothing
ipv4s() { timeout 3 getent ahostsv4 "$1" 2>/dev/null | awk '{print $1}' | sort -u; }
# redis-cli HOST [PORT] COMMAND... as Sentinel's user: password RCLI_PASSWORD (secret redis_sentinel_password), the
# ACL user `sentinel` on a Redis node, the default user on a Sentinel. The password goes on stdin (--askpass reads
# its first line), not in REDISCLI_AUTH nor -a, which any process of the container could read in
# /proc/<pid>/environ or cmdline while the call runs.
rcli() {
  local user=(--user sentinel); [[ ${2:-6379} == 26379 ]] && user=()
  printf '%s\n' "$RCLI_PASSWORD" | timeout 2 redis-cli "${user[@]}" --askpass --no-auth-warning -h "$1" -p "${2:-6379}" "${@:3}" 2>/dev/null
}
# the current master's host as the running sentinels see it (majority of answers), or empty
sentinel_master() {
  local ips ip m votes=""
  ips=$(ipv4s "tasks.$SENTINEL_SERVICE")
  for ip in $ips; do
    m=$(rcli "$ip" 26379 SENTINEL get-master-addr-by-name "$MASTER_NAME" | head -1)
    [[ -n "$m" ]] && votes+="$m"$'\n'
  done
  [[ -n "$votes" ]] && printf '%s' "$votes" | sort | uniq -c | sort -rn | awk 'NR==1{print $2}'
}
# a redis node (not $1) that says role:master: preferably one with a connected replica, or empty
live_master() {
  local n info any=""
  IFS=, read -r -a _nodes <<<"$REDIS_NODES"
  for n in "${_nodes[@]}"; do
    [[ "$n" == "${1:-}" ]] && continue
    info=$(rcli "$n" 6379 info replication | tr -d '\r')
    grep -q '^role:master' <<<"$info" || continue
    if grep -qE '^connected_slaves:[1-9]' <<<"$info"; then echo "$n"; return; fi
    any=${any:-$n}
  done
  [[ -n "$any" ]] && echo "$any"
  return 0
}
# Docker's DNS answers for a redis-proxy or sentinel task or a redis node other than $1: this container sees the
# rest of the tier (a task that starts on a node just made active again may resolve nothing on the overlay for a
# while). The proxies are healthy, hence in DNS, without a master (images/haproxy/healthcheck.sh): on a cold start
# they are what the bootstrap node sees first.
tier_visible() {
  local n
  [[ -n "$(ipv4s "tasks.${PROXY_SERVICE:-redis-proxy}")" || -n "$(ipv4s "tasks.$SENTINEL_SERVICE")" ]] && return 0
  IFS=, read -r -a _peers <<<"$REDIS_NODES"
  for n in "${_peers[@]}"; do [[ "$n" != "${1:-}" && -n "$(ipv4s "$n")" ]] && return 0; done
  return 1
}
