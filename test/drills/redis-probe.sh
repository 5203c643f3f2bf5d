#!/usr/bin/env bash
# Steady write+read probe against Redis through redis-proxy, run INSIDE a container on redis-net:
#   docker run --rm --network <stack>_redis-net -e REDISCLI_AUTH=... -v $PWD/test/drills/redis-probe.sh:/probe.sh \
#     --entrypoint bash forum/redis /probe.sh
# New connection per command (like a client reconnecting). Summary: "SUMMARY acked=.. lost=.. wfail=.. rfail=.. rto_ms=.."
set -u
HOST=${PROBE_HOST:-redis-proxy}; INTERVAL=${PROBE_INTERVAL:-0.1}; SECONDS_TOTAL=${PROBE_SECONDS:-40}
RUN=${PROBE_RUN:-run$(date +%s)}; KEY="drill:$RUN"
r() { timeout 3 redis-cli --no-auth-warning -h "$HOST" -p 6379 "$@" 2>/dev/null; }
now_ms() { date +%s%3N; }
acked=(); wfail=0; rfail=0; first_fail=""; rto_ms=0; seq=0; end=$(( $(date +%s) + SECONDS_TOTAL ))
while (( $(date +%s) < end )); do
  seq=$((seq + 1)); t=$(now_ms)
  out=$(r RPUSH "$KEY" "$seq")
  if [[ "$out" =~ ^[0-9]+$ ]]; then
    acked+=("$seq")
    if [[ -n "$first_fail" ]]; then d=$(( t - first_fail )); (( d > rto_ms )) && rto_ms=$d; echo "$t write recovered after ${d}ms"; first_fail=""; fi
  else
    wfail=$((wfail + 1)); [[ -z "$first_fail" ]] && first_fail=$t; echo "$t write fail: $out"
  fi
  [[ "$(r LLEN "$KEY")" =~ ^[0-9]+$ ]] || { rfail=$((rfail + 1)); echo "$t read fail"; }
  sleep "$INTERVAL"
done
[[ -n "$first_fail" ]] && rto_ms=-1
until present=$(r LRANGE "$KEY" 0 -1) && [[ -n "$present" ]]; do sleep 1; done
declare -A have=(); for s in $present; do have[$s]=1; done
lost=0; for s in "${acked[@]}"; do [[ -n "${have[$s]:-}" ]] || { lost=$((lost + 1)); echo "LOST $s"; }; done
echo "SUMMARY acked=${#acked[@]} lost=$lost wfail=$wfail rfail=$rfail rto_ms=$rto_ms"
