#!/usr/bin/env bash
# term-race.sh MODE N: does a trapped TERM always reach a supervisor loop's trap? Sends TERM at a random point of a
# reduced copy of the pg supervisor's loop (a /proc scan, a child that exits each round, a trap that kills and waits
# for a background child) N times and counts the runs whose trap did not run within 10 s.
#   MODE sleep: the loadable `sleep` builtin (bash-builtins)   wait: `sleep & wait`   read: `read -t` on an idle pipe
#   notrap: `sleep & wait` without the trap, to see the harness count losses (every run)
# Run it in the postgres image, which has bash-builtins:
#   docker run --rm -v "$PWD/scripts/dev:/d:ro" --entrypoint bash forum/postgres:latest /d/term-race.sh sleep 400
set -u
mode=${1:?MODE: sleep, wait or read} n=${2:-400} lost=0
dir=$(mktemp -d)
for i in $(seq 1 "$n"); do
  bash -c '
    mode=$1 dir=$2
    [[ $mode == sleep ]] && enable -f /usr/lib/bash/sleep sleep
    exec {tfd}<> <(:)
    /bin/sleep 1000 & child=$!
    stop() { kill $child 2>/dev/null; wait $child 2>/dev/null; : > "$dir/trap.$$"; exit 0; }
    [[ $mode == notrap ]] || trap stop TERM INT
    : > "$dir/ready.$$"
    while true; do
      for f in /proc/[0-9]*/cmdline; do { IFS= read -r -d "" t < "$f"; } 2>/dev/null; done
      ( /bin/true ) &
      v=$(echo x)
      case $mode in
        sleep) sleep 0.5 2>/dev/null || true ;;
        read) read -r -t 0.5 -u $tfd _ || true ;;
        wait | notrap) /bin/sleep 0.5 & wait $! || true ;;
      esac
    done' _ "$mode" "$dir" &
  p=$!
  for _ in $(seq 1 200); do [[ -f $dir/ready.$p ]] && break; /bin/sleep 0.05; done
  /bin/sleep "0.$(printf %03d $((RANDOM % 1000)))"
  kill -TERM "$p"
  for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; /bin/sleep 0.1; done
  if kill -0 "$p" 2>/dev/null; then
    lost=$((lost + 1)); echo "run $i: still running 10 s after TERM" >&2; kill -9 "$p"; pkill -f '^/bin/sleep 1000'
  elif [[ ! -f $dir/trap.$p ]]; then
    lost=$((lost + 1)); echo "run $i: ended without its trap" >&2
  fi
  wait "$p" 2>/dev/null
done
rm -rf "$dir"
echo "mode $mode: $n runs, $lost TERMs lost"
