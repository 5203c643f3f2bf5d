#!/usr/bin/env bash
# sentinel-janitor.sh QUORUM DOWN_AFTER_MS FAILOVER_TIMEOUT_MS PARALLEL_SYNCS: started by entrypoint.sh next to
# redis-sentinel (healthcheck.sh fails while it is not running, so Swarm replaces the task). Re-points Sentinel at the
# live master when the monitored one is down with no failover, and resets it when it knows more sentinels than
# SENTINEL_EXPECTED (why and when: entrypoint.sh's header). No errexit: a failed lookup or redis-cli call is one
# skipped round, not the end of the loop.
set -uo pipefail
LOG_TAG=sentinel-janitor
source /usr/local/bin/redis-lib.sh
QUORUM=$1 DOWN_AFTER_MS=$2 FAILOVER_TIMEOUT_MS=$3 PARALLEL_SYNCS=$4
# the Redis password comes on file descriptor $5 (opened by entrypoint.sh), never through the environment
pwfd=$5
IFS= read -r -u "$pwfd" RCLI_PASSWORD || true
exec {pwfd}<&-
down_since="" prev_stale="" stale_rounds=0 last_addr="" changed_at=$SECONDS masterless_since=""
expected=${SENTINEL_EXPECTED:-3}
# monitor $1 (an IP) as the master, with the same settings as sentinel.conf
monitor() {
  rcli 127.0.0.1 26379 SENTINEL REMOVE "$MASTER_NAME" >/dev/null || true
  rcli 127.0.0.1 26379 SENTINEL MONITOR "$MASTER_NAME" "$1" 6379 "$QUORUM" >/dev/null || true
  # the password goes on stdin (after the --askpass line, a command line redis-cli parses itself), never on
  # a command line (ps shows those); inside redis-cli's double quotes, backslash and quote are escaped
  local qpw=${RCLI_PASSWORD//\\/\\\\}; qpw=${qpw//\"/\\\"}
  printf '%s\nSENTINEL SET %s auth-user sentinel auth-pass "%s"\n' "$RCLI_PASSWORD" "$MASTER_NAME" "$qpw" |
    timeout 2 redis-cli --askpass --no-auth-warning -h 127.0.0.1 -p 26379 >/dev/null 2>&1 || true
  rcli 127.0.0.1 26379 SENTINEL SET "$MASTER_NAME" down-after-milliseconds "$DOWN_AFTER_MS" \
    failover-timeout "$FAILOVER_TIMEOUT_MS" parallel-syncs "$PARALLEL_SYNCS" >/dev/null || true
}
# Sets BEST to the reachable replica holding the most data (ties: the first in REDIS_NODES) and REPLICAS to every
# reachable replica, and succeeds, when a majority of the redis nodes answer and not one of them is a master.
# Fails as soon as any node answers as master.
masterless() {
  local n info off best_off=-1 reachable=0 total
  IFS=, read -r -a _nodes <<<"$REDIS_NODES"
  total=${#_nodes[@]}
  BEST="" REPLICAS=""
  for n in "${_nodes[@]}"; do
    info=$(rcli "$n" 6379 info replication | tr -d '\r') || continue
    [[ -n "$info" ]] || continue
    grep -q '^role:master' <<<"$info" && return 1
    reachable=$((reachable + 1))
    REPLICAS+=" $n"
    off=$(sed -n 's/^slave_repl_offset://p' <<<"$info"); [[ $off =~ ^[0-9]+$ ]] || off=0
    if (( off > best_off )); then best_off=$off; BEST=$n; fi
  done
  (( reachable * 2 > total ))
}
# values_after KEY TEXT: VALUES = every line of TEXT (redis-cli's flat key/value reply) that follows a line equal to
# KEY. Builtins, like the parsing in the loop below: each round used to run ~20 processes (head, awk, wc, grep, sort)
# on each of the 3 sentinels, most of the sentinel service's idle CPU.
values_after() {
  local l take=0
  VALUES=()
  while IFS= read -r l; do
    ((take)) && VALUES+=("${l%$'\r'}")
    take=0; [[ ${l%$'\r'} == "$1" ]] && take=1
  done <<<"$2"
  return 0
}
# sentinel_round: SECTIONS[0..2] = the replies of SENTINEL get-master-addr-by-name, SENTINEL sentinels and SENTINEL
# master, asked in one redis-cli session (the password on stdin, as in rcli)
sentinel_round() {
  local out l i=0
  SECTIONS=("" "" "")
  out=$(printf '%s\n' "$RCLI_PASSWORD" "SENTINEL get-master-addr-by-name $MASTER_NAME" PING "SENTINEL sentinels $MASTER_NAME" PING \
    "SENTINEL master $MASTER_NAME" | timeout 2 redis-cli --askpass --no-auth-warning -h 127.0.0.1 -p 26379 2>/dev/null)
  while IFS= read -r l; do
    l=${l%$'\r'}
    if [[ $l == PONG ]]; then i=$((i + 1)); ((i > 2)) && break; continue; fi
    SECTIONS[i]+="$l"$'\n'
  done <<<"$out"
  return 0
}
# the waits are a builtin `read -t` on a pipe nobody writes to, not a `sleep` process
exec {tickfd}<> <(:)
read -r -t 20 -u "$tickfd" _ || true
while true; do
  # One redis-cli for the round's three questions, PING between them as a separator: each redis-cli is ~4 processes
  # (the pipe, timeout, redis-cli, the command substitution), and three a round on each of the 3 sentinels were most of
  # the janitor's cost. A reply that is missing (timeout, refusal) leaves its section empty, as a failed call did.
  sentinel_round
  addr=${SECTIONS[0]%%$'\n'*}
  [[ "$addr" != "$last_addr" ]] && { last_addr=$addr; changed_at=$SECONDS; }
  # the sentinel tasks' addresses, space-delimited (" ip1  ip2 "), parsed with builtins
  live=""
  while read -r ip _; do [[ $live == *" $ip "* ]] || live+=" $ip "; done < <(timeout 3 getent ahostsv4 "tasks.$SENTINEL_SERVICE" 2>/dev/null)
  values_after ip "${SECTIONS[1]}"; known=("${VALUES[@]}")
  stale=""
  if [[ -n "$live" ]] && (( ${#known[@]} + 1 > expected )); then
    for ip in "${known[@]}"; do [[ $live == *" $ip "* ]] || stale+=" $ip"; done
  fi
  values_after flags "${SECTIONS[2]}"; flags=${VALUES[0]:-}
  # Every redis node restarted together: the monitored address is dead and Sentinel knows none of the new
  # ones, so it can never fail over. Once the nodes have a master again (images/redis/entrypoint.sh: the
  # bootstrap node takes the role), monitor that one instead.
  if [[ "$flags" == *_down* ]]; then
    down_since=${down_since:-$SECONDS}
    if (( SECONDS - down_since >= ${REPOINT_AFTER_SECONDS:-20} )); then
      cur=$addr
      lm=$(live_master || true)
      lmip=""; [[ -n "$lm" ]] && lmip=$(ipv4s "$lm" | head -1)
      if [[ -n "$lmip" && "$lmip" != "$cur" ]]; then
        log "master $cur down for $(( SECONDS - down_since )) s with no failover; $lm ($lmip) answers as master: monitoring it"
        monitor "$lmip"
        down_since=""
      fi
    fi
  else
    down_since=""
  fi
  # Last resort: a majority of the redis nodes answer, every one of them as a replica, for LAST_RESORT_SECONDS, and
  # Sentinel has not produced a master (it can elect only replicas it knows and judges fresh: after a RESET, or with
  # every replica following a dead address, it aborts each failover with no good replica). Then the replica holding
  # the most data becomes master and the others follow it; every janitor picks the same one, so they agree. A
  # minority side of a partition reaches fewer than a majority of the nodes and never acts. Trade-off: a write that
  # only a replica which is not reachable now had acknowledged is lost; without this the tier takes no write at all
  # until an operator steps in.
  # (no scan while Sentinel sees its master up: the scan costs ~20 processes a round)
  if [[ "$flags" != "master" ]] && masterless; then
    masterless_since=${masterless_since:-$SECONDS}
    if (( SECONDS - masterless_since >= ${LAST_RESORT_SECONDS:-30} )) && [[ -n "$BEST" ]]; then
      bip=$(ipv4s "$BEST" | head -1)
      if [[ -n "$bip" ]]; then
        log "LAST RESORT: no Redis master for $(( SECONDS - masterless_since )) s, replicas:$REPLICAS; promoting $BEST ($bip), the one with the most data"
        rcli "$BEST" 6379 REPLICAOF NO ONE >/dev/null || true
        for n in $REPLICAS; do [[ "$n" == "$BEST" ]] || rcli "$n" 6379 REPLICAOF "$bip" 6379 >/dev/null || true; done
        monitor "$bip"
        masterless_since="" down_since=""
      fi
    fi
  else
    masterless_since=""
  fi
  if [[ -n "$stale" && "$flags" == "master" && "$stale" == "$prev_stale" ]]; then
    stale_rounds=$((stale_rounds + 1))
  elif [[ -n "$stale" && "$flags" == "master" ]]; then
    stale_rounds=1
  else
    stale_rounds=0
  fi
  prev_stale=$stale
  if (( stale_rounds >= ${RESET_AFTER_ROUNDS:-3} && SECONDS - changed_at >= ${FAILOVER_QUIET_SECONDS:-120} )) &&
    values_after num-slaves "$(rcli 127.0.0.1 26379 SENTINEL master "$MASTER_NAME")" && [[ ${VALUES[0]:-0} -ge 1 ]]; then
    log "knowing $(( ${#known[@]} + 1 )) sentinels (> $expected); forgetting dead ones:$stale (gone for $stale_rounds rounds, master up; SENTINEL RESET)"
    rcli 127.0.0.1 26379 SENTINEL RESET "$MASTER_NAME" >/dev/null || true
    stale_rounds=0 prev_stale=""
  fi
  read -r -t 10 -u "$tickfd" _ || true
done
