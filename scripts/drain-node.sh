#!/usr/bin/env bash
# Drains a Swarm node for planned work: bash scripts/drain-node.sh <node> (npm run node:drain -- <node>).
# --help for details. Uses only the docker CLI.
set -Eeuo pipefail

STACK=${STACK:-forum}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-300}

usage() {
  cat <<EOF
Usage: bash scripts/drain-node.sh <node>
       npm run node:drain -- <node>

Takes the Swarm node <node> out of service for planned work, without a database failover:
  1. when the PostgreSQL primary runs on <node>, hands it over to a standby on another node first
     (scripts/pg-switchover.sh --away-from <node>: no failure detection, no election; writes wait a few seconds);
  2. when the Redis master runs on <node>, has Sentinel hand it to a replica on another node (SENTINEL FAILOVER);
  3. with DRAIN_SURGE=1 only: pauses <node>, and gives each stateless service with tasks there as many extra tasks
     elsewhere (DRAIN_SURGE_TIMEOUT, default 180 s, to start), taken back once the drain began;
  4. docker node update --availability drain <node>: Swarm stops every task there and starts the stateless ones
     elsewhere. The node's pg-N and redis-N are bound to its volume and stay down until it is active again: the
     cluster runs on the other members meanwhile;
  5. waits (DRAIN_TIMEOUT, default 300 s) until the node runs no task of the stack.
When the work is done: docker node update --availability active <node>. Its members then rejoin on their own.

Environment: STACK (default forum), DRAIN_TIMEOUT, REDIS_HANDOVER_TIMEOUT (60 s), DRAIN_SURGE (0),
DRAIN_SURGE_TIMEOUT, DOCKER_HOST (a manager), NODE_DOCKER_HOST and CLUSTER=1 as for scripts/pg-switchover.sh.
Exit status: 0 when the node is drained; 1 on bad input, when the switchover fails (the node is then NOT drained)
or when the deadline passes.
EOF
}

