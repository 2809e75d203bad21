/**
 * The operator's PUT /users/{user_id}. The row is written here, the source of truth, and the
 * user's verification run is signalled to read it: an open run then ends (VERIFIED, EXPIRED,
 * REJECTED), publishing the event the new state calls for, or carries on (PENDING). With no run
 * open, a short one is started for the same purpose, so the row and the events always agree.
 */
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { VerificationState, VerificationUpdated } from '../contract';
import { UserNotFoundError } from '../errors';
import type { VerificationRuns } from '../temporal/verification-runs';
import { setVerificationState as writeVerificationState } from '../users/user-store';
import { postgres, wakeRun } from './dependencies';

export interface SetVerificationStateDeps {
  pool: Pool;
  runs: Pick<VerificationRuns, 'wake'>;
  logger: Logger;
}

export async function setVerificationState(deps: SetVerificationStateDeps, userId: string, state: VerificationState): Promise<VerificationUpdated> {
  const user = await postgres(deps.logger, () => writeVerificationState(deps.pool, userId, state));
  if (!user) throw new UserNotFoundError(userId);
  deps.logger.info({ user_id: userId, verification_state: state }, 'verification state set by an operator');
  await wakeRun(deps.runs, deps.logger, userId, 'StateChanged');
  return { user_id: user.user_id, verification_state: user.verification_state, updated_at: user.updated_at.toISOString() };
}
