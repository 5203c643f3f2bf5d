import { canDeleteThread, canEditPost, canEditTitle, canModerate, canReply } from './forum-rules.js';
import type { SessionUser } from './session.js';
import type { PostRow, ThreadRow } from './thread-store.js';
import type { UserRow } from './user-store.js';

/** Misago's serializers, one function each: rows in, the JSON a Misago client reads out. */

const iso = (v: unknown): string | null => (v === null || v === undefined ? null : new Date(v as string).toISOString());

/** Misago's avatar sizes; this forum has no uploads, so every size is the blank avatar (Misago's look with avatars off). */
const AVATAR_SIZES = [400, 200, 150, 100, 64, 50, 30];
export const BLANK_AVATAR = '/static/blank-avatar.svg';
export const avatars = () => AVATAR_SIZES.map((size) => ({ size, url: BLANK_AVATAR }));

/** Misago's default rank (ranks are not configurable here). */
const MEMBER_RANK = {
  id: 1,
  name: 'Members',
  slug: 'members',
  description: null,
  title: null,
  css_class: null,
  is_default: true,
  is_tab: false,
  url: '/users/members/',
};

export const userUrl = (u: { slug: string; id: number }) => `/u/${u.slug}/${u.id}/`;

export function userJson(u: UserRow, viewer?: SessionUser) {
  const self = viewer !== undefined && (viewer.id === u.id || viewer.isStaff);
  const api = `/api/users/${u.id}/`;
  return {
    id: u.id,
    username: u.username,
    slug: u.slug,
    ...(self ? { email: u.email } : {}),
    joined_on: iso(u.joined_on),
    rank: MEMBER_RANK,
    title: null,
    avatars: avatars(),
    is_avatar_locked: false,
    signature: null,
    is_signature_locked: false,
    followers: 0,
    following: 0,
    threads: u.threads,
    posts: u.posts,
    acl: {
      can_follow: false,
      can_moderate: false,
      can_moderate_avatar: false,
      can_moderate_username: false,
      can_ban: viewer?.isStaff ?? false,
      can_delete: false,
      can_see_ban_details: false,
    },
    is_followed: false,
    is_blocked: false,
    real_name: null,
    status: null,
    is_staff: u.is_staff,
    is_authenticated: viewer?.id === u.id,
    is_anonymous: false,
    url: userUrl(u),
    api: {
      index: api,
      follow: `${api}follow/`,
      ban: `${api}ban/`,
      moderate_avatar: `${api}moderate-avatar/`,
      moderate_username: `${api}moderate-username/`,
      delete: `${api}delete/`,
      followers: `${api}followers/`,
      following: `${api}follows/`,
      threads: `${api}threads/`,
      posts: `${api}posts/`,
    },
  };
}

export function authUserJson(u: UserRow) {
  return {
    ...userJson(u, { id: u.id, username: u.username, slug: u.slug, email: u.email, isStaff: u.is_staff }),
    acl: { can_start_threads: true, can_moderate: u.is_staff, can_browse_users_list: true, can_start_private_threads: false, can_use_private_threads: false },
    is_hiding_presence: false,
    limits_private_thread_invites_to: 0,
    unread_private_threads: 0,
    subscribe_to_started_threads: 0,
    subscribe_to_replied_threads: 0,
  };
}

export const anonymousJson = () => ({
  id: null,
  username: null,
  is_authenticated: false,
  is_anonymous: true,
  acl: { can_start_threads: false, can_moderate: false },
});

export const threadUrl = (t: { slug: string; id: number }) => `/t/${t.slug}/${t.id}/`;

export function threadIsRead(t: ThreadRow, viewer?: SessionUser): boolean {
  if (!viewer) return true; // Misago treats everything as read for guests
  return t.last_read_post_id !== null && t.last_read_post_id >= (t.last_post_id ?? 0);
}

/** A category as a thread carries it (Misago's BasicCategorySerializer); `is_read` is not tracked there (null, as Misago). */
export interface CategoryBasic {
  id: number;
  parent: number | null;
  name: string;
  short_name: null;
  color: null;
  description: { plain: string; html: string } | null;
  is_closed: boolean;
  css_class: null;
  level: number;
  lft: number;
  rght: number;
  is_read: boolean | null;
  url: { index: string; last_thread: string | null; last_thread_new: string | null; last_post: string | null };
}

