#!/usr/bin/env bash
# Redis node: config from env + secret, role from Sentinel (never a second master on return).
set -Eeuo pipefail
LOG_TAG=redis-entrypoint
source /usr/local/bin/redis-lib.sh
# One ACL user per job (docs/DATA-TIER.md "Users"), each with its own secret; this node defines them all:
#   default      the operator's account (+@all), secret redis_password: only the Redis tasks hold it
#   app          api, worker, ipblock: data commands, no @admin/@dangerous but INFO (ioredis's ready check)
#   replication  replicas to their master: PSYNC, REPLCONF, PING
#   sentinel     Sentinel, and the role scripts of this image and the sentinel image (redis-lib.sh)
#   metrics      metrics-agent and redis-proxy's health check: PING, INFO
# The config holds the SHA-256 of each password (ACL's #<hash> form), not the password; masterauth is the one
# plaintext, since a replica must send it.
for u in REDIS_PASSWORD REDIS_APP_PASSWORD REDIS_REPLICATION_PASSWORD REDIS_SENTINEL_PASSWORD REDIS_METRICS_PASSWORD; do
  file_env --file-only "$u"
  [[ -n "${!u}" ]] || die "${u}_FILE names an empty secret"
done
: "${NODE_NAME:?NODE_NAME is required (redis-0, redis-1 or redis-2)}"
RCLI_PASSWORD=$REDIS_SENTINEL_PASSWORD   # redis-lib.sh's rcli: the sentinel user, on both ports
sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
CONF=/etc/redis/run/redis.conf
umask 077
cat > "$CONF" <<CONF
bind 0.0.0.0 -::*
protected-mode yes
port 6379
dir /data
daemonize no
logfile ""
loglevel notice
user default on #$(sha "$REDIS_PASSWORD") ~* &* +@all
user app on #$(sha "$REDIS_APP_PASSWORD") ~* &* +@all -@admin -@dangerous +info
user replication on #$(sha "$REDIS_REPLICATION_PASSWORD") +psync +replconf +ping
user sentinel on #$(sha "$REDIS_SENTINEL_PASSWORD") allchannels +multi +exec +slaveof +replicaof +ping +subscribe +publish +config|rewrite +role +info +client|setname +client|kill +script|kill
user metrics on #$(sha "$REDIS_METRICS_PASSWORD") +ping +info +quit
masteruser replication
masterauth "$REDIS_REPLICATION_PASSWORD"
# Replicas announce their task IP, not a hostname: Sentinel resolves hostnames with a BLOCKING lookup, and on an
# internal overlay network a vanished task's name takes >= 1 s to fail, which throws Sentinel into TILT mode
# (30 s without failover) exactly when the master's task dies. IPs never block.
appendonly yes
appendfsync everysec
save 3600 1 300 100 60 10000
replica-read-only yes
replica-serve-stale-data yes
repl-diskless-sync yes
repl-diskless-sync-delay 0
repl-ping-replica-period 1
repl-timeout 10
repl-backlog-size 64mb
# an isolated/old master stops taking writes when no replica acknowledged within 10 s
min-replicas-to-write ${MIN_REPLICAS_TO_WRITE:-1}
min-replicas-max-lag ${MIN_REPLICAS_MAX_LAG:-10}
maxmemory ${REDIS_MAXMEMORY:-256mb}
maxmemory-policy noeviction
tcp-keepalive 30
CONF
# Role: Sentinel's view wins. Without sentinels (a cold start): a live master, else the bootstrap node is master.
# If Sentinel names THIS node, or an address that does not answer as a master (typically our own previous task's
# IP: we were the master, got killed or updated, and came back with a new IP before Sentinel failed over), wait for
# the failover and follow the master it produces: replicating from a dead IP would leave this node outside the
# cluster for good (Sentinel only knows it by the old IP).
# If no master appears within SELF_MASTER_WAIT_SECONDS, Sentinel cannot fail over: all nodes restarted together
# (a node reboot, an update of all three), so it knows none of the new addresses. Then the node Sentinel names
# takes the role if that is us, else the bootstrap node does, unless the named address is some node's current
# one; the others follow whichever answers as master (images/sentinel/entrypoint.sh re-points the sentinels).
MY_IPS=" $(hostname -I 2>/dev/null) "
is_me() { [[ "$1" == "$NODE_NAME" || "$MY_IPS" == *" $1 "* ]]; }
answers_as_master() { rcli "$1" 6379 info replication | tr -d '\r' | grep -q '^role:master'; }
# true when the address belongs to one of the redis nodes' current tasks
owned_by_a_node() {
  local n
  IFS=, read -r -a _all <<<"$REDIS_NODES"
  for n in "${_all[@]}"; do
    ipv4s "$n" | grep -qxF "$1" && return 0
  done
  return 1
}
# A node with an EMPTY volume (moved to another node, or its volume lost) never takes the master role while Sentinel
# knows a master: it would be a master with no data, and the others would resync from it (the data set lost). It
# waits, without bound, until some master answers and replicates from it. Only a cold start of the whole tier (no
# sentinel names a master, or they name the bootstrap node by its hostname: they never saw a master's address) lets
# the empty bootstrap node start as master.
has_data() { [[ -s /data/dump.rdb ]] || compgen -G '/data/appendonlydir/*.manifest' >/dev/null; }
cold_named() { [[ -z "$1" || "$1" == "$BOOTSTRAP_NODE" ]]; }
EMPTY=0; has_data || EMPTY=1
(( EMPTY )) && log "empty data volume: joining as a replica of the current master (never a fresh master while Sentinel knows one)"
master=""; named_since=""; quiet_since=""; said=-100
i=0
while :; do
  i=$((i + 1))
  named=$(sentinel_master || true)
  if [[ -n "$named" ]] && ! is_me "$named" && answers_as_master "$named"; then master="$named"; break; fi
  other=$(live_master "$NODE_NAME" || true)
  if [[ -n "$other" ]]; then master="$other"; break; fi
  if [[ -z "$named" ]]; then
    # Nobody names a master and none answers: a cold start, if this container sees the others at all (on a cold
    # start the sentinels' tasks resolve once they run and are healthy). A task that starts on a node just made
    # active again may resolve no name on the overlay yet (its service discovery is still syncing): silence then
    # means nothing, and taking the role would make a second master. So the bootstrap node takes it only after
    # BOOTSTRAP_QUIET_SECONDS of silence with a name of the tier resolving.
    if [[ "$NODE_NAME" == "$BOOTSTRAP_NODE" ]] && tier_visible "$NODE_NAME"; then
      quiet_since=${quiet_since:-$SECONDS}
      (( SECONDS - quiet_since >= ${BOOTSTRAP_QUIET_SECONDS:-5} )) && { master="$NODE_NAME"; break; }
    else
      quiet_since=""
    fi
  else
    quiet_since=""
    named_since=${named_since:-$SECONDS}
    if (( SECONDS - named_since >= ${SELF_MASTER_WAIT_SECONDS:-20} )) && { (( ! EMPTY )) || cold_named "$named"; }; then
      if is_me "$named"; then master="$NODE_NAME"; break; fi
      if [[ "$NODE_NAME" == "$BOOTSTRAP_NODE" ]] && ! owned_by_a_node "$named"; then
        log "Sentinel names $named, which no node answers for, and no master appeared in ${SELF_MASTER_WAIT_SECONDS:-20} s: taking the master role"
        master="$NODE_NAME"; break
      fi
    fi
  fi
  if (( EMPTY )) && [[ -n "$named" ]] && ! cold_named "$named"; then
    # an empty node waits for a master for as long as it takes (the healthcheck fails meanwhile)
    if (( SECONDS - said >= 10 )); then said=$SECONDS; log "empty data volume: Sentinel names $named, which does not answer as master: waiting for a master to replicate from"; fi
  elif (( i >= ${ROLE_WAIT_SECONDS:-90} )) && tier_visible "$NODE_NAME"; then
    break
  elif (( i >= ${ROLE_WAIT_SECONDS:-90} && SECONDS - said >= 10 )); then
    said=$SECONDS; log "no name of the Redis tier resolves from this container yet (overlay service discovery): waiting"
  fi
  sleep 1
done
master=${master:-$BOOTSTRAP_NODE}
if ! is_me "$master"; then
  echo "replicaof $master 6379" >> "$CONF"
  log "starting as replica of $master"
else
  log "starting as master"
fi
unset REDIS_PASSWORD REDIS_APP_PASSWORD REDIS_REPLICATION_PASSWORD REDIS_SENTINEL_PASSWORD REDIS_METRICS_PASSWORD RCLI_PASSWORD
exec /usr/local/bin/run-service redis-server "$CONF"
