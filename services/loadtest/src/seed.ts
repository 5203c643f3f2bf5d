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
 * Creates the accounts and seed threads before the measured run (docs/LOADTEST.md). Idempotent across runs:
 * an account that already exists is reused (same deterministic password), existing threads count
 * towards the seed size. Stops early on repeated login failures so it never trips the API's
 * brute-force protection (8 failures in 30 s block the load generator's address).
 */
export async function seed(client: Client, o: SeedOptions): Promise<SeedResult> {
  const t0 = performance.now();
  const notes: string[] = [];
  const usernames = Array.from({ length: o.accounts }, (_, i) => username(o.userPrefix, i));
  const failed = await registerAccounts(client, usernames, o, notes);
  const posters = await loginPosters(client, usernames, failed, o.password, notes);
  const category = o.category ?? (await postableCategory(client, posters[0]));
  const threadIds = await existingThreads(client, o.threads);
  const existing = threadIds.length;
  const lastPostAt = await createThreads(client, posters, o.threads - existing, category, threadIds, notes);
  notes.push(`threads: ${existing} reused, ${threadIds.length - existing} created, category ${category}`);
  if (!threadIds.length) throw new Error(`seed: no thread to read (${notes.at(-1)})`);
  return { usernames, threadIds, category, notes, seconds: (performance.now() - t0) / 1000, lastPostAt };
}

/** Registers every account (an existing one counts as reused); throws when more than half fail. Returns the failed names. */
async function registerAccounts(client: Client, usernames: string[], o: SeedOptions, notes: string[]): Promise<Set<string>> {
  let created = 0;
  let existed = 0;
  const failures: string[] = [];
  const failed = new Set<string>();
  await pool(usernames, o.concurrency, async (u) => {
    const s = new Session(0);
    await client.request('GET', '/api/auth/', s);
    const r = await client.request('POST', '/api/users/', s, { username: u, email: `${u}@example.com`, password: o.password }, true);
    if (r.status === 201 || r.status === 200) created++;
    else if (r.status === 400 && JSON.stringify(r.body ?? '').match(/taken|exist|already|not available|in use/i)) existed++;
    else {
      failures.push(`${u}: ${errorKind(r)} ${JSON.stringify(r.body ?? '').slice(0, 120)}`);
      failed.add(u);
    }
  });
  notes.push(`accounts: ${created} registered, ${existed} reused, ${failures.length} failed`);
  if (failures.length) notes.push(`first registration failure: ${failures[0]}`);
  if (failures.length > usernames.length / 2) throw new Error(`seed: registration failed for ${failures.length} accounts: ${failures[0]}`);
  return failed;
}

/** Posting sessions for the seed threads: up to 10 of the accounts, giving up after 3 failed logins. */
async function loginPosters(client: Client, usernames: string[], failed: Set<string>, password: string, notes: string[]): Promise<Session[]> {
  const posters: Session[] = [];
  let loginFailures = 0;
  for (let i = 0; i < Math.min(10, usernames.length) && loginFailures < 3; i++) {
    if (failed.has(usernames[i])) continue;
    const s = new Session(i);
    const r = await login(client, s, usernames[i], password);
    if (r.status === 200) posters.push(s);
    else {
      loginFailures++;
      notes.push(`seed login ${usernames[i]} failed: ${errorKind(r)}`);
    }
  }
  if (!posters.length) throw new Error(`seed: no seed account could log in (${notes.at(-1) ?? 'no accounts'})`);
  return posters;
}

/** The first category the start-thread editor lets `s` post in (3 when it names none). */
async function postableCategory(client: Client, s: Session): Promise<number> {
  const ed = await client.request('GET', '/api/threads/editor/', s, undefined, true);
  const cats = Array.isArray(ed.body) ? (ed.body as Array<{ id: number; post?: unknown }>) : [];
  return cats.find((c) => c.post)?.id ?? 3;
}

/** Up to `max` threads that already exist (the guest list, at most 20 pages). */
async function existingThreads(client: Client, max: number): Promise<number[]> {
  const threadIds: number[] = [];
  let start: unknown = undefined;
  for (let page = 0; page < 20 && threadIds.length < max; page++) {
    const q = start === undefined || start === null ? '' : `&start=${encodeURIComponent(String(start))}`;
    const r = await client.request('GET', `/api/threads/?list=all${q}`, null, undefined, true);
    const b = r.body as { results?: Array<{ id: number }>; next?: unknown } | undefined;
    if (r.status !== 200 || !b?.results) break;
    for (const t of b.results) if (threadIds.length < max) threadIds.push(t.id);
    start = b.next;
    if (start === null || start === undefined) break;
  }
  return threadIds;
}

/**
 * Starts `count` threads, one per poster at a time and each poster at most once per 3.1 s (the API's flood limit),
 * adding their ids to `threadIds`; gives up after 10 failures. Returns when each poster's account last posted.
 */
async function createThreads(client: Client, posters: Session[], count: number, category: number, threadIds: number[], notes: string[]) {
  const lastPost = new Map<Session, number>();
  let createFailures = 0;
  for (let n = 0; n < count && createFailures < 10;) {
    const batch = posters.slice(0, Math.min(posters.length, count - n));
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
  return new Map<number, number>([...lastPost].map(([sess, t]) => [sess.account, t]));
}
