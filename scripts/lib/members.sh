# Helpers for the operator scripts that act on the stack's stateful members (scripts/move-member.sh,
# scripts/pg-switchover.sh, scripts/drain-node.sh). Sourced; expects STACK and a log/die pair from the caller.
# Only the docker CLI (Debian's 20.10 is enough), through DOCKER_HOST (a swarm manager).

# CLUSTER=1: the test cluster of npm run cluster:up (reads .cluster/env, like npm run deploy), through the first
# node whose engine answers
members_cluster_env() {
  [[ ${CLUSTER:-0} == 1 ]] || return 0
  local root sock n
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  [[ -f "$root/.cluster/env" ]] || die "CLUSTER=1 but no .cluster/env: run 'npm run cluster:up' first"
  set -a; . "$root/.cluster/env"; set +a
  local node_socket_template='unix:///run/forum-cluster/{node}/docker.sock' # quoted: a `}` inside ${x:-...} would end it
  export NODE_DOCKER_HOST=${NODE_DOCKER_HOST:-$node_socket_template}
  for n in ${CLUSTER_NODES:-}; do
    sock=unix:///run/forum-cluster/$n/docker.sock
    if DOCKER_HOST=$sock timeout 5 docker node ls >/dev/null 2>&1; then export DOCKER_HOST=$sock; break; fi
  done
}

members_require_manager() {
  docker info --format '{{.Swarm.ControlAvailable}}' 2>/dev/null | grep -qx true ||
    die "the Docker endpoint (${DOCKER_HOST:-local}) is not a swarm manager"
}

# docker exec reaches only the containers of the endpoint's own node: with NODE_DOCKER_HOST (a template such as
# ssh://root@{node}, as scripts/deploy.sh takes it) the container is looked up on the engine of the node running it.
# member_node <member>: the node running the member's task ("" when none runs)
member_node() {
  docker service ps --filter desired-state=running --format '{{.Node}} {{.CurrentState}}' "${STACK}_$1" 2>/dev/null |
    awk '$2 == "Running" {print $1; exit}'
}
# member_container <member>: prints "<engine endpoint>|<container id>" of the member's running container (the
# endpoint is empty for the local engine: a "|" rather than a space, which `read` would strip)
member_container() {
  local node ep c
  ep=${DOCKER_HOST:-}
  if [[ -n "${NODE_DOCKER_HOST:-}" ]]; then
    node=$(member_node "$1")
    [[ -n "$node" ]] || return 1
    ep=${NODE_DOCKER_HOST//\{node\}/$node}
  fi
  c=$(docker_at "$ep" docker ps -q --filter "name=${STACK}_$1." --filter status=running 2>/dev/null | head -1)
  [[ -n "$c" ]] || return 1
  printf '%s|%s\n' "$ep" "$c"
}
# docker_at <endpoint> <command...>: runs the command with DOCKER_HOST=<endpoint>, or with the caller's DOCKER_HOST
# when the endpoint is empty (an empty DOCKER_HOST is not the same as an unset one for every docker CLI)
docker_at() {
  local ep=$1; shift
  if [[ -n $ep ]]; then DOCKER_HOST=$ep "$@"; else "$@"; fi
}
# in_task <member> <timeout s> <sh command>: runs the command in the member's running container (status of the
# command; 125 when no container of the member runs)
in_task() {
  local ep c
  IFS='|' read -r ep c < <(member_container "$1") || return 125
  [[ -n $c ]] || return 125
  docker_at "$ep" timeout "$2" docker exec "$c" sh -c "$3" </dev/null
}
# in_member <member,...> <sh command>: runs the command in the first of the members whose container answers
in_member() {
  local n
  for n in ${1//,/ }; do in_task "$n" 30 "$2" 2>/dev/null && return 0; done
  return 1
}

# pg_whole [member]: prints "" when the PostgreSQL cluster is whole (one primary streaming to 2 standbys, the member
# among them when given), else what is missing. fence.sh gives every member's role as seen over the network.
pg_whole() {
  local want=${1:-} out
  out=$(in_member pg-0,pg-1,pg-2 '
    roles=$(fence.sh); p=$(echo "$roles" | awk "\$2==\"primary\"{print \$1}")
    [ "$(echo "$p" | grep -c .)" = 1 ] || { echo "roles: $(echo $roles)"; exit 0; }
    s=$(psql "host=$p port=5432 user=repmgr dbname=repmgr connect_timeout=5" -XAtqc \
      "select string_agg(application_name, '"','"' order by application_name) from pg_stat_replication where state = '"'streaming'"'")
    echo "primary=$p streaming=$s"') || { echo "no pg member container reachable"; return; }
  case "$out" in
    primary=*" streaming="*,*) [[ -z "$want" || "$out" == *"$want"* ]] && echo "" || echo "$out ($want missing)" ;;
    *) echo "$out" ;;
  esac
}
