#!/usr/bin/env bash
# Generates pgpool.conf / pool_passwd (AES, key per container) / pcp.conf from env + Docker secrets, then
# runs pgpool in the foreground, discarding any old backend status (-D): node state comes from live checks.
set -Eeuo pipefail
LOG_TAG=pgpool-entrypoint
source /usr/local/lib/forum/lib.sh   # log, die, file_env (images/common/lib.sh)
file_env APP_PASSWORD
file_env REPMGR_PASSWORD
file_env POSTGRES_PASSWORD
file_env PCP_PASSWORD
[[ -n "$APP_PASSWORD" ]] || die "APP_PASSWORD_FILE (secret pg_app_password) is required"
[[ -n "$REPMGR_PASSWORD" ]] || die "REPMGR_PASSWORD_FILE (secret pg_repmgr_password) is required (health/sr checks)"
[[ -n "$PCP_PASSWORD" ]] || die "PCP_PASSWORD_FILE (secret pgpool_admin_password) is required"
APP_USER=${APP_USER:-forum}
PG_NODES=${PG_NODES:-pg-0,pg-1,pg-2}
D=/etc/pgpool2
umask 077
# backends
IFS=, read -r -a NODES <<<"$PG_NODES"
backends=""
for i in "${!NODES[@]}"; do
  backends+="backend_hostname$i = '${NODES[$i]}'
backend_port$i = 5432
backend_weight$i = 1
backend_flag$i = 'ALLOW_TO_FAILOVER'
backend_application_name$i = '${NODES[$i]}'
"
done
sed -e "s/@NUM_INIT_CHILDREN@/${PGPOOL_NUM_INIT_CHILDREN:-40}/" -e "s/@MAX_POOL@/${PGPOOL_MAX_POOL:-1}/" \
    -e "s/@HC_PERIOD@/${PGPOOL_HEALTH_CHECK_PERIOD:-2}/" -e "s/@HC_RETRIES@/${PGPOOL_HEALTH_CHECK_MAX_RETRIES:-2}/" \
    -e "s/@SR_PERIOD@/${PGPOOL_SR_CHECK_PERIOD:-3}/" -e "s/@LOG_LEVEL@/${PGPOOL_LOG_MIN_MESSAGES:-log}/" \
    "$D/templates/pgpool.conf.tmpl" > "$D/pgpool.conf"
printf '%s' "$backends" >> "$D/pgpool.conf"
cp "$D/templates/pool_hba.conf" "$D/pool_hba.conf"
# AES-encrypted pool_passwd: pgpool authenticates clients with scram and logs in to the backends itself
head -c 32 /dev/urandom | base64 | tr -d '\n' > "$HOME/.pgpoolkey"
: > "$D/pool_passwd"
enc() { pg_enc -m -k "$HOME/.pgpoolkey" -f "$D/pgpool.conf" -u "$1" "$2" >/dev/null; }
enc "$APP_USER" "$APP_PASSWORD"
enc repmgr "$REPMGR_PASSWORD"
[[ -n "$POSTGRES_PASSWORD" ]] && enc postgres "$POSTGRES_PASSWORD"
printf 'admin:%s\n' "$(pg_md5 "$PCP_PASSWORD")" > "$D/pcp.conf"
printf 'localhost:9898:admin:%s\n' "$PCP_PASSWORD" > "$HOME/.pcppass"
printf '*:5432:*:repmgr:%s\n' "$REPMGR_PASSWORD" > "$HOME/.pgpass"
unset APP_PASSWORD REPMGR_PASSWORD POSTGRES_PASSWORD PCP_PASSWORD

# Primary keeper. Pgpool's auto_failback re-attaches only STANDBYS that stream from a known primary; a primary that was
# detached (cold start before it accepted connections, or a blip under load) stays down forever, and a promoted standby
# that pgpool never re-recognised leaves it without a primary: every write fails. Every 5 s: if pgpool has had no
# primary for longer than its own search (search_primary_node_timeout), re-attach the one backend that answers
# pg_is_in_recovery() = false (detached: attach; attached but not seen as primary: detach + attach, which makes pgpool
# search again). Only while pgpool has no primary, and only a node not in recovery, so it never creates a second one.
primary_keeper() {
  local i st status role attached_primary candidate cand_status since=0 now tickfd
  # the wait is a builtin `read -t` on a pipe nobody writes to, not a `sleep` process per round
  exec {tickfd}<> <(:)
  while ! read -r -t "${PGPOOL_KEEPER_INTERVAL:-5}" -u "$tickfd" _; do
    attached_primary=""; candidate=""; cand_status=""
    for i in "${!NODES[@]}"; do
      # pgpool's own view, from its shared memory: "<id> <host> <port> <status> <role> ...", status up/waiting/down.
      # Not pcp_node_info: that one opens two connections to the backend (its pg_status and pg_role columns) per
      # call, i.e. 1.2 backend forks a second on the primary from 3 pgpools (the connection log).
      st=$(pcp_health_check_stats -h localhost -p 9898 -U admin -w -n "$i" 2>/dev/null) || continue 2
      read -r _ _ _ status role _ <<<"$st"
      if [[ $status != down && $role == primary ]]; then attached_primary=$i; break; fi
      if [[ -z $candidate ]] && [[ $(psql -h "${NODES[$i]}" -U repmgr -d postgres -XAtw -c 'select pg_is_in_recovery()' 2>/dev/null) == f ]]; then
        candidate=$i; cand_status=$status
      fi
    done
    printf -v now "%(%s)T" -1
    if [[ -n $attached_primary || -z $candidate ]]; then since=0; continue; fi
    ((since == 0)) && since=$now
    ((now - since >= ${PGPOOL_KEEPER_GRACE:-25})) || continue
    log "no primary for $((now - since)) s: re-attaching node $candidate (${NODES[$candidate]}), which is not in recovery"
    [[ $cand_status != down ]] && pcp_detach_node -h localhost -p 9898 -U admin -w -n "$candidate" >/dev/null 2>&1
    pcp_attach_node -h localhost -p 9898 -U admin -w -n "$candidate" >/dev/null 2>&1 || log "pcp_attach_node $candidate failed"
    since=0
  done
}
primary_keeper &

log "starting pgpool (backends: $PG_NODES)"
exec /usr/local/bin/run-service pgpool -n -D -f "$D/pgpool.conf" -F "$D/pcp.conf" -a "$D/pool_hba.conf" -k "$HOME/.pgpoolkey"
