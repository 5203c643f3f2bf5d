/**
 * The JSON shapes a Misago 0.28 client reads, written down from Misago's serializers (rafalp/Misago:
 * misago/threads/serializers/thread.py and post.py, misago/categories/serializers.py, misago/users/serializers/,
 * misago/threads/permissions/threads.py for the ACL types, misago/threads/api/threadendpoints/editor.py). A shape
 * lists every field Misago returns with its JSON type; extra fields of ours are allowed. Types: 'string', 'number',
 * 'boolean', 'null', alternatives joined by '|', an object of shapes, or [shape] for a list of them.
 */
export type Shape = string | { [field: string]: Shape } | [Shape];

/** Every field present with its type; returns the mismatches as "path: problem". */
export function shapeErrors(value: unknown, shape: Shape, path = '$'): string[] {
  if (typeof shape === 'string') {
    const kinds = shape.split('|');
    const kind = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
    return kinds.includes(kind) ? [] : [`${path}: ${kind} (${JSON.stringify(value)?.slice(0, 60)}), Misago gives ${shape}`];
  }
  if (Array.isArray(shape)) {
    if (!Array.isArray(value)) return [`${path}: not a list`];
    return value.flatMap((v, i) => shapeErrors(v, shape[0], `${path}[${i}]`));
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [`${path}: not an object`];
  const o = value as Record<string, unknown>;
  return Object.entries(shape).flatMap(([k, s]) => (k in o ? shapeErrors(o[k], s, `${path}.${k}`) : [`${path}.${k}: missing`]));
}

const avatars: Shape = [{ size: 'number', url: 'string' }];
const poster: Shape = { id: 'number', username: 'string', real_name: 'string|null', avatars };

const categoryBasic = {
  id: 'number',
  parent: 'number|null',
  name: 'string',
  short_name: 'string|null',
  color: 'string|null',
  description: 'object|null',
  is_closed: 'boolean',
  css_class: 'string|null',
  level: 'number',
  lft: 'number',
  rght: 'number',
  is_read: 'boolean|null',
  url: { index: 'string', last_thread: 'string|null', last_thread_new: 'string|null', last_post: 'string|null' },
} satisfies Shape;

/** add_acl_to_thread (threads, polls, best answers): checks are booleans, copied category permissions numbers. */
const threadAcl = {
  can_reply: 'boolean',
  can_edit: 'boolean',
  can_pin: 'boolean',
  can_pin_globally: 'boolean',
  can_hide: 'boolean',
  can_unhide: 'boolean',
  can_delete: 'boolean',
  can_close: 'number',
  can_move: 'boolean',
  can_merge: 'boolean',
  can_move_posts: 'number',
  can_merge_posts: 'number',
  can_approve: 'boolean',
  can_see_reports: 'number',
  can_start_poll: 'boolean',
  can_mark_best_answer: 'boolean',
  can_change_best_answer: 'boolean',
  can_unmark_best_answer: 'boolean',
} satisfies Shape;

/** ThreadSerializer's fields common to the thread and its list items. */
const threadCommon = {
  id: 'number',
  title: 'string',
  replies: 'number',
  has_unapproved_posts: 'boolean',
  started_on: 'string',
  starter_name: 'string',
  last_post_on: 'string',
  last_post_is_event: 'boolean',
  last_poster_name: 'string',
  is_unapproved: 'boolean',
  is_hidden: 'boolean',
  is_closed: 'boolean',
  weight: 'number',
  best_answer: 'number|null',
  best_answer_is_protected: 'boolean',
  best_answer_marked_on: 'string|null',
  best_answer_marked_by: 'number|null',
  best_answer_marked_by_name: 'string|null',
  best_answer_marked_by_slug: 'string|null',
  acl: threadAcl,
  is_new: 'boolean',
  is_read: 'boolean',
  subscription: 'boolean|null',
  starter: { ...poster },
  last_poster: { ...poster },
  api: {
    index: 'string',
    editor: 'string',
    merge: 'string',
    poll: 'string',
    posts: { index: 'string', merge: 'string', move: 'string', split: 'string' },
  },
  url: {
    index: 'string',
    new_post: 'string',
    last_post: 'string',
    best_answer: 'string',
    unapproved_post: 'string',
    starter: 'string|null',
    last_poster: 'string|null',
  },
} satisfies Shape;

/** ThreadsListSerializer: category and last_post as ids, has_poll; no path, no poll. */
export const threadListItem: Shape = { ...threadCommon, category: 'number', last_post: 'number', has_poll: 'boolean' };

/** ThreadSerializer (GET /api/threads/{id}/ and the posts page): category object, path, poll. */
export const thread: Shape = { ...threadCommon, category: categoryBasic, last_post: 'number', path: [categoryBasic], poll: 'object|null' };

export const threadList: Shape = { results: [threadListItem], subcategories: ['number'], next: 'number|null' };

/** add_acl_to_reply plus likes and best answers. */
const postAcl = {
  can_reply: 'boolean',
  can_edit: 'boolean',
  can_see_hidden: 'boolean',
  can_unhide: 'boolean',
  can_hide: 'boolean',
  can_delete: 'boolean',
  can_protect: 'boolean',
  can_approve: 'boolean',
  can_move: 'boolean',
  can_merge: 'boolean',
  can_report: 'number',
  can_see_reports: 'number',
  can_see_likes: 'number',
  can_like: 'boolean',
  can_mark_as_best_answer: 'boolean',
  can_hide_best_answer: 'boolean',
} satisfies Shape;

export const post: Shape = {
  id: 'number',
  poster: {
    id: 'number',
    username: 'string',
    real_name: 'string|null',
    rank: 'object',
    avatars,
    signature: 'string|null',
    title: 'string|null',
    status: 'object|null',
    posts: 'number',
    url: 'string',
  },
  poster_name: 'string',
  poster_ip: 'string|null',
  content: 'string|null',
  attachments: ['object'],
  posted_on: 'string',
  updated_on: 'string|null',
  hidden_on: 'string|null',
  edits: 'number',
  last_editor: 'number|null',
  last_editor_name: 'string|null',
  last_editor_slug: 'string|null',
  hidden_by: 'number|null',
  hidden_by_name: 'string|null',
  hidden_by_slug: 'string|null',
  is_unapproved: 'boolean',
  is_hidden: 'boolean',
  is_protected: 'boolean',
  is_event: 'boolean',
  event_type: 'string|null',
  event_context: 'object|null',
  acl: postAcl,
  is_liked: 'boolean|null',
  is_new: 'boolean',
  is_read: 'boolean',
  last_likes: 'array|null',
  likes: 'number|null',
  api: { index: 'string', likes: 'string', editor: 'string', edits: 'string', read: 'string' },
  url: { index: 'string', last_editor: 'string|null', hidden_by: 'string|null' },
};

export const postsPage: Shape = {
  ...(thread as Record<string, Shape>),
  post_set: {
    results: [post],
    page: 'number',
    pages: 'number',
    count: 'number',
    first: 'number|null',
    previous: 'number|null',
    next: 'number|null',
    last: 'number|null',
    before: 'number',
    more: 'number',
  },
};

/** add_acl_to_category: category permissions are numbers (0 no, 1 yes/own, 2 any) but can_see_own_threads. */
const categoryAcl = Object.fromEntries(
  [
    'can_see',
    'can_browse',
    'can_see_all_threads',
    'can_start_threads',
    'can_reply_threads',
    'can_edit_threads',
    'can_edit_posts',
    'can_hide_own_threads',
    'can_hide_own_posts',
    'thread_edit_time',
    'post_edit_time',
    'can_hide_threads',
    'can_hide_posts',
    'can_protect_posts',
    'can_move_posts',
    'can_merge_posts',
    'can_pin_threads',
    'can_close_threads',
    'can_move_threads',
    'can_merge_threads',
    'can_approve_content',
    'can_report_content',
    'can_see_reports',
    'can_see_posts_likes',
    'can_like_posts',
    'can_hide_events',
  ].map((k) => [k, 'number']),
) as Record<string, Shape>;

/** CategoryWithPosterSerializer (GET /api/categories/), nested through subcategories. */
const categoryFields: Record<string, Shape> = {
  ...categoryBasic,
  is_read: 'boolean',
  threads: 'number',
  posts: 'number',
  last_post_on: 'string|null',
  last_thread_title: 'string|null',
  last_poster: 'object|null',
  last_poster_name: 'string|null',
  acl: { ...categoryAcl, can_see_own_threads: 'boolean' },
  api: { read: 'string' },
};
export const category = (depth = 2): Shape => ({ ...categoryFields, subcategories: depth > 0 ? [category(depth - 1)] : 'array' });

export const categoryPoster: Shape = { id: 'number', avatars, url: 'string' };

/** thread_start_editor: `post` is false or the user's options in that category. */
export const editorCategory: Shape = { id: 'number', name: 'string', level: 'number', post: 'boolean|object' };
export const editorPost: Shape = { close: 'boolean', hide: 'boolean', pin: 'number' };

/** UserSerializer / AuthenticatedUserSerializer (the fields that do not depend on features this forum lacks). */
export const user: Shape = {
  id: 'number',
  username: 'string',
  slug: 'string',
  joined_on: 'string',
  rank: 'object',
  title: 'string|null',
  avatars,
  is_avatar_locked: 'boolean',
  signature: 'string|null',
  is_signature_locked: 'boolean',
  followers: 'number',
  following: 'number',
  threads: 'number',
  posts: 'number',
  acl: 'object',
  is_followed: 'boolean',
  is_blocked: 'boolean',
  real_name: 'string|null',
  status: 'object|null',
  api: 'object',
  url: 'string',
};
export const authUser: Shape = { ...(user as Record<string, Shape>), email: 'string', is_authenticated: 'boolean', is_anonymous: 'boolean' };
export const anonymous: Shape = { id: 'null', is_authenticated: 'boolean', is_anonymous: 'boolean', acl: 'object' };

/** ApiPatch's answer. */
export const patchResult: Shape = { id: 'number', detail: ['string'] };
/** DRF's validation answer for the named fields. */
export const fieldErrors = (...fields: string[]): Shape => Object.fromEntries(fields.map((f) => [f, ['string']]));
/** PermissionDenied / NotFound / login errors. */
export const detail: Shape = { detail: 'string' };
