import type pg from 'pg';
import type { Logger } from '@forum/shared';

/** Ordered, append-only. Each runs in its own transaction and is recorded in schema_migrations. */
export const MIGRATIONS: { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
CREATE TABLE users (
  id serial PRIMARY KEY,
  username text NOT NULL,
  slug text NOT NULL,
  email text NOT NULL,
  password_hash text NOT NULL,
  is_staff boolean NOT NULL DEFAULT false,
  joined_on timestamptz NOT NULL DEFAULT now(),
  threads integer NOT NULL DEFAULT 0,
  posts integer NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX users_username_lower ON users (lower(username));
CREATE UNIQUE INDEX users_email_lower ON users (lower(email));

CREATE TABLE categories (
  id serial PRIMARY KEY,
  parent_id integer REFERENCES categories(id),
  special_role text,
  name text NOT NULL,
  slug text NOT NULL,
  description text NOT NULL DEFAULT '',
  level integer NOT NULL DEFAULT 0,
  is_closed boolean NOT NULL DEFAULT false,
  threads integer NOT NULL DEFAULT 0,
  posts integer NOT NULL DEFAULT 0,
  last_thread_id integer,
  last_thread_title text,
  last_thread_slug text,
  last_post_on timestamptz,
  last_poster_name text
);
CREATE INDEX categories_parent ON categories (parent_id);

CREATE TABLE threads (
  id serial PRIMARY KEY,
  category_id integer NOT NULL REFERENCES categories(id),
  title text NOT NULL,
  slug text NOT NULL,
  replies integer NOT NULL DEFAULT 0,
  started_on timestamptz NOT NULL DEFAULT now(),
  last_post_on timestamptz NOT NULL DEFAULT now(),
  first_post_id integer,
  last_post_id integer,
  starter_id integer REFERENCES users(id) ON DELETE SET NULL,
  starter_name text NOT NULL,
  starter_slug text NOT NULL,
  last_poster_id integer REFERENCES users(id) ON DELETE SET NULL,
  last_poster_name text NOT NULL,
  last_poster_slug text NOT NULL,
  weight smallint NOT NULL DEFAULT 0,
  is_closed boolean NOT NULL DEFAULT false,
  is_hidden boolean NOT NULL DEFAULT false
);
CREATE INDEX threads_category_order ON threads (category_id, weight DESC, last_post_id DESC);
CREATE INDEX threads_order ON threads (weight DESC, last_post_id DESC);
CREATE INDEX threads_starter ON threads (starter_id, last_post_id DESC);

CREATE TABLE posts (
  id serial PRIMARY KEY,
  thread_id integer NOT NULL REFERENCES threads(id) ON DELETE CASCADE,
  category_id integer NOT NULL REFERENCES categories(id),
  poster_id integer REFERENCES users(id) ON DELETE SET NULL,
  poster_name text NOT NULL,
  original text NOT NULL,
  parsed text NOT NULL,
  posted_on timestamptz NOT NULL DEFAULT now(),
  updated_on timestamptz,
  edits integer NOT NULL DEFAULT 0,
  -- set by the worker once subscribers were notified and counters synced (the job's completion mark)
  processed_at timestamptz
);
CREATE INDEX posts_thread ON posts (thread_id, id);
CREATE INDEX posts_poster ON posts (poster_id);
CREATE INDEX posts_unprocessed ON posts (id) WHERE processed_at IS NULL;

CREATE TABLE thread_reads (
  user_id integer NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  thread_id integer NOT NULL REFERENCES threads(id) ON DELETE CASCADE,
  last_read_post_id integer NOT NULL,
  last_read_on timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, thread_id)
);
CREATE INDEX thread_reads_thread ON thread_reads (thread_id);

CREATE TABLE subscriptions (
  user_id integer NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  thread_id integer NOT NULL REFERENCES threads(id) ON DELETE CASCADE,
  send_email boolean NOT NULL,
  created_on timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, thread_id)
);
CREATE INDEX subscriptions_thread ON subscriptions (thread_id);

CREATE TABLE notifications (
  id bigserial PRIMARY KEY,
  user_id integer NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  thread_id integer NOT NULL REFERENCES threads(id) ON DELETE CASCADE,
  post_id integer NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
  actor_name text NOT NULL,
  created_on timestamptz NOT NULL DEFAULT now(),
  is_read boolean NOT NULL DEFAULT false,
  UNIQUE (user_id, post_id)
);

CREATE TABLE mail_outbox (
  id bigserial PRIMARY KEY,
  user_id integer NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  post_id integer NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
  to_email text NOT NULL,
  subject text NOT NULL,
  body text NOT NULL,
  created_on timestamptz NOT NULL DEFAULT now(),
  sent_on timestamptz,
  UNIQUE (user_id, post_id)
);

INSERT INTO categories (id, parent_id, special_role, name, slug, level) VALUES
  (1, NULL, 'private_threads', 'Private', 'private', 0),
  (2, NULL, 'root_category', 'Root', 'root', 0),
  (3, 2, NULL, 'First category', 'first-category', 1);
SELECT setval('categories_id_seq', 3);
`,
  },
  {
    version: 2,
    name: 'sessions of record, bans',
    // Sessions live in Redis (the per-request lookup) AND here: a request is recognised from this table while Redis
    // fails over, and a revocation recorded here (revoked_at) reaches every api task within a second (each polls the
    // recently revoked ids), even one whose Redis key survived. id = sha256 of the secret session id.
    sql: `
ALTER TABLE users ADD COLUMN is_banned boolean NOT NULL DEFAULT false;
CREATE TABLE sessions (
  id text PRIMARY KEY,
  user_id integer NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_on timestamptz NOT NULL DEFAULT now(),
  expires_on timestamptz NOT NULL,
  revoked_at timestamptz
);
CREATE INDEX sessions_user ON sessions (user_id) WHERE revoked_at IS NULL;
CREATE INDEX sessions_revoked ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX sessions_expires ON sessions (expires_on);
`,
  },
];

export const MIGRATIONS_LOCK_KEY = 727_001; // pg_advisory_lock key reserved for schema migrations

/**
 * Applies pending migrations under a session advisory lock, so replicas starting together run them once;
 * the others wait, then find nothing to do. Re-running is a no-op.
 */
export async function migrate(pool: pg.Pool, logger: Logger): Promise<number[]> {
  const client = await pool.connect();
  const applied: number[] = [];
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATIONS_LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_on timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
    const done = new Set(rows.map((r) => r.version));
    for (const m of MIGRATIONS) {
      if (done.has(m.version)) continue;
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw err;
      }
      applied.push(m.version);
      logger.info({ version: m.version, name: m.name }, 'migration applied');
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATIONS_LOCK_KEY]).catch(() => undefined);
    client.release();
  }
  return applied;
}
