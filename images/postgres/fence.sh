#!/usr/bin/env bash
# Prints each PG node's role as seen from this container: primary / standby / down (diagnostics, drills).
set -u
IFS=, read -r -a NODES <<<"${PG_NODES:-pg-0,pg-1,pg-2}"
for n in "${NODES[@]}"; do
  r=$(psql "host=$n port=5432 user=repmgr dbname=repmgr connect_timeout=2" -XAtqc 'select pg_is_in_recovery()' 2>/dev/null)
  case "$r" in f) echo "$n primary" ;; t) echo "$n standby" ;; *) echo "$n down" ;; esac
done
