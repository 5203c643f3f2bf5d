import { AppError, badRequest, fieldErrors } from '@forum/shared';
import { drfBoolean, drfInteger, drfString, type FieldErrors, notADictionary, pythonType } from './drf.js';

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

/** A path id: a positive 32-bit integer, else 404 (ids that cannot exist are "not found"). */
export function parseId(raw: unknown, what = 'Not found.'): number {
  if (typeof raw !== 'string' || !/^[1-9][0-9]{0,9}$/.test(raw)) throw new AppError('not_found', 404, what);
  const n = Number(raw);
  if (n > PG_INT_MAX) throw new AppError('not_found', 404, what);
  return n;
}

/**
 * The `category` query parameter of thread lists: absent is the root. Misago answers a non-number with a 500 (an
 * unhandled ValueError); a 400 naming the parameter is the deliberate difference (docs/API-DECISIONS.md).
 */
export function parseCategoryQuery(raw: unknown, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  if (typeof raw !== 'string' || !/^[0-9]{1,10}$/.test(raw) || Number(raw) > PG_INT_MAX)
    throw fieldErrors({ category: ['"category" must be a positive integer.'] });
  return Number(raw);
}

/** Request body must be a JSON object (DRF's `non_field_errors` otherwise). */
export function body(raw: unknown): Record<string, unknown> {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw fieldErrors({ non_field_errors: [notADictionary(raw)] }, 'invalid_body');
  return raw as Record<string, unknown>;
}

/** Throws DRF's 400 when any field failed. */
export function check(e: FieldErrors): void {
  if (e.any) throw fieldErrors(e.fields, e.code);
}

/** A CharField that PostgreSQL can store (text cannot hold NUL). */
function text(e: FieldErrors, b: Record<string, unknown>, name: string, trim = true): string | undefined {
  const v = e.value(name, () => drfString(b[name], { trim }));
  if (v === undefined || v === null) return undefined;
  if (v.includes('\u0000')) {
    e.add(name, 'Null characters are not allowed.', 'invalid');
    return undefined;
  }
  return v;
}

export function validateUsername(e: FieldErrors, b: Record<string, unknown>): string | undefined {
  const v = text(e, b, 'username');
  if (v === undefined) return undefined;
  if (v.length < RULES.usernameMin || v.length > RULES.usernameMax)
    e.add('username', `Username must be between ${RULES.usernameMin} and ${RULES.usernameMax} characters long.`, 'invalid_username');
  else if (!/^[0-9a-zA-Z]+$/.test(v)) e.add('username', 'Username can only contain latin alphabet letters and digits.', 'invalid_username');
  else return v;
  return undefined;
}

export function validateEmail(e: FieldErrors, b: Record<string, unknown>): string | undefined {
  const v = text(e, b, 'email');
  if (v === undefined) return undefined;
  if (v.length > 254 || !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(v)) {
    e.add('email', 'Enter a valid email address.', 'invalid_email');
    return undefined;
  }
  return v;
}

export function validatePassword(e: FieldErrors, b: Record<string, unknown>, username?: string, name = 'password'): string | undefined {
  const v = text(e, b, name, false);
  if (v === undefined) return undefined;
  if (v.length < RULES.passwordMin) e.add(name, `This password is too short. It must contain at least ${RULES.passwordMin} characters.`, 'password_too_short');
  else if (v.length > RULES.passwordMax) e.add(name, `Password must be at most ${RULES.passwordMax} characters.`, 'password_too_long');
  else if (username && v.toLowerCase() === username.toLowerCase()) e.add(name, 'The password is too similar to the username.', 'password_too_similar');
  else return v;
  return undefined;
}

/**
 * Login reads any two strings (length-capped) so odd values are just "bad credentials"; Misago's login form answers
 * `{detail, code}`, not field lists.
 */
export function loginFields(b: Record<string, unknown>): { username: string; password: string } {
  const username = b.username;
  const password = b.password;
  if (typeof username !== 'string' || typeof password !== 'string' || !username.trim() || !password) throw badRequest('Fill out both fields.', 'empty_data');
  if (username.length > 254 || password.length > RULES.passwordMax) throw badRequest('Login or password is incorrect.', 'invalid_login');
  return { username: username.trim(), password };
}

/** Misago's validate_title: what is wrong with a (normalized) title, if anything. */
export function titleProblem(v: string): { message: string; code: string } | undefined {
  if (v.length < RULES.titleMin)
    return { message: `Thread title should be at least ${RULES.titleMin} characters long (it has ${v.length}).`, code: 'title_too_short' };
  if (v.length > RULES.titleMax)
    return { message: `Thread title cannot be longer than ${RULES.titleMax} characters (it has ${v.length}).`, code: 'title_too_long' };
  if (!/[\p{L}\p{N}]/u.test(v)) return { message: 'Thread title should contain alpha-numeric characters.', code: 'title_invalid' };
  if (v.includes('\u0000')) return { message: 'Null characters are not allowed.', code: 'invalid' };
  return undefined;
}

export const normalizeTitle = (v: string) => v.trim().replace(/\s+/g, ' ');

export function validateTitle(e: FieldErrors, b: Record<string, unknown>): string | undefined {
  const raw = text(e, b, 'title');
  if (raw === undefined) return undefined;
  const v = normalizeTitle(raw);
  const problem = titleProblem(v);
  if (problem) e.add('title', problem.message, problem.code);
  return problem ? undefined : v;
}

export function validatePost(e: FieldErrors, b: Record<string, unknown>): string | undefined {
  const v = e.value('post', () => drfString(b.post, { allowBlank: true }));
  if (v === undefined || v === null) return undefined;
  if (v.includes('\u0000')) e.add('post', 'Null characters are not allowed.');
  else if (v.length < RULES.postMin)
    e.add('post', `Posted message should be at least ${RULES.postMin} characters long (it has ${v.length}).`, 'post_too_short');
  else if (v.length > RULES.postMax) e.add('post', `Posted message cannot be longer than ${RULES.postMax} characters (it has ${v.length}).`, 'post_too_long');
  else return v;
  return undefined;
}

/** close / hide of a new thread: DRF BooleanField, absent -> false. */
export const flag = (e: FieldErrors, b: Record<string, unknown>, name: string): boolean =>
  e.value(name, () => drfBoolean(b[name], { default: false })) ?? false;

/** pin of a new thread: DRF IntegerField, absent -> 0; weight 0 normal, 1 pinned in category, 2 pinned globally (clamped as Misago). */
export function pinWeight(e: FieldErrors, b: Record<string, unknown>): number {
  const v = e.value('pin', () => drfInteger(b.pin, { default: 0 })) ?? 0;
  return Math.max(0, Math.min(2, v));
}

export function categoryId(e: FieldErrors, b: Record<string, unknown>): number | undefined {
  if (b.category === undefined || b.category === null) {
    e.add('category', 'You have to select category to post thread in.', 'required');
    return undefined;
  }
  const n = e.value('category', () => drfInteger(b.category));
  if (n === undefined || n === null) return undefined;
  if (n < 1 || n > PG_INT_MAX) {
    e.add('category', 'Requested category could not be found.', 'category_not_found');
    return undefined;
  }
  return n;
}

/** attachments are accepted for compatibility (a list of ids); this forum stores none. */
export function attachments(e: FieldErrors, b: Record<string, unknown>): void {
  const v = b.attachments;
  if (v === undefined || v === null) return;
  if (!Array.isArray(v)) e.add('attachments', `Expected a list of items but got type "${pythonType(v)}".`, 'invalid_type');
  else if (v.length > 0) e.add('attachments', 'Attachments are not supported.', 'attachments_unsupported');
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
