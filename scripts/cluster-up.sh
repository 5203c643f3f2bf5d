#!/usr/bin/env bash
# npm run cluster:up: a 3-node Swarm on this machine for the multi-node tests (docs/CLUSTER.md). Idempotent: with
# everything up it only verifies and prints; a stopped node is started again and rejoins; a missing piece is made.
#
#   - node image forum/cluster-node (images/cluster-node: Debian's docker.io in Docker), built once per content hash
#   - bridge network forum-cluster 172.30.0.0/24; nodes forum-node-1..3 at .11-.13, all three swarm managers
#   - each node's /var/lib/docker on /var/lib/forum-cluster/<node> (outside the repo: a build context that saw it
#     would fail) and its API as a unix socket on the host, /run/forum-cluster/<node>/docker.sock (no TCP API)
#   - Debian's docker-registry on the host at the bridge's gateway 172.30.0.1:5000: the same image name works for
#     the host's push and the nodes' pull. Plain HTTP, so it is in every engine's insecure registries (the host's
#     /etc/docker/daemon.json is merged and dockerd reloaded with SIGHUP: the host's own swarm keeps running)
#   - writes .cluster/env, which `CLUSTER=1 npm run deploy` reads
#
# Environment: BASE_IMAGE (debian:trixie-slim), CLUSTER_TIMEOUT (seconds per wait, 90).
set -Eeuo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
t0=$SECONDS
log() { printf '[cluster-up %3ds] %s\n' "$((SECONDS - t0))" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
trap 'rc=$?; log "FAILED at line $LINENO (exit $rc): $BASH_COMMAND"; exit $rc' ERR

BASE_IMAGE=${BASE_IMAGE:-debian:trixie-slim}
TIMEOUT=${CLUSTER_TIMEOUT:-90}
NET=forum-cluster SUBNET=172.30.0.0/24 GATEWAY=172.30.0.1
NODES=(forum-node-1 forum-node-2 forum-node-3)
IPS=(172.30.0.11 172.30.0.12 172.30.0.13)
REGISTRY=$GATEWAY:5000
EDGE_VIP=172.30.0.100
NODE_IMAGE=forum/cluster-node
STATE=/var/lib/forum-cluster          # node engines' data, registry storage
SOCKS=/run/forum-cluster              # node API sockets, registry pid file
REG_DIR=$STATE/registry REG_CONF=$STATE/registry.yml REG_PID=$SOCKS/registry.pid REG_LOG=$STATE/registry.log

# wait_until SECONDS WHAT CMD...: polls CMD every 0.5 s until it succeeds, or fails naming WHAT
wait_until() {
  local limit=$1 what=$2; shift 2
  local end=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < end)) || die "timed out after ${limit}s waiting for $what"
    sleep 0.5
  done
}
sock() { printf 'unix://%s/%s/docker.sock' "$SOCKS" "$1"; }
ndocker() { local n=$1; shift; DOCKER_HOST=$(sock "$n") docker "$@"; }
swarm_state() { ndocker "$1" info --format '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}' 2>/dev/null || echo "down false"; }

((EUID == 0)) || die "run as root (it installs a package, edits /etc/docker/daemon.json, runs the registry)"
unset DOCKER_HOST   # every host-side command below talks to this machine's engine
docker info >/dev/null 2>&1 || die "this machine's Docker engine does not answer 'docker info'"
mkdir -p "$STATE" "$SOCKS"

# 1. the registry (Debian's docker-registry), bound to the bridge's gateway only: it has no authentication, so it
#    is not offered on the machine's other interfaces. The gateway address exists once the network does.
net_subnet=$(docker network inspect -f '{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}' "$NET" 2>/dev/null || true)
if [[ -z $net_subnet ]]; then
  log "creating network $NET ($SUBNET, gateway $GATEWAY)"
  docker network create --driver bridge --subnet "$SUBNET" --gateway "$GATEWAY" "$NET" >/dev/null
elif [[ $net_subnet != "$SUBNET $GATEWAY" ]]; then
  die "network $NET exists with subnet/gateway '$net_subnet', not '$SUBNET $GATEWAY': npm run cluster:down first"
else
  log "network $NET: ok ($SUBNET)"
fi

