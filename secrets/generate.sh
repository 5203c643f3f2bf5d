#!/usr/bin/env bash
# Creates every secret file the stack needs that does not exist yet. Never overwrites an existing file, so
# re-running is safe and an operator can put their own values in place first (e.g. the real Slack webhook URL).
# Files are mode 0600 and gitignored; only this generator and README.md are tracked.
set -euo pipefail
dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
umask 077

rand() { LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c "${1:-32}" || true; }

put() { # name value-producer
  local name=$1 value=$2 f="$dir/$1"
  if [[ -s $f ]]; then return 0; fi
  printf '%s' "$value" >"$f"
  chmod 600 "$f"
  printf '[secrets] generated %s\n' "$name" >&2
}

for name in pg_superuser_password pg_app_password pg_repmgr_password pgpool_admin_password redis_password \
            admin_password influxdb_password; do
  put "$name" "$(rand 32)"
done
put session_secret "$(rand 64)"
put ipblock_token "$(rand 48)"
put autoscaler_token "$(rand 48)"
put snmp_community "$(rand 24)"
# No Slack workspace is known: a URL on the container's own loopback discards messages locally.
# Put the real incoming-webhook URL in secrets/slack_webhook_url (or SLACK_WEBHOOK_URL on first run).
put slack_webhook_url "${SLACK_WEBHOOK_URL:-http://127.0.0.1:9/slack-disabled}"
