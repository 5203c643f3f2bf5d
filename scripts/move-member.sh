#!/usr/bin/env bash
# Moves a stateful member of the forum stack to another Swarm node: bash scripts/move-member.sh <member> <node>
# (npm run move-member -- <member> <node>). --help for details. Uses only the docker CLI (works with DOCKER_HOST
# pointing at a remote manager; Debian's 20.10 CLI is enough).
set -Eeuo pipefail

STACK=${STACK:-forum}
MOVE_TIMEOUT=${MOVE_TIMEOUT:-900}
MEMBERS=(pg-0 pg-1 pg-2 redis-0 redis-1 redis-2 influxdb backup)

usage() {
  cat <<EOF
Usage: bash scripts/move-member.sh <member> <node>
       npm run move-member -- <member> <node>

Moves the stateful member <member> of the stack \$STACK (default: forum) to the Swarm node <node>
(a hostname or node id, as in 'docker node ls'), for example when the node holding it is gone for good.

  <member>  one of: ${MEMBERS[*]}
  <node>    the target node: Ready and Active

What it does:
  1. checks the member, the node and the service ${STACK}_<member>;
  2. moves the placement label forum.<member>=true from whichever node has it to <node>
     (docker node update --label-rm / --label-add);
  3. forces the service to reschedule (docker service update --force ${STACK}_<member>);
  4. waits (deadline MOVE_TIMEOUT, default 900 s, progress every 10 s) until the member runs healthy on <node>
     and, for pg-N / redis-N, until its cluster is whole again: the PostgreSQL primary streams to 2 standbys,
     the Redis master has 2 connected replicas (the moved member among them).

On <node> the member starts on an EMPTY volume (volumes are local to a node): PostgreSQL clones from the current
primary (repmgr standby clone), Redis replicates from Sentinel's master; neither ever starts a second cluster
(docs/DATA-TIER.md). The old node's volume is left where it was: remove it there once the move is done
(docker volume rm ${STACK}_<member>-data on that node). influxdb and backup start empty on the new node.
Moving the PostgreSQL primary or the Redis master is a failover (a few seconds without writes); move a standby or
a replica when you can.

Environment:
  STACK             stack name (default forum)
  MOVE_TIMEOUT      seconds to wait for the member and its cluster (default 900)
  DOCKER_HOST       a manager of the swarm (the docker CLI's own variable)
  NODE_DOCKER_HOST  how to reach the engine of node {node}, e.g. ssh://root@{node} (as for scripts/deploy.sh;
                    CLUSTER=1 sets the test cluster's): the cluster check runs in a member's container, and
                    docker exec only reaches the containers of the endpoint's own node. Unset: DOCKER_HOST's
                    node must run a pg (or redis/sentinel) container.
  CLUSTER=1         the test cluster of npm run cluster:up (reads .cluster/env, like npm run deploy)
Exit status: 0 when the member is back and its cluster whole; 1 on bad input or when the deadline passes.
EOF
}

log() { printf '%s [move-member] %s\n' "$(date -u +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ "${1:-}" == --help || "${1:-}" == -h ]] && { usage; exit 0; }
(( $# == 2 )) || { usage >&2; die "expected 2 arguments: <member> <node> (got $#)"; }
member=$1 target=$2
[[ " ${MEMBERS[*]} " == *" $member "* ]] || die "unknown member '$member': expected one of ${MEMBERS[*]}"
service=${STACK}_$member
label=forum.$member

source "$(dirname "${BASH_SOURCE[0]}")/lib/members.sh"
members_cluster_env
members_require_manager
node_line=$(docker node inspect --format '{{.ID}} {{.Description.Hostname}} {{.Status.State}} {{.Spec.Availability}}' "$target" 2>/dev/null) ||
  die "no swarm node '$target' (docker node ls lists the nodes)"
read -r node_id node_host node_state node_avail <<<"$node_line"
[[ "$node_state" == ready ]] || die "node $node_host is $node_state: the member could not start there"
[[ "$node_avail" == active ]] || die "node $node_host is $node_avail (docker node update --availability active $node_host first)"
docker service inspect "$service" >/dev/null 2>&1 || die "no service $service (is the stack '$STACK' deployed?)"

# ---------------------------------------------------------------- the label
holders=()
while read -r id host val; do
  [[ "$val" == true ]] && holders+=("$id:$host")
done < <(docker node ls -q | xargs docker node inspect --format "{{.ID}} {{.Description.Hostname}} {{index .Spec.Labels \"$label\"}}")
if [[ ${#holders[@]} -eq 1 && "${holders[0]%%:*}" == "$node_id" ]]; then
  log "$member is already placed on $node_host (label $label=true): nothing to move; checking it"
else
  for h in "${holders[@]}"; do
    log "removing label $label from ${h#*:}"
    docker node update --label-rm "$label" "${h%%:*}" >/dev/null
  done
  log "adding label $label=true to $node_host"
  docker node update --label-add "$label=true" "$node_id" >/dev/null
  log "rescheduling $service on $node_host (on a node that never ran it, the member starts on an empty volume)"
  docker service update --force --detach "$service" >/dev/null
fi

# ---------------------------------------------------------------- checks run inside a member's container
# (in_member and pg_whole: scripts/lib/members.sh)
redis_whole() {
  local out
  out=$(in_member redis-0,redis-1,redis-2,sentinel '
    m=$(redis-cli --askpass --no-auth-warning -h sentinel -p 26379 sentinel get-master-addr-by-name mymaster </run/secrets/redis_sentinel_password | head -1)
    me=$(getent ahostsv4 '"$member"' | awk "NR==1{print \$1}")
    info=$(redis-cli --user sentinel --askpass --no-auth-warning -h "$m" info replication </run/secrets/redis_sentinel_password | tr -d "\r")
    n=$(echo "$info" | sed -n "s/^connected_slaves://p")
    online=$(echo "$info" | grep -c "state=online" || true)
    if [ -n "$me" ] && { [ "$m" = "$me" ] || echo "$info" | grep -q "ip=$me,.*state=online"; }; then in=yes; else in=no; fi
    echo "master=$m connected=$n online=$online member_in=$in"') ||
    { echo "no redis/sentinel container reachable"; return; }
  [[ "$out" == *" connected=2 online=2 "*"member_in=yes" ]] && echo "" || echo "$out"
}

# ---------------------------------------------------------------- wait
start=$SECONDS said=-100 why=""
while :; do
  task=$(docker service ps "$service" --filter desired-state=running --format '{{.Node}} {{.CurrentState}}' 2>/dev/null | head -1)
  reps=$(docker service ls --filter "name=$service" --format '{{.Name}} {{.Replicas}}' | awk -v s="$service" '$1==s{print $2}')
  if [[ "$reps" != 1/1 || "$task" != "$node_host Running"* ]]; then
    why="task: ${task:-none} (replicas ${reps:-?}, healthy on $node_host wanted)"
  else
    case "$member" in
      pg-*) why=$(pg_whole "$member") ;;
      redis-*) why=$(redis_whole) ;;
      *) why="" ;;
    esac
  fi
  if [[ -z "$why" ]]; then
    log "$member runs healthy on $node_host$([[ $member == pg-* || $member == redis-* ]] && echo ", its cluster is whole") after $((SECONDS - start)) s"
    exit 0
  fi
  (( SECONDS - start < MOVE_TIMEOUT )) || die "$member not back within ${MOVE_TIMEOUT}s: $why (docker service ps --no-trunc $service; docker service logs $service)"
  if (( SECONDS - said >= 10 )); then said=$SECONDS; log "waiting ($((SECONDS - start)) s): $why"; fi
  sleep 3
done
