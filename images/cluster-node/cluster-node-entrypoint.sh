#!/bin/sh
# Starts the node's dockerd in the foreground.
#   CLUSTER_REGISTRY         the registry every node pulls from over plain HTTP (--insecure-registry)
#   CLUSTER_SOCKET_DIR       a host directory mounted here: a second API socket the host's CLI reaches (no TCP API)
#   CLUSTER_CGROUP_NESTED=1  put the node's containers in a cgroup below the node's own (cgroup v1 with the host's
#                            /sys/fs/cgroup mounted), so the node container's CPU/memory figures include them;
#                            without it they would sit in the host's /docker next to the host's own containers
set -eu
# --no-new-privileges for every container: Swarm services cannot set it one by one (scripts/lib/ensure-docker.sh)
args="-H unix:///var/run/docker.sock --no-new-privileges"
if [ -n "${CLUSTER_SOCKET_DIR:-}" ]; then
  mkdir -p "$CLUSTER_SOCKET_DIR"
  rm -f "$CLUSTER_SOCKET_DIR/docker.sock"
  args="$args -H unix://$CLUSTER_SOCKET_DIR/docker.sock"
fi
[ -z "${CLUSTER_REGISTRY:-}" ] || args="$args --insecure-registry=$CLUSTER_REGISTRY"
if [ "${CLUSTER_CGROUP_NESTED:-1}" = 1 ] && [ ! -f /sys/fs/cgroup/cgroup.controllers ]; then
  # cgroup v1, host cgroup namespace: /proc/self/cgroup names this container's own cgroup (/docker/<id>)
  own=$(awk -F: '$2 ~ /(^|,)cpuacct(,|$)/ {print $3; exit}' /proc/self/cgroup)
  case $own in /docker/*) args="$args --cgroup-parent=$own/nested" ;; esac
fi
rm -f /var/run/docker.pid
# shellcheck disable=SC2086 # word splitting of $args is intended
exec dockerd $args "$@"
