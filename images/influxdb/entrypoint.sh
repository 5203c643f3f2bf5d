#!/bin/bash
# Starts influxd, then (idempotently) creates the admin user and the databases from the environment:
#   INFLUXDB_USER (default forum), INFLUXDB_PASSWORD_FILE (secret, required), INFLUXDB_DB (default telegraf),
#   INFLUXDB_EXTRA_DBS (default chronograf: Kapacitor/alerter alert history).
set -euo pipefail
log() { printf '{"level":"%s","service":"influxdb","msg":"%s"}\n' "$1" "$2" >&2; }
USER_NAME="${INFLUXDB_USER:-forum}"
DB="${INFLUXDB_DB:-telegraf}"
EXTRA="${INFLUXDB_EXTRA_DBS:-chronograf}"
if [[ -n "${INFLUXDB_PASSWORD:-}" ]]; then log fatal "set INFLUXDB_PASSWORD_FILE (a Docker secret), not INFLUXDB_PASSWORD"; exit 1; fi
[[ -r "${INFLUXDB_PASSWORD_FILE:-}" ]] || { log fatal "INFLUXDB_PASSWORD_FILE must name a readable secret file"; exit 1; }
PASSWORD="$(tr -d '\r\n' <"$INFLUXDB_PASSWORD_FILE")"
[[ -n "$PASSWORD" ]] || { log fatal "the InfluxDB password secret is empty"; exit 1; }

influxd run -config /etc/influxdb/influxdb.conf &
pid=$!
# a signal stop exits 143 (never 0): with restart_policy on-failure a 0 would leave the service stopped for good
trap 'kill -TERM "$pid" 2>/dev/null; wait "$pid"; exit 143' TERM INT

for _ in $(seq 1 300); do
  curl -fsS -o /dev/null http://127.0.0.1:8086/ping 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { log fatal "influxd exited during start"; exit 1; }
  sleep 0.2
done

q() { curl -fsS -o /dev/null -XPOST http://127.0.0.1:8086/query "$@"; }
esc() { printf '%s' "$1" | sed "s/\\\\/\\\\\\\\/g; s/'/\\\\'/g"; }
# the first admin user can be created without credentials only while no user exists
q --data-urlencode "q=CREATE USER \"${USER_NAME}\" WITH PASSWORD '$(esc "$PASSWORD")' WITH ALL PRIVILEGES" 2>/dev/null \
  && log info "created admin user ${USER_NAME}" || true
for db in "$DB" ${EXTRA//,/ }; do
  q -u "${USER_NAME}:${PASSWORD}" --data-urlencode "q=CREATE DATABASE \"${db}\"" || { log error "cannot create database ${db} (wrong password for ${USER_NAME}?)"; }
done
log info "ready"
wait "$pid" || rc=$?
log error "influxd exited (${rc:-0})"
exit "${rc:-1}"
