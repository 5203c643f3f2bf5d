#!/bin/sh
# live = Sentinel answers PING and sentinel-janitor.sh runs
loop-alive sentinel-janitor || exit 1
pw=$(cat "${REDIS_PASSWORD_FILE:-/run/secrets/redis_password}" 2>/dev/null)
[ "$(REDISCLI_AUTH="$pw" redis-cli --no-auth-warning -h 127.0.0.1 -p 26379 ping 2>/dev/null)" = "PONG" ]
