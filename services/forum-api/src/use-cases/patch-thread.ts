import { AppError } from '@forum/shared';
import type { Ctx } from '../context.js';
import type { Queryable } from '../db.js';
import { DrfInvalid, drfBoolean, drfInteger } from '../drf.js';
import { canEditTitle, canModerate, normalizeTitle, slugify, titleProblem } from '../forum-rules.js';
import type { SessionUser } from '../session.js';
import { setFlag, setTitle, setWeight, subscribe, unsubscribe, type ThreadRow } from '../thread-store.js';
import { visibleThread } from './read-threads.js';

/** Misago's PATCH refusal: 400 `{id, detail: [reason]}`. */
const patchError = (id: number, reason: string) => new AppError('invalid_patch', 400, reason, true, { body: { id, detail: [reason] } });

const PATCH_OPS = new Set(['add', 'remove', 'replace']);
const MAX_OPERATIONS = 10;

interface Operation {
  op: string;
  path: string;
  value: unknown;
}

/** What an applied operation changed: the answer's fields, and whether list pages (title, visibility) changed. */
interface Applied {
  out: Record<string, unknown>;
  listsChanged: boolean;
}

/**
 * Misago's ApiPatch: a list of {op, path, value}; "ok" per applied operation, an unknown path is skipped ("ok"),
 * a refused one answers 400 {id, detail: [reason]}. Here the list is applied atomically (Misago commits each
 * operation on its own), so a refusal leaves nothing of the request applied.
 */
export async function patchThread(ctx: Ctx, user: SessionUser, id: number, body: unknown): Promise<Record<string, unknown>> {
  const ops = operationList(id, body);
  // everything the transaction collects starts afresh in it: db.tx may run it again from its start
  const { out, detail, listsChanged, categoryId } = await ctx.db.tx(async (c) => {
    const t = await visibleThread(c, id, user, true);
    const done = { out: { id } as Record<string, unknown>, detail: [] as string[], listsChanged: false, categoryId: t.category_id };
    for (const raw of ops) {
      const applied = await apply(c, t, user, patchOperation(id, raw));
      Object.assign(done.out, applied.out);
      done.listsChanged ||= applied.listsChanged;
      done.detail.push('ok');
    }
    return done;
  });
  if (detail.length) {
    await ctx.bus.publish(id);
    if (listsChanged) await ctx.enqueue({ type: 'category_sync', categoryId });
  }
  return { ...out, detail };
}

function operationList(id: number, body: unknown): unknown[] {
  if (!Array.isArray(body)) throw new AppError('invalid_patch', 400, 'PATCH request should be a list of operations.');
  if (body.length > MAX_OPERATIONS) throw patchError(id, `PATCH request should contain at most ${MAX_OPERATIONS} operations.`);
  return body;
}

/** Misago's ApiPatch.validate_action: op, path and (but for remove) value must be there. */
function patchOperation(id: number, raw: unknown): Operation {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw patchError(id, 'Each operation must be an object.');
  const o = raw as { op?: unknown; path?: unknown; value?: unknown };
  if (!o.op) throw patchError(id, 'undefined op');
  if (typeof o.op !== 'string' || !PATCH_OPS.has(o.op)) throw patchError(id, `"${String(o.op).slice(0, 40)}" op is unsupported`);
  if (typeof o.path !== 'string' || !o.path) throw patchError(id, `"${o.op}" op has to specify path`);
  if (o.op !== 'remove' && !('value' in o)) throw patchError(id, `"${o.op}" op has to specify value`);
  return { op: o.op, path: o.path, value: o.value };
}

/** A PATCH value through a DRF parser; its message becomes the refusal. */
function patchValue<T>(id: number, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof DrfInvalid) throw patchError(id, err.message);
    throw err;
  }
}

async function apply(c: Queryable, t: ThreadRow, user: SessionUser, op: Operation): Promise<Applied> {
  const refuse = (allowed: boolean, reason: string) => {
    if (!allowed) throw patchError(t.id, reason);
  };
  switch (op.path) {
    case 'subscription': {
      const v = op.op === 'remove' ? null : op.value;
      if (v === 'notify' || v === 'email') {
        await subscribe(c, user.id, t.id, v === 'email');
        return { out: { subscription: v === 'email' }, listsChanged: false };
      }
      if (v === null || v === 'unsubscribe') {
        await unsubscribe(c, user.id, t.id);
        return { out: { subscription: null }, listsChanged: false };
      }
      throw patchError(t.id, '"subscription" must be "notify", "email" or null.');
    }
    case 'title': {
      refuse(canEditTitle(t, user), "You can't edit threads in this category.");
      refuse(typeof op.value === 'string' || typeof op.value === 'number', 'Not a valid string.');
      const title = normalizeTitle(String(op.value));
      const problem = titleProblem(title);
      if (problem) throw patchError(t.id, problem.message);
      await setTitle(c, t.id, title, slugify(title));
      return { out: { title }, listsChanged: true };
    }
    case 'is-closed':
    case 'is-hidden': {
      const closing = op.path === 'is-closed';
      refuse(canModerate(user), closing ? "You don't have permission to close this thread." : "You don't have permission to hide this thread.");
      const v = patchValue(t.id, () => drfBoolean(op.value) as boolean);
      const column = closing ? 'is_closed' : 'is_hidden';
      await setFlag(c, t.id, column, v);
      return { out: { [column]: v }, listsChanged: !closing };
    }
    case 'weight': {
      refuse(canModerate(user), "You don't have permission to change this thread's weight.");
      const v = patchValue(t.id, () => drfInteger(op.value, { min: 0, max: 2 }) as number);
      await setWeight(c, t.id, v);
      return { out: { weight: v }, listsChanged: false };
    }
    default:
      // Misago has no handler for it and moves on
      return { out: {}, listsChanged: false };
  }
}
