#!/usr/bin/env bash
# Prints each PG node's role as seen from this container: primary / standby / down (diagnostics, drills).
# The members are asked at once, each with a FENCE_CONNECT_TIMEOUT (5 s) connect: on a loaded 2-core host a live
# member's login can take over 2 s, and asked in turn a dead one made every answer wait for it.
set -u
IFS=, read -r -a NODES <<<"${PG_NODES:-pg-0,pg-1,pg-2}"
declare -A out
for n in "${NODES[@]}"; do
  exec {fd}< <(psql "host=$n port=5432 user=repmgr dbname=repmgr connect_timeout=${FENCE_CONNECT_TIMEOUT:-5}" -XAtqc 'select pg_is_in_recovery()' 2>/dev/null)
  out[$n]=$fd
done
for n in "${NODES[@]}"; do
  r=""
  read -r r <&"${out[$n]}"
  case "$r" in f) echo "$n primary" ;; t) echo "$n standby" ;; *) echo "$n down" ;; esac
done
