import type { Queryable } from '../db/transaction';
import { ServiceUnavailableError } from '../errors';

export type { Queryable };

/**
 * Runs a repository call; a failure (Postgres down, slow or refusing) becomes a 503 the client
 * may retry, never a 500, and never the driver's text (it can quote row data).
 */
export async function orUnavailable<T>(query: () => Promise<T>, message = 'database unavailable'): Promise<T> {
  try {
    return await query();
  } catch {
    throw new ServiceUnavailableError('postgres', message);
  }
}

/**
 * Deletes up to `batchSize` rows of `table` whose `expiresColumn` has passed; returns how many.
 * Short statements, so a purge never holds many row locks for long. The names are the calling
 * repository's constants, never input.
 */
export async function deleteExpiredBatch(db: Queryable, table: string, expiresColumn: string, batchSize: number): Promise<number> {
  const { rowCount } = await db.query(
    `DELETE FROM ${table} WHERE ctid IN (SELECT ctid FROM ${table} WHERE ${expiresColumn} <= now() LIMIT $1)`,
    [batchSize],
  );
  return rowCount ?? 0;
}
