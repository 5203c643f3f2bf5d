#!/usr/bin/env bash
# Sentinel: monitors the master by its service name.
# Each task keeps one Sentinel id per replica slot (SENTINEL_SLOT, from Swarm's {{.Task.Slot}}): a task that comes
# back with a new IP, or on another node, is the same sentinel to the others (Sentinel's "+sentinel-address-switch"),
# so the count of known sentinels, and with it the failover majority, stays right without SENTINEL RESET.
# RESET forgets the replicas and the other sentinels, and they are learnt again only through the master; a RESET
# shortly before the master's node is drained or dies leaves the sentinels blind, with no failover. So the janitor
# (sentinel-janitor.sh)
# resets only when it knows MORE sentinels than SENTINEL_EXPECTED (tasks without a slot, or a scale-down), the
# same dead ones for RESET_AFTER_ROUNDS rounds, with the master up and no master change for FAILOVER_QUIET_SECONDS.
# Trade-off: while two tasks share a slot (Swarm re-placed a task of a node it cannot reach), the others see one
# sentinel at two addresses and may count one vote less until the old task is gone.
set -Eeuo pipefail
LOG_TAG=sentinel-entrypoint
source /usr/local/bin/redis-lib.sh
# One secret, redis_sentinel_password, for everything Sentinel does: this Sentinel's own password (the default user
# on port 26379, also sentinel-to-sentinel), the ACL user `sentinel` on the Redis nodes (auth-user/auth-pass), and
# the role scripts (redis-lib.sh's rcli). This image holds no other Redis secret (docs/DATA-TIER.md "Users").
file_env --file-only REDIS_SENTINEL_PASSWORD
[[ -n "$REDIS_SENTINEL_PASSWORD" ]] || die "REDIS_SENTINEL_PASSWORD_FILE names an empty secret"
RCLI_PASSWORD=$REDIS_SENTINEL_PASSWORD
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
protected-mode yes
requirepass "$REDIS_SENTINEL_PASSWORD"
sentinel sentinel-pass "$REDIS_SENTINEL_PASSWORD"
sentinel resolve-hostnames no
sentinel announce-hostnames no
sentinel monitor $MASTER_NAME $master 6379 $QUORUM
sentinel auth-user $MASTER_NAME sentinel
sentinel auth-pass $MASTER_NAME $REDIS_SENTINEL_PASSWORD
sentinel down-after-milliseconds $MASTER_NAME $DOWN_AFTER_MS
sentinel failover-timeout $MASTER_NAME $FAILOVER_TIMEOUT_MS
sentinel parallel-syncs $MASTER_NAME $PARALLEL_SYNCS
CONF
if [[ ${SENTINEL_SLOT:-} =~ ^[0-9]+$ ]]; then
  myid=$(printf 'forum-sentinel-%s-%s' "$MASTER_NAME" "$SENTINEL_SLOT" | sha1sum | cut -c1-40)
  echo "sentinel myid $myid" >> "$CONF"
  log "sentinel id $myid (slot $SENTINEL_SLOT)"
fi
# sentinel-janitor.sh re-points and resets Sentinel (see above); healthcheck.sh fails while it is not running
# The janitor reads the password from a file descriptor (a pipe holding one line), so neither it nor
# redis-sentinel has it in its environment or arguments
exec {pwfd}<<<"$REDIS_SENTINEL_PASSWORD"
start_loop sentinel-janitor /usr/local/bin/sentinel-janitor.sh "$QUORUM" "$DOWN_AFTER_MS" "$FAILOVER_TIMEOUT_MS" "$PARALLEL_SYNCS" "$pwfd"
exec {pwfd}<&-
unset REDIS_SENTINEL_PASSWORD RCLI_PASSWORD
exec /usr/local/bin/run-service redis-sentinel "$CONF"
