import type { SessionUser } from './session.js';

const iso = (v: unknown): string | null => (v === null || v === undefined ? null : new Date(v as string).toISOString());

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

export function userJson(u: UserRow, viewer?: SessionUser) {
  const self = viewer !== undefined && (viewer.id === u.id || viewer.isStaff);
  return {
    id: u.id,
    username: u.username,
    slug: u.slug,
    ...(self ? { email: u.email } : {}),
    joined_on: iso(u.joined_on),
    is_staff: u.is_staff,
    is_authenticated: viewer?.id === u.id,
    is_anonymous: false,
    threads: u.threads,
    posts: u.posts,
    avatars: [],
    url: `/u/${u.slug}/${u.id}/`,
    api: { index: `/api/users/${u.id}/` },
  };
}

export function authUserJson(u: UserRow) {
  return {
    ...userJson(u, { id: u.id, username: u.username, slug: u.slug, email: u.email, isStaff: u.is_staff }),
    acl: { can_start_threads: true, can_moderate: u.is_staff },
  };
}

export const anonymousJson = () => ({
  id: null,
  username: null,
  is_authenticated: false,
  is_anonymous: true,
  acl: { can_start_threads: false, can_moderate: false },
});

/** Columns every thread query selects (with the viewer's read marker and subscription). */
export const THREAD_COLUMNS = `t.id, t.category_id, t.title, t.slug, t.replies, t.started_on, t.last_post_on, t.first_post_id,
  t.last_post_id, t.starter_id, t.starter_name, t.starter_slug, t.last_poster_id, t.last_poster_name, t.last_poster_slug,
  t.weight, t.is_closed, t.is_hidden, tr.last_read_post_id, s.send_email`;

/** `$uid` placeholder must be the viewer's id (0 for anonymous). */
export const threadJoins = (uid: string) => `FROM threads t
  LEFT JOIN thread_reads tr ON tr.thread_id = t.id AND tr.user_id = ${uid}
  LEFT JOIN subscriptions s ON s.thread_id = t.id AND s.user_id = ${uid}`;

export interface ThreadRow {
  id: number;
  category_id: number;
  title: string;
  slug: string;
  replies: number;
  started_on: string | Date;
  last_post_on: string | Date;
  first_post_id: number | null;
  last_post_id: number | null;
  starter_id: number | null;
  starter_name: string;
  starter_slug: string;
  last_poster_id: number | null;
  last_poster_name: string;
  last_poster_slug: string;
  weight: number;
  is_closed: boolean;
  is_hidden: boolean;
  last_read_post_id: number | null;
  send_email: boolean | null;
}

export const threadUrl = (t: { slug: string; id: number }) => `/t/${t.slug}/${t.id}/`;

export function threadIsRead(t: ThreadRow, viewer?: SessionUser): boolean {
  if (!viewer) return true; // Misago treats everything as read for guests
  return t.last_read_post_id !== null && t.last_read_post_id >= (t.last_post_id ?? 0);
}

export function threadJson(t: ThreadRow, viewer?: SessionUser) {
  const isRead = threadIsRead(t, viewer);
  const staff = viewer?.isStaff ?? false;
  const owner = viewer !== undefined && viewer.id === t.starter_id;
  const index = threadUrl(t);
  return {
    id: t.id,
    category: t.category_id,
    title: t.title,
    slug: t.slug,
    replies: t.replies,
    has_unapproved_posts: false,
    started_on: iso(t.started_on),
    starter_name: t.starter_name,
    starter: t.starter_id === null ? null : { id: t.starter_id, username: t.starter_name, slug: t.starter_slug },
    last_post_on: iso(t.last_post_on),
    last_post: t.last_post_id,
    last_poster_name: t.last_poster_name,
    last_poster: t.last_poster_id === null ? null : { id: t.last_poster_id, username: t.last_poster_name, slug: t.last_poster_slug },
    weight: t.weight,
    is_unapproved: false,
    is_hidden: t.is_hidden,
    is_closed: t.is_closed,
    is_new: !isRead,
    is_read: isRead,
    // Misago: true = notify by e-mail, false = notify in-app, null = not subscribed
    subscription: viewer && t.send_email !== null && t.send_email !== undefined ? t.send_email : null,
    url: {
      index,
      new_post: `${index}new/`,
      last_post: `${index}last/`,
      last_poster: t.last_poster_id === null ? null : `/u/${t.last_poster_slug}/${t.last_poster_id}/`,
      starter: t.starter_id === null ? null : `/u/${t.starter_slug}/${t.starter_id}/`,
    },
    api: { index: `/api/threads/${t.id}/`, posts: { index: `/api/threads/${t.id}/posts/` } },
    acl: {
      can_edit: staff || owner,
      can_reply: viewer !== undefined && (!t.is_closed || staff),
      can_hide: staff ? 2 : 0,
      can_pin: staff ? 2 : 0,
      can_close: staff,
      can_delete: staff || (owner && t.replies === 0),
      can_subscribe: viewer !== undefined,
    },
  };
}

export interface PostRow {
  id: number;
  poster_id: number | null;
  poster_name: string;
  poster_slug: string | null;
  parsed: string;
  posted_on: string | Date;
  updated_on: string | Date | null;
  edits: number;
}

export function postJson(p: PostRow, t: { id: number; slug: string; is_closed: boolean; last_read_post_id: number | null }, viewer?: SessionUser) {
  const staff = viewer?.isStaff ?? false;
  const owner = viewer !== undefined && viewer.id === p.poster_id;
  const isRead = !viewer || (t.last_read_post_id !== null && t.last_read_post_id >= p.id);
  return {
    id: p.id,
    thread: t.id,
    poster: p.poster_id === null ? null : { id: p.poster_id, username: p.poster_name, slug: p.poster_slug, url: `/u/${p.poster_slug}/${p.poster_id}/` },
    poster_name: p.poster_name,
    content: p.parsed,
    attachments: [],
    posted_on: iso(p.posted_on),
    updated_on: iso(p.updated_on),
    hidden_on: null,
    edits: p.edits,
    is_hidden: false,
    is_unapproved: false,
    is_protected: false,
    is_event: false,
    is_liked: false,
    likes: 0,
    is_read: isRead,
    is_new: !isRead,
    acl: { can_edit: staff || (owner && !t.is_closed), can_reply: viewer !== undefined && (!t.is_closed || staff), can_see_likes: 0 },
    url: { index: `/t/${t.slug}/${t.id}/post/${p.id}/`, last_editor: null },
    api: { index: `/api/threads/${t.id}/posts/${p.id}/`, read: `/api/threads/${t.id}/posts/${p.id}/read/` },
  };
}
