#!/usr/bin/env bash
# Generates pgpool.conf / pool_passwd (AES, key per container) / pcp.conf from env + Docker secrets, then
# runs pgpool in the foreground, discarding any old backend status (-D): node state comes from live checks.
set -Eeuo pipefail
LOG_TAG=pgpool-entrypoint
source /usr/local/lib/forum/lib.sh   # log, die, file_env, start_loop (images/base/lib.sh)
file_env APP_PASSWORD
file_env REPMGR_PASSWORD
file_env POSTGRES_PASSWORD
file_env PCP_PASSWORD
file_env MONITOR_PASSWORD   # forum_monitor (metrics-agent's SHOW POOL_NODES); optional
file_env MIGRATOR_PASSWORD  # forum_migrator (the api's and worker's migrations); optional
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
    -e "s/@HC_PERIOD@/${PGPOOL_HEALTH_CHECK_PERIOD:-5}/" -e "s/@HC_RETRIES@/${PGPOOL_HEALTH_CHECK_MAX_RETRIES:-2}/" \
    -e "s/@SR_PERIOD@/${PGPOOL_SR_CHECK_PERIOD:-30}/" -e "s/@LOG_LEVEL@/${PGPOOL_LOG_MIN_MESSAGES:-log}/" \
    "$D/templates/pgpool.conf.tmpl" > "$D/pgpool.conf"
printf '%s' "$backends" >> "$D/pgpool.conf"
cp "$D/templates/pool_hba.conf" "$D/pool_hba.conf"
# AES-encrypted pool_passwd: pgpool authenticates clients with scram and logs in to the backends itself
head -c 32 /dev/urandom | base64 | tr -d '\n' > "$HOME/.pgpoolkey"
: > "$D/pool_passwd"
# pg_enc and the md5 of pcp.conf read the passwords on stdin (pg_enc -i: user:password lines), never as arguments
# (/proc/<pid>/cmdline); pcp.conf holds md5(password) in hex, what `pg_md5 PASSWORD` prints
{
  printf '%s:%s\n' "$APP_USER" "$APP_PASSWORD" repmgr "$REPMGR_PASSWORD"
  [[ -z "$POSTGRES_PASSWORD" ]] || printf 'postgres:%s\n' "$POSTGRES_PASSWORD"
  [[ -z "$MONITOR_PASSWORD" ]] || printf 'forum_monitor:%s\n' "$MONITOR_PASSWORD"
  [[ -z "$MIGRATOR_PASSWORD" ]] || printf 'forum_migrator:%s\n' "$MIGRATOR_PASSWORD"
} | pg_enc -m -k "$HOME/.pgpoolkey" -f "$D/pgpool.conf" -i /dev/stdin >/dev/null
pcp_md5=$(printf '%s' "$PCP_PASSWORD" | md5sum)
printf 'admin:%s\n' "${pcp_md5%% *}" > "$D/pcp.conf"
printf 'localhost:9898:admin:%s\n' "$PCP_PASSWORD" > "$HOME/.pcppass"
printf '*:5432:*:repmgr:%s\n' "$REPMGR_PASSWORD" > "$HOME/.pgpass"
unset APP_PASSWORD REPMGR_PASSWORD POSTGRES_PASSWORD PCP_PASSWORD MONITOR_PASSWORD MIGRATOR_PASSWORD

# primary-keeper.sh re-attaches a primary that pgpool lost; healthcheck.sh fails while it is not running
start_loop primary-keeper /usr/local/bin/primary-keeper.sh

log "starting pgpool (backends: $PG_NODES)"
exec /usr/local/bin/run-service pgpool -n -D -f "$D/pgpool.conf" -F "$D/pcp.conf" -a "$D/pool_hba.conf" -k "$HOME/.pgpoolkey"
