/** How the verification use cases treat their dependencies' failures, in one place. */
import type { Logger } from 'pino';
import { callDatabase } from '../db/postgres';
import type { VerificationRuns, VerificationWakeReason } from '../temporal/verification-runs';

/** Postgres connection trouble is the client's to retry (503); anything else is not (src/db/postgres.ts). */
export function postgres<T>(logger: Logger, query: () => Promise<T>): Promise<T> {
  return callDatabase(query, logger);
}

/**
 * Tells the user's verification run that its row changed. Best effort: the row is already
 * written and is the source of truth, and an open run reads it again when it next wakes.
 */
export async function wakeRun(
  runs: Pick<VerificationRuns, 'wake'>,
  logger: Logger,
  userId: string,
  reason: VerificationWakeReason,
  opts?: { reopenExpired?: boolean },
): Promise<boolean> {
  try {
    await runs.wake(userId, reason, opts);
    return true;
  } catch (err) {
    logger.warn({ err: (err as Error).message, user_id: userId, reason }, 'could not reach the verification run; it reads the row when it next wakes');
    return false;
  }
}
