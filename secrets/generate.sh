#!/usr/bin/env bash
# Creates every secret file the stack needs that does not exist yet. Never overwrites a generated secret, so
# re-running is safe and an operator can put their own values in place first. The one exception is the Slack
# webhook URL: SLACK_WEBHOOK_URL, when set and different from secrets/slack_webhook_url, replaces it.
# Files are mode 0600 and gitignored; only this generator and README.md are tracked.
set -euo pipefail
dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
umask 077

rand() { LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c "${1:-32}" || true; }

put() { # name value-producer
  local name=$1 value=$2 f="$dir/$1"
  if [[ -s $f ]]; then return 0; fi
  printf '%s' "$value" >"$f"
  chmod 600 "$f"
  printf '[secrets] generated %s\n' "$name" >&2
}

for name in pg_superuser_password pg_app_password pg_repmgr_password pg_monitor_password pg_migrator_password pgpool_admin_password \
            redis_password redis_app_password redis_replication_password redis_sentinel_password redis_metrics_password \
            admin_password influxdb_password; do
  put "$name" "$(rand 32)"
done
put session_secret "$(rand 64)"
put ipblock_token "$(rand 48)"
put autoscaler_token "$(rand 48)"
put snmp_community "$(rand 24)"
put keepalived_auth_pass "$(rand 8)"  # VRRPv2 PASS: at most 8 characters
# Slack: SLACK_WEBHOOK_URL, when set, is the operator's value and wins over the file (the one secret that is
# not generated), so `SLACK_WEBHOOK_URL=... npm run deploy` changes it; the deploy names secrets by content
# hash, so the services that read it roll. Unset, the file is kept, and a first run writes a URL on the
# container's own loopback, which discards messages locally.
slack="$dir/slack_webhook_url"
if [[ -n ${SLACK_WEBHOOK_URL:-} ]]; then
  [[ $SLACK_WEBHOOK_URL =~ ^https?://[^[:space:]]+$ ]] \
    || { printf '[secrets] SLACK_WEBHOOK_URL is not an http(s) URL: not written\n' >&2; exit 1; }
  if [[ ! -s $slack || $(cat "$slack") != "$SLACK_WEBHOOK_URL" ]]; then
    had=0; [[ -s $slack ]] && had=1
    printf '%s' "$SLACK_WEBHOOK_URL" >"$slack"
    chmod 600 "$slack"
    if ((had)); then
      printf '[secrets] slack_webhook_url updated from SLACK_WEBHOOK_URL (its services roll on this deploy)\n' >&2
    else
      printf '[secrets] slack_webhook_url written from SLACK_WEBHOOK_URL\n' >&2
    fi
  fi
else
  put slack_webhook_url "http://127.0.0.1:9/slack-disabled"
fi

# TLS for the edge (docs/SECURITY.md "TLS"). A deploy with TLS_CERT_FILE/TLS_KEY_FILE uses the operator's own pair
# and nothing is generated. Otherwise: a local CA (tls_ca.pem + tls_ca.key, 10 years, created once and never
# replaced: clients that trust it keep trusting it) and a server certificate for the edge signed by it (tls_cert.pem,
# tls_key.pem). The server key is never replaced. The server certificate is re-issued from the same CA and key only
# when it is this CA's own and either expires within 30 days or lacks a name this deploy serves (TLS_SAN_EXTRA:
# deploy.sh passes the swarm nodes' addresses, EDGE_VIP, EDGE_HOST and TLS_SERVER_NAMES): a certificate signed by
# anyone else is never touched, only reported. ECDSA P-256: the cheapest handshake every current client accepts.
# 825 days: the longest validity Apple's clients accept for a server certificate, from any CA.
is_addr() { [[ $1 =~ ^[0-9.]+$ || $1 == *:* ]]; }
# names_missing CERT NAME...: prints each NAME the certificate does not name (an address by IP, anything else by DNS)
names_missing() {
  local cert=$1 n opt; shift
  for n; do
    is_addr "$n" && opt=-checkip || opt=-checkhost
    openssl x509 -in "$cert" -noout "$opt" "$n" | grep -q 'does match' || printf '%s\n' "$n"
  done
}
tls_generate() {
  local ca=$dir/tls_ca.pem ca_key=$dir/tls_ca.key cert=$dir/tls_cert.pem key=$dir/tls_key.pem
  if ! command -v openssl >/dev/null; then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
      printf '[secrets] installing Debian'\''s openssl\n' >&2
      apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends openssl >/dev/null
    else
      printf '[secrets] openssl is needed to make the edge'\''s TLS certificate: apt-get install openssl\n' >&2; return 1
    fi
  fi
  if [[ ! -s $ca && ! -s $ca_key ]]; then
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$ca_key" -out "$ca" -days 3650 \
      -subj "/O=forum/CN=forum local CA $(hostname -s 2>/dev/null || hostname) $(date -u +%Y%m%d%H%M%S)" \
      -addext 'basicConstraints=critical,CA:TRUE,pathlen:0' -addext 'keyUsage=critical,keyCertSign,cRLSign' 2>/dev/null
    chmod 600 "$ca_key"; chmod 644 "$ca"
    printf '[secrets] generated tls_ca.pem (the local CA: give this file to clients and browsers to trust the edge)\n' >&2
  fi
  # the names the edge answers to: this machine (its global addresses, not the bridges Docker makes: those come and
  # go with networks, and each change would re-issue the certificate and roll nginx), loopback, and TLS_SAN_EXTRA
  local -a names=(localhost 127.0.0.1 ::1) addrs=()
  local n
  if command -v ip >/dev/null; then
    mapfile -t addrs < <(ip -o addr show scope global 2>/dev/null | awk '$2 !~ /^(docker|br-|veth|virbr)/ { sub(/\/.*/, "", $4); print $4 }')
  else
    read -r -a addrs <<<"$(hostname -I 2>/dev/null)"
  fi
  for n in "$(hostname 2>/dev/null)" "$(hostname -f 2>/dev/null)" "${addrs[@]}" ${TLS_SAN_EXTRA:-}; do
    n=${n//,/}
    [[ -n $n && $n != 0.0.0.0 && " ${names[*]} " != *" $n "* ]] && names+=("$n")
  done
  local why=
  if [[ ! -s $cert ]]; then
    why=new
  elif openssl verify -CAfile "$ca" "$cert" >/dev/null 2>&1; then
    openssl x509 -in "$cert" -noout -checkend $((30 * 86400)) >/dev/null || why="expires within 30 days"
    while read -r n; do why="${why:+$why, }adds $n"; done < <(names_missing "$cert" "${names[@]}")
  else
    while read -r n; do
      printf '[secrets] NOTE: tls_cert.pem (not signed by tls_ca.pem: kept as it is) does not name %s\n' "$n" >&2
    done < <(names_missing "$cert" "${names[@]}")
  fi
  [[ -n $why ]] || return 0
  [[ -s $ca_key ]] || { printf '[secrets] tls_cert.pem needs issuing (%s) but tls_ca.key is missing: restore it, or pass TLS_CERT_FILE/TLS_KEY_FILE\n' "$why" >&2; return 1; }
  [[ -s $key ]] || { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$key" 2>/dev/null; chmod 600 "$key"; }
  local san= ext
  for n in "${names[@]}"; do
    if is_addr "$n"; then san+="${san:+,}IP:$n"; else san+="${san:+,}DNS:$n"; fi
  done
  ext=$(mktemp)
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=%s\n' "$san" >"$ext"
  openssl req -new -key "$key" -subj "/O=forum/CN=${names[3]:-localhost}" 2>/dev/null \
    | openssl x509 -req -CA "$ca" -CAkey "$ca_key" -set_serial "0x$(openssl rand -hex 16)" -days 825 -extfile "$ext" -out "$cert.new" 2>/dev/null
  rm -f "$ext"
  chmod 644 "$cert.new"; mv "$cert.new" "$cert"
  printf '[secrets] issued tls_cert.pem from tls_ca.pem (%s): %s\n' "$why" "$san" >&2
}
if [[ -z ${TLS_CERT_FILE:-} ]]; then tls_generate; fi
