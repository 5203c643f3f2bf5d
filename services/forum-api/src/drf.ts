/**
 * Django REST framework's input rules, as Misago's serializers apply them: what each field type accepts, what it
 * turns it into and the message it answers otherwise. Pure functions: every route reads its input through these.
 *
 * Each parser returns the value or throws `DrfInvalid` with DRF's own message; callers collect them per field
 * (`FieldErrors`) so one answer names every bad field, as DRF's `serializer.errors` does.
 */

/** A value a DRF field refuses, with DRF's message and error code (required, null, blank, invalid, min_value, ...). */
export class DrfInvalid extends Error {
  constructor(
    message: string,
    readonly code = 'invalid',
  ) {
    super(message);
    this.name = 'DrfInvalid';
  }
}

/** The "field absent from the body" marker (DRF's `empty`), distinct from an explicit null. */
export const MISSING = undefined;

const TRUE_STRINGS = new Set(['t', 'T', 'y', 'Y', 'yes', 'Yes', 'YES', 'true', 'True', 'TRUE', 'on', 'On', 'ON', '1']);
const FALSE_STRINGS = new Set(['f', 'F', 'n', 'N', 'no', 'No', 'NO', 'false', 'False', 'FALSE', 'off', 'Off', 'OFF', '0']);

export const MESSAGES = {
  required: 'This field is required.',
  null: 'This field may not be null.',
  blank: 'This field may not be blank.',
  boolean: 'Must be a valid boolean.',
  integer: 'A valid integer is required.',
  string: 'Not a valid string.',
  maxStringLength: 'String value too large.',
} as const;

interface Opts<T> {
  /** absent from the body: this value (DRF `required=False, default=...`); no default means required */
  default?: T;
  /** null accepted and returned as null (DRF `allow_null=True`) */
  allowNull?: boolean;
}

function empty<T>(v: unknown, o: Opts<T>): { done: true; value: T | null } | { done: false } {
  if (v === MISSING) {
    if ('default' in o) return { done: true, value: o.default as T };
    throw new DrfInvalid(MESSAGES.required, 'required');
  }
  if (v === null) {
    if (o.allowNull) return { done: true, value: null };
    throw new DrfInvalid(MESSAGES.null, 'null');
  }
  return { done: false };
}

/** DRF BooleanField: true/false, 1/0 and the strings of TRUE_VALUES/FALSE_VALUES ("true", "0", "on", "no", ...). */
export function drfBoolean(v: unknown, o: Opts<boolean> = {}): boolean | null {
  const e = empty(v, o);
  if (e.done) return e.value;
  if (v === true || v === 1) return true;
  if (v === false || v === 0) return false;
  if (typeof v === 'string') {
    if (TRUE_STRINGS.has(v)) return true;
    if (FALSE_STRINGS.has(v)) return false;
    if (o.allowNull && (v === '' || v === 'null' || v === 'Null' || v === 'NULL')) return null;
  }
  throw new DrfInvalid(MESSAGES.boolean);
}

/**
 * DRF IntegerField: an integral number, or a string Python's int() reads once a trailing ".0" is cut ("2", " 2 ",
 * "2.0", "+2", "1_000"); booleans and fractions are refused. Bounds give DRF's min/max messages.
 */
export function drfInteger(v: unknown, o: Opts<number> & { min?: number; max?: number } = {}): number | null {
  const e = empty(v, o);
  if (e.done) return e.value;
  let n: number;
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new DrfInvalid(MESSAGES.integer);
    n = v;
  } else if (typeof v === 'string') {
    if (v.length > 1000) throw new DrfInvalid(MESSAGES.maxStringLength, 'max_string_length');
    const s = v.replace(/\.0*\s*$/, '').trim();
    if (!/^[+-]?\d+(_\d+)*$/.test(s)) throw new DrfInvalid(MESSAGES.integer);
    n = Number(s.replace(/_/g, ''));
    if (!Number.isSafeInteger(n)) throw new DrfInvalid(MESSAGES.integer);
  } else throw new DrfInvalid(MESSAGES.integer);
  if (o.min !== undefined && n < o.min) throw new DrfInvalid(`Ensure this value is greater than or equal to ${o.min}.`, 'min_value');
  if (o.max !== undefined && n > o.max) throw new DrfInvalid(`Ensure this value is less than or equal to ${o.max}.`, 'max_value');
  return n;
}

/** DRF CharField: a string, or a number written as one; booleans, lists and objects are refused; trimmed; blank refused. */
export function drfString(v: unknown, o: Opts<string> & { trim?: boolean; allowBlank?: boolean } = {}): string | null {
  const e = empty(v, o);
  if (e.done) return e.value;
  let s: string;
  if (typeof v === 'string') s = v;
  else if (typeof v === 'number' && Number.isFinite(v)) s = String(v);
  else throw new DrfInvalid(MESSAGES.string);
  if (o.trim !== false) s = s.trim();
  if (s === '' && !o.allowBlank) throw new DrfInvalid(MESSAGES.blank, 'blank');
  return s;
}

/**
 * Misago's `get_int_or_404` for query parameters (`start`, `page`): absent is `fallback`; anything but plain digits is
 * "not found". Values past PostgreSQL's integer range are clamped (a cursor or page that far finds nothing anyway).
 */
export function queryIntOr404(raw: unknown, fallback: number): number | null {
  if (raw === undefined) return fallback;
  if (typeof raw !== 'string' || !/^[0-9]+$/.test(raw)) return null;
  return Math.min(Number(raw.slice(0, 12)), 2_147_483_647);
}

/** Collects DRF's per-field messages; `value()` runs a parser and files its failure under the field. */
export class FieldErrors {
  readonly fields: Record<string, string[]> = {};
  /** the machine code of the first failure (answered as the extra `code` key) */
  code: string | undefined;

  add(field: string, message: string, code = 'invalid'): void {
    (this.fields[field] ??= []).push(message);
    this.code ??= code;
  }

  value<T>(field: string, parse: () => T): T | undefined {
    try {
      return parse();
    } catch (err) {
      if (!(err instanceof DrfInvalid)) throw err;
      this.add(field, err.message, err.code);
      return undefined;
    }
  }

  get any(): boolean {
    return Object.keys(this.fields).length > 0;
  }
}

/** The Python type name DRF's messages show for a JSON value. */
export function pythonType(v: unknown): string {
  if (v === null) return 'NoneType';
  if (Array.isArray(v)) return 'list';
  if (typeof v === 'string') return 'str';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  if (typeof v === 'boolean') return 'bool';
  return 'dict';
}

/** DRF's answer to a body that is not a JSON object (`non_field_errors`). */
export const notADictionary = (raw: unknown): string => `Invalid data. Expected a dictionary, but got ${pythonType(raw)}.`;
