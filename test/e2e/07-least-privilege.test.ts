// Least privilege on the deployed stack: metrics-agent reads PostgreSQL's statistics as forum_monitor, a member of
// pg_monitor and nothing more, and its task has no superuser password to read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { containerOf, docker, until } from './support.js';

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
