#!/bin/bash
# Starts influxd, then (idempotently) creates the admin user and the databases from the environment:
#   INFLUXDB_USER (default forum), INFLUXDB_PASSWORD_FILE (secret, required), INFLUXDB_DB (default telegraf),
#   INFLUXDB_EXTRA_DBS (default chronograf: Kapacitor/alerter alert history).
set -euo pipefail
LOG_TAG=influxdb
source /usr/local/lib/forum/lib.sh   # log, die, file_env (images/base/lib.sh)
USER_NAME="${INFLUXDB_USER:-forum}"
DB="${INFLUXDB_DB:-telegraf}"
EXTRA="${INFLUXDB_EXTRA_DBS:-chronograf}"
file_env --file-only INFLUXDB_PASSWORD
PASSWORD=${INFLUXDB_PASSWORD//[$'\r\n']/}
unset INFLUXDB_PASSWORD   # not in influxd's environment
[[ -n "$PASSWORD" ]] || die "the InfluxDB password secret is empty"

influxd run -config /etc/influxdb/influxdb.conf &
pid=$!
# a signal stop exits 143 (never 0): with restart_policy on-failure a 0 would leave the service stopped for good
trap 'kill -TERM "$pid" 2>/dev/null; wait "$pid"; exit 143' TERM INT

for _ in $(seq 1 300); do
  curl -fsS -o /dev/null http://127.0.0.1:8086/ping 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || die "influxd exited during start"
  sleep 0.2
done

# q: a POST to /query whose options (the query, the credentials) curl reads as a config file on stdin (-K -), so the
# password is never one of curl's arguments (/proc/<pid>/cmdline)
q() { curl -fsS -o /dev/null -XPOST -K - http://127.0.0.1:8086/query; }
esc() { printf '%s' "$1" | sed "s/\\\\/\\\\\\\\/g; s/'/\\\\'/g"; }
# cq VALUE: VALUE as a double-quoted string of a curl config file (backslash and double quote escaped)
cq() { local v=${1//\\/\\\\}; v=${v//\"/\\\"}; printf '"%s"' "$v"; }
# the first admin user can be created without credentials only while no user exists
printf 'data-urlencode = %s\n' "$(cq "q=CREATE USER \"${USER_NAME}\" WITH PASSWORD '$(esc "$PASSWORD")' WITH ALL PRIVILEGES")" \
  | q 2>/dev/null && log "created admin user ${USER_NAME}" || true
for db in "$DB" ${EXTRA//,/ }; do
  printf 'user = %s\ndata-urlencode = %s\n' "$(cq "${USER_NAME}:${PASSWORD}")" "$(cq "q=CREATE DATABASE \"${db}\"")" \
    | q || error "cannot create database ${db} (wrong password for ${USER_NAME}?)"
done
log "ready"
wait "$pid" || rc=$?
error "influxd exited (${rc:-0})"
exit "${rc:-1}"
