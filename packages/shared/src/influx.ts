/**
 * InfluxDB 1.x access shared by every service that reads or writes metrics (metrics-agent, snmp-poller,
 * log-shipper, alerter): Telegraf-schema points, line protocol, InfluxQL queries and a buffered writer.
 *
 * Wire choice (docs/OBSERVABILITY.md "InfluxDB client"): the stack's own InfluxDB is Debian's `influxdb` package,
 * 1.6.7 in Debian 12 and 13, which has no `/api/v2/write` (that v1-compatibility endpoint came with 1.8), and the
 * official client's WriteApi only speaks `/api/v2/write`, its QueryApi only Flux. So the official
 * `@influxdata/influxdb-client` serialises the line protocol (`Point`: escaping, int/float/string/bool fields) and
 * carries the HTTP calls (its transport: timeouts, abort, HttpError), while the endpoints are the v1 ones every
 * InfluxDB from 1.0 to 2.x serves: `POST /write?db=&rp=&precision=ms` and `POST /query` (InfluxQL). Auth is HTTP
 * Basic (1.x users; 2.x's v1 compatibility takes user + token the same way), never the `Token` scheme 1.6 lacks.
 */
import { HttpError, InfluxDB, Point as LineProtocolPoint } from '@influxdata/influxdb-client';
import type { Logger } from 'pino';
import { BufferedWriter } from './buffer.js';

/**
 * An integer field. InfluxDB 1.x fixes a field's type on its first write, so a counter that happens to be
 * integral must still be written as an integer (`605i`) every time, and a gauge as a float: collectors say which.
 */
export class Int {
  readonly value: number;
  constructor(v: number | bigint) {
    this.value = typeof v === 'bigint' ? Number(v) : Math.trunc(v);
  }
  valueOf(): number {
    return this.value;
  }
  toString(): string {
    return String(this.value);
  }
}
export const int = (v: number | bigint | string): Int => new Int(typeof v === 'string' ? Number(v) : v);
export const isInt = (v: unknown): v is Int => v instanceof Int;

/** number = float field, Int = integer field. */
export type FieldValue = number | Int | string | boolean;

/** A point in Telegraf's schema. */
export interface Point {
  measurement: string;
  tags: Record<string, string>;
  fields: Record<string, FieldValue>;
  /** Set by the writer (time of `add`) when the collector leaves it out. */
  timestamp?: Date;
}

/**
 * Drops non-finite numbers (InfluxDB rejects NaN/Inf), empty tags, and trailing backslashes of tag values (the line
 * protocol cannot express them: the backslash would escape the separator and break the whole batch).
 * Returns undefined when no field is left.
 */
export function clean(p: Point): Point | undefined {
  const fields: Record<string, FieldValue> = {};
  for (const [k, v] of Object.entries(p.fields)) {
    if (v === undefined || v === null) continue;
    if (typeof v === 'number' && !Number.isFinite(v)) continue;
    if (v instanceof Int && !Number.isFinite(v.value)) continue;
    fields[k] = v;
  }
  if (Object.keys(fields).length === 0) return undefined;
  const tags: Record<string, string> = {};
  for (const [k, v] of Object.entries(p.tags)) {
    if (v === undefined || v === null) continue;
    const s = String(v).replace(/\\+$/, '');
    if (s !== '') tags[k] = s;
  }
  return { ...p, tags, fields };
}

/** A numeric string as Int when it is an integer literal, float otherwise (Telegraf's parse for INFO / CSV). */
export function parseNumber(s: string): FieldValue | undefined {
  if (/^-?\d+$/.test(s)) return int(Number(s));
  if (/^-?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(s)) return Number(s);
  return undefined;
}

const msTime = (t: string | number | Date | undefined): string | undefined =>
  t instanceof Date ? String(t.getTime()) : typeof t === 'number' ? String(Math.round(t)) : t;

/**
 * One line of line protocol at millisecond precision, serialised by the official client's Point. A field the
 * client refuses (an integer beyond int64) is left out rather than failing the batch; undefined when none is left.
 */
