// The shared InfluxDB layer against a real Debian influxd 1.x (the version the stack runs: no /api/v2/write).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { rows, startInfluxd, type Influxd } from '@forum/test-support';
import { InfluxV1, InfluxWriter, int, statusOf, toLineProtocol } from '@forum/shared/influx';

const logger = pino({ level: 'silent' });
let influx: Influxd & { user: string; password: string };

before(async () => {
  influx = await startInfluxd({ auth: true, prefix: 'shared-influx-' });
});
after(async () => {
  await influx?.stop();
});

const fieldTypes = async (db: string, m: string) =>
  Object.fromEntries(rows(await influx.query(`SHOW FIELD KEYS FROM "${m}"`, db)).map((x) => [x.fieldKey, x.fieldType]));

test('When points are serialised, then the official client writes the line protocol: escaping, int/float/string/bool fields, ms timestamps', () => {
  const line = toLineProtocol({
    measurement: 'm,x y',
    tags: { 'a b': 'c,d=e', empty: '', trail: 'x\\' },
    fields: { i: int(605), f: 1, s: 'say "hi"', b: true, nan: NaN },
    timestamp: new Date(1_700_000_000_123),
  });
  assert.equal(line, 'm\\,x\\ y,a\\ b=c\\,d\\=e,trail=x b=T,f=1,i=605i,s="say \\"hi\\"" 1700000000123');
  assert.equal(toLineProtocol({ measurement: 'm', tags: {}, fields: { nan: NaN } }), undefined);
});

test('When points are written through v1 /write with Basic auth, then InfluxQL reads them back with their types', async () => {
  const db = 'w1';
  const client = new InfluxV1({ url: influx.url, username: influx.user, password: influx.password });
  await client.ping();
  await client.createDatabase(db);
  const t = new Date(Date.now() - 1000);
  const n = await client.write(
    [
      {
        measurement: 'redis',
        tags: { server: '10.0.0.5', port: '6379', note: 'with space, comma' },
        fields: { clients: int(7), keyspace_hitrate: 1, redis_version: '7.0.15', up: true },
        timestamp: t,
      },
      { measurement: 'redis', tags: { server: '10.0.0.6', port: '6379' }, fields: { clients: int(3), keyspace_hitrate: 0.5 }, timestamp: t },
    ],
    db,
  );
  assert.equal(n, 2);
  const series = await client.query(`SELECT "clients", "keyspace_hitrate" FROM "redis" GROUP BY "server", "note"`, db);
  const got = series.map((s) => ({ server: s.tags?.server, note: s.tags?.note, row: s.values[0] }));
  assert.deepEqual(
    got.sort((a, b) => String(a.server).localeCompare(String(b.server))),
    [
      { server: '10.0.0.5', note: 'with space, comma', row: [t.getTime(), 7, 1] },
      { server: '10.0.0.6', note: '', row: [t.getTime(), 3, 0.5] },
    ],
  );
  assert.deepEqual(await fieldTypes(db, 'redis'), { clients: 'integer', keyspace_hitrate: 'float', redis_version: 'string', up: 'boolean' });
});

test('When InfluxDB refuses, then the error carries its HTTP status and message: wrong password 401, bad query, unknown database', async () => {
  const bad = new InfluxV1({ url: influx.url, username: influx.user, password: 'wrong' });
  await assert.rejects(
    bad.write([{ measurement: 'm', tags: {}, fields: { v: 1 } }], 'w1'),
    (err: Error) => statusOf(err) === 401 && /authorization failed/i.test(err.message),
  );
  const good = new InfluxV1({ url: influx.url, username: influx.user, password: influx.password });
  await assert.rejects(good.query('SELEKT 1', 'w1'), (err: Error) => statusOf(err) === 400 && /error parsing query/.test(err.message));
  await assert.rejects(
    good.write([{ measurement: 'm', tags: {}, fields: { v: 1 } }], 'nope'),
    (err: Error) => statusOf(err) === 404 && /database not found/.test(err.message),
  );
});

test('When InfluxWriter writes, then it creates the database, writes in batches, drops (and counts) a batch with a type conflict and keeps going', async () => {
  const w = new InfluxWriter({ url: influx.url, username: influx.user, password: influx.password, database: 'w2', batchSize: 2, logger });
  w.add([1, 2, 3].map((i) => ({ measurement: 'c', tags: { i: String(i) }, fields: { v: int(i) } })));
  await w.flush();
  assert.equal(w.stats.written, 3);
  assert.equal(w.stats.lastError, undefined);
  w.add([{ measurement: 'c', tags: { i: '9' }, fields: { v: 'text' } }]); // v is an integer field now: 400
  await w.flush();
  assert.equal(w.stats.dropped, 1);
  w.add([{ measurement: 'c', tags: { i: '4' }, fields: { v: int(4) } }]);
  await w.flush();
  assert.equal(w.stats.written, 4);
  assert.equal(rows(await influx.query('SELECT count("v") FROM c', 'w2'))[0].count, 4);
});

test('When the connection is refused, then the error has no status (the writer keeps the points queued)', async () => {
  const w = new InfluxWriter({ url: 'http://127.0.0.1:9', database: 'x', logger, timeoutMs: 500 });
  w.add([{ measurement: 'm', tags: {}, fields: { v: 1 } }]);
  await w.flush();
  assert.equal(w.stats.writeErrors, 1);
  assert.equal(w.stats.buffered, 1);
  assert.match(w.stats.lastError ?? '', /ECONNREFUSED/);
});
