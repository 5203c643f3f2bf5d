/**
 * The Misago contract: every endpoint of docs/REQUIREMENTS.md §6 answers with Misago 0.28's status and JSON shape (support/misago-shapes.ts,
 * written down from Misago's serializers), and reads input as DRF does. The calls are the ones Misago's own frontend and
 * the seed's load scenario send: string booleans, `start=0`, `pin` as a number or a numeric string.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, stackAndApiPerFile, type InProcessApi } from './support/env.js';
import * as S from './support/misago-shapes.js';

let api: InProcessApi;

stackAndApiPerFile((_stack, a) => {
  api = a;
});

const client = () => new Client(api.url);
const unflood = (userId: number) => api.rt.redis.del(`flood:${userId}`);
let seq = 0;
const uname = (p: string) => `${p}${++seq}`;

function assertShape(value: unknown, shape: S.Shape, what: string): void {
  const errors = S.shapeErrors(value, shape);
  assert.deepEqual(errors, [], `${what} differs from Misago's shape`);
}

async function user(prefix = 'ct') {
  const c = client();
  const u = (await c.register(uname(prefix))) as { id: number; username: string };
  return { c, u };
}
async function admin() {
  const c = client();
  await c.login('admin', 'admin-password-1');
  return c;
}

describe('When a Misago client walks through every endpoint, then each answers with Misago status and shape', () => {
  test('When auth, users, categories, editor, threads, posts, PATCH and DELETE are called, then each answers as Misago', async () => {
    const g = client();
    const anon = await g.get('/api/auth/');
    assert.equal(anon.status, 200);
    assertShape(anon.body, S.anonymous, 'GET /api/auth/ (guest)');
    assert.equal((await g.get('/api/auth/criteria/')).status, 200);

    const name = uname('walker');
    const c = client();
    const reg = await c.post('/api/users/', { username: name, email: `${name}@example.com`, password: 'walker-pass-1' });
    assert.equal(reg.status, 200, reg.text);
    assert.equal(reg.body.activation, 'active');
    assert.equal(reg.body.username, name);
    assert.equal(reg.body.email, `${name}@example.com`);
    const me = await c.get('/api/auth/');
    assertShape(me.body, S.authUser, 'GET /api/auth/');
    assertShape((await g.get(`/api/users/${me.body.id}/`)).body, S.user, 'GET /api/users/{id}/');

    // logging in again while signed in: Misago's deny_authenticated
    const again = await c.post('/api/auth/', { username: name, password: 'walker-pass-1' });
    assert.equal(again.status, 403);
    assertShape(again.body, S.detail, 'login while signed in');
    const c2 = client();
    const login = await c2.post('/api/auth/', { username: name, password: 'walker-pass-1' });
    assert.equal(login.status, 200);
    assertShape(login.body, S.authUser, 'POST /api/auth/');
    const bad = await client().post('/api/auth/', { username: name, password: 'wrong-one-1' });
    assert.deepEqual([bad.status, bad.body.code], [400, 'invalid_login']);
    assertShape(bad.body, S.detail, 'bad login');

    const editor = await c.get('/api/threads/editor/');
    assert.equal(editor.status, 200);
    assertShape(editor.body, [S.editorCategory], 'GET /api/threads/editor/');
    assertShape(editor.body[0].post, S.editorPost, 'editor post options');

    const started = await c.post('/api/threads/', { title: 'A walk through Misago', post: 'The first post of the walk.', category: 3 });
    assert.equal(started.status, 200, started.text);
    assertShape(started.body, { id: 'number', title: 'string', url: 'string' }, 'POST /api/threads/');
    const id = started.body.id as number;

    for (const viewer of [g, c]) {
      const t = await viewer.get(`/api/threads/${id}/`);
      assert.equal(t.status, 200);
      assertShape(t.body, S.thread, 'GET /api/threads/{id}/');
      assert.equal(t.body.poll, null);
      assert.equal(t.body.best_answer, null);
      assert.equal(t.body.category.parent, null, 'a top-level category has parent null');
    }

    const sub = await c.patch(`/api/threads/${id}/`, [{ op: 'replace', path: 'subscription', value: 'notify' }]);
    assert.equal(sub.status, 200);
    assertShape(sub.body, { ...(S.patchResult as Record<string, S.Shape>), subscription: 'boolean|null' }, 'PATCH subscription');

    const other = await user('replier');
    await unflood(other.u.id);
    const reply = await other.c.post(`/api/threads/${id}/posts/`, { post: 'A reply on the walk.' });
    assert.equal(reply.status, 200, reply.text);
    assertShape(reply.body, S.post, 'POST /api/threads/{id}/posts/');
    assert.deepEqual((await other.c.get(`/api/threads/${id}/posts/reply_editor/`)).body, {});
    const edited = await other.c.put(`/api/threads/${id}/posts/${reply.body.id}/`, { post: 'An edited reply on the walk.' });
    assert.equal(edited.status, 200);
    assertShape(edited.body, S.post, 'PUT /api/threads/{id}/posts/{pid}/');
    const read = await c.post(`/api/threads/${id}/posts/${reply.body.id}/read/`);
    assertShape(read.body, { thread_is_read: 'boolean' }, 'POST read');

    for (const viewer of [g, c]) {
      const page = await viewer.get(`/api/threads/${id}/posts/`);
      assert.equal(page.status, 200);
      assertShape(page.body, S.postsPage, 'GET /api/threads/{id}/posts/');
      assert.equal(page.body.post_set.results.length, 2);
    }

    for (const list of ['all', 'my', 'new', 'unread', 'subscribed']) {
      const r = await c.get(`/api/threads/?category=2&list=${list}`);
      assert.equal(r.status, 200, list);
      assertShape(r.body, S.threadList, `GET /api/threads/?list=${list}`);
    }
    assertShape((await g.get('/api/threads/')).body, S.threadList, 'GET /api/threads/ (guest)');

    // the worker keeps category counters; here the table is written as it would
    await api.rt.db.rw.query(
      `UPDATE categories SET threads = 1, posts = 2, last_thread_id = $1, last_thread_title = 'A walk through Misago',
         last_thread_slug = 'a-walk-through-misago', last_post_on = now(), last_poster_name = $2 WHERE id = 3`,
      [id, other.u.username],
    );
    for (const viewer of [g, c]) {
      const cats = await viewer.get('/api/categories/');
      assert.equal(cats.status, 200);
      assertShape(cats.body, [S.category()], 'GET /api/categories/');
      const first = cats.body.find((x: { id: number }) => x.id === 3);
      assert.equal(first.parent, null);
      assertShape(first.last_poster, S.categoryPoster, 'category last_poster');
      assert.ok(first.lft < first.rght);
    }
    const unreadCats = (await other.c.get('/api/categories/')).body;
    assert.equal(typeof unreadCats[0].is_read, 'boolean');

    const adm = await admin();
    const closed = await adm.patch(`/api/threads/${id}/`, [
      { op: 'replace', path: 'is-closed', value: 'true' },
      { op: 'replace', path: 'weight', value: '1' },
    ]);
    assert.deepEqual([closed.status, closed.body.detail, closed.body.is_closed, closed.body.weight], [200, ['ok', 'ok'], true, 1]);
    const deleted = await adm.del(`/api/threads/${id}/`);
    assert.deepEqual([deleted.status, deleted.body], [200, {}]);
    assert.equal((await c.post('/logout/')).status, 200);
  });
});

describe('When input takes the forms DRF accepts, then it is accepted; what DRF refuses is refused', () => {
  test('When close / hide / pin come as string booleans, 0/1 or numeric strings (Misago frontend and load scenario), then they are accepted', async () => {
    const adm = await admin();
    const cases: [Record<string, unknown>, { is_closed: boolean; is_hidden: boolean; weight: number }][] = [
      [
        { close: 'false', hide: 'false', pin: 0 },
        { is_closed: false, is_hidden: false, weight: 0 },
      ],
      [
        { close: 'true', hide: '0', pin: '2' },
        { is_closed: true, is_hidden: false, weight: 2 },
      ],
      [
        { close: 0, hide: 1, pin: '1' },
        { is_closed: false, is_hidden: true, weight: 1 },
      ],
      [
        { close: 'on', hide: 'off', pin: '0' },
        { is_closed: true, is_hidden: false, weight: 0 },
      ],
      [
        { close: 'yes', hide: 'no', pin: 2.0 },
        { is_closed: true, is_hidden: false, weight: 2 },
      ],
      [
        { close: 'True', hide: 'FALSE', pin: ' 1 ' },
        { is_closed: true, is_hidden: false, weight: 1 },
      ],
      [
        { close: '1', hide: 'f', pin: '2.0' },
        { is_closed: true, is_hidden: false, weight: 2 },
      ],
      [{}, { is_closed: false, is_hidden: false, weight: 0 }],
    ];
    for (const [flags, want] of cases) {
      await unflood(1);
      const r = await adm.post('/api/threads/', { title: `Flags ${JSON.stringify(flags)}`, post: 'Flags as DRF reads them.', category: '3', ...flags });
      assert.equal(r.status, 200, `${JSON.stringify(flags)} -> ${r.text}`);
      const t = (await adm.get(`/api/threads/${r.body.id}/`)).body;
      assert.deepEqual({ is_closed: t.is_closed, is_hidden: t.is_hidden, weight: t.weight }, want, JSON.stringify(flags));
    }
    const refused: [Record<string, unknown>, string][] = [
      [{ close: 'maybe' }, 'close'],
      [{ hide: 2 }, 'hide'],
      [{ close: null }, 'close'],
      [{ pin: 'two' }, 'pin'],
      [{ pin: 1.5 }, 'pin'],
      [{ pin: true }, 'pin'],
      [{ close: [] }, 'close'],
    ];
    for (const [flags, field] of refused) {
      await unflood(1);
      const r = await adm.post('/api/threads/', { title: 'Refused flags', post: 'Flags DRF refuses.', category: 3, ...flags });
      assert.equal(r.status, 400, `${JSON.stringify(flags)} -> ${r.text}`);
      assertShape(r.body, S.fieldErrors(field), JSON.stringify(flags));
    }
  });

  test('When is-closed / is-hidden / weight PATCH values come in the same forms, then they are accepted', async () => {
    const adm = await admin();
    await unflood(1);
    const { id } = (await adm.post('/api/threads/', { title: 'Patch forms', post: 'Patch values as DRF reads them.', category: 3 })).body;
    const patch = (path: string, value: unknown) => adm.patch(`/api/threads/${id}/`, [{ op: 'replace', path, value }]);
    assert.equal((await patch('is-closed', 'true')).body.is_closed, true);
    assert.equal((await patch('is-closed', '0')).body.is_closed, false);
    assert.equal((await patch('is-hidden', 1)).body.is_hidden, true);
    assert.equal((await patch('is-hidden', 'off')).body.is_hidden, false);
    assert.equal((await patch('weight', '2')).body.weight, 2);
    assert.equal((await patch('weight', 0)).body.weight, 0);
    const bad = await patch('is-closed', 'perhaps');
    assert.deepEqual([bad.status, bad.body], [400, { id, detail: ['Must be a valid boolean.'] }]);
    assert.equal((await patch('weight', 'heavy')).status, 400);
    const unknown = await adm.patch(`/api/threads/${id}/`, [{ op: 'replace', path: 'no-such-path', value: true }]);
    assert.deepEqual([unknown.status, unknown.body], [200, { id, detail: ['ok'] }]);
  });

  test('When start=0 or no start is given, then every list answers its first page; when the list is unknown or start=abc, then 404', async () => {
    const { c, u } = await user('lists');
    await unflood(u.id);
    const { id } = (await c.post('/api/threads/', { title: 'Listed on every list', post: 'Listed on every list.', category: 3 })).body;
    assert.equal((await c.patch(`/api/threads/${id}/`, [{ op: 'replace', path: 'subscription', value: 'email' }])).status, 200);
    const other = await user('lists');
    const lists: [Client, string][] = [
      [c, 'all'],
      [c, 'my'],
      [c, 'subscribed'],
      [other.c, 'new'],
    ];
    for (const [viewer, list] of lists) {
      for (const q of [`category=2&list=${list}`, `category=2&list=${list}&start=0`, `category=3&list=${list}&start=0`, `list=${list}&start=0`]) {
        const r = await viewer.get(`/api/threads/?${q}`);
        assert.equal(r.status, 200, q);
        assert.ok(
          r.body.results.some((t: { id: number }) => t.id === id),
          `${q}: the thread is on the first page`,
        );
      }
    }
    // unread: read before, a reply since
    await other.c.get(`/api/threads/${id}/posts/`);
    await unflood(u.id);
    await c.post(`/api/threads/${id}/posts/`, { post: 'A reply makes it unread.' });
    for (const q of ['list=unread', 'list=unread&start=0'])
      assert.ok(
        (await other.c.get(`/api/threads/?${q}`)).body.results.some((t: { id: number }) => t.id === id),
        q,
      );

    for (const q of ['list=bogus', 'start=abc', 'start=-1', 'start=1.5', 'list=my&start=x']) assert.equal((await c.get(`/api/threads/?${q}`)).status, 404, q);
    const abc = await c.get('/api/threads/?category=abc');
    assert.equal(abc.status, 400, 'category=abc: 400 where Misago answers 500 (docs/API-DECISIONS.md)');
  });

  test('When a post floods, then 403 with the Misago message; when a user registers, then 200; when validation fails, then per-field lists', async () => {
    const { c, u } = await user('flooder');
    await unflood(u.id);
    const { id } = (await c.post('/api/threads/', { title: 'Flood target', post: 'The first post here.', category: 3 })).body;
    const r = await c.post(`/api/threads/${id}/posts/`, { post: 'Too quick a reply.' });
    assert.deepEqual([r.status, r.body], [403, { detail: "You can't post message so quickly after previous one.", code: 'flood' }]);

    const v = await c.post(`/api/threads/${id}/posts/`, { post: '' });
    assert.equal(v.status, 400);
    assertShape(v.body, S.fieldErrors('post'), 'empty reply');
    await unflood(u.id);
    const many = await c.post('/api/threads/', { title: 'ab', post: 'x', category: 'abc' });
    assert.equal(many.status, 400);
    assertShape(many.body, S.fieldErrors('title', 'post', 'category'), 'three bad fields');
    const body = await c.post('/api/threads/', ['just', 'a', 'list']);
    assertShape(body.body, S.fieldErrors('non_field_errors'), 'not a dictionary');
  });
});
