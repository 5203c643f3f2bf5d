#!/bin/sh
# NGINX answers on its internal status port, and nginx-agent (when started) is still alive.
set -eu
curl -fsS -o /dev/null --max-time 3 http://127.0.0.1:8081/healthz
if [ -f /run/nginx/agent.pid ]; then kill -0 "$(cat /run/nginx/agent.pid)"; fi