export function toLineProtocol(p: Point): string | undefined {
  const c = clean(p);
  if (!c) return undefined;
  const lp = new LineProtocolPoint(c.measurement);
  for (const [k, v] of Object.entries(c.tags)) lp.tag(k, v);
  for (const [k, v] of Object.entries(c.fields)) {
    try {
      if (v instanceof Int) lp.intField(k, v.value);
      else if (typeof v === 'number') lp.floatField(k, v);
      else if (typeof v === 'boolean') lp.booleanField(k, v);
      else lp.stringField(k, v);
    } catch {
      /* out of range for its type: skipped */
    }
  }
  if (c.timestamp) lp.timestamp(c.timestamp);
  return lp.toLineProtocol({ convertTime: msTime });
}

export interface InfluxConnection {
  /** e.g. http://influxdb:8086 (a path prefix is kept) */
  url: string;
  username?: string;
  password?: string;
  /** per request: socket inactivity and a hard deadline (a DNS lookup that never ends included); default 5000 */
  timeoutMs?: number;
}

/** One InfluxQL statement's result, as `/query` returns it. */
export interface InfluxQLSeries {
  name: string;
  tags?: Record<string, string>;
  columns: string[];
  values: unknown[][];
}
export interface InfluxQLResult {
  statement_id?: number;
  series?: InfluxQLSeries[];
  error?: string;
}

function describe(err: unknown, what: string): Error {
  if (err instanceof HttpError) {
    const detail = (err.json as { error?: string } | undefined)?.error ?? err.body ?? err.statusMessage ?? '';
    const e = new Error(`${what}: HTTP ${err.statusCode} ${String(detail).trim().slice(0, 300)}`.trim());
    (e as Error & { statusCode?: number }).statusCode = err.statusCode;
    return e;
  }
  const e = err as Error & { code?: string };
  return new Error(`${what}: ${e?.code ? `${e.code} ` : ''}${e?.message ?? String(err)}`);
}

/** Status code of an error thrown by InfluxV1 (undefined when InfluxDB did not answer). */
export const statusOf = (err: unknown): number | undefined => (err as { statusCode?: number } | undefined)?.statusCode;

/** InfluxDB's v1 HTTP API (`/write`, `/query`) over the official client's transport. */
export class InfluxV1 {
  private readonly client: InfluxDB;
  private readonly timeoutMs: number;

  constructor(readonly conn: InfluxConnection) {
    this.timeoutMs = conn.timeoutMs ?? 5000;
    const headers: Record<string, string> = {};
    if (conn.username) headers.authorization = 'Basic ' + Buffer.from(`${conn.username}:${conn.password ?? ''}`).toString('base64');
    this.client = new InfluxDB({ url: conn.url, timeout: this.timeoutMs, headers });
  }

  private async request(
    method: 'GET' | 'POST',
    path: string,
    body: string,
    contentType: string,
    what: string,
    deadlineMs = this.timeoutMs + 2000,
  ): Promise<unknown> {
    try {
      return await this.client.transport.request(path, body, {
        method,
        headers: { 'content-type': contentType, accept: 'application/json' },
        // the transport's timeout is socket inactivity; this bounds the whole call, DNS included
        signal: AbortSignal.timeout(deadlineMs),
      });
    } catch (err) {
      throw describe(err, what);
    }
  }

  /** GET /ping (204 when InfluxDB is up; no auth needed). */
  async ping(timeoutMs = 2000): Promise<void> {
    await this.request('GET', '/ping', '', 'text/plain', 'influxdb ping', timeoutMs);
  }

  /** Writes points (line protocol, ms precision) to `database` [/ `retentionPolicy`]. Resolves on 204. */
  async write(points: Point[], database: string, retentionPolicy?: string): Promise<number> {
    const lines: string[] = [];
    for (const p of points) {
      const l = toLineProtocol(p);
      if (l) lines.push(l);
    }
    if (lines.length === 0) return 0;
    const q = new URLSearchParams({ db: database, precision: 'ms' });
    if (retentionPolicy) q.set('rp', retentionPolicy);
    await this.request('POST', `/write?${q}`, lines.join('\n'), 'text/plain; charset=utf-8', 'influxdb write');
    return lines.length;
  }

