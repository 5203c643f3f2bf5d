#!/bin/sh
# Starts nginx-agent, waits for its first full blocklist sync (it touches $NGINX_AGENT_READY_FILE), then NGINX in
# the foreground. Without an agent build (services/nginx-agent/dist/main.js absent or exiting at once) NGINX starts
# with the blocklist as it is and a warning.
set -eu
log() { printf '{"level":"%s","msg":"%s","component":"nginx-entrypoint"}\n' "$1" "$2" >&2; }
mkdir -p /tmp/nginx /run/nginx "$(dirname "$BLOCKLIST_FILE")"
[ -f "$BLOCKLIST_FILE" ] || : >"$BLOCKLIST_FILE"
rm -f "$NGINX_AGENT_READY_FILE" /run/nginx/agent.pid

agent=/app/services/nginx-agent/dist/main.js
if [ -f "$agent" ] && grep -qv '^export {};\?$\|^//' "$agent" 2>/dev/null; then
  node "$agent" &
  echo $! >/run/nginx/agent.pid
  waited=0
  while [ ! -e "$NGINX_AGENT_READY_FILE" ]; do
    if ! kill -0 "$(cat /run/nginx/agent.pid)" 2>/dev/null; then
      log error "nginx-agent exited before its first sync"; exit 1
    fi
    if [ "$waited" -ge "$((NGINX_AGENT_SYNC_TIMEOUT * 10))" ]; then
      log warn "no blocklist sync after ${NGINX_AGENT_SYNC_TIMEOUT}s: starting NGINX with the current list; the agent keeps trying"
      break
    fi
    sleep 0.1; waited=$((waited + 1))
  done
else
  log warn "nginx-agent not built: IP blocks are not synced"
fi
nginx -t -q
exec nginx -g 'daemon off;'
