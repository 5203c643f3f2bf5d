import { AppError, badRequest, fieldErrors } from '@forum/shared';
import type { Ctx } from '../context.js';
import { hashPassword, verifyPassword } from '../passwords.js';
import { passwordChangeFields } from '../request-validation.js';
import type { SessionUser } from '../session.js';
import { findUser, passwordHash, setBanned, setPasswordHash, type UserRow } from '../user-store.js';

const userNotFound = () => new AppError('not_found', 404, 'User not found.');

/** The viewer's own account, read from the primary; undefined for a guest (or an account deleted since). */
export async function ownAccount(ctx: Ctx, viewer: SessionUser | undefined): Promise<UserRow | undefined> {
  return viewer && findUser(ctx.db.rw, viewer.id);
}

/** A user's profile, 404 when there is none; a signed-in viewer reads the primary (their own writes), guests may read a standby. */
export async function profile(ctx: Ctx, viewer: SessionUser | undefined, id: number): Promise<UserRow> {
  const user = await findUser(viewer ? ctx.db.rw : ctx.db.ro, id);
  if (!user) throw userNotFound();
  return user;
}

/**
 * A password change by the account's own user. The current session (`keepSession`) stays signed in, as Django's
 * update_session_auth_hash; every other session of the user is revoked on every api task within a second (Sessions).
 */
export async function changePassword(ctx: Ctx, viewer: SessionUser | undefined, id: number, body: unknown, keepSession: string | undefined): Promise<void> {
  if (!viewer || viewer.id !== id) throw new AppError('permission_denied', 403, "You can't change other users' passwords.");
  const { current, next } = passwordChangeFields(body, viewer.username);
  const hash = await passwordHash(ctx.db.rw, id);
  if (hash === undefined || !(await verifyPassword(hash, current))) throw fieldErrors({ password: ['Entered password is invalid.'] }, 'invalid_password');
  const nextHash = await hashPassword(next);
  const revokeOthers = await ctx.db.tx(async (c) => {
    await setPasswordHash(c, id, nextHash);
    return ctx.sessions.revokeUser(c, id, keepSession);
  });
  await revokeOthers();
}

/** Ban / unban (staff): a ban refuses the user's logins and revokes all their sessions on every api task. */
export async function setBan(ctx: Ctx, viewer: SessionUser | undefined, id: number, banned: boolean): Promise<void> {
  if (!viewer?.isStaff) throw new AppError('permission_denied', 403, "You don't have permission to ban users.");
  if (viewer.id === id) throw badRequest("You can't ban yourself.", 'invalid');
  const revoke = await ctx.db.tx<() => Promise<void>>(async (c) => {
    if (!(await setBanned(c, id, banned))) throw userNotFound();
    return banned ? ctx.sessions.revokeUser(c, id) : async () => undefined;
  });
  await revoke();
}
