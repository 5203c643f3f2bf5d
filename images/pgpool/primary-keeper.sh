#!/usr/bin/env bash
# primary-keeper.sh: started by entrypoint.sh next to pgpool (healthcheck.sh fails while it is not running, so Swarm
# replaces the task). Reads pgpool through PCP (~/.pcppass) and the backends as repmgr (~/.pgpass).
# Pgpool's auto_failback re-attaches only STANDBYS that stream from a known primary; a primary that was
# detached (cold start before it accepted connections, or a blip under load) stays down forever, and a promoted standby
# that pgpool never re-recognised leaves it without a primary: every write fails. Every 10 s: if pgpool has had no
# primary for longer than its own search (search_primary_node_timeout), re-attach the one backend that answers
# pg_is_in_recovery() = false (detached: attach; attached but not seen as primary: detach + attach, which makes pgpool
# search again). Only while pgpool has no primary, and only a node not in recovery, so it never creates a second one.
# 10 s rather than 5: each round is a PCP call, a process here plus a forked PCP child in pgpool, and the keeper acts
# only after 25 s without a primary; the price is up to 5 s more in that rare repair.
set -uo pipefail
LOG_TAG=primary-keeper
source /usr/local/lib/forum/lib.sh
IFS=, read -r -a NODES <<<"${PG_NODES:-pg-0,pg-1,pg-2}"
since=0 tries=0
# the wait is a builtin `read -t` on a pipe nobody writes to, not a `sleep` process per round
exec {tickfd}<> <(:)
while ! read -r -t "${PGPOOL_KEEPER_INTERVAL:-10}" -u "$tickfd" _; do
  attached_primary=""; candidate=""; cand_status=""; statuses=()
  for i in "${!NODES[@]}"; do
    # pgpool's own view, from its shared memory: "<id> <host> <port> <status> <role> ...", status up/waiting/down.
    # Not pcp_node_info: that one opens two connections to the backend (its pg_status and pg_role columns) per
    # call, i.e. 1.2 backend forks a second on the primary from 3 pgpools (the connection log).
    st=$(pcp_health_check_stats -h localhost -p 9898 -U admin -w -n "$i" 2>/dev/null) || continue 2
    read -r _ _ _ status role _ <<<"$st"
    statuses[i]=$status
    if [[ $status != down && $role == primary ]]; then attached_primary=$i; break; fi
  done
  # the backends are asked (a psql and a backend fork each) only while pgpool sees no primary: asking on the way to
  # the primary cost every pgpool a backend fork per round whenever the primary was not node 0 (after a failover)
  if [[ -z $attached_primary ]]; then
    for i in "${!NODES[@]}"; do
      if [[ $(psql -h "${NODES[$i]}" -U repmgr -d postgres -XAtw -c 'select pg_is_in_recovery()' 2>/dev/null) == f ]]; then
        candidate=$i; cand_status=${statuses[i]:-down}; break
      fi
    done
  fi
  printf -v now "%(%s)T" -1
  if [[ -n $attached_primary || -z $candidate ]]; then since=0 tries=0; continue; fi
  ((since == 0)) && since=$now
  ((now - since >= ${PGPOOL_KEEPER_GRACE:-25})) || continue
  # Seen after cold starts: a pgpool whose re-attach never made it search again, all nodes "standby" (once for 25 min,
  # once in 2 of 3 tasks of a fresh deploy) while its siblings saw the primary. After PGPOOL_KEEPER_MAX_TRIES
  # re-attaches in a row without a primary the keeper ends the task itself: SIGTERM to run-service (PID 1), so the
  # exit is non-zero and restart_policy on-failure restarts it, then SIGINT to pgpool, a fast shutdown that closes its
  # client sessions instead of waiting for them. Swarm starts a fresh task at once (a fresh pgpool finds the primary
  # at once); waiting for healthcheck.sh to fail 3 times would leave this task without writes for another 60-90 s,
  # while it stays in DNS. The price: the task's clients lose their sessions (they had no primary through it anyway).
  if ((tries >= ${PGPOOL_KEEPER_MAX_TRIES:-3})); then
    log "no primary after $tries re-attaches of ${NODES[$candidate]}, which is not in recovery: ending this pgpool task so that Swarm replaces it"
    kill -TERM 1 2>/dev/null
    # pgpool's pid file ends with a NUL byte: read up to it
    pgpool_pid=""
    { read -r -d '' pgpool_pid || :; } 2>/dev/null </var/run/pgpool/pgpool.pid
    [[ $pgpool_pid =~ ^[0-9]+$ ]] && kill -INT "$pgpool_pid" 2>/dev/null
    exit 1
  fi
  tries=$((tries + 1))
  log "no primary for $((now - since)) s: re-attaching node $candidate (${NODES[$candidate]}), which is not in recovery"
  [[ $cand_status != down ]] && pcp_detach_node -h localhost -p 9898 -U admin -w -n "$candidate" >/dev/null 2>&1
  pcp_attach_node -h localhost -p 9898 -U admin -w -n "$candidate" >/dev/null 2>&1 || log "pcp_attach_node $candidate failed"
  since=0
done
