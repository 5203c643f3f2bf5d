#!/usr/bin/env bash
# npm run cluster:down: removes the test cluster of `npm run cluster:up`: the node containers (and with them every
# task and volume inside), their engine data and socket directories, the bridge network, the registry process and
# its storage, .cluster/env. Idempotent.
#
# Kept on purpose: the node image forum/cluster-node (a rebuild costs a minute; `docker rmi forum/cluster-node`),
# Debian's docker-registry package, and the "172.30.0.1:5000" entry in /etc/docker/daemon.json's
# insecure-registries: it names an address of our own bridge, so it is harmless while the cluster is down, and
# removing it would mean reloading the shared host engine once more for nothing.
set -Eeuo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
t0=$SECONDS
log() { printf '[cluster-down %3ds] %s\n' "$((SECONDS - t0))" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
trap 'rc=$?; log "FAILED at line $LINENO (exit $rc): $BASH_COMMAND"; exit $rc' ERR

NET=forum-cluster
NODES=(forum-node-1 forum-node-2 forum-node-3)
STATE=/var/lib/forum-cluster SOCKS=/run/forum-cluster
REG_PID=$SOCKS/registry.pid

((EUID == 0)) || die "run as root"
unset DOCKER_HOST

# the nodes: removing a node kills its PID namespace, so every task inside ends with it
for n in "${NODES[@]}"; do
  if docker inspect "$n" >/dev/null 2>&1; then
    log "$n: removing the container"
    docker rm -f "$n" >/dev/null
  else
    log "$n: no container"
  fi
done
# anything else on the network (e.g. a test client a run left behind) would keep it from being removed
if docker network inspect "$NET" >/dev/null 2>&1; then
  for c in $(docker network inspect -f '{{range $id, $e := .Containers}}{{$e.Name}} {{end}}' "$NET"); do
    log "disconnecting $c from $NET"
    docker network disconnect -f "$NET" "$c" >/dev/null 2>&1 || true
  done
  log "removing network $NET"
  docker network rm "$NET" >/dev/null
else
  log "network $NET: absent"
fi

# the registry: only the process this cluster started (its pid file and command line must agree)
pid=$(cat "$REG_PID" 2>/dev/null || true)
if [[ -n $pid ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q '^docker-registry serve '; then
  log "stopping the registry (pid $pid)"
  kill "$pid"
  end=$((SECONDS + 15))
  while kill -0 "$pid" 2>/dev/null; do
    ((SECONDS < end)) || { log "registry pid $pid ignores SIGTERM: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; break; }
    sleep 0.2
  done
else
  log "registry: not running"
fi

for d in "$STATE" "$SOCKS"; do
  if [[ -e $d ]]; then log "removing $d"; rm -rf --one-file-system "$d"; fi
done
rm -f .cluster/env
log "done"
