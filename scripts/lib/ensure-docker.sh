#!/usr/bin/env bash
# Ensures a running Docker engine and a Swarm. Installs Debian's docker.io when running as root on Debian
# without an engine (no systemd here: dockerd is started in the background and polled until it answers).
set -euo pipefail

log() { printf '[ensure-docker] %s\n' "$*" >&2; }

wait_docker() {
  local deadline=$((SECONDS + ${1:-60}))
  until docker info >/dev/null 2>&1; do
    if ((SECONDS > deadline)); then log "dockerd did not answer; see /var/log/dockerd.log"; tail -20 /var/log/dockerd.log >&2 || true; return 1; fi
    sleep 0.5
  done
}

ensure_engine() {
  if docker info >/dev/null 2>&1; then return 0; fi
  if ! command -v dockerd >/dev/null 2>&1; then
    if [[ $(id -u) -ne 0 || ! -f /etc/debian_version ]]; then
      log "no Docker engine and cannot install one (need root on Debian). Install Docker and re-run."; return 1
    fi
    log "installing Debian's docker.io"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends docker.io iptables >/dev/null
  fi
  if ! pgrep -x dockerd >/dev/null 2>&1; then
    # --no-new-privileges: no process of any container gains privileges through setuid binaries or file
    # capabilities. Swarm services cannot ask for it one by one (the compose format has no field for it), so the
    # engine sets it for all; nothing in the stack escalates (snmpd and the entrypoints only drop privileges).
    log "starting dockerd --no-new-privileges in the background (log: /var/log/dockerd.log)"
    nohup dockerd --no-new-privileges >/var/log/dockerd.log 2>&1 &
  fi
  wait_docker 90
}

# The address other nodes reach this one at: SWARM_ADVERTISE_ADDR, else the source address of the default route
# (nodes can join later), else loopback (a machine without a route can only ever be a single-node swarm).
advertise_addr() {
  if [[ -n ${SWARM_ADVERTISE_ADDR:-} ]]; then echo "$SWARM_ADVERTISE_ADDR"; return; fi
  local a
  a=$(ip -4 route get 192.0.2.1 2>/dev/null | awk '{for (i = 1; i < NF; i++) if ($i == "src") {print $(i + 1); exit}}')
  echo "${a:-127.0.0.1}"
}

ensure_swarm() {
  local state addr
  state=$(docker info --format '{{.Swarm.LocalNodeState}}')
  if [[ $state != active ]]; then
    addr=$(advertise_addr)
    log "initialising a single-node swarm (advertise address $addr; other nodes join with 'docker swarm join-token manager')"
    docker swarm init --advertise-addr "$addr" >/dev/null
  fi
}

ensure_engine
# ENSURE_SWARM=0: only an engine (the deploy builds here and deploys to another swarm)
[[ ${ENSURE_SWARM:-1} == 0 ]] || ensure_swarm