if ! command -v docker-registry >/dev/null; then
  log "installing Debian's docker-registry (its postinst must not start the service: policy-rc.d)"
  own_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod 0755 /usr/sbin/policy-rc.d; own_policy=1
  fi
  rc=0
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends docker-registry \
    >"$STATE/apt.log" 2>&1 \
    || { apt-get -o DPkg::Lock::Timeout=300 update >>"$STATE/apt.log" 2>&1 \
         && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends \
              docker-registry >>"$STATE/apt.log" 2>&1; } || rc=$?
  ((own_policy == 0)) || rm -f /usr/sbin/policy-rc.d
  ((rc == 0)) || { tail -20 "$STATE/apt.log" >&2; die "apt-get install docker-registry failed (log: $STATE/apt.log)"; }
fi
registry_ok() { curl -fs --max-time 2 --noproxy '*' -o /dev/null "http://$REGISTRY/v2/"; }
registry_pid() {
  local pid; pid=$(cat "$REG_PID" 2>/dev/null) || return 1
  [[ -n $pid ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "docker-registry serve $REG_CONF" && echo "$pid"
}
mkdir -p "$REG_DIR"
cat >"$REG_CONF.new" <<YAML
# written by scripts/cluster-up.sh
version: 0.1
log: {level: warn, formatter: text}
storage:
  filesystem: {rootdirectory: $REG_DIR}
  delete: {enabled: true}
http:
  addr: $REGISTRY
YAML
if ! cmp -s "$REG_CONF.new" "$REG_CONF"; then
  mv "$REG_CONF.new" "$REG_CONF"
  if pid=$(registry_pid); then log "registry config changed: restarting it"; kill "$pid"; wait_until 15 "registry pid $pid to exit" bash -c "! kill -0 $pid"; fi
else
  rm -f "$REG_CONF.new"
fi
if registry_pid >/dev/null && registry_ok; then
  log "registry $REGISTRY: ok (pid $(registry_pid))"
else
  if pid=$(registry_pid); then log "registry pid $pid does not answer: restarting it"; kill "$pid" || true; fi
  registry_ok && die "something else answers on $REGISTRY (not the registry of $REG_PID)"
  log "starting the registry on $REGISTRY (storage $REG_DIR, log $REG_LOG)"
  setsid nohup docker-registry serve "$REG_CONF" >>"$REG_LOG" 2>&1 </dev/null &
  echo $! >"$REG_PID"
  wait_until "$TIMEOUT" "the registry on http://$REGISTRY/v2/" registry_ok
  log "registry $REGISTRY: started (pid $(cat "$REG_PID"))"
fi

# 2. this machine's engine pushes to the registry over plain HTTP: insecure-registries is one of the options dockerd
#    reloads on SIGHUP, so the host's swarm and stack keep running
host_insecure() { docker info --format '{{range .RegistryConfig.IndexConfigs}}{{.Name}}={{.Secure}} {{end}}' | grep -qw "$REGISTRY=false"; }
if host_insecure; then
  log "host engine: $REGISTRY is an insecure registry: ok"
else
  log "host engine: adding $REGISTRY to insecure-registries in /etc/docker/daemon.json, reloading dockerd (SIGHUP)"
  mkdir -p /etc/docker
  node -e '
    const fs = require("fs"); const [file, reg] = process.argv.slice(1);
    let conf = {};
    if (fs.existsSync(file) && fs.readFileSync(file, "utf8").trim()) conf = JSON.parse(fs.readFileSync(file, "utf8"));
    const list = conf["insecure-registries"] || [];
    if (!list.includes(reg)) list.push(reg);
    conf["insecure-registries"] = list;
    fs.writeFileSync(file + ".tmp", JSON.stringify(conf, null, 2) + "\n"); fs.renameSync(file + ".tmp", file);
  ' /etc/docker/daemon.json "$REGISTRY" || die "could not merge /etc/docker/daemon.json (is it valid JSON?)"
  dpid=$(cat /var/run/docker.pid 2>/dev/null || true)
  [[ -n $dpid && $(cat "/proc/$dpid/comm" 2>/dev/null) == dockerd ]] || die "no dockerd pid in /var/run/docker.pid to reload"
  kill -HUP "$dpid"
  wait_until 20 "dockerd to list $REGISTRY under Insecure Registries (see its log: a bad daemon.json is refused)" host_insecure
  log "host engine: reloaded, $REGISTRY is an insecure registry"
fi

# 3. the node image, rebuilt only when its build context changed
ctx=images/cluster-node
hash=$( { echo "$BASE_IMAGE"; find "$ctx" -type f | sort | xargs sha256sum; } | sha256sum | cut -c1-12)
have=$(docker image inspect -f '{{index .Config.Labels "forum.cluster-node.hash"}}' "$NODE_IMAGE" 2>/dev/null || true)
if [[ $have == "$hash" ]]; then
  log "node image $NODE_IMAGE: ok ($hash)"
else
  docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 || die "base image $BASE_IMAGE is not on this machine (scripts/lib/base-image.sh imports it)"
  log "building $NODE_IMAGE from $BASE_IMAGE ($ctx, log $STATE/build.log)"
  DOCKER_BUILDKIT=0 docker build --build-arg "BASE_IMAGE=$BASE_IMAGE" --label "forum.cluster-node.hash=$hash" -t "$NODE_IMAGE:latest" "$ctx" \
    >"$STATE/build.log" 2>&1 || { tail -20 "$STATE/build.log" >&2; die "docker build of $NODE_IMAGE failed"; }
fi

# 4. the node containers (container name = hostname). restart unless-stopped: they come back with the host's engine,
#    but a node a drill stopped stays down.
for i in "${!NODES[@]}"; do
  n=${NODES[i]} ip=${IPS[i]}
  state=$(docker container inspect -f '{{.State.Status}}' "$n" 2>/dev/null) || state=missing
  case $state in
    running) log "$n: running" ;;
    missing)
      log "$n: creating ($ip)"
      mkdir -p "$STATE/$n" "$SOCKS/$n"
      docker run -d --name "$n" --hostname "$n" --network "$NET" --ip "$ip" --restart unless-stopped \
        --cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
        --security-opt systempaths=unconfined -v /sys/fs/cgroup:/sys/fs/cgroup:rw -v "$STATE/$n:/var/lib/docker" \
        -v "$SOCKS/$n:/run/forum-cluster-sock" -e CLUSTER_SOCKET_DIR=/run/forum-cluster-sock -e "CLUSTER_REGISTRY=$REGISTRY" \
        --label forum.cluster=1 --log-opt max-size=10m --log-opt max-file=2 "$NODE_IMAGE:latest" >/dev/null ;;
    paused) log "$n: paused: unpausing"; docker unpause "$n" >/dev/null ;;
    *) log "$n: $state: starting"; mkdir -p "$SOCKS/$n"; docker start "$n" >/dev/null ;;
  esac
  img=$(docker inspect -f '{{.Image}}' "$n") cur=$(docker image inspect -f '{{.Id}}' "$NODE_IMAGE:latest")
  [[ $img == "$cur" ]] || log "NOTE: $n runs an older $NODE_IMAGE; npm run cluster:down && npm run cluster:up to use the new one"
