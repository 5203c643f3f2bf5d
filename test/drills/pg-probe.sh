#!/usr/bin/env bash
# Steady write+read probe against PostgreSQL, run INSIDE a container on postgres-net:
#   docker run --rm --network dt_postgres-net -e PGPASSWORD=... -e PROBE_CONN='host=pgpool ...' forum/postgres pg-probe.sh
# Writes a numbered row every PROBE_INTERVAL s (one connection per statement, so each try re-resolves DNS),
# reads one back, prints "ts kind seq ok|fail", and on SIGTERM/after PROBE_SECONDS verifies that every
# acknowledged write is present. Summary line: "SUMMARY acked=.. lost=.. wfail=.. rfail=.. rto_ms=..".
set -u
CONN=${PROBE_CONN:-"host=pgpool port=5432 user=forum dbname=forum connect_timeout=2"}
INTERVAL=${PROBE_INTERVAL:-0.2}
SECONDS_TOTAL=${PROBE_SECONDS:-60}
export PGCONNECT_TIMEOUT=2 PGOPTIONS="-c statement_timeout=5000"
q() { timeout 6 psql "$CONN" -XAtq -v ON_ERROR_STOP=1 -c "$1" 2>/dev/null; }
until q "create table if not exists drill_probe(seq bigint primary key, run text, at timestamptz default now())" >/dev/null; do sleep 0.5; done
RUN=${PROBE_RUN:-run$(date +%s)}
acked=(); wfail=0; rfail=0; first_fail=""; last_fail=""; rto_ms=0
end=$(( $(date +%s) + SECONDS_TOTAL )); seq=0
now_ms() { date +%s%3N; }
while (( $(date +%s) < end )); do
  seq=$((seq + 1)); t=$(now_ms)
  if q "insert into drill_probe(seq, run) values ((select coalesce(max(seq),0)+1 from drill_probe), '$RUN') returning seq" >/tmp/r && [[ -s /tmp/r ]]; then
    acked+=("$(cat /tmp/r)")
    if [[ -n "$first_fail" ]]; then d=$(( t - first_fail )); (( d > rto_ms )) && rto_ms=$d; echo "$t write recovered after ${d}ms"; first_fail=""; fi
  else
    wfail=$((wfail + 1)); [[ -z "$first_fail" ]] && first_fail=$t; echo "$t write fail"
  fi
  q "select count(*) from drill_probe where run='$RUN'" >/dev/null || { rfail=$((rfail + 1)); echo "$t read fail"; }
  sleep "$INTERVAL"
done
[[ -n "$first_fail" ]] && rto_ms=-1
# verify: every acknowledged seq must be present
until present=$(q "select string_agg(seq::text, ' ') from drill_probe where run='$RUN'"); do sleep 1; done
lost=0; declare -A have=(); for s in $present; do have[$s]=1; done
for s in "${acked[@]}"; do [[ -n "${have[$s]:-}" ]] || { lost=$((lost + 1)); echo "LOST $s"; }; done
echo "SUMMARY acked=${#acked[@]} lost=$lost wfail=$wfail rfail=$rfail rto_ms=$rto_ms"