  /**
   * One or more InfluxQL statements (`;`-separated), POST /query with epoch=ms. Throws on an HTTP error or on
   * the first statement error; returns every statement's result.
   */
  async queryAll(q: string, database?: string): Promise<InfluxQLResult[]> {
    const form = new URLSearchParams({ q, epoch: 'ms' });
    if (database) form.set('db', database);
    const res = (await this.request('POST', '/query', form.toString(), 'application/x-www-form-urlencoded', 'influxdb query')) as
      { results?: InfluxQLResult[]; error?: string } | undefined;
    if (res?.error) throw new Error(`influxdb query: ${res.error}`);
    const results = res?.results ?? [];
    const failed = results.find((r) => r.error);
    if (failed) throw new Error(`influxdb query: ${failed.error}`);
    return results;
  }

  /** The series of a single statement. */
  async query(q: string, database?: string): Promise<InfluxQLSeries[]> {
    return (await this.queryAll(q, database))[0]?.series ?? [];
  }

  /** CREATE DATABASE (idempotent in 1.x). */
  async createDatabase(database: string): Promise<void> {
    await this.queryAll(`CREATE DATABASE "${database.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`);
  }
}

export interface WriterOptions extends InfluxConnection {
  database: string;
  retentionPolicy?: string;
  batchSize?: number;
  bufferLimit?: number;
  flushIntervalMs?: number;
  logger: Logger;
}

export interface WriterStats {
  buffered: number;
  dropped: number;
  written: number;
  writeErrors: number;
  lastError?: string;
  lastWriteAt?: number;
}

/**
 * Batching InfluxDB writer. Never throws to the caller and never blocks collection: `add()` only queues.
 * When InfluxDB is down the queue grows up to `bufferLimit`, then drops the oldest points (counted in `dropped`).
 * A batch InfluxDB rejects as such (HTTP 400: type conflict, unparsable) is dropped and counted: it would never
 * succeed, and retrying it would block everything behind it.
 */
export class InfluxWriter extends BufferedWriter<Point> {
  readonly influx: InfluxV1;
  private dbReady = false;
  readonly stats: WriterStats = { buffered: 0, dropped: 0, written: 0, writeErrors: 0 };
  private readonly batchSize: number;

  constructor(private readonly opts: WriterOptions) {
    super({ capacity: opts.bufferLimit ?? 100_000, flushIntervalMs: opts.flushIntervalMs ?? 1000, unrefTimer: true });
    this.influx = new InfluxV1(opts);
    this.batchSize = opts.batchSize ?? 5000;
  }

  add(points: Point[]): void {
    const now = new Date();
    const ok: Point[] = [];
    for (const p of points) {
      const c = clean(p);
      if (c) ok.push({ ...c, timestamp: c.timestamp ?? now });
    }
    this.buffer.push(...ok);
    this.refresh();
  }

  /** Writes everything queued, batch by batch; stops at the first failure and keeps the rest queued. */
  protected async doFlush(): Promise<void> {
    try {
      if (!this.dbReady && this.buffer.size > 0) {
        // CREATE DATABASE is idempotent in 1.x; the local InfluxDB starts empty
        try {
          await this.influx.createDatabase(this.opts.database);
        } catch (err) {
          // a non-admin user on an external InfluxDB may not create databases: the database exists there already
          const s = statusOf(err);
          if (s !== 401 && s !== 403 && !/authoriz|forbidden/i.test((err as Error).message)) throw err;
        }
        this.dbReady = true;
      }
      while (this.buffer.size > 0) {
        const batch = this.buffer.take(this.batchSize);
        try {
          await this.influx.write(batch, this.opts.database, this.opts.retentionPolicy);
          this.stats.written += batch.length;
          this.stats.lastWriteAt = Date.now();
        } catch (err) {
          if (statusOf(err) === 400) {
            this.buffer.dropped += batch.length;
            this.opts.logger.warn({ err: (err as Error).message, points: batch.length }, 'influxdb rejected a batch; dropped');
          } else {
            this.buffer.unshift(batch);
            throw err;
          }
        }
      }
    } catch (err) {
      this.stats.writeErrors += 1;
      const msg = (err as Error).message ?? String(err);
      if (this.stats.lastError !== msg) this.opts.logger.warn({ err: msg, buffered: this.buffer.size }, 'influxdb write failed; buffering');
      this.stats.lastError = msg;
      this.dbReady = false; // e.g. a fresh InfluxDB volume after a restart: create the database again
      return;
    }
    this.stats.lastError = undefined;
  }
}
