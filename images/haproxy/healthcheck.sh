#!/bin/sh
# Liveness of this proxy, as Swarm's healthcheck (docker-stack.yml) and the drills' full-strength check see it.
# Unhealthy when:
#   - the follow-dns loop (follow-dns.sh) is not running;
#   - HAProxy does not answer;
#   - its redis-master backend is UP but a server's address (stats CSV field 74) is not the one Docker's DNS gives
#     for its name now (follow-dns.sh keeps them current; this is the safety net if it stops);
#   - its redis-master backend is not UP while another proxy task reaches a master (this task's path is broken:
#     a stale address, or its network).
# When NO proxy reaches a master, Redis itself has none (a failover, a drained or isolated master): restarting the
# proxies would not bring one, and restarting all of them at once removes the service's DNS name for their start
# period, so Redis stays unreachable after the master is back. Then the task stays healthy and says so.
# A lookup of a name with no task can take seconds (Docker's DNS asks the upstream resolvers): the addresses are
# compared only while the backend is UP (every name then resolves), and every lookup is bounded.
# --strict (the drills' full-strength check) also fails when the backend is not UP, whatever the other tasks see.
strict=0; [ "${1:-}" = --strict ] && strict=1
loop-alive follow-dns || exit 1
backend_status() { # stats CSV on stdin -> status of the redis-master backend (field 18)
  awk -F, '$1 == "redis-master" && $2 == "BACKEND" { print $18 }'
}
csv=$(curl -fsS --max-time 2 'http://127.0.0.1:8404/stats;csv') || exit 1
st=$(printf '%s\n' "$csv" | backend_status)
if [ "$st" = UP ]; then
  # The servers' names from the CSV with builtins, one lookup for all of them (getent hosts prints "<ip> <name>" for
  # each name that resolves) and one awk comparing: ~9 processes a check, where a lookup and a compare per server
  # made ~25 (each a fork on the host, twice a minute per proxy).
  names=
  while IFS=, read -r px sv _; do
    if [ "$px" = redis-master ] && [ "$sv" != BACKEND ] && [ "$sv" != FRONTEND ]; then names="$names $sv"; fi
  done <<EOF
$csv
EOF
  # shellcheck disable=SC2086 # the names are words
  stale=$({ printf '%s\n#dns\n' "$csv"; timeout 2 getent hosts $names 2>/dev/null; } | awk -F, '
    $0 == "#dns" { dns = 1; next }
    !dns && $1 == "redis-master" && $2 != "BACKEND" && $2 != "FRONTEND" { a = $74; sub(/:[0-9]+$/, "", a); cur[$2] = a; next }
    dns { split($0, f, /[ \t]+/); if ((f[2] in cur) && cur[f[2]] != f[1]) { print f[2] ": HAProxy routes to " cur[f[2]] ", DNS says " f[1]; exit } }')
  # a name that does not resolve (its task is being replaced) prints no row: it says nothing about staleness
  [ -z "$stale" ] || { echo "$stale"; exit 1; }
  exit 0
fi
why="redis-master backend is ${st:-missing}: no Redis master reachable through this proxy"
[ $strict = 1 ] && { echo "$why"; exit 1; }
# a server still on the start-up placeholder (haproxy.cfg: its name did not resolve then) whose name resolves now:
# the follow-dns loop should have set it within seconds; a restart resolves it
printf '%s\n' "$csv" | awk -F, '$1 == "redis-master" && $2 != "BACKEND" && $2 != "FRONTEND" { sub(/:[0-9]+$/, "", $74); if ($74 == "192.0.2.1" || $74 == "") print $2 }' |
  while read -r name; do
    if [ -n "$(timeout 1 getent hosts "$name")" ]; then echo "$why; $name resolves but HAProxy has no address for it"; exit 1; fi
  done || exit 1
for peer in $(timeout 2 getent ahostsv4 "tasks.${PROXY_SERVICE:-redis-proxy}" | awk '$2 == "STREAM" { print $1 }'); do
  if [ "$(curl -fsS --max-time 1 "http://$peer:8404/stats;csv" 2>/dev/null | backend_status)" = UP ]; then
    echo "$why, while the proxy at $peer reaches one"
    exit 1
  fi
done
echo "$why, nor through any other proxy: Redis has no master (healthy: a restart would not help)"
exit 0
