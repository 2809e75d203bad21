/**
 * The public status read of a signup: where it is, and nothing personal (user_id,
 * onboarding_state, verification_state, created_at). From the user row once onboarding made it;
 * for a hidden duplicate (DUPLICATE_SIGNUP_RESPONSE=accepted) as for a new signup whose owner
 * has not verified yet, EXPIRED once VERIFICATION_EXPIRES_AFTER has passed; otherwise what the
 * signup request recorded merged with what Temporal knows of its run. Temporal only adds detail:
 * when it does not answer in time, what the database recorded is the answer, with the run's
 * state UNKNOWN. Knows nothing of HTTP.
 *
 * Every id costs one database statement of one shape (findSignupStatus), so a hidden duplicate
 * and a new signup take the same time to read.
 */
import { isGrpcDeadlineError } from '@temporalio/client';
import type { Logger } from 'pino';
import { isUnhandleableFailureReason } from '../bridge/delivery-errors';
import type { PublicFailureReason, SignupStatusView } from '../contract';
import { callDatabase } from '../db/postgres';
import { ServiceUnavailableError, UserNotFoundError } from '../errors';
import type { SignupRequestRepository, SignupStatusRecord } from '../repositories/signup-request-repository';
import { FailureType } from '../onboarding-policy';
import type { RunProgress } from '../temporal/onboarding-runs';

export interface ReadSignupStatusDeps {
  signupRequests: Pick<SignupRequestRepository, 'findStatus'>;
  /** What Temporal knows of the signup's run, or null when there is none (yet); under a short deadline. */
  runProgress: (userId: string) => Promise<RunProgress | null>;
  /** VERIFICATION_EXPIRES_AFTER: when a hidden duplicate reads EXPIRED, as an unverified user would. */
  verificationExpiresAfterMs: number;
  logger: Logger;
}

export type SignupStatus = SignupStatusView;

/**
 * Returns the use case. It throws UserNotFoundError when neither the database nor Temporal
 * knows the id, and ServiceUnavailableError when Postgres is unreachable, or Temporal is and
 * nothing recorded says the signup was accepted (a 404 then could be wrong: the record of an
 * accepted signup is written after its publish, and may have failed).
 */
export function createReadSignupStatus({ signupRequests, runProgress, verificationExpiresAfterMs, logger }: ReadSignupStatusDeps) {
  return async function readSignupStatus(userId: string): Promise<SignupStatus> {
    const found = await callDatabase(() => signupRequests.findStatus(userId, verificationExpiresAfterMs), logger);
    const settled = settledView(found);
    if (settled) return settled;
    const acceptedAt = found.accepted_at?.toISOString();
    if (found.failed_at) return pendingView(userId, 'FAILED', acceptedAt, found.failure_reason ?? 'unknown');
    let progress: RunProgress | null;
    try {
      progress = await runProgress(userId);
    } catch (err) {
      logger.warn(
        { err: (err as Error).message, deadline_exceeded: isGrpcDeadlineError(err), user_id: userId },
        'temporal unavailable for a progress lookup; answering from the database',
      );
      // Accepted and not yet a user, as far as the database knows; where its run is, nobody here can say.
      if (acceptedAt) return { ...pendingView(userId, 'QUEUED', acceptedAt), run_state: 'UNKNOWN' };
      throw new ServiceUnavailableError('temporal', 'onboarding state unavailable');
    }
    // The run ended between the statement and the lookup: the row (or the decoy's mark) is there now.
    if (progress?.state === 'COMPLETED') {
      const again = settledView(await callDatabase(() => signupRequests.findStatus(userId, verificationExpiresAfterMs), logger));
      if (again) return again;
    }
    if (progress?.state === 'FAILED') return pendingView(userId, 'FAILED', acceptedAt, progress.reason);
    if (progress?.state === 'PROCESSING') return pendingView(userId, 'PROCESSING', acceptedAt);
    // No run yet.
    if (acceptedAt) return pendingView(userId, 'QUEUED', acceptedAt);
    throw new UserNotFoundError(userId);
  };
}
export type ReadSignupStatus = ReturnType<typeof createReadSignupStatus>;

/** A user row, or a hidden duplicate; undefined while the signup is still on its way (or unknown). */
function settledView(found: SignupStatusRecord): SignupStatus | undefined {
  if (found.onboarding_state && found.verification_state && found.user_created_at) {
    return {
      user_id: found.user_id,
      onboarding_state: found.onboarding_state,
      verification_state: found.verification_state,
      created_at: found.user_created_at.toISOString(),
    };
  }
  if (found.hidden_duplicate_at) {
    return {
      user_id: found.user_id,
      onboarding_state: 'COMPLETED',
      verification_state: found.hidden_duplicate_expired ? 'EXPIRED' : 'PENDING',
      created_at: found.hidden_duplicate_at.toISOString(),
    };
  }
  return undefined;
}

function pendingView(userId: string, state: 'QUEUED' | 'PROCESSING' | 'FAILED', acceptedAt: string | undefined, failureReason?: string): SignupStatus {
  return {
    user_id: userId,
    onboarding_state: state,
    verification_state: 'PENDING',
    // Known unless the record of the accepted signup failed to be written (Temporal knows the run).
    created_at: acceptedAt ?? new Date().toISOString(),
    ...(failureReason ? { failure_reason: publicFailureReason(failureReason) } : {}),
  };
}

/**
 * The fixed code for a recorded failure: "DuplicateEmail: email already registered" is
 * DuplicateEmail, "timed out (…)" Timeout; anything else (an unexpected error's own words) Other.
 */
export function publicFailureReason(recorded: string): PublicFailureReason {
  if (isUnhandleableFailureReason(recorded)) return 'Unhandleable';
  if (recorded.startsWith('timed out')) return FailureType.Timeout;
  const type = Object.values(FailureType).find((t) => recorded.startsWith(`${t}:`));
  return type ?? 'Other';
}
