/**
 * The erased_users table: the tombstone an erasure leaves, holding the user id only. Erasure and
 * the writers that could bring a user back (persistUser) take the same per-user transaction lock
 * first, so one of them always sees the other's work: either the user is written and then erased,
 * or the tombstone is there and the user is not written.
 */
import type { Queryable } from '../db/transaction';

/**
 * Takes the per-user lock until the end of the transaction. An advisory lock on a hash of the id:
 * an unrelated user with a colliding hash only waits a moment.
 */
export async function lockUserId(db: Queryable, userId: string): Promise<void> {
  await db.query("SELECT pg_advisory_xact_lock(hashtextextended('user:' || $1::text, 0))", [userId]);
}

/** Leaves the tombstone; idempotent. True if this call left it. */
export async function recordErasure(db: Queryable, userId: string): Promise<boolean> {
  const { rowCount } = await db.query('INSERT INTO erased_users (user_id) VALUES ($1) ON CONFLICT (user_id) DO NOTHING', [userId]);
  return rowCount === 1;
}

export async function isErased(db: Queryable, userId: string): Promise<boolean> {
  const { rows } = await db.query('SELECT 1 FROM erased_users WHERE user_id = $1', [userId]);
  return rows.length > 0;
}
