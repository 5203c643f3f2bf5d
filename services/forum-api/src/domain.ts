import { AppError, badRequest } from '@forum/shared';

/** Misago 0.27 defaults. */
export const RULES = {
  usernameMin: 3,
  usernameMax: 14,
  passwordMin: 7,
  passwordMax: 256,
  titleMin: 5,
  titleMax: 90,
  postMin: 5,
  postMax: 60_000,
  threadsPerPage: 26,
  postsPerPage: 18,
  bruteforceFailures: 8,
  bruteforceWindowSeconds: 30,
} as const;

export const PG_INT_MAX = 2_147_483_647;

const field = (name: string, detail: string, code: string) => badRequest(detail, code, { field: name });

/** A path/query id: a positive 32-bit integer, else 404 (ids that cannot exist are "not found"). */
export function parseId(raw: unknown, what = 'Not found.'): number {
  if (typeof raw !== 'string' || !/^[1-9][0-9]{0,9}$/.test(raw)) throw new AppError('not_found', 404, what);
  const n = Number(raw);
  if (n > PG_INT_MAX) throw new AppError('not_found', 404, what);
  return n;
}

/** An optional positive integer query parameter, else 400 naming it. */
export function parseOptionalInt(raw: unknown, name: string): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (typeof raw !== 'string' || !/^[0-9]{1,10}$/.test(raw) || Number(raw) > PG_INT_MAX) throw field(name, `"${name}" must be a positive integer.`, 'invalid');
  return Number(raw);
}

/** Request body must be a JSON object. */
export function body(raw: unknown): Record<string, unknown> {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw badRequest('Request body must be a JSON object.', 'invalid_body');
  return raw as Record<string, unknown>;
}

function str(b: Record<string, unknown>, name: string, label: string): string {
  const v = b[name];
  if (v === undefined || v === null) throw field(name, `${label} is required.`, 'required');
  if (typeof v !== 'string') throw field(name, `${label} must be a string.`, 'invalid_type');
  // PostgreSQL text cannot hold NUL
  if (v.includes('\u0000')) throw field(name, `${label} contains a NUL character.`, 'invalid');
  return v;
}

export function validateUsername(b: Record<string, unknown>): string {
  const v = str(b, 'username', 'Username').trim();
  if (v.length < RULES.usernameMin || v.length > RULES.usernameMax)
    throw field('username', `Username must be between ${RULES.usernameMin} and ${RULES.usernameMax} characters long.`, 'invalid_username');
  if (!/^[0-9a-zA-Z]+$/.test(v)) throw field('username', 'Username can only contain latin alphabet letters and digits.', 'invalid_username');
  return v;
}

export function validateEmail(b: Record<string, unknown>): string {
  const v = str(b, 'email', 'E-mail').trim();
  if (v.length > 254 || !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(v)) throw field('email', 'Enter a valid e-mail address.', 'invalid_email');
  return v;
}

export function validatePassword(b: Record<string, unknown>, username?: string): string {
  const v = str(b, 'password', 'Password');
  if (v.length < RULES.passwordMin)
    throw field('password', `This password is too short. It must contain at least ${RULES.passwordMin} characters.`, 'password_too_short');
  if (v.length > RULES.passwordMax) throw field('password', `Password must be at most ${RULES.passwordMax} characters.`, 'password_too_long');
  if (username && v.toLowerCase() === username.toLowerCase()) throw field('password', 'The password is too similar to the username.', 'password_too_similar');
  return v;
}

/** Login accepts any string pair (length-capped) so wrong types are 400 and odd values are just "bad credentials". */
export function loginFields(b: Record<string, unknown>): { username: string; password: string } {
  const username = str(b, 'username', 'Username');
  const password = str(b, 'password', 'Password');
  if (username.length > 254 || password.length > RULES.passwordMax) throw badRequest('Login or password is incorrect.', 'invalid_login');
  return { username: username.trim(), password };
}

export function validateTitle(b: Record<string, unknown>, name = 'title'): string {
  const v = str(b, name, 'Thread title').trim().replace(/\s+/g, ' ');
  if (v.length < RULES.titleMin)
    throw field(name, `Thread title should be at least ${RULES.titleMin} characters long (it has ${v.length}).`, 'title_too_short');
  if (v.length > RULES.titleMax) throw field(name, `Thread title cannot be longer than ${RULES.titleMax} characters (it has ${v.length}).`, 'title_too_long');
  if (!/[\p{L}\p{N}]/u.test(v)) throw field(name, 'Thread title should contain alpha-numeric characters.', 'title_invalid');
  return v;
}

export function validatePost(b: Record<string, unknown>): string {
  const v = str(b, 'post', 'Message').trim();
  if (v.length < RULES.postMin)
    throw field('post', `Posted message should be at least ${RULES.postMin} characters long (it has ${v.length}).`, 'post_too_short');
  if (v.length > RULES.postMax) throw field('post', `Posted message cannot be longer than ${RULES.postMax} characters (it has ${v.length}).`, 'post_too_long');
  return v;
}

/** Optional boolean flag; absent/null -> false. */
export function flag(b: Record<string, unknown>, name: string): boolean {
  const v = b[name];
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw field(name, `"${name}" must be a boolean.`, 'invalid_type');
  return v;
}

/** weight: 0 normal, 1 pinned in category, 2 pinned globally (`pin` may be a boolean too). */
export function pinWeight(b: Record<string, unknown>, name = 'pin'): number {
  const v = b[name];
  if (v === undefined || v === null || v === false) return 0;
  if (v === true) return 1;
  if (v === 0 || v === 1 || v === 2) return v;
  throw field(name, `"${name}" must be 0, 1 or 2.`, 'invalid');
}

export function categoryId(b: Record<string, unknown>): number {
  const v = b.category;
  const n = typeof v === 'string' && /^[0-9]{1,10}$/.test(v) ? Number(v) : v;
  if (v === undefined || v === null) throw field('category', 'Category is required.', 'required');
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > PG_INT_MAX) throw field('category', 'Category must be an integer id.', 'invalid_type');
  return n;
}

/** attachments are accepted for compatibility; this forum stores none. */
export function attachments(b: Record<string, unknown>): void {
  const v = b.attachments;
  if (v === undefined || v === null) return;
  if (!Array.isArray(v)) throw field('attachments', '"attachments" must be a list.', 'invalid_type');
  if (v.length > 0) throw field('attachments', 'Attachments are not supported.', 'attachments_unsupported');
}

export function slugify(s: string, fallback = 'thread'): string {
  const slug = s
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 80)
    .replace(/-+$/, '');
  return slug || fallback;
}
