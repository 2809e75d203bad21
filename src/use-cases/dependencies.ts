/** How the verification use cases treat their dependencies' failures, in one place. */
import type { Logger } from 'pino';
import type { VerificationRuns, VerificationWakeReason } from '../temporal/verification-runs';

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
