/** An administrator sets a user's verification state. Knows nothing of HTTP. */
import type { Logger } from 'pino';
import type { VerificationState, VerificationUpdated } from '../contract';
import { callDatabase } from '../db/postgres';
import { UserNotFoundError } from '../errors';
import type { UserRepository } from '../repositories/user-repository';

export interface SetVerificationStateDeps {
  users: Pick<UserRepository, 'setVerificationState'>;
  logger: Logger;
}

/**
 * Returns the use case. It throws UserNotFoundError for an id with no user row (a signup still
 * onboarding included) and ServiceUnavailableError when Postgres is unreachable.
 */
export function createSetVerificationState({ users, logger }: SetVerificationStateDeps) {
  return async function setVerificationState(userId: string, state: VerificationState): Promise<VerificationUpdated> {
    const user = await callDatabase(() => users.setVerificationState(userId, state), logger);
    if (!user) throw new UserNotFoundError(userId);
    return {
      user_id: user.user_id,
      verification_state: user.verification_state,
      updated_at: user.updated_at.toISOString(),
    };
  };
}
export type SetVerificationState = ReturnType<typeof createSetVerificationState>;
