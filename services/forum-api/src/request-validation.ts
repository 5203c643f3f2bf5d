/** Reading requests as DRF does: path ids, query parameters and the fields of JSON bodies (DRF's 400s, Misago's messages). */
import { AppError, badRequest, fieldErrors } from '@forum/shared';
import { drfBoolean, drfInteger, drfString, FieldErrors, notADictionary, pythonType } from './drf.js';
import { normalizeTitle, RULES, titleProblem } from './forum-rules.js';

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

/** The body of a reply or an edit: `post` (and `attachments`), DRF's field lists otherwise. */
export function postFields(raw: unknown): string {
  const b = body(raw);
  const e = new FieldErrors();
  const source = validatePost(e, b);
  attachments(e, b);
  check(e);
  return source as string;
}

export interface NewThreadFields {
  title: string;
  source: string;
  category: number;
  close: boolean;
  hide: boolean;
  weight: number;
}

/** The body of a new thread; as Misago's posting middlewares, close/hide/pin are read only for staff, others' are ignored. */
export function newThreadFields(raw: unknown, isStaff: boolean): NewThreadFields {
  const b = body(raw);
  const e = new FieldErrors();
  const title = validateTitle(e, b);
  const source = validatePost(e, b);
  const category = categoryId(e, b);
  attachments(e, b);
  const close = isStaff ? flag(e, b, 'close') : false;
  const hide = isStaff ? flag(e, b, 'hide') : false;
  const weight = isStaff ? pinWeight(e, b) : 0;
  check(e);
  if (title === undefined || source === undefined || category === undefined) throw new Error('validated fields missing');
  return { title, source, category, close, hide, weight };
}

/** The body of a registration. */
export function registrationFields(raw: unknown): { username: string; email: string; password: string } {
  const b = body(raw);
  const e = new FieldErrors();
  const username = validateUsername(e, b);
  const email = validateEmail(e, b);
  const password = validatePassword(e, b, username);
  check(e);
  if (username === undefined || email === undefined || password === undefined) throw new Error('validated fields missing');
  return { username, email, password };
}

/** The body of a password change: the current password and a valid `new_password`. */
export function passwordChangeFields(raw: unknown, username: string): { current: string; next: string } {
  const b = body(raw);
  const e = new FieldErrors();
  if (typeof b.password !== 'string' || !b.password) e.add('password', 'Enter your current password.');
  const next = validatePassword(e, b, username, 'new_password');
  check(e);
  if (next === undefined || typeof b.password !== 'string') throw new Error('validated fields missing');
  return { current: b.password, next };
}
