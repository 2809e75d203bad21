import { log, patched, proxyActivities, proxyLocalActivities, upsertSearchAttributes } from '@temporalio/workflow';
import type { OnboardingActivities } from '../activities';
import type { VerificationActivities } from '../activities/verification';
import type { OnboardingState, SignupMessage } from '../src/contract';
import { FailureType, HIDDEN_DUPLICATE_NOTICE_PATCH, PERSIST_WRITES_COMPLETED_PATCH, STEP_ATTEMPT_TIMEOUT_MS, USER_ERASED_PATCH, VERIFY_EMAIL_PATCH } from '../src/onboarding-policy';
import { onboardingActivityOptions } from './retry-policy';
import { OnboardingStateKey } from './search-attributes';
import { startVerificationChild } from './verify-email';

export interface OnboardUserInput {
  signup: SignupMessage;
  /** Attempts per activity; the caller's run timeout is derived from the same number. */
  maxAttempts: number;
  /** False: end at the row without starting the verification run (ONBOARDING_STARTS_VERIFICATION). Absent in older runs: true. */
  startVerification?: boolean;
}

export interface OnboardUserResult {
  user_id: string;
  /** ERASED: the user was erased before this run wrote it; nothing was written and nothing follows. */
  onboarding_state: 'COMPLETED' | 'ERASED';
  /** False when the row already existed, e.g. a replayed message. */
  created: boolean;
}

// The notice is best effort: two attempts of one step's length (at most ~21 s, inside the run
// timeout's slack even at ONBOARDING_MAX_ATTEMPTS=1), then the run ends without it, so a
// duplicate never becomes a timed-out run and a dead letter because SMTP is down.
const notices = proxyActivities<VerificationActivities>({
  startToCloseTimeout: STEP_ATTEMPT_TIMEOUT_MS,
  retry: { initialInterval: '1s', maximumAttempts: 2, nonRetryableErrorTypes: [FailureType.UserNotFound] },
});

/**
 * Turns an accepted signup into exactly one onboarded user row, or a failure the bridge
 * dead-letters. persistUser writes the row in its final state, so no later failure (nor the run
 * timeout) can leave a row half-onboarded behind a failed run.
 */
export async function onboardUser({ signup, maxAttempts, startVerification = true }: OnboardUserInput): Promise<OnboardUserResult> {
  const { validateSignup, persistUser, markState } = proxyLocalActivities<OnboardingActivities>(onboardingActivityOptions(maxAttempts));
  try {
    setOnboardingState('PROCESSING');
    await validateSignup(signup);
    const { created, erased, hidden_duplicate } = await persistUser(signup);
    // An erased user's signup (still queued, or a run still going) ends here, cleanly: no row,
    // no verification run, and nothing for the DLQ. Only new runs can meet a tombstone.
    if (erased && patched(USER_ERASED_PATCH)) {
      log.info('user erased: nothing written', { user_id: signup.user_id, request_id: signup.request_id });
      return { user_id: signup.user_id, onboarding_state: 'ERASED', created: false };
    }
    // Accepted mode, address registered: no user row, the id reads as an unverified signup
    // (recorded by persistUser), the owner is told, and the run ends as a new signup's does.
    // Only persistUser of this code returns hidden_duplicate, so no earlier history reaches here.
    if (hidden_duplicate && patched(HIDDEN_DUPLICATE_NOTICE_PATCH)) {
      if (hidden_duplicate.existing_user_id) await notifyOwner(signup, hidden_duplicate.existing_user_id);
      setOnboardingState('COMPLETED');
      return { user_id: signup.user_id, onboarding_state: 'COMPLETED', created: false };
    }
    // Only a run started by the earlier code (replayed by this worker) has this step.
    if (!patched(PERSIST_WRITES_COMPLETED_PATCH)) {
      await markState({ user_id: signup.user_id, onboarding_state: 'COMPLETED', request_id: signup.request_id });
    }
    setOnboardingState('COMPLETED');
    // Verification goes on in a run of its own that outlives this one (docs/verification.md).
    // Each patch keeps the runs started by earlier code replaying as they were recorded.
    if (startVerification && patched(VERIFY_EMAIL_PATCH)) await startVerificationChild(signup.user_id);
    return { user_id: signup.user_id, onboarding_state: 'COMPLETED', created };
  } catch (err) {
    setOnboardingState('FAILED');
    // The SDK adds workflowId, runId and the task queue to every workflow log line.
    log.warn('onboarding failed', { user_id: signup.user_id, request_id: signup.request_id, error: (err as Error).message });
    throw err;
  }
}

async function notifyOwner(signup: SignupMessage, existingUserId: string): Promise<void> {
  try {
    await notices.sendDuplicateSignupNotice({ user_id: signup.user_id, existing_user_id: existingUserId });
  } catch (err) {
    log.warn('duplicate signup notice not sent', { user_id: signup.user_id, request_id: signup.request_id, error: (err as Error).message });
  }
}

function setOnboardingState(state: OnboardingState): void {
  upsertSearchAttributes([{ key: OnboardingStateKey, value: state }]);
}
