import { fieldErrors } from '@forum/shared';
import type { Ctx } from '../context.js';
import { slugify } from '../forum-rules.js';
import { hashPassword } from '../passwords.js';
import { insertUser, TakenError, type UserRow } from '../user-store.js';

/** A new active account (no e-mail activation); a username or e-mail already taken is a field error. The caller opens the session. */
export async function register(ctx: Ctx, f: { username: string; email: string; password: string }): Promise<UserRow> {
  const passwordHash = await hashPassword(f.password);
  try {
    return await insertUser(ctx.db.rw, { username: f.username, slug: slugify(f.username, 'user'), email: f.email, passwordHash });
  } catch (err) {
    if (err instanceof TakenError && err.field === 'username') throw fieldErrors({ username: ['This username is not available.'] }, 'username_taken');
    if (err instanceof TakenError) throw fieldErrors({ email: ['This e-mail address is not available.'] }, 'email_taken');
    throw err;
  }
}
