#!/usr/bin/env bash
# Planned PostgreSQL switchover: bash scripts/pg-switchover.sh [--away-from <node>] [<member>]
# (npm run pg:switchover -- ...). --help for details. Uses only the docker CLI.
set -Eeuo pipefail

STACK=${STACK:-forum}
SWITCHOVER_TIMEOUT=${SWITCHOVER_TIMEOUT:-300}
PG_MEMBERS=(pg-0 pg-1 pg-2)

usage() {
  cat <<EOF
Usage: bash scripts/pg-switchover.sh [--away-from <node>] [<member>]
       npm run pg:switchover -- [--away-from <node>] [<member>]

Hands the PostgreSQL primary of the stack \$STACK (default: forum) over to <member> (pg-0, pg-1 or pg-2, a
streaming standby) without waiting for repmgrd's failure detection and election: for planned work on the
primary's node (scripts/drain-node.sh runs it before a drain). Without <member>: the standby with the most WAL
replayed on another node than the primary (on a single node: the one with the most WAL replayed). With --away-from, nothing is done
when the primary does not run on <node>.

What it does:
  1. checks that exactly one member is primary and that <member> streams from it;
  2. pauses repmgrd's automatic failover on every member (repmgr service pause), so that no election races this
     switchover; it is unpaused on every way out of this script;
  3. stops the primary the way a drain does (its container's TERM handler: new transactions read-only, open
     write transactions finish, a checkpoint, a fast shutdown that streams the shutdown checkpoint to its
     standbys). Writes refused meanwhile did nothing, and the api sends them again (NOTHING_DONE_RETRY_MS);
  4. promotes <member> (repmgr standby promote), points the other standby at it (repmgr standby follow) and
     restarts repmgrd on both, so that each monitors its new upstream;
  5. waits (SWITCHOVER_TIMEOUT, default 300 s) until the old primary has restarted and rejoined as a standby (one
     primary streaming to 2 standbys) and repmgrd runs unpaused on every member (a pause outlives a restart).

Why not 'repmgr standby switchover': it stops the old primary over SSH, and the members run in containers
without SSH between them; here each step runs in the member's own container (docker exec).

Environment:
  STACK               stack name (default forum)
  SWITCHOVER_TIMEOUT  seconds to wait for the cluster to be whole again (default 300)
  DOCKER_HOST         a manager of the swarm (the docker CLI's own variable)
  NODE_DOCKER_HOST    how to reach the engine of node {node}, e.g. ssh://root@{node} (as for scripts/deploy.sh;
                      CLUSTER=1 sets the test cluster's): docker exec only reaches the endpoint's own node
  CLUSTER=1           the test cluster of npm run cluster:up (reads .cluster/env, like npm run deploy)
Exit status: 0 when <member> is primary and the cluster whole (or, with --away-from, nothing was to do);
1 on bad input, when a check fails (nothing changed) or when the deadline passes.
EOF
}

log() { printf '%s [pg-switchover] %s\n' "$(date -u +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

away=""
while (( $# )); do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --away-from) (( $# >= 2 )) || die "--away-from needs a node"; away=$2; shift 2 ;;
    -*) usage >&2; die "unknown option '$1'" ;;
    *) break ;;
  esac
done
(( $# <= 1 )) || { usage >&2; die "expected at most one member (got $#)"; }
target=${1:-}
[[ -z "$target" || " ${PG_MEMBERS[*]} " == *" $target "* ]] || die "unknown member '$target': expected one of ${PG_MEMBERS[*]}"

source "$(dirname "${BASH_SOURCE[0]}")/lib/members.sh"
members_cluster_env
members_require_manager

# ---------------------------------------------------------------- 1. checks (nothing changed yet)
roles=$(in_member pg-0,pg-1,pg-2 fence.sh) || die "no pg member container answers (is the stack '$STACK' deployed?)"
primary=$(awk '$2 == "primary" {print $1}' <<<"$roles")
[[ $(grep -c . <<<"$primary") == 1 ]] || die "not exactly one primary: $(echo $roles)"
pnode=$(member_node "$primary")
if [[ -n "$away" && "$pnode" != "$away" ]]; then
  log "the primary $primary runs on ${pnode:-?}, not on $away: nothing to do"
  exit 0
fi
# the primary's view: each streaming standby and how far it has replayed (bytes behind the primary's current LSN)
lag=$(in_task "$primary" 30 "psql -XAtq -h /var/run/postgresql -d postgres -F ' ' -c \"select application_name, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint from pg_stat_replication where state = 'streaming' order by 2, 1\"") ||
  die "could not read pg_stat_replication on the primary $primary"
if [[ -z "$target" ]]; then
  # the least behind on another node; on a single node (no --away-from), the least behind
  while read -r m behind; do
    [[ -n "$m" ]] || continue
    node=$(member_node "$m")
    [[ -n "$node" && "$node" != "$pnode" && "$node" != "$away" ]] || continue
    target=$m; break
  done <<<"$lag"
  [[ -n "$target" || -n "$away" ]] || target=$(awk 'NF {print $1; exit}' <<<"$lag")
  [[ -n "$target" ]] || die "no streaming standby on another node than ${pnode:-?}: $(echo $lag)"
fi
[[ "$target" != "$primary" ]] || die "$target is already the primary"
grep -q "^$target " <<<"$lag" || die "$target does not stream from the primary $primary (streaming: $(echo $lag))"
sibling=""
for m in "${PG_MEMBERS[@]}"; do [[ $m == "$primary" || $m == "$target" ]] || sibling=$m; done
log "switching over: $primary (on ${pnode:-?}) -> $target (on $(member_node "$target")); $sibling follows"

# ---------------------------------------------------------------- 2. pause repmgrd's failover everywhere
REPMGR='repmgr -f /etc/repmgr/repmgr.conf'
# unpauses every member that answers. The pause outlives a restart (the old primary's repmgrd comes back paused),
# so the switchover is done only when every member's repmgrd runs unpaused (service status --csv: column 5 is
# "repmgrd running", 7 "paused"). all_unpaused: status 0 when so.
all_unpaused() {
  local m st
  for m in "$target" "$sibling" "$primary"; do
    in_task "$m" 60 "$REPMGR service unpause" >/dev/null 2>&1 || true
    st=$(in_task "$m" 60 "$REPMGR service status --csv" 2>/dev/null) || continue
    awk -F, 'NF {n++; if ($5 == 1 && $7 == 0) ok++} END {exit !(n == 3 && ok == 3)}' <<<"$st"
    return
  done
  return 1
}
unpause() {
  all_unpaused && { log "repmgrd runs unpaused on every member"; return 0; }
  log "WARNING: repmgrd may still be paused somewhere: run '$REPMGR service unpause' in a pg member's container"
}
# the trap first: a pause that fails on one member has paused the others
trap unpause EXIT
in_task "$target" 60 "$REPMGR service pause" >/dev/null 2>&1 || die "could not pause repmgrd (repmgr service pause in $target); nothing changed"
log "repmgrd paused on every member"

# ---------------------------------------------------------------- 3. stop the primary as a drain does
t0=$SECONDS
# the old primary counts as stopped when its container has exited (Swarm then starts a new task, which waits for a
# primary to rejoin): not when its port stops answering, which a loaded host can also fake while it still commits
IFS='|' read -r pep pcid < <(member_container "$primary") && [[ -n $pcid ]] || die "no running container of $primary"
IFS='|' read -r tep tcid < <(member_container "$target") && [[ -n $tcid ]] || die "no running container of $target"
# a checkpoint while the primary still takes writes: the one its stop makes (read-only by then) has less to flush,
# and the write gap is that much shorter. The price: one more checkpoint's I/O under load.
docker_at "$pep" timeout 60 docker exec "$pcid" psql -XAtq -h /var/run/postgresql -d postgres -c CHECKPOINT </dev/null >/dev/null 2>&1 ||
  log "the checkpoint before the stop failed; the stop makes its own"
since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
term() { docker_at "$pep" timeout 30 docker exec "$pcid" sh -c 'kill -TERM 1' </dev/null; }
term || die "could not signal $primary's container"
log "$primary is stopping (read-only, open writes finish, checkpoint, fast shutdown)"
# `docker wait` returns as soon as the container has exited (no polling delay before the promotion)
for ((i = 1; ; i++)); do
  docker_at "$pep" timeout 10 docker wait "$pcid" >/dev/null 2>&1 && break
  [[ $(docker_at "$pep" docker inspect -f '{{.State.Running}}' "$pcid" 2>/dev/null) == true ]] || break
  (( i < 9 )) || die "$primary's container still runs 90 s after its TERM: not promoting $target beside it"
  # an image whose supervisor loses a TERM now and then (bash's `read -t` tick, images before 2026-12-06) never
  # starts stopping; a second TERM is harmless once it has started, so it is sent only while its log says nothing
  # (the log in a variable: `docker logs | grep -q` fails under pipefail when grep stops reading at the match)
  plog=$(docker_at "$pep" docker logs --since "$since" "$pcid" 2>&1 || true)
  if [[ $plog != *'"msg":"stopping"'* ]]; then
    log "$primary has not started stopping after $((i * 10)) s: TERM again"
    term || true
  fi
done
log "$primary stopped after $((SECONDS - t0)) s"

# ---------------------------------------------------------------- 4. promote the target, the sibling follows
# the target's container was looked up before the stop: the first attempt costs one docker exec, not three lookups
promote() {
  if ((i == 1)); then
    docker_at "$tep" timeout 120 docker exec "$tcid" sh -c "$REPMGR standby promote 2>&1; echo rc=\$?" </dev/null
  else
    in_task "$target" 120 "$REPMGR standby promote 2>&1; echo rc=\$?"
  fi
}
for ((i = 1; ; i++)); do
  if out=$(promote); [[ "$out" == *rc=0* ]]; then break; fi
  (( i < 5 )) || die "repmgr standby promote failed 5 times on $target: $(tail -3 <<<"$out")"
  log "promote attempt $i failed, retrying: $(tail -2 <<<"$out" | tr '\n' ' ')"
  sleep 2
done
log "$target promoted $((SECONDS - t0)) s after $primary's stop began"
if [[ -n "$sibling" ]]; then
  for ((i = 1; i <= 3; i++)); do
    in_task "$sibling" 120 "$REPMGR standby follow --upstream-node-id=\$(psql -XAtq -h /var/run/postgresql -d repmgr -c \"select node_id from repmgr.nodes where node_name = '$target'\") " >/dev/null 2>&1 &&
      { log "$sibling follows $target"; break; }
    # its WAL receiver names every peer (target_session_attrs=primary) and finds the new primary by itself; the
    # follow only brings repmgr's metadata along
    (( i < 3 )) || log "WARNING: repmgr standby follow failed on $sibling (its WAL receiver still finds $target by itself)"
    sleep 2
  done
fi
# A repmgrd keeps the upstream it read at its start: the sibling's went on watching the old primary after the
# follow, and when that node was drained next it "lost its upstream", elected itself and promoted beside the new
# primary (the fence then stopped it; 3-node maintenance drill, 2026-12-06). So the target's and the sibling's
# repmgrd are restarted (the supervisor starts it again within a second) and read their new place.
for m in "$target" $sibling; do
  in_task "$m" 30 'kill "$(cat /tmp/repmgrd.pid)"' >/dev/null 2>&1 || log "WARNING: could not restart repmgrd in $m"
done
all_unpaused || true # the members that run: the old primary's repmgrd is unpaused below, once it runs again

# ---------------------------------------------------------------- 5. wait until whole
start=$SECONDS said=-100
while :; do
  why=$(pg_whole "$primary")
  [[ -z "$why" && "$(in_member "$target" fence.sh | awk '$2 == "primary" {print $1}')" == "$target" ]] || why=${why:-"$target is not (yet) the primary"}
  [[ -n "$why" ]] || all_unpaused || why="repmgrd not yet running unpaused on every member"
  if [[ -z "$why" ]]; then
    log "done: $target is primary, $primary and $sibling stream from it ($((SECONDS - t0)) s in all)"
    trap - EXIT
    exit 0
  fi
  (( SECONDS - start < SWITCHOVER_TIMEOUT )) || die "cluster not whole within ${SWITCHOVER_TIMEOUT}s: $why"
  if (( SECONDS - said >= 10 )); then said=$SECONDS; log "waiting for $primary to rejoin ($((SECONDS - start)) s): $why"; fi
  sleep 3
done