const poster = (id: number | null, username: string) => (id === null ? null : { id, username, real_name: null, avatars: avatars() });

/**
 * Misago's thread ACL with its types: permission checks are booleans, category permissions copied as numbers
 * (can_close, can_move_posts, can_merge_posts, can_see_reports). What the routes allow: staff moderate; the starter
 * edits the title and may delete while there are no replies.
 */
export function threadAcl(t: Pick<ThreadRow, 'starter_id' | 'is_closed' | 'replies'>, viewer?: SessionUser) {
  const staff = canModerate(viewer);
  return {
    can_reply: canReply(t, viewer),
    can_edit: canEditTitle(t, viewer),
    can_pin: staff,
    can_pin_globally: staff,
    can_hide: staff,
    can_unhide: staff,
    can_delete: canDeleteThread(t, viewer),
    can_close: staff ? 1 : 0,
    can_move: false,
    can_merge: false,
    can_move_posts: 0,
    can_merge_posts: 0,
    can_approve: false,
    can_see_reports: 0,
    can_start_poll: false,
    can_mark_best_answer: false,
    can_change_best_answer: false,
    can_unmark_best_answer: false,
    can_subscribe: viewer !== undefined,
  };
}

/**
 * Misago's ThreadSerializer. Lists (`ThreadsListSerializer`) give `category` and `last_post` as ids and add
 * `has_poll`; the thread itself gives `category` as an object plus `path` (top category down to the thread's) and
 * `poll`. Polls and best answers are features this forum does not have: they answer as Misago with them off.
 */
export function threadJson(t: ThreadRow, viewer?: SessionUser, detail?: { category: CategoryBasic; path: CategoryBasic[] }) {
  const isRead = threadIsRead(t, viewer);
  const index = threadUrl(t);
  const api = `/api/threads/${t.id}/`;
  return {
    id: t.id,
    category: detail ? detail.category : t.category_id,
    title: t.title,
    slug: t.slug,
    replies: t.replies,
    has_unapproved_posts: false,
    started_on: iso(t.started_on),
    starter_name: t.starter_name,
    last_post_on: iso(t.last_post_on),
    last_post_is_event: false,
    last_post: t.last_post_id,
    last_poster_name: t.last_poster_name,
    is_unapproved: false,
    is_hidden: t.is_hidden,
    is_closed: t.is_closed,
    weight: t.weight,
    best_answer: null,
    best_answer_is_protected: false,
    best_answer_marked_on: null,
    best_answer_marked_by: null,
    best_answer_marked_by_name: null,
    best_answer_marked_by_slug: null,
    acl: threadAcl(t, viewer),
    is_new: !isRead,
    is_read: isRead,
    ...(detail ? { path: detail.path, poll: null } : { has_poll: false }),
    // Misago: true = notify by e-mail, false = notify in-app, null = not subscribed
    subscription: viewer && t.send_email !== null && t.send_email !== undefined ? t.send_email : null,
    starter: poster(t.starter_id, t.starter_name),
    last_poster: poster(t.last_poster_id, t.last_poster_name),
    api: {
      index: api,
      editor: `${api}editor/`,
      merge: `${api}merge/`,
      poll: `${api}poll/`,
      posts: { index: `${api}posts/`, merge: `${api}posts/merge/`, move: `${api}posts/move/`, split: `${api}posts/split/` },
    },
    url: {
      index,
      new_post: `${index}new/`,
      last_post: `${index}last/`,
      best_answer: `${index}best-answer/`,
      unapproved_post: `${index}unapproved/`,
      starter: t.starter_id === null ? null : userUrl({ slug: t.starter_slug, id: t.starter_id }),
      last_poster: t.last_poster_id === null ? null : userUrl({ slug: t.last_poster_slug, id: t.last_poster_id }),
    },
  };
}

/**
 * Misago's PostSerializer. Likes, events, protection, approval and best answers are off here, so their fields answer
 * as Misago does with those features off (likes/last_likes null while `can_see_likes` is 0).
 */
