// The usage scenario of docs/REQUIREMENTS.md §2, as pure data and rules (no I/O).

export const ACTIONS = ['read thread', 'reply', 'start thread', 'subscribe', 'list subscribed', 'list unread', 'list new', 'list mine'] as const;
export type Action = (typeof ACTIONS)[number];
export type Row = Action | 'login';

/** Per-operation weights, in percent (REQUIREMENTS §2: 75/7/5/3/3/3/3/1). */
export const MIX: Readonly<Record<Action, number>> = {
  'read thread': 75,
  reply: 7,
  'start thread': 5,
  subscribe: 3,
  'list subscribed': 3,
  'list unread': 3,
  'list new': 3,
  'list mine': 1,
};

/** Actions the API only allows to a signed-in user (list!=all needs login; writes need login). */
export const NEEDS_LOGIN: ReadonlySet<Action> = new Set<Action>([
  'reply',
  'start thread',
  'subscribe',
  'list subscribed',
  'list unread',
  'list new',
  'list mine',
]);

/** POST/PATCH rows; everything else is a GET (the SLA treats the two differently). */
export const WRITES: ReadonlySet<Row> = new Set<Row>(['reply', 'start thread', 'subscribe', 'login']);

export const AUTH_SHARE = 0.15;

const CUMULATIVE: Array<[number, Action]> = (() => {
  let acc = 0;
  const total = ACTIONS.reduce((s, a) => s + MIX[a], 0);
  return ACTIONS.map((a) => {
    acc += MIX[a] / total;
    return [acc, a] as [number, Action];
  });
})();

/** Maps a uniform random number in [0,1) to an action with the REQUIREMENTS §2 weights. */
export function pickAction(r: number): Action {
  for (const [edge, a] of CUMULATIVE) if (r < edge) return a;
  return ACTIONS[ACTIONS.length - 1];
}

/**
 * Whether simulated user `i` (0-based) logs in. Deterministic and evenly spread, so that any
 * prefix of the ramp holds the share too: user i logs in when floor((i+1)*s) > floor(i*s).
 */
export function isAuthUser(i: number, share = AUTH_SHARE): boolean {
  return Math.floor((i + 1) * share + 1e-9) > Math.floor(i * share + 1e-9);
}

/** Small fast seeded PRNG (mulberry32) so runs are reproducible. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
