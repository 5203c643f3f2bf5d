import { Client, errorKind, Session, type HttpResult } from './http.js';
import { isAuthUser, NEEDS_LOGIN, pickAction, prng, type Action } from './scenario.js';
import { login, type SeedResult } from './seed.js';
import type { Recorder } from './stats.js';
import { TimerWheel } from './wheel.js';

/** The wheel's tick: how finely a user's next operation is placed in time. */
export const TICK_MS = 50;

/** What the simulated users need of the run's options. */
export interface UserOptions {
  users: number;
  authShare: number;
  thinkTimeS: number;
  password: string;
  randomSeed: number;
  postIntervalMs: number;
}

/** The threads the users read and reply to: the seeded ones, then the newest started during the run (a ring). */
class ThreadPool {
  private readonly ids: Int32Array;
  private n = 0;
  private pos = 0;
  constructor(capacity: number) {
    this.ids = new Int32Array(capacity);
  }
  add(id: number): void {
    this.ids[this.pos] = id;
    this.pos = (this.pos + 1) % this.ids.length;
    if (this.n < this.ids.length) this.n++;
  }
  pick(r: number): number {
    return this.ids[Math.floor(r * this.n)];
  }
}

/**
 * The simulated users: each is spawned once (a logged-in one logs in first), then does one operation every think
 * time, its next turn kept on one timer wheel for all users. Every outcome goes to the recorder.
 */
export class VirtualUsers {
  /** Users started so far (user ids are 0..spawned-1). */
  spawned = 0;
  /** Login-only operations that found no logged-in session free. */
  skipped = 0;
  private stopping = false;
  private seq = 0;
  private delegatePos = 0;
  private readonly rand: () => number;
  private readonly threads = new ThreadPool(20_000);
  private readonly wheel: TimerWheel;
  private readonly sessions: Array<Session | null>;
  private readonly loggedIn: Session[] = [];
  private readonly accountLastPost: Float64Array;

  constructor(
    private readonly o: UserOptions,
    private readonly client: Client,
    private readonly seeded: SeedResult,
    private readonly accounts: number,
    private readonly rec: Recorder,
  ) {
    this.rand = prng(o.randomSeed);
    for (const id of seeded.threadIds) this.threads.add(id);
    this.wheel = new TimerWheel(TICK_MS, Math.max(64, Math.ceil((o.thinkTimeS * 1000) / TICK_MS) + 64));
    this.sessions = new Array<Session | null>(o.users).fill(null);
    this.accountLastPost = new Float64Array(accounts);
    for (const [acc, t] of seeded.lastPostAt) if (acc < accounts) this.accountLastPost[acc] = t;
  }

  /** Starts users until `want` have started. */
  rampTo(want: number): void {
    while (this.spawned < want) this.spawn(this.spawned++);
  }

  /** Runs the operations of every user whose turn falls at or before wheel tick `dueTick`. */
  wake(dueTick: number): void {
    while (this.wheel.now < dueTick) for (const u of this.wheel.advance()) this.operate(u);
  }

  /** No new operations from now on; the ones in flight finish. */
  stop(): void {
    this.stopping = true;
  }

  private spawn(user: number): void {
    if (!isAuthUser(user, this.o.authShare)) {
      this.operate(user);
      return;
    }
    const s = new Session(user % this.accounts);
    login(this.client, s, this.seeded.usernames[s.account], this.o.password)
      .then((r) => {
        const ok = r.status === 200;
        this.rec.record('login', r.ms, ok, ok ? undefined : errorKind(r));
        if (ok) {
          this.sessions[user] = s;
          this.loggedIn.push(s);
        }
      })
      .catch(() => undefined)
      .finally(() => this.operate(user));
  }

  /** One operation now, then the user's next turn one think time after this one started. */
  private operate(user: number): void {
    if (this.stopping) return;
    const started = performance.now();
    this.perform(user, pickAction(this.rand()))
      .catch(() => undefined)
      .finally(() => {
        if (!this.stopping) this.wheel.schedule(user, Math.max(0, this.o.thinkTimeS * 1000 - (performance.now() - started)));
      });
  }

  private async perform(user: number, action: Action): Promise<void> {
    const now = Date.now();
    let s: Session | null = this.sessions[user];
    if (NEEDS_LOGIN.has(action)) {
      s = this.sessionFor(user, action, now);
      if (!s) {
        this.skipped++;
        return;
      }
    }
    const r = await this.send(action, s, this.threads.pick(this.rand()), now);
    const ok = r.status >= 200 && r.status < 300;
    this.rec.record(action, r.ms, ok, ok ? undefined : errorKind(r));
  }

  // A login-only action drawn for an anonymous reader is issued through a logged-in session, so
  // the aggregate traffic follows the 75/7/5/3/3/3/3/1 mix exactly while only 15 % of users hold a
  // session. Writes go to an account that has not posted in the last 3 s (the API's flood limit).
  private sessionFor(user: number, action: Action, now: number): Session | null {
    const own = this.sessions[user];
    const write = action === 'reply' || action === 'start thread';
    const mayPost = (s: Session) => !write || now - this.accountLastPost[s.account] >= this.o.postIntervalMs;
    if (own && mayPost(own)) return own;
    const n = this.loggedIn.length;
    if (!n) return null;
    for (let k = 0; k < Math.min(n, 64); k++) {
      const s = this.loggedIn[(this.delegatePos + k) % n];
      if (mayPost(s)) {
        this.delegatePos = (this.delegatePos + k + 1) % n;
        return s;
      }
    }
    return null;
  }

  /** The request of one action against thread `tid` (the drawn thread is ignored by the lists). */
  private async send(action: Action, s: Session | null, tid: number, now: number): Promise<HttpResult> {
    switch (action) {
      case 'read thread':
        return this.client.request('GET', `/api/threads/${tid}/posts/?page=1`, s);
      case 'reply':
        return this.posting(s!, now, () =>
          this.client.request('POST', `/api/threads/${tid}/posts/`, s, {
            post: `Load test reply ${++this.seq}: have you tried EXPLAIN ANALYZE on that query?`,
          }),
        );
      case 'start thread':
        return this.startThread(s!, now);
      case 'subscribe':
        return this.client.request('PATCH', `/api/threads/${tid}/`, s, [{ op: 'replace', path: 'subscription', value: 'notify' }]);
      case 'list subscribed':
        return this.client.request('GET', '/api/threads/?list=subscribed', s);
      case 'list unread':
        return this.client.request('GET', '/api/threads/?list=unread', s);
      case 'list new':
        return this.client.request('GET', '/api/threads/?list=new', s);
      case 'list mine':
        return this.client.request('GET', '/api/threads/?list=my', s);
    }
  }

  /** A new thread, which later operations may then read and reply to. */
  private async startThread(s: Session, now: number): Promise<HttpResult> {
    const r = await this.posting(s, now, () =>
      this.client.request(
        'POST',
        '/api/threads/',
        s,
        {
          title: `Load test question ${++this.seq} ${now}`,
          post: 'How do I keep p95 latency low under load? Any tips welcome.',
          category: this.seeded.category,
        },
        true,
      ),
    );
    const id = (r.body as { id?: unknown } | undefined)?.id;
    if (r.status < 300 && typeof id === 'number') this.threads.add(id);
    return r;
  }

  /** A post: the account's flood clock is set when it is sent (so no other user posts through it meanwhile) and when answered. */
  private async posting(s: Session, now: number, post: () => Promise<HttpResult>): Promise<HttpResult> {
    this.accountLastPost[s.account] = now;
    const r = await post();
    this.accountLastPost[s.account] = Date.now();
    return r;
  }
}
