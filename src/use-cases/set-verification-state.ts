/**
 * The operator's PUT /users/{user_id}. Knows nothing of HTTP. The row is written here, the source
 * of truth, and the user's verification run is then signalled to read it: an open run ends
 * (VERIFIED, EXPIRED, REJECTED), publishing the event the new state calls for, or carries on
 * (PENDING). With no run open, a short one is started for the same purpose, so the row and the
 * events agree. The signal is best effort: a run that misses it reads the row when it next wakes.
 */
import type { Logger } from 'pino';
import type { VerificationState, VerificationUpdated } from '../contract';
import { callDatabase } from '../db/postgres';
import { UserNotFoundError } from '../errors';
import type { UserRepository } from '../repositories/user-repository';
import type { VerificationRuns } from '../temporal/verification-runs';
import { wakeRun } from './dependencies';

export interface SetVerificationStateDeps {
  users: Pick<UserRepository, 'setVerificationState'>;
  runs: Pick<VerificationRuns, 'wake'>;
  logger: Logger;
}

/**
 * Returns the use case. It throws UserNotFoundError for an id with no user row (a signup still
 * onboarding included) and ServiceUnavailableError when Postgres is unreachable.
 */
export function createSetVerificationState({ users, runs, logger }: SetVerificationStateDeps) {
  return async function setVerificationState(userId: string, state: VerificationState): Promise<VerificationUpdated> {
    const user = await callDatabase(() => users.setVerificationState(userId, state), logger);
    if (!user) throw new UserNotFoundError(userId);
    logger.info({ user_id: userId, verification_state: state }, 'verification state set by an operator');
    await wakeRun(runs, logger, userId, 'StateChanged');
    return {
      user_id: user.user_id,
      verification_state: user.verification_state,
      updated_at: user.updated_at.toISOString(),
    };
  };
}
export type SetVerificationState = ReturnType<typeof createSetVerificationState>;
