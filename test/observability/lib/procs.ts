// Test helpers of the observability services' tests: REAL daemons (influxd, snmpd) on free ports with temp configs,
// readiness polled with a deadline, cleaned up. The generic parts live in @forum/test-support (re-exported here, so
// existing imports of this file keep working).
import type { ChildProcess } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { freeUdpPort, startInfluxd as influxd, startProcess, tempDir, udpBound, waitFor, type Influxd } from '@forum/test-support';

export { freePort, freeUdpPort, waitFor, rows, type Influxd } from '@forum/test-support';

export interface Daemon {
  proc: ChildProcess;
  dir: string;
  stop(): Promise<void>;
  output(): string;
}

/** A real Debian influxd (1.6) on a free loopback port with a temp data dir (no auth). */
export function startInfluxd(): Promise<Influxd> {
  return influxd({ prefix: 'obs-influx-' });
}

export interface Snmpd extends Daemon {
  port: number;
  community: string;
}

/** A real snmpd on a free UDP loopback port, v2c read-only community limited to a read-only view. */
export async function startSnmpd(community = 'obs-test-community'): Promise<Snmpd> {
  const t = tempDir('obs-snmpd-');
  const dir = t.dir;
  const port = await freeUdpPort();
  const conf = t.file(
    'snmpd.conf',
    `view systemonly included .1.3.6.1.2.1.1
view systemonly included .1.3.6.1.4.1.2021
rocommunity ${community} 127.0.0.1 -V systemonly
sysName obs-test-node
sysLocation obs-test-rack
disk / 10000
`,
    0o644,
  );
  const p = startProcess('/usr/sbin/snmpd', ['-f', '-Lo', '-C', '-c', conf, '-p', join(dir, 'pid'), '-M', '/usr/share/snmp/mibs', `udp:127.0.0.1:${port}`], {
    env: { ...process.env, SNMPCONFPATH: dir, MIBS: '' },
    keepOutput: 20_000,
    killAfterMs: 5000,
  });
  const d: Snmpd = {
    proc: p.proc,
    dir,
    port,
    community,
    output: p.output,
    async stop() {
      await p.stop();
      t.remove();
    },
  };
  await waitFor('snmpd answering', async () => {
    if (p.proc.exitCode !== null) throw new Error(`snmpd exited: ${p.output()}`);
    // readiness: the UDP port is bound by snmpd (a bind attempt fails)
    return udpBound(port);
  });
  return d;
}

export { readFileSync, existsSync };
