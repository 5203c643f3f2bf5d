#!/usr/bin/env bash
# npm run bench:ceiling - the ceilings the read-thread throughput is compared with (BENCHMARKS.md "Load test"), on the
# DEPLOYED stack, all in one run:
#   1. req/s of a trivial endpoint through the edge: GET /healthcheck/ (NGINX -> node, no DB, no Redis)
#   2. req/s of read-thread through the edge: GET /api/threads/{id}/posts/ (NGINX -> node -> pgpool -> PG)
#   3. pgbench select-only tps inside the current PostgreSQL primary (scale 10, scratch database `pgbench`)
# and prints read-thread / trivial (goal >= 0.5). wrk runs on this machine, competing for the same 2 cores as the
# stack, as a real client on this box would.
# Both edge figures are over HTTPS (what users get; wrk's TLS, HTTP/1.1 on keep-alive connections, so the handshakes
# are few): wrk does not verify certificates, which is fine for a measurement; curl (the thread lookup) checks the
# edge's certificate against the stack's CA (EDGE_TLS_CA, default secrets/tls_ca.pem).
# Env: EDGE_URL (https://127.0.0.1:${EDGE_HTTPS_PORT:-443}), EDGE_TLS_CA, STACK (forum), CEIL_DURATION (20s),
#      CEIL_CONNECTIONS (64), PGBENCH_CLIENTS (8)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EDGE_URL=${EDGE_URL:-https://127.0.0.1:${EDGE_HTTPS_PORT:-443}}
EDGE_TLS_CA=${EDGE_TLS_CA:-$root/secrets/tls_ca.pem}
cacert=()
[[ -f $EDGE_TLS_CA ]] && cacert=(--cacert "$EDGE_TLS_CA")
STACK=${STACK:-forum}
DUR=${CEIL_DURATION:-20s}
CONN=${CEIL_CONNECTIONS:-64}
command -v wrk >/dev/null || { echo "bench-ceiling: wrk missing (apt-get install wrk)" >&2; exit 1; }
log() { printf '[ceiling] %s\n' "$*" >&2; }

rps() { # url -> "req/s p50 p99" (wrk --latency)
  local out
  out=$(wrk -t2 -c"$CONN" -d"$DUR" --timeout 5s --latency "$1")
  local r p50 p99 non2xx
  r=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  printf '%s %s %s %s\n' "$r" "$p50" "$p99" "${non2xx:-0}"
}

tid=$(curl "${cacert[@]}" -fsS "$EDGE_URL/api/threads/?list=all" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);const t=(j.results||[])[0];if(!t){process.exit(3)}console.log(t.id)})') \
  || { log "no thread to read at $EDGE_URL (deploy and seed first: npm run loadtest seeds threads)"; exit 1; }

log "trivial endpoint GET /healthcheck/ ($DUR, $CONN connections)"
read -r triv triv50 triv99 triv_bad < <(rps "$EDGE_URL/healthcheck/")
log "read-thread GET /api/threads/$tid/posts/ ($DUR, $CONN connections)"
read -r rt rt50 rt99 rt_bad < <(rps "$EDGE_URL/api/threads/$tid/posts/")

# pgbench select-only in the primary's container (pgbench ships with the server package)
prim=''
for n in pg-0 pg-1 pg-2; do
  c=$(docker ps -q --filter "name=${STACK}_$n." --filter status=running | head -1)
  [[ -n $c ]] || continue
  if [[ $(docker exec "$c" psql -XAtc 'select pg_is_in_recovery()' 2>/dev/null) == f ]]; then prim=$c; break; fi
done
tps=n/a
if [[ -n $prim ]]; then
  log "pgbench -S in the primary's container (scale 10, $DUR)"
  docker exec "$prim" sh -c 'psql -XAtqc "drop database if exists pgbench" && psql -XAtqc "create database pgbench" && pgbench -q -i -s 10 pgbench >/dev/null 2>&1'
  tps=$(docker exec "$prim" pgbench -S -n -c "${PGBENCH_CLIENTS:-8}" -j 2 -T "${DUR%s}" pgbench 2>/dev/null | awk '/^tps/ {print int($3)}' | tail -1)
  docker exec "$prim" psql -XAtqc "drop database if exists pgbench" >/dev/null 2>&1 || true
else
  log "no PostgreSQL primary found: pgbench skipped"
fi

ratio=$(awk -v a="$rt" -v b="$triv" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
cat <<OUT
trivial  GET /healthcheck/ through the edge:   ${triv} req/s  p50 ${triv50}  p99 ${triv99}  non-2xx ${triv_bad}
read-thread GET /api/threads/${tid}/posts/:    ${rt} req/s  p50 ${rt50}  p99 ${rt99}  non-2xx ${rt_bad}
pgbench select-only (primary, scale 10):        ${tps} tps
read-thread / trivial ceiling:                  ${ratio}  (goal >= 0.5)
OUT
