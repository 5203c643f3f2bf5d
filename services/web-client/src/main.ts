import './style.css';
import { api, ApiError, type Category, type ListName, type PostPage, type ThreadSummary, type User } from './api.js';
import { formatDate, h } from './dom.js';
import { sanitizeHtml } from './sanitize.js';

const app = document.getElementById('app')!;
const listsNav = document.getElementById('lists')!;
const accountBox = document.getElementById('account')!;

let me: User | null = null;
const LISTS: Array<[ListName, string]> = [
  ['all', 'All'],
  ['new', 'New'],
  ['unread', 'Unread'],
  ['subscribed', 'Subscribed'],
  ['my', 'Mine'],
];

const loggedIn = (): boolean => !!me && me.id !== null && me.id !== undefined;

/**
 * History routing: every view has a path, the ones Misago uses where it has one (a thread is the `url.index` the
 * API returns, /t/<slug>/<id>/, page n /t/<slug>/<id>/<n>/; a category /c/<slug>/<id>/), so a link from the API,
 * a bookmark or a reload opens the view itself. NGINX answers every such path with this app's index.html.
 */
function go(path: string): void {
  if (location.pathname + location.search !== path) history.pushState(null, '', path);
  void route();
}

/** Paths that belong to the server, never to a view of the app. */
const SERVER_PATHS = /^\/(api|ops|static|healthcheck|logout)(\/|$)/;

/** The path of a thread (page 1 unless given); the API's url.index when present. */
function threadPath(t: { id: number; url?: { index?: string } }, page = 1): string {
  const index = t.url?.index && /^\/t\/[^/]+\/\d+\/$/.test(t.url.index) ? t.url.index : `/t/thread/${t.id}/`;
  return page > 1 ? `${index}${page}/` : index;
}

