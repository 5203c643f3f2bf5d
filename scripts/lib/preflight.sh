#!/usr/bin/env bash
# Checks that make `npm run deploy` (and `npm test`) fail in seconds with a clear message instead of minutes later:
#   node     Node.js 20+ (the build and the scripts need it)
#   docker   root, or a user who may use the Docker socket (the deploy installs/starts the engine as root)
#   port     EDGE_HTTP_PORT (80) and EDGE_HTTPS_PORT (443) are free on this machine, or held by this stack's own nginx (a redeploy)
# Usage: preflight.sh [node|docker|port]... (default: all three). Env: STACK_NAME (forum), EDGE_HTTP_PORT (80), EDGE_HTTPS_PORT (443).
# The port is not checked when the stack goes to another swarm (DEPLOY_DOCKER_HOST): its edges are elsewhere.
set -euo pipefail
STACK=${STACK_NAME:-forum}
fail() { printf '[preflight] %s\n' "$*" >&2; exit 1; }

check_node() {
  command -v node >/dev/null 2>&1 || fail "Node.js 20+ required (none found). Debian 13: apt-get install nodejs npm. Debian 12 ships Node 18, which is too old: install Node 20 from NodeSource (https://github.com/nodesource/distributions) or use Debian 13. See README.md, Prerequisites."
  local v major
  v=$(node -p 'process.versions.node' 2>/dev/null || echo 0)
  major=${v%%.*}
  ((major >= 20)) || fail "Node.js 20+ required (found $v). Debian 13's nodejs is 20; Debian 12 ships 18: install Node 20 from NodeSource (https://github.com/nodesource/distributions) or use Debian 13. See README.md, Prerequisites."
  command -v npm >/dev/null 2>&1 || fail "npm not found (Node.js $v is there): apt-get install npm"
}

check_docker() {
  (($(id -u) == 0)) && return 0 # root may use the socket, and ensure-docker.sh installs/starts the engine
  local err
  if err=$(docker info --format '{{.ServerVersion}}' 2>&1 >/dev/null); then return 0; fi
  if [[ $err == *"permission denied"* ]]; then
    fail "no permission on the Docker socket (${DOCKER_HOST:-/var/run/docker.sock}) as user $(id -un): run as root, or add the user to the docker group (usermod -aG docker $(id -un), then log in again)."
  fi
  if ! command -v docker >/dev/null 2>&1; then
    fail "no Docker here, and installing Debian's docker.io needs root: run 'npm run deploy' as root (README.md, Prerequisites)."
  fi
  fail "not root, and the Docker engine does not answer as user $(id -un) (${err%%$'\n'*}): run as root, which starts the engine when it is not running."
}

check_port() { # port variable-name
  local PORT=$1 VAR=$2
  [[ -z ${DEPLOY_DOCKER_HOST:-} ]] || return 0
  command -v ss >/dev/null 2>&1 || return 0
  local listeners procs ours=0 other="" c
  listeners=$(ss -ltnpH "sport = :$PORT" 2>/dev/null || true)
  [[ -n $listeners ]] || return 0
  # Swarm publishes a host-mode port through docker-proxy: then the container that publishes it says whose it is.
  if docker info >/dev/null 2>&1; then
    while read -r cid svc ns; do
      [[ -n $cid ]] || continue
      if [[ $svc == "${STACK}_nginx" ]]; then ours=1; else other+="${other:+, }${svc:-container $cid}${ns:+ (stack $ns)}"; fi
    done < <(docker ps --filter "publish=$PORT" --format '{{.ID}} {{.Label "com.docker.swarm.service.name"}} {{.Label "com.docker.stack.namespace"}}' 2>/dev/null)
  fi
  ((ours)) && [[ -z $other ]] && return 0
  if [[ -n $other ]]; then
    fail "port $PORT ($VAR) is published by $other, not by stack '$STACK': remove that or deploy on another port, e.g. $VAR=8$PORT npm run deploy"
  fi
  procs=$(grep -o 'users:(.*)' <<<"$listeners" | grep -o '"[^"]*",pid=[0-9]*' | sort -u | sed 's/"//g; s/,pid=/ pid /' | paste -sd, - || true)
  fail "port $PORT ($VAR) is already taken on this machine${procs:+ by $procs}: stop it, or deploy on another port, e.g. $VAR=8$PORT npm run deploy"
}

checks=("$@")
((${#checks[@]})) || checks=(node docker port)
for c in "${checks[@]}"; do
  case $c in
    node) check_node ;;
    docker) check_docker ;;
    port) check_port "${EDGE_HTTP_PORT:-80}" EDGE_HTTP_PORT; check_port "${EDGE_HTTPS_PORT:-443}" EDGE_HTTPS_PORT ;;
    *) fail "unknown check '$c' (node, docker, port)" ;;
  esac
done
