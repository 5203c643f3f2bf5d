// Thin client for the Misago 0.27 REST dialect (docs/REQUIREMENTS.md §6): cookie session,
// `csrftoken` cookie echoed in `X-CSRFToken` on unsafe methods, errors as {detail, code}
// or DRF field errors ({field: ["message"]}).

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

export interface User {
  id: number | null;
  username?: string;
  email?: string;
}

export interface Category {
  id: number;
  name: string;
  description?: string | { plain?: string; html?: string } | null;
  threads?: number;
  posts?: number;
  level?: number;
  subcategories?: Category[] | number[];
  url?: { index?: string };
}

export interface ThreadSummary {
  id: number;
  title: string;
  category?: number | { id: number; name?: string };
  replies?: number;
  starter_name?: string;
  started_on?: string;
  last_post_on?: string;
  last_poster_name?: string;
  is_new?: boolean;
  is_read?: boolean;
  is_closed?: boolean;
  weight?: number;
  subscription?: boolean | null;
  /** Misago's page URLs; `index` is the thread's own: /t/<slug>/<id>/ */
  url?: { index?: string };
}

export interface ThreadList {
  results: ThreadSummary[];
  subcategories?: number[];
  next: string | number | null;
}

export interface Post {
  id: number;
  poster_name?: string;
  poster?: { username?: string } | null;
  posted_on?: string;
  content?: string | null;
  parsed?: string | null;
  original?: string | null;
}

export interface PostPage extends ThreadSummary {
  post_set: {
    results: Post[];
    page: number;
    pages: number;
    count: number;
    next: number | null;
    previous: number | null;
  };
}

export interface EditorCategory {
  id: number;
  name: string;
  level?: number;
  post: boolean | unknown;
}

export type ListName = 'all' | 'new' | 'unread' | 'subscribed' | 'my';

function readCookie(name: string): string | undefined {
  for (const part of document.cookie.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return undefined;
}

function errorMessage(status: number, data: unknown): { message: string; code?: string } {
  if (data && typeof data === 'object') {
    const o = data as Record<string, unknown>;
    if (typeof o.detail === 'string') {
      return { message: o.detail, code: typeof o.code === 'string' ? o.code : undefined };
    }
    // DRF validation errors: {"field": ["message", ...], ...}
    const parts: string[] = [];
    for (const [field, msgs] of Object.entries(o)) {
      const text = Array.isArray(msgs) ? msgs.join(' ') : String(msgs);
      parts.push(field === 'non_field_errors' ? text : `${field}: ${text}`);
    }
    if (parts.length) return { message: parts.join('; '), code: 'invalid' };
  }
  return { message: `Request failed (HTTP ${status})` };
}

export async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const unsafe = method !== 'GET' && method !== 'HEAD';
  // The API sets `csrftoken` on any GET; make sure we have one before the first write.
  if (unsafe && !readCookie('csrftoken')) await fetch('/api/auth/', { credentials: 'same-origin' });
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (unsafe) headers['X-CSRFToken'] = readCookie('csrftoken') ?? '';
  const res = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let data: unknown = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const { message, code } = errorMessage(res.status, data);
    throw new ApiError(res.status, message, code);
  }
  return data as T;
}

export const api = {
  me: () => request<User>('GET', '/api/auth/'),
  login: (username: string, password: string) => request<User>('POST', '/api/auth/', { username, password }),
  logout: () => request<unknown>('POST', '/logout/'),
  register: (username: string, email: string, password: string) => request<User>('POST', '/api/users/', { username, email, password }),
  categories: () => request<Category[] | { results: Category[] }>('GET', '/api/categories/'),
  threads: (list: ListName, category?: number, start?: string | number | null) => {
    const q = new URLSearchParams({ list });
    if (category !== undefined) q.set('category', String(category));
    if (start !== undefined && start !== null) q.set('start', String(start));
    return request<ThreadList>('GET', `/api/threads/?${q}`);
  },
  posts: (threadId: number, page: number) => request<PostPage>('GET', `/api/threads/${threadId}/posts/?page=${page}`),
  editor: () => request<EditorCategory[]>('GET', '/api/threads/editor/'),
  startThread: (title: string, post: string, category: number) =>
    request<{ id: number; title: string; url: string }>('POST', '/api/threads/', { title, post, category }),
  reply: (threadId: number, post: string) => request<Post>('POST', `/api/threads/${threadId}/posts/`, { post }),
  subscribe: (threadId: number, value: 'notify' | 'email' | null) =>
    request<{ id: number; subscription: boolean | null }>('PATCH', `/api/threads/${threadId}/`, [{ op: 'replace', path: 'subscription', value }]),
};