/** The path that an old hash link (#/t/5/2, #/list/my, #/new?category=3) stands for. */
function pathOfHash(hash: string): string {
  const [p, q] = hash.replace(/^#/, '').split('?');
  const parts = (p || '/').split('/').filter(Boolean);
  let path = '/';
  if (parts[0] === 't' && parts[1]) path = `/t/thread/${parts[1]}/${parts[2] && parts[2] !== '1' ? `${parts[2]}/` : ''}`;
  else if (parts.length) path = `/${parts.join('/')}/`;
  return q ? `${path}?${q}` : path;
}

function errorBox(err: unknown): HTMLElement {
  const msg = err instanceof ApiError ? err.message : err instanceof Error ? err.message : String(err);
  return h('p', { class: 'error', role: 'alert' }, msg);
}

function show(...nodes: Node[]): void {
  app.replaceChildren(...nodes);
}

/** Bumped by every route(): the view it starts is the current one until the next navigation. */
let routeSeq = 0;

/**
 * The render function of the view route() is starting now. Once a newer route has begun (the user clicked on while
 * this view still awaited the API), it renders nothing: a slow, stale view must never replace the current one (e.g.
 * the home page finishing after "Start thread" had already shown its form). Views that render before their first
 * await (login, register) are always current and call show() directly.
 */
function screen(): (...nodes: Node[]) => void {
  const mine = routeSeq;
  return (...nodes) => {
    if (mine === routeSeq) show(...nodes);
    else document.body.dataset.discarded = String(Number(document.body.dataset.discarded ?? 0) + 1);
  };
}

async function refreshMe(): Promise<void> {
  try {
    me = await api.me();
  } catch {
    me = null;
  }
  renderChrome();
}

function renderChrome(): void {
  listsNav.replaceChildren(
    h('a', { href: '/' }, 'Categories'),
    ...LISTS.filter(([l]) => l === 'all' || loggedIn()).map(([l, label]) => h('a', { href: `/list/${l}/`, 'data-list': l }, label)),
  );
  if (loggedIn()) {
    accountBox.replaceChildren(
      h('a', { href: '/new/', class: 'button', id: 'start-thread' }, 'Start thread'),
      h('span', { class: 'whoami', id: 'whoami' }, me!.username ?? ''),
      h('button', { id: 'logout', type: 'button', onclick: () => void logout() }, 'Log out'),
    );
  } else {
    accountBox.replaceChildren(h('a', { href: '/login/', id: 'login-link' }, 'Log in'), h('a', { href: '/register/', id: 'register-link' }, 'Register'));
  }
}

async function logout(): Promise<void> {
  try {
    await api.logout();
  } catch (err) {
    show(errorBox(err));
    return;
  }
  await refreshMe();
  go('/');
}

function flattenCategories(input: Category[] | { results: Category[] }): Array<Category & { depth: number }> {
  const roots = Array.isArray(input) ? input : (input.results ?? []);
  const out: Array<Category & { depth: number }> = [];
  const walk = (cats: Category[], depth: number): void => {
    for (const c of cats) {
      out.push({ ...c, depth: c.level !== undefined ? Math.max(0, c.level - 1) : depth });
      const subs = (c.subcategories ?? []).filter((s): s is Category => typeof s === 'object');
      walk(subs, depth + 1);
    }
  };
  walk(roots, 0);
  return out;
}

function threadItem(t: ThreadSummary): HTMLElement {
  const unread = loggedIn() && t.is_read === false;
  return h(
    'li',
    { class: `thread${unread ? ' unread' : ''}`, 'data-thread-id': t.id, 'data-unread': unread ? '1' : '0' },
    h('a', { href: threadPath(t), class: 'thread-title' }, t.title),
    unread ? h('span', { class: 'badge' }, 'unread') : null,
    (t.weight ?? 0) > 0 ? h('span', { class: 'badge pinned' }, 'pinned') : null,
    h(
      'div',
      { class: 'meta' },
      `${t.replies ?? 0} replies · started by ${t.starter_name ?? '?'} · last post ${
        t.last_poster_name ? `by ${t.last_poster_name} ` : ''
      }${formatDate(t.last_post_on)}`,
    ),
  );
}

async function threadList(list: ListName, category?: number): Promise<HTMLElement> {
  const ul = h('ul', { class: 'threads', id: 'thread-list', 'data-list': list });
  const wrap = h('section', {}, ul);
  const load = async (start?: string | number | null): Promise<void> => {
    const page = await api.threads(list, category, start);
    for (const t of page.results) ul.appendChild(threadItem(t));
    if (!ul.children.length) ul.appendChild(h('li', { class: 'empty muted' }, 'No threads here yet.'));
    if (page.next !== null && page.next !== undefined) {
      const more: HTMLElement = h(
        'button',
        {
          type: 'button',
          class: 'more',
          onclick: () => {
            more.remove();
            load(page.next).catch((e) => wrap.appendChild(errorBox(e)));
          },
        },
        'Load more',
      );
      wrap.appendChild(more);
    }
  };
  await load();
  return wrap;
}

async function viewHome(): Promise<void> {
  const render = screen();
  const cats = flattenCategories(await api.categories());
  const catList = h(
    'ul',
    { class: 'categories', id: 'categories' },
    ...cats.map((c) =>
      h(
        'li',
        { style: `margin-left:${c.depth * 1.5}rem`, 'data-category-id': c.id },
        h('a', { href: c.url?.index ?? `/c/${c.id}/` }, c.name),
        h('span', { class: 'meta' }, ` ${c.threads ?? 0} threads · ${c.posts ?? 0} posts`),
      ),
    ),
  );
  render(h('h1', {}, 'Categories'), catList, h('h2', {}, 'Latest threads'), await threadList('all'));
}

async function viewCategory(id: number): Promise<void> {
  const render = screen();
  const cats = flattenCategories(await api.categories());
  const cat = cats.find((c) => c.id === id);
  render(
    h('h1', {}, cat?.name ?? `Category ${id}`),
    h('p', {}, loggedIn() ? h('a', { href: `/new/?category=${id}`, class: 'button' }, 'Start thread here') : ''),
    await threadList('all', id),
  );
}

async function viewList(list: ListName): Promise<void> {
  const render = screen();
  if (list !== 'all' && !loggedIn()) {
    render(h('p', {}, 'Log in to see this list. ', h('a', { href: '/login/' }, 'Log in')));
    return;
  }
  const label = LISTS.find(([l]) => l === list)?.[1] ?? list;
  render(h('h1', {}, `${label} threads`), await threadList(list));
}

function subscriptionValue(s: boolean | null | undefined): string {
  return s === true ? 'email' : s === false ? 'notify' : 'none';
}

async function viewThread(id: number, page: number): Promise<void> {
  const render = screen();
  const mine = routeSeq;
  const data: PostPage = await api.posts(id, page);
  const ps = data.post_set;
  // the canonical address (real slug, no "/1/"): an old #/t/<id> link or a renamed thread lands there
  const canonical = threadPath({ id, url: data.url }, ps.page);
  if (mine === routeSeq && location.pathname !== canonical) history.replaceState(null, '', canonical + location.search);
  const posts = h(
    'ol',
    { class: 'posts', id: 'posts', start: (ps.page - 1) * 18 + 1 },
    ...ps.results.map((p) => {
      const body = h('div', { class: 'post-body' });
      const html = p.content ?? p.parsed;
      if (html) body.appendChild(sanitizeHtml(html));
      else body.textContent = p.original ?? '';
      return h(
        'li',
        { class: 'post', 'data-post-id': p.id },
        h('div', { class: 'meta' }, h('strong', {}, p.poster_name ?? p.poster?.username ?? '?'), ' · ', formatDate(p.posted_on)),
        body,
      );
    }),
  );
  const pager = h(
    'nav',
    { class: 'pager', 'aria-label': 'Pages' },
    ps.previous ? h('a', { href: threadPath({ id, url: data.url }, ps.previous), rel: 'prev' }, '‹ Previous') : '',
    h('span', { id: 'page-info' }, `Page ${ps.page} of ${Math.max(ps.pages, 1)}`),
    ps.next ? h('a', { href: threadPath({ id, url: data.url }, ps.next), rel: 'next' }, 'Next ›') : '',
  );

  const children: Node[] = [h('h1', { id: 'thread-title' }, data.title), pager, posts];
  if (loggedIn()) {
    const status = h('span', { class: 'muted', id: 'subscription-status' });
    const select = h(
      'select',
      { id: 'subscription', 'aria-label': 'Subscription' },
      h('option', { value: 'none' }, 'Not subscribed'),
      h('option', { value: 'notify' }, 'Subscribed (notify)'),
      h('option', { value: 'email' }, 'Subscribed (e-mail)'),
    ) as HTMLSelectElement;
    select.value = subscriptionValue(data.subscription);
    select.addEventListener('change', () => {
      const v = select.value === 'none' ? null : (select.value as 'notify' | 'email');
      status.textContent = 'saving…';
      api
        .subscribe(id, v)
        .then((r) => {
          select.value = subscriptionValue(r.subscription);
          status.textContent = 'saved';
        })
        .catch((e) => {
          status.textContent = e instanceof Error ? e.message : String(e);
        });
    });
    children.splice(1, 0, h('div', { class: 'toolbar' }, select, ' ', status));

    if (!data.is_closed) {
      const text = h('textarea', { id: 'reply-body', name: 'post', rows: 5, required: true }) as HTMLTextAreaElement;
      const err = h('div', {});
      const form = h(
        'form',
        { id: 'reply-form', class: 'editor' },
        h('label', { for: 'reply-body' }, 'Reply'),
        text,
        h('button', { type: 'submit' }, 'Post reply'),
        err,
      ) as HTMLFormElement;
      form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        err.replaceChildren();
        api
          .reply(id, text.value)
          .then(async () => {
            const after = await api.posts(id, 1);
            go(threadPath({ id, url: after.url ?? data.url }, Math.max(after.post_set.pages, 1)));
          })
          .catch((e) => err.replaceChildren(errorBox(e)));
      });
      children.push(form);
    }
  } else {
    children.push(h('p', { class: 'muted' }, h('a', { href: '/login/' }, 'Log in'), ' to reply.'));
  }
  render(...children);
}

