#!/usr/bin/env bash
# Sentinel: monitors the master by its service name.
# Each task keeps one Sentinel id per replica slot (SENTINEL_SLOT, from Swarm's {{.Task.Slot}}): a task that comes
# back with a new IP, or on another node, is the same sentinel to the others (Sentinel's "+sentinel-address-switch"),
# so the count of known sentinels, and with it the failover majority, stays right without SENTINEL RESET.
# RESET forgets the replicas and the other sentinels, and they are learnt again only through the master; a RESET
# shortly before the master's node is drained or dies leaves the sentinels blind, with no failover. So the janitor
# resets only when it knows MORE sentinels than SENTINEL_EXPECTED (tasks without a slot, or a scale-down), the
# same dead ones for RESET_AFTER_ROUNDS rounds, with the master up and no master change for FAILOVER_QUIET_SECONDS.
# Trade-off: while two tasks share a slot (Swarm re-placed a task of a node it cannot reach), the others see one
# sentinel at two addresses and may count one vote less until the old task is gone.
set -Eeuo pipefail
LOG_TAG=sentinel-entrypoint
source /usr/local/bin/redis-lib.sh
file_env REDIS_PASSWORD
[[ -n "$REDIS_PASSWORD" ]] || die "REDIS_PASSWORD_FILE (secret redis_password) is required"
CONF=/etc/redis/run/sentinel.conf
# the monitoring settings, for the config file and for a re-point at runtime (janitor)
QUORUM=${SENTINEL_QUORUM:-2} DOWN_AFTER_MS=${SENTINEL_DOWN_AFTER_MS:-2500}
FAILOVER_TIMEOUT_MS=${SENTINEL_FAILOVER_TIMEOUT_MS:-10000} PARALLEL_SYNCS=2
log "discovering the current master (sentinels, then redis nodes)"
master=""
# Not longer, even when no name resolves yet: a sentinel joins Docker's DNS only once it runs and is healthy, and
# on a cold start the redis nodes wait for the sentinels (images/redis/entrypoint.sh). A wrong guess is corrected
# by the janitor's re-point below.
for i in $(seq 1 "${ROLE_WAIT_SECONDS:-15}"); do
  master=$(sentinel_master || true); [[ -n "$master" ]] && break
  master=$(live_master || true); [[ -n "$master" ]] && break
  sleep 1
done
master=${master:-$BOOTSTRAP_NODE}
# monitor by IP (see images/redis/entrypoint.sh: hostname lookups block Sentinel and trigger TILT)
ip=$(ipv4s "$master" | head -1)
master=${ip:-$master}
log "monitoring $MASTER_NAME at $master"
umask 077
cat > "$CONF" <<CONF
port 26379
daemonize no
logfile ""
dir /etc/redis/run
requirepass "$REDIS_PASSWORD"
sentinel sentinel-pass "$REDIS_PASSWORD"
sentinel resolve-hostnames no
sentinel announce-hostnames no
sentinel monitor $MASTER_NAME $master 6379 $QUORUM
sentinel auth-pass $MASTER_NAME $REDIS_PASSWORD
sentinel down-after-milliseconds $MASTER_NAME $DOWN_AFTER_MS
sentinel failover-timeout $MASTER_NAME $FAILOVER_TIMEOUT_MS
sentinel parallel-syncs $MASTER_NAME $PARALLEL_SYNCS
CONF
if [[ ${SENTINEL_SLOT:-} =~ ^[0-9]+$ ]]; then
  myid=$(printf 'forum-sentinel-%s-%s' "$MASTER_NAME" "$SENTINEL_SLOT" | sha1sum | cut -c1-40)
  echo "sentinel myid $myid" >> "$CONF"
  log "sentinel id $myid (slot $SENTINEL_SLOT)"
fi
janitor() {
  local known live stale down_since="" cur lm lmip prev_stale="" stale_rounds=0 addr last_addr="" changed_at=$SECONDS
  local expected=${SENTINEL_EXPECTED:-3} tickfd
  # the waits are a builtin `read -t` on a pipe nobody writes to, not a `sleep` process
  exec {tickfd}<> <(:)
  read -r -t 20 -u "$tickfd" _ || true
  while true; do
    addr=$(rcli 127.0.0.1 26379 SENTINEL get-master-addr-by-name "$MASTER_NAME" | head -1)
    [[ "$addr" != "$last_addr" ]] && { last_addr=$addr; changed_at=$SECONDS; }
    live=$(ipv4s "tasks.$SENTINEL_SERVICE")
    known=$(rcli 127.0.0.1 26379 SENTINEL sentinels "$MASTER_NAME" | awk 'p{print; p=0} /^ip$/{p=1}')
    stale=""
    if [[ -n "$live" ]] && (( $(wc -w <<<"$known") + 1 > expected )); then
      for ip in $known; do grep -qx "$ip" <<<"$live" || stale+=" $ip"; done
    fi
    flags=$(rcli 127.0.0.1 26379 SENTINEL master "$MASTER_NAME" | awk 'p{print; p=0} /^flags$/{p=1}')
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
          rcli 127.0.0.1 26379 SENTINEL REMOVE "$MASTER_NAME" >/dev/null || true
          rcli 127.0.0.1 26379 SENTINEL MONITOR "$MASTER_NAME" "$lmip" 6379 "$QUORUM" >/dev/null || true
          # the password goes on stdin (-x: last argument from stdin), never on a command line (ps shows those)
          printf '%s' "$REDIS_PASSWORD" | rcli 127.0.0.1 26379 -x SENTINEL SET "$MASTER_NAME" auth-pass >/dev/null || true
          rcli 127.0.0.1 26379 SENTINEL SET "$MASTER_NAME" down-after-milliseconds "$DOWN_AFTER_MS" \
            failover-timeout "$FAILOVER_TIMEOUT_MS" parallel-syncs "$PARALLEL_SYNCS" >/dev/null || true
          down_since=""
        fi
      fi
    else
      down_since=""
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
      [[ $(rcli 127.0.0.1 26379 SENTINEL master "$MASTER_NAME" | awk 'p{print; p=0} /^num-slaves$/{p=1}') -ge 1 ]]; then
      log "knowing $(( $(wc -w <<<"$known") + 1 )) sentinels (> $expected); forgetting dead ones:$stale (gone for $stale_rounds rounds, master up; SENTINEL RESET)"
      rcli 127.0.0.1 26379 SENTINEL RESET "$MASTER_NAME" >/dev/null || true
      stale_rounds=0 prev_stale=""
    fi
    read -r -t 10 -u "$tickfd" _ || true
  done
}
janitor &
exec /usr/local/bin/run-service redis-sentinel "$CONF"