export function postJson(
  p: PostRow,
  t: { id: number; slug: string; is_closed: boolean; last_read_post_id: number | null; first_post_id?: number | null },
  viewer?: SessionUser,
) {
  const isRead = !viewer || (t.last_read_post_id !== null && t.last_read_post_id >= p.id);
  const isFirst = t.first_post_id === p.id;
  const api = `/api/threads/${t.id}/posts/${p.id}/`;
  return {
    id: p.id,
    thread: t.id,
    poster:
      p.poster_id === null
        ? null
        : {
            id: p.poster_id,
            username: p.poster_name,
            slug: p.poster_slug,
            real_name: null,
            rank: MEMBER_RANK,
            avatars: avatars(),
            signature: null,
            title: null,
            status: null,
            posts: p.poster_posts ?? 0,
            url: userUrl({ slug: p.poster_slug ?? '', id: p.poster_id }),
          },
    poster_name: p.poster_name,
    poster_ip: null,
    content: p.parsed,
    attachments: [],
    posted_on: iso(p.posted_on),
    updated_on: iso(p.updated_on),
    hidden_on: null,
    edits: p.edits,
    last_editor: null,
    last_editor_name: null,
    last_editor_slug: null,
    hidden_by: null,
    hidden_by_name: null,
    hidden_by_slug: null,
    is_unapproved: false,
    is_hidden: false,
    is_protected: false,
    is_event: false,
    event_type: null,
    event_context: null,
    acl: {
      can_reply: canReply(t, viewer),
      can_edit: canEditPost(t, p.poster_id, viewer),
      can_see_hidden: true,
      can_unhide: false,
      can_hide: false,
      can_delete: false,
      can_protect: false,
      can_approve: false,
      can_move: false,
      can_merge: false,
      can_report: 0,
      can_see_reports: 0,
      can_see_likes: 0,
      can_like: false,
      can_mark_as_best_answer: false,
      can_hide_best_answer: !isFirst,
    },
    is_liked: null,
    is_new: !isRead,
    is_read: isRead,
    last_likes: null,
    likes: null,
    api: { index: api, likes: `${api}likes/`, editor: `${api}editor/`, edits: `${api}edits/`, read: `${api}read/` },
    url: { index: `/t/${t.slug}/${t.id}/post/${p.id}/`, last_editor: null, hidden_by: null },
  };
}

