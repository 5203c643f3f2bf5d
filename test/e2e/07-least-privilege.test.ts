// Least privilege on the deployed stack: metrics-agent reads PostgreSQL's statistics as forum_monitor, a member of
// pg_monitor and nothing more, and its task has no superuser password to read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { containerOf, docker, STACK, stackContainers, until } from './support.js';

/** one query through psql in a postgres container (as the postgres superuser, on its socket) */
const psql = async (container: string, sql: string) => (await docker('exec', container, 'psql', '-XAtq', '-d', 'postgres', '-c', sql)).trim();

test('When metrics-agent reads PostgreSQL, then it logs in as forum_monitor (pg_monitor, not superuser) and has no superuser password', async () => {
  // the role as every member sees it (made by the primary, replicated to the standbys)
  const roleSql = "select rolsuper, rolcreaterole, rolcreatedb, pg_has_role(oid, 'pg_monitor', 'member') from pg_roles where rolname = 'forum_monitor'";
  for (const member of ['pg-0', 'pg-1', 'pg-2']) {
    const c = await containerOf(member);
    let row = '';
    await until(`${member}: forum_monitor exists`, async () => (row = await psql(c, roleSql)) !== '');
    assert.equal(row, 'f|f|f|t', `${member}: forum_monitor is (super, createrole, createdb, pg_monitor) = ${row}`);
  }
  // its sessions: metrics-agent's connections use forum_monitor, and none of its connections is a superuser's
  const c = await containerOf('pg-0');
  const sessionsSql = "select distinct usename from pg_stat_activity where application_name like 'metrics-agent%' or usename = 'forum_monitor'";
  await until('metrics-agent connected as forum_monitor', async () => {
    const users = (await psql(c, sessionsSql)).split('\n').filter(Boolean);
    return users.length > 0 && users.every((u) => u === 'forum_monitor');
  });
  const agent = await containerOf('metrics-agent');
  const secrets = (await docker('exec', agent, 'ls', '/run/secrets')).split('\n').filter(Boolean);
  assert.ok(!secrets.includes('pg_superuser_password'), `metrics-agent holds ${secrets.join(', ')}`);
  assert.ok(secrets.includes('pg_monitor_password'));
});

test('When the api has migrated, then forum_migrator owns the forum database and every table in it, and the app role owns nothing and can create nothing', async () => {
  // the primary: DDL on a standby fails as read-only, not as a missing right
  let c = '';
  await until('a PostgreSQL primary', async () => {
    for (const member of ['pg-0', 'pg-1', 'pg-2']) {
      const id = await containerOf(member).catch(() => '');
      if (id && (await psql(id, 'select pg_is_in_recovery()').catch(() => '')) === 'f') c = id;
    }
    return c !== '';
  });
  const inForum = async (sql: string) => (await docker('exec', c, 'psql', '-XAtq', '-d', 'forum', '-c', sql)).trim();
  // the primary's supervisor hands the objects over once per start; poll until it has
  await until('every table of forum owned by forum_migrator', async () => {
    const owners = (await inForum("select distinct tableowner from pg_tables where schemaname = 'public'")).split('\n').filter(Boolean);
    return owners.length === 1 && owners[0] === 'forum_migrator';
  });
  assert.equal(await inForum("select pg_get_userbyid(datdba) from pg_database where datname = 'forum'"), 'forum_migrator');
  assert.ok(Number(await inForum('select count(*) from schema_migrations')) >= 1, 'migrations recorded');
  // objects of any kind owned by the app role in this database: none
  const owned = await inForum(
    "select count(*) from pg_class c join pg_roles r on r.oid = c.relowner where r.rolname = 'forum'" +
      " union all select count(*) from pg_namespace n join pg_roles r on r.oid = n.nspowner where r.rolname = 'forum'",
  );
  assert.deepEqual(owned.split('\n'), ['0', '0'], 'relations, schemas owned by forum');
  // what the app role may do: rows yes, DDL no (checked as the role itself, inside a transaction that is rolled back)
  const asApp = (sql: string) =>
    docker('exec', c, 'psql', '-XAtq', '-d', 'forum', '-v', 'ON_ERROR_STOP=1', '-c', `begin; set local role forum; ${sql}; rollback;`);
  await asApp('select count(*) from users');
  await assert.rejects(asApp('create table app_made (id int)'), /permission denied for schema public/);
  await assert.rejects(asApp('drop table posts'), /must be owner of table posts/);
  await assert.rejects(asApp('alter table users add column x int'), /must be owner of table users/);
  const rights = await inForum(
    "select has_table_privilege('forum', 'users', 'select, insert, update, delete'), has_table_privilege('forum', 'users', 'truncate')",
  );
  assert.equal(rights, 't|f');
  // the api's and worker's pools log in as forum; forum_migrator is only seen while migrations run
  const apiSecrets = (await docker('exec', await containerOf('api'), 'ls', '/run/secrets')).split('\n').filter(Boolean);
  assert.ok(apiSecrets.includes('pg_migrator_password') && apiSecrets.includes('pg_app_password'));
});

/** `/proc/1/status` of every running container of the stack, by service (the first task's only) */
async function statusByService(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const id of await stackContainers()) {
    const svc = (await docker('inspect', id, '--format', '{{index .Config.Labels "com.docker.swarm.service.name"}}')).trim().replace(`${STACK}_`, '');
    if (out.has(svc)) continue;
    const status = await docker('exec', id, 'cat', '/proc/1/status').catch(() => '');
    if (status) out.set(svc, status);
  }
  return out;
}
const field = (status: string, name: string) => new RegExp(`^${name}:\\s*(\\S+)`, 'm').exec(status)?.[1];

test('When the containers run, then each one has only the capabilities its service keeps (cap_drop: ALL but metrics-agent, snmpd four)', async () => {
  const keeps: Record<string, string> = {
    // CHOWN, SETGID, SETUID, NET_BIND_SERVICE (bits 0, 6, 7, 10)
    snmpd: '00000000000004c1',
  };
  const statuses = await statusByService();
  assert.ok(statuses.size >= 15, `read ${statuses.size} services`);
  for (const [svc, status] of statuses) {
    if (svc === 'metrics-agent') continue; // Docker's default set: it reads the host's /proc/1/net (docs/SECURITY.md)
    assert.equal(field(status, 'CapBnd'), keeps[svc] ?? '0000000000000000', `${svc}: bounding set`);
  }
});

test('When the engine sets no-new-privileges (scripts/lib/ensure-docker.sh starts it so), then every container of the stack runs with it', async (t) => {
  const probe = await docker(
    'run',
    '--rm',
    '--network',
    'none',
    '--entrypoint',
    'grep',
    process.env.BASE_IMAGE ?? 'debian:trixie-slim',
    '^NoNewPrivs',
    '/proc/self/status',
  );
  if (!/NoNewPrivs:\s*1/.test(probe)) {
    t.skip('this engine does not set no-new-privileges (npm run deploy warns about it)');
    return;
  }
  const statuses = await statusByService();
  const without = [...statuses].filter(([, s]) => field(s, 'NoNewPrivs') !== '1').map(([svc]) => svc);
  assert.deepEqual(without, [], 'services whose process 1 may gain privileges');
});
