#!/bin/sh
# Liveness of a Node service: its /healthcheck/ on HEALTH_PORT (default PORT, default 8000) answers 2xx.
set -eu
port=${HEALTH_PORT:-${PORT:-8000}}
exec curl -fsS -o /dev/null --max-time 4 "http://127.0.0.1:${port}${HEALTH_PATH:-/healthcheck/}"