export interface CategoryRow {
  id: number;
  parent_id: number | null;
  special_role: string | null;
  name: string;
  slug: string;
  description: string;
  level: number;
  is_closed: boolean;
  threads: number;
  posts: number;
  last_thread_id: number | null;
  last_thread_title: string | null;
  last_thread_slug: string | null;
  last_post_on: Date | string | null;
  last_poster_name: string | null;
  last_poster_id: number | null;
  last_poster_slug: string | null;
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Misago's category permissions of a role: numbers (0 no, 1 own, 2 any) except `can_see_own_threads`. */
export function categoryAcl(viewer?: SessionUser) {
  const member = viewer ? 1 : 0;
  const mod = viewer?.isStaff ? 1 : 0;
  return {
    can_see: 1,
    can_browse: 1,
    can_see_all_threads: 1,
    can_see_own_threads: false,
    can_start_threads: member,
    can_reply_threads: member,
    can_edit_threads: mod ? 2 : member,
    can_edit_posts: mod ? 2 : member,
    can_hide_own_threads: 0,
    can_hide_own_posts: 0,
    thread_edit_time: 0,
    post_edit_time: 0,
    can_hide_threads: mod ? 2 : 0,
    can_hide_posts: 0,
    can_protect_posts: 0,
    can_move_posts: 0,
    can_merge_posts: 0,
    can_pin_threads: mod ? 2 : 0,
    can_close_threads: mod,
    can_move_threads: 0,
    can_merge_threads: 0,
    can_approve_content: 0,
    can_report_content: 0,
    can_see_reports: 0,
    can_see_posts_likes: 0,
    can_like_posts: 0,
    can_hide_events: 0,
    require_threads_approval: 0,
    require_replies_approval: 0,
    require_edits_approval: 0,
  };
}

/** The public category tree with Misago's MPTT numbers (children by id), root and private threads left out. */
export interface CategoryTree {
  basics: Map<number, CategoryBasic>;
  rows: Map<number, CategoryRow>;
  /** top-level categories (children of the root), each followed by its subtree, in tree order */
  order: number[];
  rootId: number | null;
}

export function buildCategoryTree(rows: CategoryRow[]): CategoryTree {
  const children = new Map<number | null, CategoryRow[]>();
  for (const r of rows) {
    const list = children.get(r.parent_id) ?? [];
    list.push(r);
    children.set(r.parent_id, list);
  }
  for (const list of children.values()) list.sort((a, b) => a.id - b.id);
  const root = rows.find((r) => r.special_role === 'root_category') ?? null;
  const basics = new Map<number, CategoryBasic>();
  const byId = new Map<number, CategoryRow>();
  const order: number[] = [];
  let n = 1;
  const walk = (c: CategoryRow, parentIsRoot: boolean): void => {
    const lft = n++;
    if (c !== root) order.push(c.id);
    for (const child of children.get(c.id) ?? []) walk(child, c === root);
    const rght = n++;
    if (c === root) return;
    byId.set(c.id, c);
    const index = `/c/${c.slug}/${c.id}/`;
    const last = c.last_thread_id === null ? null : `/t/${c.last_thread_slug}/${c.last_thread_id}/`;
    basics.set(c.id, {
      id: c.id,
      parent: parentIsRoot ? null : c.parent_id,
      name: c.name,
      short_name: null,
      color: null,
      description: c.description ? { plain: c.description, html: `<p>${escapeHtml(c.description).replace(/\n/g, '<br>')}</p>` } : null,
      is_closed: c.is_closed,
      css_class: null,
      level: c.level,
      lft,
      rght,
      is_read: null,
      url: { index, last_thread: last, last_thread_new: last && `${last}new/`, last_post: last && `${last}last/` },
    });
  };
  if (root) walk(root, false);
  return { basics, rows: byId, order, rootId: root?.id ?? null };
}

/** Misago's path of a thread: its category's ancestors below the root, then the category itself. */
export function categoryPath(tree: CategoryTree, id: number): CategoryBasic[] {
  const path: CategoryBasic[] = [];
  for (let c = tree.basics.get(id); c; c = c.parent === null ? undefined : tree.basics.get(c.parent)) path.unshift(c);
  return path;
}

/**
 * Misago's CategoryWithPosterSerializer tree for GET /api/categories/: top-level categories with `parent` null and
 * their subcategories nested. `unread` holds the ids of categories with threads the viewer has not read (guests:
 * everything is read, as Misago).
 */
export function categoriesJson(tree: CategoryTree, viewer: SessionUser | undefined, unread: Set<number>) {
  type Node = Record<string, unknown> & { parent: number | null; subcategories: Node[] };
  const node = (id: number): Node => {
    const b = tree.basics.get(id)!;
    const c = tree.rows.get(id)!;
    return {
      ...b,
      slug: c.slug,
      threads: c.threads,
      posts: c.posts,
      last_post_on: iso(c.last_post_on),
      last_thread_id: c.last_thread_id,
      last_thread_title: c.last_thread_title,
      last_thread_slug: c.last_thread_slug,
      last_poster:
        c.last_thread_id !== null && c.last_poster_id !== null
          ? { id: c.last_poster_id, avatars: avatars(), url: userUrl({ slug: c.last_poster_slug ?? '', id: c.last_poster_id }) }
          : null,
      last_poster_name: c.last_poster_name,
      is_read: !unread.has(id),
      subcategories: [],
      acl: categoryAcl(viewer),
      api: { read: `/api/categories/${id}/read/` },
    };
  };
  const nodes = new Map<number, Node>();
  const top: Node[] = [];
  for (const id of tree.order) {
    const n = node(id);
    nodes.set(id, n);
    const parent = n.parent === null ? undefined : nodes.get(n.parent);
    if (parent) parent.subcategories.push(n);
    else top.push(n);
  }
  return top;
}

/** Misago's start-thread editor entry: `post` is false, or what the user may do with a new thread there. */
export function editorCategoryJson(c: { id: number; name: string; level: number; is_closed: boolean }, user: SessionUser) {
  const staff = user.isStaff;
  const post = !c.is_closed || staff ? { close: staff, hide: staff, pin: staff ? 2 : 0 } : false;
  return { id: c.id, name: c.name, level: c.level, post, close: staff, hide: staff, pin: staff ? 2 : 0 };
}
