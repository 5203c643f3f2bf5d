#!/bin/bash
# Writes snmpd.conf from the environment and runs snmpd in the foreground.
#   SNMP_COMMUNITY_FILE (secret, required), SNMPD_PORT (default 161), SNMP_ALLOW (the sources that may ask: addresses
#   or networks, comma- or space-separated; `default` = any; `npm run deploy` sets the swarm's node addresses, the
#   docker_gwbridge network and loopback), SNMP_LOCATION, SNMP_DISK (default /hostfs = the node root mounted
#   read-only, else /).
set -euo pipefail
LOG_TAG=snmpd
source /usr/local/lib/forum/lib.sh   # log, die, file_env (images/base/lib.sh)
file_env --file-only SNMP_COMMUNITY
COMMUNITY=${SNMP_COMMUNITY//[$'\r\n']/}
unset SNMP_COMMUNITY   # not in snmpd's environment
[[ "$COMMUNITY" =~ ^[A-Za-z0-9._~-]{8,}$ ]] || die "the SNMP community must be 8+ characters of [A-Za-z0-9._~-]"
PORT="${SNMPD_PORT:-161}"
# one rocommunity line per allowed source (snmpd takes one source per line); anything else is refused, so a typo
# cannot turn into "any"
IFS=', ' read -r -a ALLOW <<<"${SNMP_ALLOW:-default}"
((${#ALLOW[@]})) || die "SNMP_ALLOW is empty (use 'default' to allow any source)"
communities=""
for src in "${ALLOW[@]}"; do
  [[ "$src" == default || "$src" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}(/[0-9]{1,2})?$ ]] ||
    die "SNMP_ALLOW entry '$src' is not an IPv4 address or network (a.b.c.d or a.b.c.d/n) nor 'default'"
  communities+="rocommunity ${COMMUNITY} ${src} -V forumview"$'\n'
done
CONF=/etc/snmp/run/snmpd.conf
umask 077
cat >"$CONF" <<CONF
agentAddress udp:${PORT}
# read-only view: system group + UCD-SNMP-MIB (memory, systemStats, dskTable)
view forumview included .1.3.6.1.2.1.1
view forumview included .1.3.6.1.4.1.2021
${communities}sysLocation ${SNMP_LOCATION:-forum swarm node}
sysName ${NODE_HOSTNAME:-$(hostname)}
disk ${SNMP_DISK:-$([[ -d /hostfs ]] && echo /hostfs || echo /)} 10%
dontLogTCPWrappersConnects yes
CONF
# root reads it at start and Debian-snmp on a reload: owner root (the entrypoint has no CAP_DAC_OVERRIDE, so a file
# of another owner would be closed to it), group Debian-snmp, no one else
chown root:Debian-snmp "$CONF"
chmod 0640 "$CONF"
# the healthcheck's client config: the community reaches snmpget through this file, not its command line
mkdir -p /etc/snmp/run/client
printf 'defVersion 2c\ndefCommunity %s\nmibs :\n' "$COMMUNITY" > /etc/snmp/run/client/snmp.conf
/usr/sbin/snmpd -f -Lo -LS4d -u Debian-snmp -g Debian-snmp -C -c "$CONF" -p /etc/snmp/run/snmpd.pid &
pid=$!
# a signal stop exits 143 (never 0): with restart_policy on-failure a 0 would leave the service stopped for good
trap 'kill -TERM "$pid" 2>/dev/null; wait "$pid"; exit 143' TERM INT
wait "$pid" || rc=$?
error "snmpd exited (${rc:-0})"
exit "${rc:-1}"
