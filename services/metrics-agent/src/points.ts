/**
 * Points in Telegraf's schema. InfluxDB 1.x fixes a field's type on first write, so integers must be written as
 * integers (`605i`) every time: wrap them in `Int`. The `influx` client serialises non-string field values with
 * String(value), which for Int yields the integer literal.
 */
export class Int {
  readonly value: number;
  constructor(v: number | bigint) {
    this.value = typeof v === 'bigint' ? Number(v) : Math.trunc(v);
  }
  toString(): string {
    return `${this.value}i`;
  }
  valueOf(): number {
    return this.value;
  }
}
export const int = (v: number | bigint | string): Int => new Int(typeof v === 'string' ? Number(v) : v);

export type FieldValue = number | Int | string | boolean;

export interface Point {
  measurement: string;
  tags: Record<string, string>;
  fields: Record<string, FieldValue>;
  /** Date or epoch ms; set by the agent when the collector leaves it out. */
  timestamp?: Date;
}

/** Drops non-finite numbers (InfluxDB rejects NaN/Inf) and empty tags. Returns undefined when no field is left. */
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
  for (const [k, v] of Object.entries(p.tags)) if (v !== undefined && v !== null && String(v) !== '') tags[k] = String(v);
  return { ...p, tags, fields };
}

/** A numeric string as Int when it is an integer literal, float otherwise (Telegraf's parse for INFO / CSV). */
export function parseNumber(s: string): FieldValue | undefined {
  if (/^-?\d+$/.test(s)) return int(Number(s));
  if (/^-?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(s)) return Number(s);
  return undefined;
}
