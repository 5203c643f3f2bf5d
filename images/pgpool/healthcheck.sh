#!/bin/sh
# live = the pgpool main process runs and listens on 5432 (quiet: no connection, no log line) and primary-keeper.sh runs
loop-alive primary-keeper || exit 1
pid=$(cat /var/run/pgpool/pgpool.pid 2>/dev/null) || exit 1
kill -0 "$pid" 2>/dev/null || exit 1
grep -qiE '^ *[0-9]+: [0-9A-F]+:1538 [0-9A-F]+:0000 0A' /proc/net/tcp /proc/net/tcp6
