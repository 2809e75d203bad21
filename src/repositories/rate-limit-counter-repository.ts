/**
 * Every SQL statement about rate_limit_counters: fixed windows, one row per (limiter, key),
 * shared by every API process. `keyHash` is always an HMAC (see PostgresRateLimitStore).
 * Times are Postgres's now(), so every process agrees on when a window ends.
 */
import { deleteExpiredBatch, type Queryable } from './queryable';

export interface Counter {
  hits: number;
  resetAt: Date;
}

/**
 * Counts one hit and returns the window's total. Atomic across processes: the upsert locks
 * the row, so concurrent hits are each counted once. A row whose window has ended starts over.
 */
export async function incrementCounter(db: Queryable, limiter: string, keyHash: string, windowMs: number): Promise<Counter> {
  const { rows } = await db.query<{ hits: number; reset_at: Date }>(
    `INSERT INTO rate_limit_counters AS c (limiter, key_hash, hits, reset_at)
     VALUES ($1, $2, 1, now() + $3::double precision * interval '1 millisecond')
     ON CONFLICT (limiter, key_hash) DO UPDATE SET
       hits = CASE WHEN c.reset_at <= now() THEN 1 ELSE c.hits + 1 END,
       reset_at = CASE WHEN c.reset_at <= now() THEN EXCLUDED.reset_at ELSE c.reset_at END
     RETURNING hits, reset_at`,
    [limiter, keyHash, windowMs],
  );
  return { hits: rows[0].hits, resetAt: rows[0].reset_at };
}

/** The current window's count, if one is running. */
export async function findCounter(db: Queryable, limiter: string, keyHash: string): Promise<Counter | undefined> {
  const { rows } = await db.query<{ hits: number; reset_at: Date }>(
    'SELECT hits, reset_at FROM rate_limit_counters WHERE limiter = $1 AND key_hash = $2 AND reset_at > now()',
    [limiter, keyHash],
  );
  return rows[0] ? { hits: rows[0].hits, resetAt: rows[0].reset_at } : undefined;
}

/** Takes one hit back (express-rate-limit's skipSuccessfulRequests / skipFailedRequests). */
export async function decrementCounter(db: Queryable, limiter: string, keyHash: string): Promise<void> {
  await db.query(
    'UPDATE rate_limit_counters SET hits = GREATEST(0, hits - 1) WHERE limiter = $1 AND key_hash = $2 AND reset_at > now()',
    [limiter, keyHash],
  );
}

export async function deleteCounter(db: Queryable, limiter: string, keyHash: string): Promise<void> {
  await db.query('DELETE FROM rate_limit_counters WHERE limiter = $1 AND key_hash = $2', [limiter, keyHash]);
}

export async function deleteCountersOfLimiter(db: Queryable, limiter: string): Promise<void> {
  await db.query('DELETE FROM rate_limit_counters WHERE limiter = $1', [limiter]);
}

/** Deletes up to `batchSize` counters whose window has ended; returns how many. */
export function purgeExpiredCounters(db: Queryable, batchSize: number): Promise<number> {
  return deleteExpiredBatch(db, 'rate_limit_counters', 'reset_at', batchSize);
}
