#!/bin/bash
# keepalived track script: exit 0 while the local NGINX answers its health URL with 2xx.
#   check-nginx.sh [http://HOST[:PORT]/PATH [STATE_FILE]]   (plain HTTP; HOST is the local NGINX, an address, not a name)
# STATE_FILE (default /tmp/check-nginx.slow) remembers that the last answer was slow; keepalived-setup.sh gives each
# instance its own, so that two instances on one host (the edge tests) do not count each other's slow answers.
# A definite "no" (connection refused, a 5xx such as the drain's 503) fails at once, so a drain or a dead NGINX moves
# the VIP in one check. A slow answer (no status line within 1 s: a loaded host) fails only when the check before it
# was slow too: one late answer on a busy 2-core host moved the VIP away and back, breaking every client connection
# to it twice, while a hung NGINX still loses the VIP after two checks. keepalived's own timeout (2 s) must exceed
# the 1 s wait here.
# HTTP/1.0 over bash's /dev/tcp, no curl: keepalived runs this every second on every node, and curl (a dynamically
# linked TLS-capable client) was most of the keepalived service's CPU. The price: the connect has no timeout of its
# own. To a local listener it is accepted or refused at once; only an NGINX whose accept queue is full leaves it
# hanging, and keepalived's timeout then counts that as a failure at the first check instead of the second.
slow=${2:-/tmp/check-nginx.slow}
url=${1:-http://127.0.0.1/edge-health}
rest=${url#http://}
hostport=${rest%%/*}
path=/
[[ $rest == */* ]] && path=/${rest#*/}
host=${hostport%:*} port=80
[[ $hostport == *:* ]] && port=${hostport##*:}
{ exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null || exit 1
printf 'GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: keepalived-check\r\n\r\n' "$path" "$hostport" >&3 2>/dev/null || exit 1
IFS=' ' read -r -t 1 -u 3 _ code _
rc=$?
if ((rc == 0)); then
  if [[ $code == 2[0-9][0-9] ]]; then
    [[ -e $slow ]] && rm -f "$slow"
    exit 0
  fi
  exit 1
fi
# no status line: a timeout (read's status > 128) is slow; anything else (the connection closed) is a failure
((rc > 128)) || exit 1
[[ -e $slow ]] && exit 1
: >"$slow"
exit 0
