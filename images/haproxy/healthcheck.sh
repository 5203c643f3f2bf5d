#!/bin/sh
# healthy = HAProxy answers, its redis-master backend has a server UP (stats CSV field 18 = status), and every
# server's address (field 74) is one that Docker's DNS gives for its name now.
# The entrypoint's follow-dns loop keeps the addresses current; this is the safety net if it stops doing so (a
# stale address once left a proxy routing nowhere). Swarm replaces an unhealthy task (docker-stack.yml: 4 x 5 s),
# and a fresh task resolves every name anew. A Redis failover (backend DOWN for 5-8 s) and a replaced task (its
# new address set once it is in DNS) stay far inside that. The drills' full-strength check runs this script too.
csv=$(curl -fsS --max-time 2 'http://127.0.0.1:8404/stats;csv') || exit 1
st=$(printf '%s\n' "$csv" | awk -F, '$1 == "redis-master" && $2 == "BACKEND" { print $18 }')
[ "$st" = UP ] || { echo "redis-master backend is ${st:-missing}: no Redis master reachable through this proxy"; exit 1; }
printf '%s\n' "$csv" | awk -F, '$1 == "redis-master" && $2 != "BACKEND" && $2 != "FRONTEND" { sub(/:[0-9]+$/, "", $74); print $2, $74 }' |
  while read -r name addr; do
    now=$(getent hosts "$name" | awk '{ print $1 }')
    # a name that does not resolve (its task is being replaced) says nothing about staleness
    [ -z "$now" ] && continue
    printf '%s\n' "$now" | grep -qxF "$addr" || { echo "$name: HAProxy routes to $addr, DNS says $(echo $now)"; exit 1; }
  done
