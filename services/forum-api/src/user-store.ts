import type { Queryable } from './db.js';

/** The SQL of users. */

export interface UserRow {
  id: number;
  username: string;
  slug: string;
  email: string;
  is_staff: boolean;
  joined_on: Date | string;
  threads: number;
  posts: number;
}

const USER_COLS = 'id, username, slug, email, password_hash, is_staff, joined_on, threads, posts';

export async function findUser(c: Queryable, id: number): Promise<UserRow | undefined> {
  const { rows } = await c.query<UserRow>(`SELECT ${USER_COLS} FROM users WHERE id = $1`, [id]);
  return rows[0];
}

/** The account a login names, by username or e-mail, case-insensitive. */
export async function findLogin(c: Queryable, login: string): Promise<(UserRow & { password_hash: string; is_banned: boolean }) | undefined> {
  const { rows } = await c.query<UserRow & { password_hash: string; is_banned: boolean }>(
    `SELECT ${USER_COLS}, is_banned FROM users WHERE lower(username) = lower($1) OR lower(email) = lower($1) LIMIT 1`,
    [login],
  );
  return rows[0];
}

/** What `insertUser` throws when the username or e-mail is taken (case-insensitive unique indexes). */
export class TakenError extends Error {
  constructor(readonly field: 'username' | 'email') {
    super(`${field} taken`);
  }
}

export async function insertUser(c: Queryable, u: { username: string; slug: string; email: string; passwordHash: string }): Promise<UserRow> {
  try {
    const { rows } = await c.query<UserRow>(`INSERT INTO users (username, slug, email, password_hash) VALUES ($1, $2, $3, $4) RETURNING ${USER_COLS}`, [
      u.username,
      u.slug,
      u.email,
      u.passwordHash,
    ]);
    return rows[0];
  } catch (err) {
    const e = err as { code?: string; constraint?: string };
    if (e.code === '23505' && e.constraint === 'users_username_lower') throw new TakenError('username');
    if (e.code === '23505' && e.constraint === 'users_email_lower') throw new TakenError('email');
    throw err;
  }
}

export async function passwordHash(c: Queryable, id: number): Promise<string | undefined> {
  const { rows } = await c.query<{ password_hash: string }>('SELECT password_hash FROM users WHERE id = $1', [id]);
  return rows[0]?.password_hash;
}

export async function setPasswordHash(c: Queryable, id: number, hash: string): Promise<void> {
  await c.query('UPDATE users SET password_hash = $2 WHERE id = $1', [id, hash]);
}

/** false: no such user. */
export async function setBanned(c: Queryable, id: number, banned: boolean): Promise<boolean> {
  const { rowCount } = await c.query('UPDATE users SET is_banned = $2 WHERE id = $1', [id, banned]);
  return Boolean(rowCount);
}
