#!/usr/bin/env bash
# npm run bench:api - measures the forum API (read-thread and reply req/s, p50/p95/p99) against a local
# PostgreSQL 15 + Redis started privately on free ports (Debian packages), using wrk. Prints the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
for bin in /usr/lib/postgresql/15/bin/initdb redis-server wrk taskset; do
  command -v "$bin" >/dev/null || { echo "bench-api: missing $bin (apt-get install postgresql-15 redis-server wrk util-linux)" >&2; exit 1; }
done
npx tsc -b packages/shared services/forum-api
exec node --import tsx services/forum-api/bench/bench.ts
