#!/usr/bin/env bash
# Creates every secret file the stack needs that does not exist yet. Never overwrites a generated secret, so
# re-running is safe and an operator can put their own values in place first. The one exception is the Slack
# webhook URL: SLACK_WEBHOOK_URL, when set and different from secrets/slack_webhook_url, replaces it.
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

for name in pg_superuser_password pg_app_password pg_repmgr_password pg_monitor_password pgpool_admin_password redis_password \
            admin_password influxdb_password; do
  put "$name" "$(rand 32)"
done
put session_secret "$(rand 64)"
put ipblock_token "$(rand 48)"
put autoscaler_token "$(rand 48)"
put snmp_community "$(rand 24)"
put keepalived_auth_pass "$(rand 8)"  # VRRPv2 PASS: at most 8 characters
# Slack: SLACK_WEBHOOK_URL, when set, is the operator's value and wins over the file (the one secret that is
# not generated), so `SLACK_WEBHOOK_URL=... npm run deploy` changes it; the deploy names secrets by content
# hash, so the services that read it roll. Unset, the file is kept, and a first run writes a URL on the
# container's own loopback, which discards messages locally.
slack="$dir/slack_webhook_url"
if [[ -n ${SLACK_WEBHOOK_URL:-} ]]; then
  [[ $SLACK_WEBHOOK_URL =~ ^https?://[^[:space:]]+$ ]] \
    || { printf '[secrets] SLACK_WEBHOOK_URL is not an http(s) URL: not written\n' >&2; exit 1; }
  if [[ ! -s $slack || $(cat "$slack") != "$SLACK_WEBHOOK_URL" ]]; then
    had=0; [[ -s $slack ]] && had=1
    printf '%s' "$SLACK_WEBHOOK_URL" >"$slack"
    chmod 600 "$slack"
    if ((had)); then
      printf '[secrets] slack_webhook_url updated from SLACK_WEBHOOK_URL (its services roll on this deploy)\n' >&2
    else
      printf '[secrets] slack_webhook_url written from SLACK_WEBHOOK_URL\n' >&2
    fi
  fi
else
  put slack_webhook_url "http://127.0.0.1:9/slack-disabled"
fi
