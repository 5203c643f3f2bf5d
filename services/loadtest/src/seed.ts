import { Client, errorKind, Session } from './http.js';

export interface SeedOptions {
  accounts: number;
  threads: number;
  userPrefix: string;
  password: string;
  category?: number;
  concurrency: number;
}

export interface SeedResult {
  usernames: string[];
  threadIds: number[];
  category: number;
  notes: string[];
  seconds: number;
  /** Account index -> when it last posted (the API's flood limit applies to the run too). */
  lastPostAt: Map<number, number>;
}

export const username = (prefix: string, i: number): string => `${prefix}${i}`;

/** GET for the csrftoken cookie, then POST /api/auth/ (Misago's login). */
export async function login(client: Client, s: Session, user: string, password: string) {
  const first = await client.request('GET', '/api/auth/', s);
  if (first.status !== 200) return { ...first, ms: first.ms };
  const r = await client.request('POST', '/api/auth/', s, { username: user, password }, true);
  return { ...r, ms: r.ms + first.ms };
}

async function pool<T>(items: T[], n: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

/**
 * Creates the accounts and seed threads before the measured run (SPEC §2). Idempotent across runs:
 * an account that already exists is reused (same deterministic password), existing threads count
 * towards the seed size. Stops early on repeated login failures so it never trips the API's
 * brute-force protection (8 failures in 30 s block the load generator's address).
 */
export async function seed(client: Client, o: SeedOptions): Promise<SeedResult> {
  const t0 = performance.now();
  const notes: string[] = [];
  const usernames = Array.from({ length: o.accounts }, (_, i) => username(o.userPrefix, i));
  let created = 0;
  let existed = 0;
  const failures: string[] = [];
  await pool(usernames, o.concurrency, async (u) => {
    const s = new Session(0);
    await client.request('GET', '/api/auth/', s);
    const r = await client.request('POST', '/api/users/', s, { username: u, email: `${u}@example.com`, password: o.password }, true);
    if (r.status === 201 || r.status === 200) created++;
    else if (r.status === 400 && JSON.stringify(r.body ?? '').match(/taken|exist|already|not available|in use/i)) existed++;
    else failures.push(`${u}: ${errorKind(r)} ${JSON.stringify(r.body ?? '').slice(0, 120)}`);
  });
  notes.push(`accounts: ${created} registered, ${existed} reused, ${failures.length} failed`);
  if (failures.length) notes.push(`first registration failure: ${failures[0]}`);
  if (failures.length > usernames.length / 2) throw new Error(`seed: registration failed for ${failures.length} accounts: ${failures[0]}`);

  // Posting sessions for the seed threads (flood protection: one post per user per 3 s).
  const posters: Session[] = [];
  let loginFailures = 0;
  for (let i = 0; i < Math.min(10, usernames.length) && loginFailures < 3; i++) {
    if (failures.some((f) => f.startsWith(`${usernames[i]}:`))) continue;
    const s = new Session(i);
    const r = await login(client, s, usernames[i], o.password);
    if (r.status === 200) posters.push(s);
    else {
      loginFailures++;
      notes.push(`seed login ${usernames[i]} failed: ${errorKind(r)}`);
    }
  }
  if (!posters.length) throw new Error(`seed: no seed account could log in (${notes.at(-1) ?? 'no accounts'})`);

  let category = o.category;
  if (category === undefined) {
    const ed = await client.request('GET', '/api/threads/editor/', posters[0], undefined, true);
    const cats = Array.isArray(ed.body) ? (ed.body as Array<{ id: number; post?: unknown }>) : [];
    category = cats.find((c) => c.post)?.id ?? 3;
  }

  const threadIds: number[] = [];
  let start: unknown = undefined;
  for (let page = 0; page < 20 && threadIds.length < o.threads; page++) {
    const q = start === undefined || start === null ? '' : `&start=${encodeURIComponent(String(start))}`;
    const r = await client.request('GET', `/api/threads/?list=all${q}`, null, undefined, true);
    const b = r.body as { results?: Array<{ id: number }>; next?: unknown } | undefined;
    if (r.status !== 200 || !b?.results) break;
    for (const t of b.results) if (threadIds.length < o.threads) threadIds.push(t.id);
    start = b.next;
    if (start === null || start === undefined) break;
  }
  const existing = threadIds.length;
  const toCreate = o.threads - existing;
  const lastPost = new Map<Session, number>();
  let createFailures = 0;
  for (let n = 0; n < toCreate && createFailures < 10;) {
    const batch = posters.slice(0, Math.min(posters.length, toCreate - n));
    await Promise.all(
      batch.map(async (s, k) => {
        const wait = (lastPost.get(s) ?? 0) + 3100 - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const r = await client.request(
          'POST',
          '/api/threads/',
          s,
          { title: `Load test seed thread ${Date.now()}-${n + k}`, post: `Seed post for the load test (${n + k}). How do I profile a Node service?`, category },
          true,
        );
        lastPost.set(s, Date.now());
        const id = (r.body as { id?: number } | undefined)?.id;
        if ((r.status === 200 || r.status === 201) && typeof id === 'number') threadIds.push(id);
        else {
          createFailures++;
          notes.push(`seed thread failed: ${errorKind(r)}`);
        }
      }),
    );
    n += batch.length;
  }
  notes.push(`threads: ${existing} reused, ${threadIds.length - existing} created, category ${category}`);
  if (!threadIds.length) throw new Error(`seed: no thread to read (${notes.at(-1)})`);
  const lastPostAt = new Map<number, number>([...lastPost].map(([sess, t]) => [sess.account, t]));
  return { usernames, threadIds, category, notes, seconds: (performance.now() - t0) / 1000, lastPostAt };
}
