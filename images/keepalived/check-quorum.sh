#!/bin/bash
# keepalived track script: exit 0 while this node reaches a majority of the edge group, itself counted.
#   check-quorum.sh PORT PEER...   (the other nodes' addresses; PORT open on every node, Swarm's 7946 by default)
# A node cut off from its peers must not hold the VIP: the clients it still reaches (the LAN's gateway is rarely
# partitioned with the peers) would land on the minority side, where no write can succeed. Trade-off: two of three
# nodes lost at once also drops the VIP on the third, though its edge may still answer reads.
# Each peer gets a forked subshell that connects with bash's /dev/tcp; a peer whose connect has not finished within
# 1 s counts as unreachable (a cut-off peer drops the SYN). Forks, no exec (no `timeout`, no second bash): keepalived
# runs this every second on every node.
port=$1
shift
n=$# reach=0 pids=()
# a child still connecting (a zombie not yet reaped by bash has finished)
running() { local st; { read -r _ _ st _ <"/proc/$1/stat"; } 2>/dev/null && [[ $st != Z ]]; }
for p in "$@"; do
  (exec 3<>"/dev/tcp/$p/$port") 2>/dev/null &
  pids+=($!)
done
# wait up to 1 s, in 0.1 s steps (a builtin `read -t` on a pipe nobody writes to, not a `sleep` process), and stop
# as soon as a majority answered: a silent peer (a dead node, the normal case after a node loss) then costs nothing,
# where waiting out its 1 s made each run outlast keepalived's 1 s interval on a loaded host
exec {tick}<> <(:)
declare -A judged=()
drop_rest() {
  local pid
  for pid in "${pids[@]}"; do
    [[ ${judged[$pid]:-} ]] || { disown "$pid" 2>/dev/null; kill -9 "$pid" 2>/dev/null; }
  done
}
for ((i = 0; ; i++)); do
  alive=0
  for pid in "${pids[@]}"; do
    [[ ${judged[$pid]:-} ]] && continue
    if running "$pid"; then
      alive=1
      continue
    fi
    judged[$pid]=1
    wait "$pid" && reach=$((reach + 1))
  done
  if ((2 * (reach + 1) > n + 1)); then
    drop_rest
    exit 0
  fi
  ((alive && i < 10)) || break
  read -r -t 0.1 -u "$tick" _
done
drop_rest
exit 1
