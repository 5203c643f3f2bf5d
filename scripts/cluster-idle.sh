#!/usr/bin/env bash
# The test cluster's idle cost: CPU (% of one core) and memory of each Docker-in-Docker node over SECONDS (60),
# read from the node containers' cgroups (cgroup v1 cpuacct/memory; every task of a node runs inside its cgroup).
# Run it with the stack deployed on the cluster and no load: npm run cluster:idle [-- SECONDS]
set -euo pipefail
secs=${1:-60}
nodes=${CLUSTER_NODES:-forum-node-1 forum-node-2 forum-node-3}
declare -A id u0
for n in $nodes; do
  id[$n]=$(docker inspect -f '{{.Id}}' "$n")
  u0[$n]=$(cat "/sys/fs/cgroup/cpuacct/docker/${id[$n]}/cpuacct.usage")
done
t0=$(date +%s%N)
sleep "$secs"
t1=$(date +%s%N)
total=0
for n in $nodes; do
  u1=$(cat "/sys/fs/cgroup/cpuacct/docker/${id[$n]}/cpuacct.usage")
  mem=$(cat "/sys/fs/cgroup/memory/docker/${id[$n]}/memory.usage_in_bytes" 2>/dev/null || echo 0)
  pct=$(awk -v a="${u0[$n]}" -v b="$u1" -v d=$((t1 - t0)) 'BEGIN{printf "%.1f", 100 * (b - a) / d}')
  total=$(awk -v t="$total" -v p="$pct" 'BEGIN{print t + p}')
  printf '%s: %s %% of a core, %d MiB\n' "$n" "$pct" $((mem / 1048576))
done
printf 'cluster idle over %s s: %s %% of a core (3 nodes); load average %s\n' "$secs" "$total" "$(cut -d' ' -f1-3 /proc/loadavg)"
