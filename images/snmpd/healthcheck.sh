#!/bin/bash
# healthy = the agent answers sysUpTime.0 with our own community on loopback
set -euo pipefail
# the community comes from the client config the entrypoint wrote (mode 600), never a command line
SNMPCONFPATH=/etc/snmp/run/client snmpget -t 2 -r 0 -Oqv "127.0.0.1:${SNMPD_PORT:-161}" 1.3.6.1.2.1.1.3.0 >/dev/null
