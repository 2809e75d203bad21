/**
 * Where a signup is: the user row once onboarding made it, otherwise what the signup request
 * recorded merged with what Temporal knows of its run. Temporal only adds detail: when it does
 * not answer in time, what the database recorded is the answer, with the run's state UNKNOWN.
 * Knows nothing of HTTP.
 */
import { isGrpcDeadlineError } from '@temporalio/client';
import type { Logger } from 'pino';
import type { PendingUserView, UserView } from '../contract';
import { callDatabase } from '../db/postgres';
import { ServiceUnavailableError, UserNotFoundError } from '../errors';
import type { SignupRequestRepository } from '../repositories/signup-request-repository';
import type { UserRecord, UserRepository } from '../repositories/user-repository';
import type { RunProgress } from '../temporal/onboarding-runs';

export interface ReadSignupStatusDeps {
  users: Pick<UserRepository, 'findById'>;
  signupRequests: Pick<SignupRequestRepository, 'find'>;
  /** What Temporal knows of the signup's run, or null when there is none (yet); under a short deadline. */
  runProgress: (userId: string) => Promise<RunProgress | null>;
  logger: Logger;
}

export type SignupStatus = UserView | PendingUserView;

/**
 * Returns the use case. It throws UserNotFoundError when neither the database nor Temporal
 * knows the id, and ServiceUnavailableError when Postgres is unreachable, or Temporal is and
 * nothing recorded says the signup was accepted (a 404 then could be wrong: the record of an
 * accepted signup is written after its publish, and may have failed).
 */
export function createReadSignupStatus({ users, signupRequests, runProgress, logger }: ReadSignupStatusDeps) {
  return async function readSignupStatus(userId: string): Promise<SignupStatus> {
    const user = await callDatabase(() => users.findById(userId), logger);
    if (user) return userView(user);
    const request = await callDatabase(() => signupRequests.find(userId), logger);
    if (request?.failed_at) return pendingView(userId, 'FAILED', request.failure_reason ?? 'unknown');
    let progress: RunProgress | null;
    try {
      progress = await runProgress(userId);
    } catch (err) {
      logger.warn(
        { err: (err as Error).message, deadline_exceeded: isGrpcDeadlineError(err), user_id: userId },
        'temporal unavailable for a progress lookup; answering from the database',
      );
      // Accepted and not yet a user, as far as the database knows; where its run is, nobody here can say.
      if (request) return { ...pendingView(userId, 'QUEUED'), run_state: 'UNKNOWN' };
      throw new ServiceUnavailableError('temporal', 'onboarding state unavailable');
    }
    if (progress?.state === 'FAILED') return pendingView(userId, 'FAILED', progress.reason);
    if (progress?.state === 'PROCESSING') return pendingView(userId, 'PROCESSING');
    // COMPLETED without a row (the row was read just before the run finished) or no run yet.
    if (request) return pendingView(userId, 'QUEUED');
    throw new UserNotFoundError(userId);
  };
}
export type ReadSignupStatus = ReturnType<typeof createReadSignupStatus>;

function userView(user: UserRecord): UserView {
  return {
    user_id: user.user_id,
    email: user.email,
    first_name: user.first_name,
    last_name: user.last_name,
    verification_state: user.verification_state,
    onboarding_state: user.onboarding_state,
    created_at: user.created_at.toISOString(),
    updated_at: user.updated_at.toISOString(),
  };
}

function pendingView(userId: string, state: PendingUserView['onboarding_state'], failureReason?: string): PendingUserView {
  return {
    user_id: userId,
    verification_state: 'PENDING',
    onboarding_state: state,
    ...(failureReason ? { failure_reason: failureReason } : {}),
  };
}
