#!/bin/sh
# keepalived track script: exit 0 while the local NGINX answers its health URL with 2xx.
# A definite "no" (connection refused, a 5xx such as the drain's 503) fails at once, so a drain or a dead NGINX moves
# the VIP in one check. A slow answer (no reply within 1 s: a loaded host) fails only when the check before it was
# slow too: one late answer on a busy 2-core host moved the VIP away and back, breaking every client connection to it
# twice, while a hung NGINX still loses the VIP after two checks. keepalived's own timeout must exceed curl's 1 s.
slow=${CHECK_NGINX_STATE:-/tmp/check-nginx.slow}
curl -fsS -o /dev/null --max-time 1 --noproxy '*' "${1:-http://127.0.0.1/edge-health}" 2>/dev/null
case $? in
  0) rm -f "$slow"; exit 0 ;;
  28) [ -e "$slow" ] && exit 1; : > "$slow"; exit 0 ;;
  *) exit 1 ;;
esac
