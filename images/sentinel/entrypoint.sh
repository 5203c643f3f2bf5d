#!/usr/bin/env bash
# Sentinel: monitors the master by its service name. A janitor loop forgets sentinels of dead tasks
# (their IPs vanish from tasks.sentinel) with SENTINEL RESET, so the failover majority stays right.
# RESET also forgets the replicas and the other sentinels; they are learnt again only through the master (INFO,
# hello messages). So it runs only once the same sentinels have been gone for RESET_AFTER_ROUNDS janitor rounds
# while the master stayed up: when a node is drained or dies, its sentinel and its Redis master go together, and
# a RESET in between would leave every sentinel blind to the replicas, with no failover ever (seen on the
# 3-node cluster). Trade-off: a dead sentinel stays counted for ~30 s longer.
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
janitor() {
  local me known live stale down_since="" cur lm lmip prev_stale="" stale_rounds=0
  sleep 20
  while true; do
    live=$(ipv4s "tasks.$SENTINEL_SERVICE")
    known=$(rcli 127.0.0.1 26379 SENTINEL sentinels "$MASTER_NAME" | awk 'p{print; p=0} /^ip$/{p=1}')
    stale=""
    if [[ -n "$live" ]]; then
      for ip in $known; do grep -qx "$ip" <<<"$live" || stale+=" $ip"; done
    fi
    flags=$(rcli 127.0.0.1 26379 SENTINEL master "$MASTER_NAME" | awk 'p{print; p=0} /^flags$/{p=1}')
    downrep=$(rcli 127.0.0.1 26379 SENTINEL replicas "$MASTER_NAME" | awk 'p{print; p=0} /^flags$/{p=1}' | grep -c 's_down' || true)
    (( downrep > 0 )) && stale+=" (replicas down: $downrep)"
    # Every redis node restarted together: the monitored address is dead and Sentinel knows none of the new
    # ones, so it can never fail over. Once the nodes have a master again (images/redis/entrypoint.sh: the
    # bootstrap node takes the role), monitor that one instead.
    if [[ "$flags" == *_down* ]]; then
      down_since=${down_since:-$SECONDS}
      if (( SECONDS - down_since >= ${REPOINT_AFTER_SECONDS:-20} )); then
        cur=$(rcli 127.0.0.1 26379 SENTINEL get-master-addr-by-name "$MASTER_NAME" | head -1)
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
    if (( stale_rounds >= ${RESET_AFTER_ROUNDS:-3} )) && [[ $(rcli 127.0.0.1 26379 SENTINEL master "$MASTER_NAME" | awk 'p{print; p=0} /^num-slaves$/{p=1}') -ge 1 ]]; then
      log "forgetting sentinels of dead tasks:$stale (gone for $stale_rounds rounds, master up; SENTINEL RESET)"
      rcli 127.0.0.1 26379 SENTINEL RESET "$MASTER_NAME" >/dev/null || true
      stale_rounds=0 prev_stale=""
    fi
    sleep 10
  done
}
janitor &
exec /usr/local/bin/run-service redis-sentinel "$CONF"
