import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';
import { tempDir } from './process.js';
import { waitFor } from './wait.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

export interface PgImageServer {
  port: number;
  image: string;
  /** temp dir, bind-mounted into the container at the same path: dumps written here are seen by both sides */
  dir: string;
  /** pg_dump, pg_restore and psql that run the image's own client programs inside the container */
  binDir: string;
  stop(): Promise<void>;
}

const docker = (...args: string[]) => execFileSync('docker', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

/** forum/postgres:<content tag of images/postgres>, built by scripts/build-images.sh when that tag is missing. */
export function postgresImage(): string {
  const tags = execFileSync('bash', ['scripts/build-images.sh', '--tags-only', 'postgres'], { cwd: REPO, encoding: 'utf8' });
  const tag = /^POSTGRES_TAG=(\S+)$/m.exec(tags)?.[1];
  if (!tag) throw new Error(`scripts/build-images.sh --tags-only postgres printed no POSTGRES_TAG: ${tags}`);
  const image = `forum/postgres:${tag}`;
  try {
    docker('image', 'inspect', image);
  } catch {
    execFileSync('bash', ['scripts/build-images.sh', 'postgres'], { cwd: REPO, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  return image;
}

/**
 * The production PostgreSQL (the project's forum/postgres image: PostgreSQL 17 on Debian trixie) as a plain
 * container (no Swarm) on the host network, listening on 127.0.0.1:<port>, superuser `postgres` with `password`
 * (scram-sha-256). Its client programs run in the same container through the wrappers in `binDir`: the host's
 * Debian 12 ships PostgreSQL 15, whose pg_dump refuses a newer server and whose pg_restore cannot read a 17 dump.
 * Trade-off: the image entrypoint (repmgr bootstrap, fencing) is bypassed, so this is the server and its
 * packages, not a replication member. stop() removes the container and the temp dir.
 */
export async function startPostgresImage(opts: { password: string; prefix?: string }): Promise<PgImageServer> {
  const image = postgresImage();
  const t = tempDir(opts.prefix ?? 'pg-image-');
  const port = await freePort();
  const name = `forum-test-pg-${process.pid}-${port}`;
  const binDir = join(t.dir, 'bin');
  mkdirSync(binDir);
  for (const tool of ['pg_dump', 'pg_restore', 'psql']) {
    // root in the container: it writes and reads the dumps in the bind-mounted temp dir, owned by the host's user.
    // A PGPASSFILE is a host path: its content goes on stdin into a mode-600 file inside the container.
    const exec = `docker exec -u root -e PGPASSWORD -e PGCONNECT_TIMEOUT`;
    writeFileSync(
      join(binDir, tool),
      `#!/bin/sh\nif [ -n "\${PGPASSFILE:-}" ]; then\n` +
        `  exec ${exec} -i ${name} sh -c 'f=$(mktemp); cat >"$f"; PGPASSFILE=$f exec "$0" "$@"' ${tool} "$@" <"$PGPASSFILE"\n` +
        `fi\nexec ${exec} ${name} ${tool} "$@"\n`,
    );
    chmodSync(join(binDir, tool), 0o755);
  }
  const server = [
    'set -e',
    'printf %s "$PW" >/tmp/pw',
    'initdb -D /tmp/pgdata -U postgres --pwfile=/tmp/pw -A scram-sha-256 -E UTF8 --locale=C --no-sync >/dev/null',
    `exec postgres -D /tmp/pgdata -p ${port} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off`,
  ].join('; ');
  docker(
    'run',
    '-d',
    '--name',
    name,
    '--label',
    'forum.test=postgres-image',
    '--network',
    'host',
    '-v',
    `${t.dir}:${t.dir}`,
    '-e',
    `PW=${opts.password}`,
    '--entrypoint',
    'bash',
    image,
    '-c',
    server,
  );
  const logs = () => {
    const r = spawnSync('docker', ['logs', '--tail', '30', name], { encoding: 'utf8' });
    return `${r.stdout}${r.stderr}`.trim();
  };
  const stop = async () => {
    try {
      docker('rm', '-f', '-v', name);
    } catch {
      /* already gone */
    }
    t.remove();
  };
  try {
    await waitFor(
      `PostgreSQL of ${image} on 127.0.0.1:${port}`,
      () => {
        if (docker('inspect', '-f', '{{.State.Running}}', name) !== 'true') throw new Error(`container exited: ${logs()}`);
        docker('exec', name, 'pg_isready', '-q', '-h', '127.0.0.1', '-p', String(port));
        return true;
      },
      60_000,
      250,
    );
    return { port, image, dir: t.dir, binDir, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