log() { printf '%s [drain-node] %s\n' "$(date -u +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ "${1:-}" == --help || "${1:-}" == -h ]] && { usage; exit 0; }
(( $# == 1 )) || { usage >&2; die "expected 1 argument: <node> (got $#)"; }
node=$1

source "$(dirname "${BASH_SOURCE[0]}")/lib/members.sh"
members_cluster_env
members_require_manager
host=$(docker node inspect --format '{{.Description.Hostname}}' "$node" 2>/dev/null) || die "no swarm node '$node' (docker node ls lists the nodes)"

# redis_role <member>: the first line of ROLE on the member (master, slave), the second for a replica: its master
redis_role() {
  in_task "$1" 10 'redis-cli --askpass --no-auth-warning role </run/secrets/redis_password | head -4 | tr "\n" " "' 2>/dev/null
}
# redis_master_on <host>: the Redis member running on <host> when it is the master, else nothing
redis_master_on() {
  local m
  for m in redis-0 redis-1 redis-2; do
    [[ $(member_node "$m") == "$1" ]] || continue
    [[ $(redis_role "$m") == master* ]] && echo "$m"
  done
  return 0
}
# A Redis master on the node hands over before the drain, through Sentinel's own failover (SENTINEL FAILOVER: no
# failure detection, no vote). Drained as it is, it would stop first and Sentinel would elect only after
# down-after-milliseconds (2.5 s) plus a vote, all under the drain's load. Trade-off: SENTINEL FAILOVER does not pause
# the old master's clients, so a write acknowledged by it in the instant between the promotion and its demotion can
# be lost, the same window as any Sentinel failover; a drain's failover has the same one and a longer outage.
# A failed handover only warns: the drain's own failover still follows.
redis_handover_away() {
  local host=$1 m role t=$SECONDS
  m=$(redis_master_on "$host")
  [[ -n $m ]] || { log "the Redis master does not run on $host: nothing to hand over"; return 0; }
  log "the Redis master $m runs on $host: SENTINEL FAILOVER"
  if ! in_member sentinel 'redis-cli -p 26379 --askpass --no-auth-warning sentinel failover mymaster </run/secrets/redis_sentinel_password' >/dev/null; then
    log "WARNING: no sentinel accepted SENTINEL FAILOVER: $m stays master until the drain stops it"
    return 0
  fi
  while ((SECONDS - t < ${REDIS_HANDOVER_TIMEOUT:-60})); do
    role=$(redis_role "$m")
    if [[ $role == slave*connected* ]]; then
      log "$m is a replica again, streaming from ${role#slave } ($((SECONDS - t)) s)"
      return 0
    fi
    sleep 1
  done
  log "WARNING: $m is not a connected replica after ${REDIS_HANDOVER_TIMEOUT:-60} s (ROLE: ${role:-no answer}); draining anyway"
}

# Surge: a drain stops the node's tasks first and Swarm starts their replacements only then; under load an api task
# takes up to a minute to start, and a node that held 2 of the 3 api tasks left one to serve everything (requests
# queued into timeouts). So each stateless service with tasks on the node (replicated, 2+ replicas, no placement
# constraint, no per-node maximum, no mounts: what may run anywhere and twice) first gets as many extra tasks
# elsewhere (the node is paused meanwhile: nothing new lands on it), and the drain starts once they run (a task with
# a healthcheck is Running only when healthy). The extra replicas are taken back right after the drain began: Swarm
# then drops the not-yet-running replacements first. Trade-off: the other nodes carry the surge's tasks for a while;
# a service the autoscaler scales meanwhile keeps its change (the surge is subtracted, not the old count restored).
# Opt-in (DRAIN_SURGE=1): in the drills measured so far (BENCHMARKS.md, twenty-ninth session) drains with it failed
# no fewer requests than without it, and the scale-down right after the drain is more churn on a loaded cluster.
declare -A surged=()
surge_restore() {
  local svc now to
  for svc in "${!surged[@]}"; do
    now=$(docker service inspect --format '{{.Spec.Mode.Replicated.Replicas}}' "$svc" 2>/dev/null) || continue
    to=$((now > ${surged[$svc]} ? now - ${surged[$svc]} : now))
    if docker service update --detach --replicas "$to" "$svc" >/dev/null 2>&1; then
      log "$svc back to $to replicas"
    else
      log "WARNING: could not scale $svc back down by ${surged[$svc]} (docker service update --replicas $to $svc)"
    fi
    unset "surged[$svc]"
  done
}
surge_away() {
  local node=$1 host=$2 svc k spec n c m v others deadline=$((SECONDS + ${DRAIN_SURGE_TIMEOUT:-180})) waiting
  declare -A want=()
  while read -r k svc; do
    spec=$(docker service inspect --format '{{if .Spec.Mode.Replicated}}{{.Spec.Mode.Replicated.Replicas}}{{else}}0{{end}} {{with .Spec.TaskTemplate.Placement}}{{len .Constraints}} {{.MaxReplicas}}{{else}}0 0{{end}} {{len .Spec.TaskTemplate.ContainerSpec.Mounts}}' "$svc" 2>/dev/null) || continue
    read -r n c m v <<<"$spec"
    ((n >= 2 && c == 0 && m == 0 && v == 0)) || continue
    surged[$svc]=$k want[$svc]=$n
    docker service update --detach --replicas $((n + k)) "$svc" >/dev/null || { unset "surged[$svc]"; continue; }
    log "$svc: $k of its $n task(s) run on $host; scaled to $((n + k)) so that $n run elsewhere before the drain"
  done < <(docker node ps "$node" --filter desired-state=running --format '{{.Name}}' 2>/dev/null |
    sed -n "s/^\(${STACK}_[^.]*\)\..*/\1/p" | sort | uniq -c)
  ((${#want[@]})) || return 0
  while :; do
    waiting=""
    for svc in "${!want[@]}"; do
      others=$(docker service ps "$svc" --filter desired-state=running --format '{{.Node}} {{.CurrentState}}' 2>/dev/null |
        awk -v h="$host" '$1 != h && $2 == "Running"' | wc -l)
      ((others >= ${want[$svc]})) || waiting+=" $svc ($others/${want[$svc]})"
    done
    [[ -z $waiting ]] && { log "the surge runs elsewhere"; return 0; }
    ((SECONDS < deadline)) || { log "WARNING: after ${DRAIN_SURGE_TIMEOUT:-180} s not yet running elsewhere:$waiting; draining anyway"; return 0; }
    sleep 2
  done
}

t0=$SECONDS
trap surge_restore EXIT
bash "$(dirname "${BASH_SOURCE[0]}")/pg-switchover.sh" --away-from "$host" ||
  die "the PostgreSQL switchover away from $host failed: $host is NOT drained (fix the cause, or drain it with docker node update --availability drain $host and let repmgrd fail over)"
redis_handover_away "$host"
if [[ ${DRAIN_SURGE:-0} == 1 ]]; then
  docker node update --availability pause "$node" >/dev/null
  surge_away "$node" "$host"
fi
docker node update --availability drain "$node" >/dev/null
surge_restore
log "$host set to drain; waiting for its tasks of $STACK to stop"
while :; do
  left=$(docker node ps "$node" --filter desired-state=running --format '{{.Name}}' 2>/dev/null | grep -c "^${STACK}_" || true)
  running=$(docker node ps "$node" --format '{{.Name}} {{.CurrentState}}' 2>/dev/null | grep "^${STACK}_" | grep -c " Running" || true)
  if (( left == 0 && running == 0 )); then
    log "$host runs no task of $STACK ($((SECONDS - t0)) s in all); docker node update --availability active $host when done"
    exit 0
  fi
  (( SECONDS - t0 < DRAIN_TIMEOUT )) || die "$host still runs $running task(s) of $STACK after ${DRAIN_TIMEOUT}s (docker node ps $host)"
  sleep 2
done
