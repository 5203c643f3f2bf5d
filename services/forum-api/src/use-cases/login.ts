import { badRequest } from '@forum/shared';
import type { Ctx } from '../context.js';
import { dummyHash, verifyPassword } from '../passwords.js';
import { findLogin, type UserRow } from '../user-store.js';

/**
 * A login by username or e-mail from client address `ip`: the attempt is counted first, per address and per account
 * (429 when either is over its limit, without checking the password: login-guard.ts), then the password checked
 * (against a dummy hash for an unknown login, so both take the same time); the right password gives back this
 * address's attempts at this account, then a banned account is refused. The caller opens the session.
 */
export async function login(ctx: Ctx, ip: string, username: string, password: string): Promise<UserRow> {
  const attempt = { ip, account: username };
  await ctx.logins.attempt(attempt);
  const user = await findLogin(ctx.db.rw, username);
  const ok = await verifyPassword(user?.password_hash ?? (await dummyHash()), password);
  if (!user || !ok) throw badRequest('Login or password is incorrect.', 'invalid_login');
  // the password was right: no guess to count, banned or not
  await ctx.logins.succeeded(attempt);
  if (user.is_banned) throw badRequest('This account has been banned.', 'banned');
  return user;
}
