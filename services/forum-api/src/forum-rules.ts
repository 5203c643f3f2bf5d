/**
 * The forum's rules (pure, no I/O): Misago's limits, who may see, reply to, edit and moderate a thread, and the
 * title and slug rules. Routes, use cases and serializers ask these; the SQL that filters by visibility has its
 * twin in thread-store.ts (`visibleSql`).
 */

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

/** Misago's thread lists: all, the viewer's own, never read, read with news since, subscribed. */
export const LISTS = ['all', 'my', 'new', 'unread', 'subscribed'] as const;
export type ListName = (typeof LISTS)[number];

/** Who is asking: a signed-in user (undefined for a guest). */
export interface Viewer {
  id: number;
  isStaff: boolean;
}

type Starter = { starter_id: number | null };
const isStarter = (t: Starter, viewer: Viewer | undefined) => viewer !== undefined && viewer.id === t.starter_id;
const isStaff = (viewer: Viewer | undefined) => viewer?.isStaff === true;

/** A hidden thread exists only for staff and its starter; for everyone else it is "not found". */
export function canSee(t: Starter & { is_hidden: boolean }, viewer: Viewer | undefined): boolean {
  return !t.is_hidden || isStaff(viewer) || isStarter(t, viewer);
}

/** Signed-in users reply to open threads; staff to closed ones too. */
export function canReply(t: { is_closed: boolean }, viewer: Viewer | undefined): boolean {
  return viewer !== undefined && (!t.is_closed || viewer.isStaff);
}

/** The title: staff and the starter. */
export function canEditTitle(t: Starter, viewer: Viewer | undefined): boolean {
  return isStaff(viewer) || isStarter(t, viewer);
}

/** Staff delete any thread; the starter only while nobody replied. */
export function canDeleteThread(t: Starter & { replies: number }, viewer: Viewer | undefined): boolean {
  return isStaff(viewer) || (isStarter(t, viewer) && t.replies === 0);
}

/** Closing, hiding and pinning are staff work. */
export const canModerate = (viewer: Viewer | undefined): boolean => isStaff(viewer);

/** Why `user` may not edit a post of `posterId` in thread `t` (Misago's messages), or undefined when they may. */
export function postEditRefusal(t: { is_closed: boolean }, posterId: number | null, user: Viewer): string | undefined {
  if (!user.isStaff && posterId !== user.id) return "You can't edit other users posts.";
  if (t.is_closed && !user.isStaff) return "This thread is closed. You can't edit posts in it.";
  return undefined;
}

export function canEditPost(t: { is_closed: boolean }, posterId: number | null, viewer: Viewer | undefined): boolean {
  return viewer !== undefined && postEditRefusal(t, posterId, viewer) === undefined;
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
