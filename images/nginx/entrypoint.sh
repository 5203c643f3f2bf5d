#!/usr/bin/env bash
# nginx-agent (services/nginx-agent) is the container's main process: it fetches the full IP blocklist from
# ipblock BEFORE starting NGINX as its child (bounded by BLOCKLIST_INITIAL_SYNC_TIMEOUT_SECONDS), reloads NGINX when
# the list changes, forwards stop signals (graceful SIGQUIT) and exits when NGINX exits.
set -eu
LOG_TAG=nginx-entrypoint
source /usr/local/lib/forum/lib.sh   # log, warn, die (images/base/lib.sh)
mkdir -p /tmp/nginx /run/nginx "$(dirname "$BLOCKLIST_FILE")"
[ -f "$BLOCKLIST_FILE" ] || : >"$BLOCKLIST_FILE"
# the api upstream's servers (nginx-agent writes the real ones from DNS before NGINX starts)
[ -f /run/nginx/api-upstream.conf ] || echo 'server 127.0.0.1:1 down;' >/run/nginx/api-upstream.conf
# access lines to stdout until nginx-agent finds the log-shipper (ACCESS_LOG_SYSLOG_NAME)
[ -f /run/nginx/access-log.conf ] || echo 'access_log /dev/stdout json;' >/run/nginx/access-log.conf
# HTTPS: the certificate and key are Docker secrets; the redirect from plain HTTP names EDGE_HTTPS_PORT unless 443
for f in /run/secrets/tls_cert /run/secrets/tls_key; do
  [ -r "$f" ] || die "no readable $f: the edge serves HTTPS only; deploy with npm run deploy (Docker secrets tls_cert, tls_key)"
done
https_port=${EDGE_HTTPS_PORT:-443}
case $https_port in ''|*[!0-9]*) die "EDGE_HTTPS_PORT=$https_port is not a port number" ;; esac
if [ "$https_port" = 443 ]; then suffix=; else suffix=":$https_port"; fi
printf 'set $https_suffix "%s";\n' "$suffix" >/run/nginx/https-redirect.conf
# per-address rate limits from EDGE_RATE_LIMIT_* / EDGE_CONN_LIMIT (every bad variable is reported)
/usr/local/bin/rate-limits.sh || die "bad rate-limit settings (docs/EDGE.md, Rate limits)"
nginx -t -q
agent=/app/services/nginx-agent/dist/main.js
if [ -f "$agent" ] && [ "$(wc -c <"$agent")" -gt 64 ]; then
  exec /usr/local/bin/run-service node "$agent" -- nginx -g 'daemon off;'
fi
warn "nginx-agent not built: IP blocks are not synced"
exec /usr/local/bin/run-service nginx -g 'daemon off;'