done
for n in "${NODES[@]}"; do
  wait_until "$TIMEOUT" "$n's engine on $(sock "$n") (docker logs $n)" ndocker "$n" version
done
log "node engines answer: $(ndocker "${NODES[0]}" version --format '{{.Server.Version}}')"

# 5. the swarm: init on node 1 only when no node belongs to one; a node outside joins as a manager through any
#    manager that answers (node 1 may be the one that is down)
declare -A st=()
for n in "${NODES[@]}"; do st[$n]=$(swarm_state "$n"); done
for n in "${NODES[@]}"; do   # a restarted manager needs a moment to rejoin the raft
  if [[ ${st[$n]} == "pending false" || ${st[$n]} == "active false" ]]; then
    wait_until "$TIMEOUT" "$n to rejoin the swarm as a manager" bash -c "[[ \$(DOCKER_HOST=$(sock "$n") docker info --format '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}') == 'active true' ]]"
    st[$n]=$(swarm_state "$n")
  fi
done
anchor=
for n in "${NODES[@]}"; do [[ ${st[$n]} == "active true" ]] && { anchor=$n; break; }; done
if [[ -z $anchor ]]; then
  for n in "${NODES[@]}"; do [[ ${st[$n]} == inactive* ]] || die "$n is in swarm state '${st[$n]}' but no node is a working manager: npm run cluster:down && npm run cluster:up"; done
  anchor=${NODES[0]}
  log "swarm init on $anchor (advertise ${IPS[0]})"
  ndocker "$anchor" swarm init --advertise-addr "${IPS[0]}" --listen-addr "${IPS[0]}:2377" >/dev/null
  st[$anchor]="active true"
