/**
 * Deletes what has expired: rate-limit counters whose window has ended and idempotency keys
 * past their 24 h. The API process runs purgeExpired every PURGE_INTERVAL_MS (startPurgeSchedule);
 * a Postgres advisory lock lets one process purge at a time, the others skip that round.
 *
 * Each table is one PurgeTask, its batch delete in the table's repository.
 */
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { purgeExpiredIdempotencyKeys } from '../repositories/idempotency-key-repository';
import type { Queryable } from '../repositories/queryable';
import { purgeExpiredCounters } from '../repositories/rate-limit-counter-repository';
import { purgeExpiredVerificationTokens } from '../repositories/verification-token-repository';

export interface PurgeTask {
  /** The table, as it appears in logs. */
  name: string;
  /** Deletes up to batchSize expired rows and returns how many it deleted. */
  purgeBatch(db: Queryable, batchSize: number): Promise<number>;
}

export const PURGE_TASKS: readonly PurgeTask[] = [
  { name: 'rate_limit_counters', purgeBatch: purgeExpiredCounters },
  { name: 'idempotency_keys', purgeBatch: purgeExpiredIdempotencyKeys },
  { name: 'verification_tokens', purgeBatch: purgeExpiredVerificationTokens },
];

/** Any constant works if every process uses it; migrations hold 727_001. */
export const PURGE_LOCK_ID = 727_002;

export interface PurgeOptions {
  tasks?: readonly PurgeTask[];
  /** Rows per DELETE: short statements, so no lock is held for long. */
  batchSize?: number;
  /** Batches per task and run: a backlog is worked off over several runs rather than in one long one. */
  maxBatches?: number;
}

export type PurgeResult = { ran: false } | { ran: true; purged: Record<string, number> };

/** One purge round; `ran: false` when another process holds the lock (it is purging now). */
export async function purgeExpired(pool: Pool, options: PurgeOptions = {}): Promise<PurgeResult> {
  const { tasks = PURGE_TASKS, batchSize = 5_000, maxBatches = 100 } = options;
  const client = await pool.connect();
  let failure: Error | undefined;
  try {
    const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [PURGE_LOCK_ID]);
    if (!rows[0].locked) return { ran: false };
    try {
      const purged: Record<string, number> = {};
      for (const task of tasks) {
        purged[task.name] = 0;
        for (let batch = 0; batch < maxBatches; batch++) {
          const deleted = await task.purgeBatch(client, batchSize);
          purged[task.name] += deleted;
          if (deleted < batchSize) break;
        }
      }
      return { ran: true, purged };
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [PURGE_LOCK_ID]);
    }
  } catch (err) {
    failure = err as Error;
    throw err;
  } finally {
    // A client that failed may still hold the lock: destroying it ends its session, which frees the lock.
    client.release(failure);
  }
}

/** Runs purgeExpired every intervalMs until stop(); a failed round is logged and the next one tries again. */
export function startPurgeSchedule(deps: { pool: Pool; intervalMs: number; logger: Logger; options?: PurgeOptions }): { stop(): Promise<void> } {
  const { pool, intervalMs, logger } = deps;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;

  async function round(): Promise<void> {
    try {
      const result = await purgeExpired(pool, deps.options);
      if (!result.ran) logger.debug('purge skipped: another process is purging');
      else if (Object.values(result.purged).some((n) => n > 0)) logger.info({ purged: result.purged }, 'purged expired rows');
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'purge failed; the next round tries again');
    }
  }

  function schedule(): void {
    timer = setTimeout(() => {
      running = round().finally(() => {
        running = undefined;
        if (!stopped) schedule();
      });
    }, intervalMs);
    // Never what keeps a process alive.
    timer.unref();
  }

  schedule();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