function field(id: string, label: string, attrs: Record<string, string | boolean> = {}): HTMLElement {
  return h('p', {}, h('label', { for: id }, label), h('input', { id, name: id, required: true, ...attrs }));
}

function valueOf(id: string): string {
  return (document.getElementById(id) as HTMLInputElement).value;
}

function viewLogin(): void {
  const err = h('div', {});
  const form = h(
    'form',
    { id: 'login-form', class: 'editor' },
    field('login-username', 'Username', { autocomplete: 'username' }),
    field('login-password', 'Password', { type: 'password', autocomplete: 'current-password' }),
    h('button', { type: 'submit' }, 'Log in'),
    err,
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    api
      .login(valueOf('login-username'), valueOf('login-password'))
      .then(async () => {
        await refreshMe();
        go('/');
      })
      .catch((e) => err.replaceChildren(errorBox(e)));
  });
  show(h('h1', {}, 'Log in'), form);
}

function viewRegister(): void {
  const err = h('div', {});
  const form = h(
    'form',
    { id: 'register-form', class: 'editor' },
    field('reg-username', 'Username', { autocomplete: 'username' }),
    field('reg-email', 'E-mail', { type: 'email', autocomplete: 'email' }),
    field('reg-password', 'Password', { type: 'password', autocomplete: 'new-password' }),
    h('button', { type: 'submit' }, 'Register'),
    err,
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const [u, e, p] = [valueOf('reg-username'), valueOf('reg-email'), valueOf('reg-password')];
    api
      .register(u, e, p)
      .then(async () => {
        await refreshMe();
        // Misago signs an active account in on registration; if this server did not, sign in now.
        if (!loggedIn()) {
          await api.login(u, p);
          await refreshMe();
        }
        go('/');
      })
      .catch((x) => err.replaceChildren(errorBox(x)));
  });
  show(h('h1', {}, 'Register'), form);
}

