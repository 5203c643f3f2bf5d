#!/bin/bash
# keepalived track script: exit 0 while this node reaches a majority of the edge group, itself counted.
#   check-quorum.sh PORT PEER...   (the other nodes' addresses; PORT open on every node, Swarm's 7946 by default)
# A node cut off from its peers must not hold the VIP: the clients it still reaches (the LAN's gateway is rarely
# partitioned with the peers) would land on the minority side, where no write can succeed. Trade-off: two of three
# nodes lost at once also drops the VIP on the third, though its edge may still answer reads.
port=$1; shift
n=$# reach=0 pids=()
for p in "$@"; do
  timeout 1 bash -c "exec 3<>/dev/tcp/$p/$port" 2>/dev/null &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid" && reach=$((reach + 1)); done
(( 2 * (reach + 1) > n + 1 ))
