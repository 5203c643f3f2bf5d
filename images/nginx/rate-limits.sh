#!/usr/bin/env bash
# Renders the edge's rate limits (configs/nginx/forum.conf includes the files) from the environment, into
# RATE_LIMITS_DIR (/run/nginx). Every bad variable is reported at once, then exit 1. docs/EDGE.md "Rate limits".
#   EDGE_RATE_LIMIT_EXEMPT         CIDRs/addresses (space or comma separated) never limited; empty (default) = none.
#                                  The test harness sets the private ranges: its tools all come from one address.
#   EDGE_RATE_LIMIT_SIGNUP=6r/m    POST /api/users/ per client address (argon2id, 19 MiB each)
#   EDGE_RATE_LIMIT_SIGNUP_BURST=4
#   EDGE_RATE_LIMIT_LOGIN=30r/m    POST /api/auth/ and POST /api/users/<id>/change-password/ per client address
#   EDGE_RATE_LIMIT_LOGIN_BURST=10 (>= 8: the API's own brute-force rule must still see 8 attempts in a row)
#   EDGE_RATE_LIMIT_API=30r/s      every request to the api, the webhooks and /healthcheck/ per client address
#   EDGE_RATE_LIMIT_API_BURST=60
#   EDGE_CONN_LIMIT=100            open connections per client address (0 = no limit)
# Rates are NGINX's: <n>r/s or <n>r/m. Bursts are answered at once (nodelay); beyond them 429 with a JSON body.
set -euo pipefail
out=${RATE_LIMITS_DIR:-/run/nginx}
errors=()

rate() { # NAME DEFAULT
  local v=${!1:-$2}
  [[ $v =~ ^[1-9][0-9]{0,5}r/[sm]$ ]] || errors+=("$1=$v: expected <n>r/s or <n>r/m (n >= 1)")
  printf -v "$1" '%s' "$v"
}
count() { # NAME DEFAULT MIN
  local v=${!1:-$2}
  [[ $v =~ ^[0-9]{1,6}$ ]] && ((10#$v >= $3)) || errors+=("$1=$v: expected a whole number >= $3")
  printf -v "$1" '%s' "$v"
}
rate EDGE_RATE_LIMIT_SIGNUP 6r/m
count EDGE_RATE_LIMIT_SIGNUP_BURST 4 0
rate EDGE_RATE_LIMIT_LOGIN 30r/m
count EDGE_RATE_LIMIT_LOGIN_BURST 10 0
rate EDGE_RATE_LIMIT_API 30r/s
count EDGE_RATE_LIMIT_API_BURST 60 0
count EDGE_CONN_LIMIT 100 0

exempt=()
set -f
exempt_list=${EDGE_RATE_LIMIT_EXEMPT:-}
for a in ${exempt_list//,/ }; do
  if [[ $a =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})(/([0-9]{1,2}))?$ ]] \
    && ((10#${BASH_REMATCH[1]} <= 255 && 10#${BASH_REMATCH[2]} <= 255 && 10#${BASH_REMATCH[3]} <= 255 && 10#${BASH_REMATCH[4]} <= 255)) \
    && { [[ -z ${BASH_REMATCH[6]} ]] || ((10#${BASH_REMATCH[6]} <= 32)); }; then
    exempt+=("$a")
  elif [[ $a == *:* && $a =~ ^[0-9A-Fa-f:.]+(/([0-9]{1,3}))?$ ]] && { [[ -z ${BASH_REMATCH[2]} ]] || ((10#${BASH_REMATCH[2]} <= 128)); }; then
    exempt+=("$a")
  else
    errors+=("EDGE_RATE_LIMIT_EXEMPT: '$a' is no IPv4/IPv6 address or CIDR")
  fi
done
set +f

if ((${#errors[@]})); then
  # one JSON line each inside the image (images/base/lib.sh), plain text where it is run by a test on the host
  if [[ -f /usr/local/lib/forum/lib.sh ]]; then
    LOG_TAG=${LOG_TAG:-nginx-rate-limits}
    source /usr/local/lib/forum/lib.sh
    for e in "${errors[@]}"; do error "$e"; done
  else
    printf 'rate-limits: %s\n' "${errors[@]}" >&2
  fi
  exit 1
fi

# seconds until a limited address may send again: one slot of the rate
retry_after() { local n=${1%r/*}; [[ $1 == */m ]] && echo $(((60 + n - 1) / n)) || echo 1; }

mkdir -p "$out"
tmp=$(mktemp "$out/.rate-limits.XXXXXX")
{
  echo "# Rendered by rate-limits.sh from the environment at container start: do not edit."
  for a in "${exempt[@]}"; do echo "$a 1;"; done
} >"$tmp"
mv -f "$tmp" "$out/rate-limit-exempt.conf"

tmp=$(mktemp "$out/.rate-limits.XXXXXX")
cat >"$tmp" <<CONF
# Rendered by rate-limits.sh from the environment at container start: do not edit (http context).
# Zones: one state per client address (binary_remote_addr, 64 B on 64-bit: 1m holds ~16,000 addresses; a full zone
# drops its least recently used states, it never refuses for lack of room).
limit_req_zone \$rl_signup_key zone=edge_signup:2m rate=${EDGE_RATE_LIMIT_SIGNUP};
limit_req_zone \$rl_login_key zone=edge_login:2m rate=${EDGE_RATE_LIMIT_LOGIN};
limit_req_zone \$rl_api_key zone=edge_api:10m rate=${EDGE_RATE_LIMIT_API};
limit_conn_zone \$rl_addr zone=edge_conn:10m;
map \$rl_kind \$rl_retry_after {
    signup $(retry_after "$EDGE_RATE_LIMIT_SIGNUP");
    login $(retry_after "$EDGE_RATE_LIMIT_LOGIN");
    default 1;
}
CONF
mv -f "$tmp" "$out/rate-limits-http.conf"

tmp=$(mktemp "$out/.rate-limits.XXXXXX")
{
  echo "# Rendered by rate-limits.sh from the environment at container start: do not edit (server context)."
  echo "limit_req zone=edge_signup burst=${EDGE_RATE_LIMIT_SIGNUP_BURST} nodelay;"
  echo "limit_req zone=edge_login burst=${EDGE_RATE_LIMIT_LOGIN_BURST} nodelay;"
  echo "limit_req zone=edge_api burst=${EDGE_RATE_LIMIT_API_BURST} nodelay;"
  if ((10#$EDGE_CONN_LIMIT > 0)); then echo "limit_conn edge_conn $((10#$EDGE_CONN_LIMIT));"; fi
} >"$tmp"
mv -f "$tmp" "$out/rate-limits-server.conf"
chmod 0644 "$out/rate-limit-exempt.conf" "$out/rate-limits-http.conf" "$out/rate-limits-server.conf"