async function viewNewThread(preselect?: number): Promise<void> {
  const render = screen();
  if (!loggedIn()) {
    go('/login/');
    return;
  }
  const cats = (await api.editor()).filter((c) => c.post);
  const select = h(
    'select',
    { id: 'thread-category', name: 'category' },
    ...cats.map((c) => h('option', { value: c.id }, `${'– '.repeat(Math.max(0, (c.level ?? 1) - 1))}${c.name}`)),
  ) as HTMLSelectElement;
  if (preselect !== undefined) select.value = String(preselect);
  const err = h('div', {});
  const form = h(
    'form',
    { id: 'thread-form', class: 'editor' },
    field('thread-title-input', 'Title', { minlength: '5' }),
    h('p', {}, h('label', { for: 'thread-category' }, 'Category'), select),
    h('p', {}, h('label', { for: 'thread-body' }, 'Message'), h('textarea', { id: 'thread-body', rows: 8, required: true })),
    h('button', { type: 'submit' }, 'Start thread'),
    err,
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    api
      .startThread(valueOf('thread-title-input'), valueOf('thread-body'), Number(select.value))
      .then((t) => go(threadPath({ id: t.id, url: { index: t.url } })))
      .catch((e) => err.replaceChildren(errorBox(e)));
  });
  render(h('h1', {}, 'Start a thread'), form);
}

async function route(): Promise<void> {
  const parts = location.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(location.search);
  const mine = ++routeSeq;
  delete document.body.dataset.ready; // set again when this view has rendered (tests wait on it)
  document.body.dataset.route = parts[0] ?? 'home';
  // /t/<id>/ and /c/<id>/ (no slug) are accepted too; otherwise the id follows the slug
  const idAt = (n: number): number => Number(parts.length === 2 ? parts[1] : parts[n]);
  try {
    switch (parts[0]) {
      case undefined:
        return await viewHome();
      case 'c':
        return await viewCategory(idAt(2));
      case 'list':
        return await viewList((parts[1] ?? 'all') as ListName);
      case 't':
        // /t/<slug>/<id>/<page>/; Misago's /t/<slug>/<id>/post/<pid>/, /last/, /new/ open the first page
        return await viewThread(idAt(2), parts.length === 2 ? 1 : Math.max(1, Number(parts[3] ?? 1) || 1));
      case 'login':
        return viewLogin();
      case 'register':
        return viewRegister();
      case 'new':
        return await viewNewThread(params.has('category') ? Number(params.get('category')) : undefined);
      default:
        show(h('h1', {}, 'Not found'), h('p', {}, h('a', { href: '/' }, 'Back to the forum')));
    }
  } catch (err) {
    if (mine === routeSeq) show(errorBox(err));
  } finally {
    if (mine === routeSeq) document.body.dataset.ready = '1';
  }
}

// In-app links change the history instead of loading the page again; modified clicks (new tab) stay the browser's.
document.addEventListener('click', (ev) => {
  if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  const a = (ev.target as Element | null)?.closest?.('a');
  if (!a || (a.target && a.target !== '_self') || a.hasAttribute('download')) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || SERVER_PATHS.test(url.pathname)) return;
  if (url.hash && url.pathname === location.pathname && url.search === location.search) return; // in-page anchor
  ev.preventDefault();
  go(url.pathname + url.search);
});
window.addEventListener('popstate', () => void route());
// Old #/... links (bookmarks from the hash-routed client) are rewritten to their path.
const fromHash = (): boolean => {
  if (!location.hash.startsWith('#/')) return false;
  history.replaceState(null, '', pathOfHash(location.hash));
  return true;
};
window.addEventListener('hashchange', () => {
  if (fromHash()) void route();
});
fromHash();
void refreshMe().then(route);
