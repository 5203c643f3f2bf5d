#!/usr/bin/env bash
# Runtime fence for a RUNNING primary (called every few seconds by the entrypoint's supervisor).
# Exit 3 = "this node is a stale primary": another peer is primary WITH streaming standbys while this node has
# none. Quorum commit (ANY 1) means such a node could not acknowledge a commit since it lost its standbys, so
# stopping it loses no acknowledged write; the startup fence then rejoins it as a standby (pg_rewind).
# Exit 0 otherwise (not primary, or the legitimate primary, or undecidable).
set -u
IFS=, read -r -a NODES <<<"${PG_NODES:-pg-0,pg-1,pg-2}"
# A standby (standby.signal; promotion removes it) is never a stale primary: no psql, so no backend fork, every 3 s
# on each standby (short-lived backends and processes were a tenth of a core on this 2-core host)
[[ -f "${PGDATA:-/var/lib/postgresql/data}/standby.signal" ]] && exit 0
me=$(psql -XAtq -h /var/run/postgresql -d repmgr -c "select case when pg_is_in_recovery() then 'standby' else (select count(*) from pg_stat_replication where state = 'streaming')::text end" 2>/dev/null) || exit 0
[[ "$me" == standby || -z "$me" ]] && exit 0
(( me > 0 )) && exit 0
for n in "${NODES[@]}"; do
  [[ "$n" == "$NODE_NAME" ]] && continue
  r=$(psql "host=$n port=5432 user=repmgr dbname=repmgr connect_timeout=2" -XAtqc \
      "select case when pg_is_in_recovery() then -1 else (select count(*) from pg_stat_replication where state = 'streaming') end" 2>/dev/null) || continue
  if [[ "$r" =~ ^[0-9]+$ ]] && (( r > 0 )); then
    echo "$n"
    exit 3
  fi
done
exit 0
