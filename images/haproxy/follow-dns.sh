#!/usr/bin/env bash
# follow-dns.sh SOCKET: HAProxy's redis-master servers follow Docker's DNS (started by entrypoint.sh; healthcheck.sh
# fails while it is not running, so Swarm replaces the task).
# Every FOLLOW_DNS_INTERVAL (5 s), each redis node's address in HAProxy is set to what Docker's DNS answers for its
# name, when that differs (a replaced task has a new IP). A name that does not resolve (task being replaced) is left
# alone. Why not HAProxy's resolvers: see haproxy.cfg. One getent (all names), one admin-socket read and one awk per
# round (the lookup's rows are parsed by the same awk), and the wait is a builtin `read -t`, not a `sleep` process:
# this loop runs for the life of the proxy. A failover needs no new address (Sentinel promotes a running replica,
# which HAProxy's check finds); only a replaced redis task does, and it is a replica until it has synced, so 5 s
# instead of 1 s costs no failover time (the 1 s loop forked ~7 processes a second per proxy).
set -uo pipefail
LOG_TAG=follow-dns
source /usr/local/lib/forum/lib.sh
SOCK=$1
REDIS_NODES=${REDIS_NODES:-redis-0,redis-1,redis-2}
exec {tickfd}<> <(:)
while ! read -r -t "${FOLLOW_DNS_INTERVAL:-5}" -u "$tickfd" _; do
  [[ -S $SOCK ]] || continue
  # "show servers state" rows: <be_id> <be_name> <srv_id> <srv_name> <srv_addr> ...; getent ahostsv4: "<ip> STREAM <name>"
  cmds=$( { echo "show servers state redis-master" | socat -t2 - "UNIX-CONNECT:$SOCK"; echo "#dns"; \
            getent ahostsv4 ${REDIS_NODES//,/ }; } 2>/dev/null |
    awk '$1 == "#dns" {dns = 1; next}
         !dns && $2 == "redis-master" {cur[$4] = $5}
         dns && $2 == "STREAM" && NF == 3 && ($3 in cur) && !($3 in seen) {seen[$3] = 1; if (cur[$3] != $1) print $3, cur[$3], $1}')
  [[ -n $cmds ]] || continue
  while read -r name cur ip; do
    echo "set server redis-master/$name addr $ip port 6379" | socat -t2 - "UNIX-CONNECT:$SOCK" >/dev/null 2>&1 &&
      log "$name $cur -> $ip"
  done <<<"$cmds"
done
