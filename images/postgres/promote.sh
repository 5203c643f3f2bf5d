#!/usr/bin/env bash
# A guarded promote_command for repmgrd: promotes this standby unless another member answers as primary.
# NOT wired by default (repmgr.conf calls `repmgr standby promote` directly): in CI's single-node PG-primary drill it
# cost 5.7 s and more (RTO 26.4 / 29.4 s against the 30 s bound, 15.1 s without it). To use it on a multi-node
# swarm: promote_command='/usr/local/bin/promote.sh' in images/postgres/conf/repmgr.conf.
# repmgrd decides that its primary is gone after two failed pings (connect_timeout 2 s). On a saturated host a live
# primary can miss both: a standby then promoted itself beside it (seen on the 3-node test cluster at load ~80), and
# quorum commit kept the data safe only by stalling every write until the fence stopped one of the two. So before
# promoting, every peer is asked once more, in parallel and with a longer connect timeout (PROMOTE_CHECK_TIMEOUT,
# 4 s). A peer that answers as primary refuses the promotion: repmgrd reports the failure, and the supervisor makes
# this standby follow that primary (entrypoint.sh, "not streaming ... while a peer is primary"). A dead or cut-off
# peer does not answer, so a real failover costs at most those 4 s more (usually nothing: a dead task's name
# no longer resolves).
set -u
IFS=, read -r -a NODES <<<"${PG_NODES:-pg-0,pg-1,pg-2}"
timeout=${PROMOTE_CHECK_TIMEOUT:-4}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for n in "${NODES[@]}"; do
  [[ "$n" == "${NODE_NAME:-}" ]] && continue
  psql "host=$n port=5432 user=repmgr dbname=repmgr connect_timeout=$timeout" -XAtqc \
    "select case when pg_is_in_recovery() then 'standby' else 'primary' end" > "$dir/$n" 2>/dev/null &
done
wait
for n in "${NODES[@]}"; do
  [[ -f "$dir/$n" ]] || continue
  if [[ "$(<"$dir/$n")" == primary ]]; then
    echo "promote.sh: NOT promoting ${NODE_NAME:-this node}: $n answers as primary" >&2
    exit 1
  fi
done
exec repmgr standby promote -f /etc/repmgr/repmgr.conf --log-to-file
