#!/usr/bin/env bash
# Installs the real components the tests start on the host (Debian packages) and the npm dependencies.
set -euo pipefail
PKGS=(postgresql postgresql-contrib redis-server redis-sentinel nginx haproxy pgpool2 snmpd snmp influxdb
      chromium iproute2 keepalived debootstrap curl jq wrk procps prometheus prometheus-alertmanager)
missing=()
for p in "${PKGS[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
if ((${#missing[@]})); then
  echo "[test-deps] installing: ${missing[*]}" >&2
  apt-get update -q >/dev/null
  # prometheus / prometheus-alertmanager (and redis, nginx, ...) start their daemon from postinst: a policy-rc.d
  # that answers 101 keeps every package's service down; the tests start their own processes on free ports.
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/test-deps-apt.log 2>&1 || { tail -30 /tmp/test-deps-apt.log >&2; exit 1; }
fi
# Debian starts nothing here (no systemd); tests start their own server processes on private ports.
