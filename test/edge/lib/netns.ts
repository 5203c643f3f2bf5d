// A client network namespace on this machine (docs ENVIRONMENT.md "Client IPs as the edge sees them"): a veth pair,
// the host side `host`/30, the namespace side `ip`/30 with a default route via the host side. The edge's host-mode
// ports, reached at https://<host>:<port>/ (or http:// for the redirect) from inside, see the client as `ip`. Needs
// root and iproute2. The client inherits the environment (NODE_EXTRA_CA_CERTS, EDGE_TLS_CA: the stack's CA) and
// checks the certificate against the name EDGE_TLS_NAME (CLIENT_TLS_NAME): <host> is on no certificate.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO } from './harness.js';

export interface NetnsClient {
  ns: string;
  host: string;
  ip: string;
  /** Creates the namespace (an earlier run's leftover of the same name is removed first). */
  create(): void;
  /** Removes the namespace and its veth pair; safe to call twice. */
  remove(): void;
  /** Runs test/edge/lib/client.mjs inside the namespace: its last stdout line, parsed. */
  client(...args: string[]): any;
}

/** The name client.mjs checks the edge's certificate against: one the generated certificate always has. */
export const CLIENT_TLS_NAME = 'localhost';

function run(cmd: string, args: string[], env?: NodeJS.ProcessEnv) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120_000, env });
  return { code: r.status, out: (r.stdout ?? '').trim(), err: (r.stderr ?? '').trim() };
}
function must(cmd: string, ...args: string[]): string {
  const r = run(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.err}`);
  return r.out;
}

export function netnsClient(ns: string, host: string, ip: string): NetnsClient {
  const veth = `${ns}-h`;
  const remove = () => {
    run('ip', ['netns', 'del', ns]);
    run('ip', ['link', 'del', veth]);
  };
  return {
    ns,
    host,
    ip,
    remove,
    create() {
      remove();
      must('ip', 'netns', 'add', ns);
      must('ip', 'link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
      must('ip', 'addr', 'add', `${host}/30`, 'dev', veth);
      must('ip', 'link', 'set', veth, 'up');
      must('ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up');
      must('ip', 'netns', 'exec', ns, 'ip', 'addr', 'add', `${ip}/30`, 'dev', 'eth0');
      must('ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'eth0', 'up');
      must('ip', 'netns', 'exec', ns, 'ip', 'route', 'add', 'default', 'via', host);
    },
    client(...args: string[]) {
      const r = run('ip', ['netns', 'exec', ns, process.execPath, join(REPO, 'test/edge/lib/client.mjs'), ...args], {
        ...process.env,
        EDGE_TLS_NAME: CLIENT_TLS_NAME,
      });
      return JSON.parse(r.out.split('\n').pop() || '{}');
    },
  };
}
