#!/bin/sh
# live = Sentinel answers PING and sentinel-janitor.sh runs
loop-alive sentinel-janitor || exit 1
# the password goes on stdin (--askpass), not in REDISCLI_AUTH: /proc/<pid>/environ would show it
[ "$(redis-cli --askpass --no-auth-warning -h 127.0.0.1 -p 26379 ping <"${REDIS_SENTINEL_PASSWORD_FILE:-/run/secrets/redis_sentinel_password}" 2>/dev/null)" = "PONG" ]