fi
anchor_ip=${IPS[0]}
for i in "${!NODES[@]}"; do [[ ${NODES[i]} == "$anchor" ]] && anchor_ip=${IPS[i]}; done
token=$(ndocker "$anchor" swarm join-token -q manager)
for i in "${!NODES[@]}"; do
  n=${NODES[i]}
  [[ ${st[$n]} == inactive* ]] || continue
  log "$n: joining as a manager through $anchor ($anchor_ip:2377)"
  ndocker "$n" swarm join --token "$token" --advertise-addr "${IPS[i]}" --listen-addr "${IPS[i]}:2377" "$anchor_ip:2377" >/dev/null
done

# a node whose engine data was wiped joined as a new node: its old entry (same hostname, another ID) would count
# against the raft quorum as a dead manager
for n in "${NODES[@]}"; do
  id=$(ndocker "$n" info --format '{{.Swarm.NodeID}}')
  for old in $(ndocker "$anchor" node ls --format '{{.ID}} {{.Hostname}}' | awk -v h="$n" -v id="$id" '$2==h && $1!=id {print $1}'); do
    log "$n: removing its stale swarm entry $old"
    ndocker "$anchor" node demote "$old" >/dev/null 2>&1 || true
    ndocker "$anchor" node rm --force "$old" >/dev/null
  done
done

# 6. verify: three Ready managers, one leader, the others reachable
managers_ok() {
  local out; out=$(ndocker "$anchor" node ls --format '{{.Hostname}} {{.Status}} {{.ManagerStatus}}') || return 1
  for n in "${NODES[@]}"; do grep -Eq "^$n Ready (Leader|Reachable)$" <<<"$out" || return 1; done
  [[ $(grep -c ' Leader$' <<<"$out") == 1 ]]
}
wait_until "$TIMEOUT" "3 Ready managers (DOCKER_HOST=$(sock "$anchor") docker node ls)" managers_ok
ndocker "$anchor" node ls --format '{{.Hostname}} {{.Status}} {{.Availability}} {{.ManagerStatus}}' | sed 's/^/[cluster-up]   /' >&2
for n in "${NODES[@]}"; do
  ndocker "$n" info --format '{{range .RegistryConfig.IndexConfigs}}{{.Name}}={{.Secure}} {{end}}' | grep -qw "$REGISTRY=false" \
    || die "$n's engine does not list $REGISTRY as an insecure registry"
done

# 7. what `CLUSTER=1 npm run deploy` reads
mkdir -p .cluster
cat >.cluster/env.tmp <<ENV
# Written by scripts/cluster-up.sh; read by \`CLUSTER=1 npm run deploy\` (scripts/deploy.sh sources it with set -a).
# Every node is a manager: if forum-node-1 is down, deploy through another node's socket, e.g.
#   DEPLOY_DOCKER_HOST=unix://$SOCKS/forum-node-2/docker.sock   (deploy.sh picks the first that answers)
export DEPLOY_DOCKER_HOST=$(sock "${NODES[0]}")
export REGISTRY=$REGISTRY
export EDGE_HOST=${IPS[0]}
export EDGE_VIP=$EDGE_VIP
export EDGE_VIP_CIDR=$EDGE_VIP/24
export KEEPALIVED_INTERFACE=eth0
export KEEPALIVED_PRIORITIES=${NODES[0]}=110,${NODES[1]}=105,${NODES[2]}=100
export KEEPALIVED_QUORUM_PEERS=$(IFS=,; echo "${IPS[*]}")
export CLUSTER_NODES="${NODES[*]}"
export CLUSTER_NODE_IPS="${IPS[*]}"
ENV
mv .cluster/env.tmp .cluster/env
log "ready: 3 managers, registry $REGISTRY, sockets $SOCKS/<node>/docker.sock; wrote .cluster/env"
log "  DOCKER_HOST=$(sock "${NODES[0]}") docker node ls"
