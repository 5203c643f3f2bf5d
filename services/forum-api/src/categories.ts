import type { Db, Queryable } from './db.js';
import { buildCategoryTree, type CategoryRow, type CategoryTree } from './serializers.js';
import type { SessionUser } from './session.js';
import { visibleSql } from './thread-store.js';

const CATEGORY_SQL = `SELECT c.id, c.parent_id, c.special_role, c.name, c.slug, c.description, c.level, c.is_closed, c.threads, c.posts,
    c.last_thread_id, c.last_thread_title, c.last_thread_slug, c.last_post_on, c.last_poster_name, u.id AS last_poster_id,
    u.slug AS last_poster_slug
  FROM categories c LEFT JOIN users u ON lower(u.username) = lower(c.last_poster_name)
  WHERE c.special_role IS DISTINCT FROM 'private_threads' ORDER BY c.level, c.id`;

/**
 * The category tree. A thread carries its category and path (names, nesting, MPTT numbers), which only an admin
 * changes, so thread pages read them from a tree kept here for `ttlMs` (one statement per task every few seconds,
 * none per page); GET /api/categories/ shows counters the worker keeps moving and reads the table every time.
 */
export class CategoryStore {
  private cached?: { until: number; tree: Promise<CategoryTree> };

  constructor(
    private readonly db: Db,
    private readonly ttlMs = 5000,
  ) {}

  async load(c: Queryable = this.db.ro): Promise<CategoryTree> {
    const { rows } = await c.query<CategoryRow>(CATEGORY_SQL);
    return buildCategoryTree(rows);
  }

  /** The structure for thread pages: cached, a failed load is not kept. */
  tree(): Promise<CategoryTree> {
    const now = Date.now();
    if (this.cached && this.cached.until > now) return this.cached.tree;
    const tree = this.load();
    const entry = { until: now + this.ttlMs, tree };
    this.cached = entry;
    tree.catch(() => {
      if (this.cached === entry) this.cached = undefined;
    });
    return tree;
  }

  /** The structure, read again now (a category newer than the cached tree). */
  refresh(): Promise<CategoryTree> {
    this.cached = undefined;
    return this.tree();
  }

  /**
   * Categories holding a visible thread the user has not read to its last post (Misago's category read state).
   * EXISTS per category stops at the first such thread.
   */
  async unread(c: Queryable, user: SessionUser): Promise<Set<number>> {
    const { rows } = await c.query<{ id: number }>(
      `SELECT c.id FROM categories c WHERE c.special_role IS NULL AND EXISTS (
         SELECT 1 FROM threads t LEFT JOIN thread_reads tr ON tr.thread_id = t.id AND tr.user_id = $1
         WHERE t.category_id = c.id AND ${visibleSql('$1', '$2::boolean')}
           AND (tr.user_id IS NULL OR t.last_post_id > tr.last_read_post_id))`,
      [user.id, user.isStaff],
    );
    return new Set(rows.map((r) => r.id));
  }
}
