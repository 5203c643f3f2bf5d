import { badRequest } from '@forum/shared';
import type { Ctx } from '../context.js';
import { dummyHash, verifyPassword } from '../passwords.js';
import { findLogin, type UserRow } from '../user-store.js';

/**
 * A login by username or e-mail from client address `ip`: refused while the address is locked out (429), the
 * password checked (against a dummy hash for an unknown login, so both take the same time), a banned account
 * refused, a failure counted (the 8th in the window answers 429). The caller opens the session.
 */
export async function login(ctx: Ctx, ip: string, username: string, password: string): Promise<UserRow> {
  await ctx.logins.ensureNotLockedOut(ip);
  const user = await findLogin(ctx.db.rw, username);
  const ok = await verifyPassword(user?.password_hash ?? (await dummyHash()), password);
  if (user && ok && user.is_banned) throw badRequest('This account has been banned.', 'banned');
  if (!user || !ok) {
    await ctx.logins.recordFailure(ip);
    throw badRequest('Login or password is incorrect.', 'invalid_login');
  }
  return user;
}
