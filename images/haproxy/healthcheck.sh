#!/bin/sh
# healthy = HAProxy answers AND its redis-master backend has a server UP (stats CSV field 18 = status).
# A proxy that routes nowhere for retries x interval (5 x 10 s) is replaced by Swarm. Why: in a drill run an old
# task kept stale addresses for all three redis nodes after their tasks had been replaced (its resolutions were held,
# every server DOWN), so each client it got failed until it was killed; a fresh task resolves every name anew.
# A Redis failover (backend DOWN for ~7 s) is far inside the 50 s this takes.
csv=$(curl -fsS --max-time 2 'http://127.0.0.1:8404/stats;csv') || exit 1
printf '%s\n' "$csv" | awk -F, '$1 == "redis-master" && $2 == "BACKEND" { found = 1; st = $18 }
  END { if (!found) { print "no redis-master backend in the stats"; exit 1 }
        if (st != "UP") { print "redis-master backend is " st ": no Redis master reachable through this proxy"; exit 1 } }'
