import { log, patched, proxyActivities, proxyLocalActivities, upsertSearchAttributes } from '@temporalio/workflow';
import type { OnboardingActivities } from '../activities';
import type { VerificationActivities } from '../activities/verification';
import type { OnboardingState, SignupMessage } from '../src/contract';
import {
  FailureType,
  HIDDEN_DUPLICATE_NOTICE_PATCH,
  PERSIST_VALIDATES_PATCH,
  PERSIST_WRITES_COMPLETED_PATCH,
  STEP_ATTEMPT_TIMEOUT_MS,
  USER_ERASED_PATCH,
  VERIFY_EMAIL_PATCH,
} from '../src/onboarding-policy';
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
 * dead-letters. persistUser checks the message and writes the row in its final state, in one
 * step, so no later failure (nor the run timeout) can leave a row half-onboarded behind a
 * failed run.
 */
export async function onboardUser(input: OnboardUserInput): Promise<OnboardUserResult> {
  const { signup } = input;
  const steps = proxyLocalActivities<OnboardingActivities>(onboardingActivityOptions(input.maxAttempts));
  try {
    setOnboardingState('PROCESSING');
    // Runs started by earlier code replay as they were recorded (validateSignup a step of its own).
    return patched(PERSIST_VALIDATES_PATCH) ? await onboard(input, steps) : await onboardAsRecordedEarlier(input, steps);
  } catch (err) {
    setOnboardingState('FAILED');
    // The SDK adds workflowId, runId and the task queue to every workflow log line.
    log.warn('onboarding failed', { user_id: signup.user_id, request_id: signup.request_id, error: (err as Error).message });
    throw err;
  }
}

type OnboardingSteps = ReturnType<typeof proxyLocalActivities<OnboardingActivities>>;

async function onboard({ signup, startVerification = true }: OnboardUserInput, { persistUser }: OnboardingSteps): Promise<OnboardUserResult> {
  const { created, erased, hidden_duplicate } = await persistUser(signup);
  if (erased) return endErased(signup);
  if (hidden_duplicate) return endAsHiddenDuplicate(signup, hidden_duplicate.existing_user_id);
  setOnboardingState('COMPLETED');
  // Verification goes on in a run of its own that outlives this one (docs/verification.md).
  if (startVerification) await startVerificationChild(signup.user_id);
  return { user_id: signup.user_id, onboarding_state: 'COMPLETED', created };
}

/**
 * The run as the code before PERSIST_VALIDATES_PATCH recorded it, with that code's own patches,
 * for the runs it started and a worker of this code replays (a deploy while they were in flight).
 * Onboarding runs end within their run timeout: once no run of that code is open, this can go.
 */
async function onboardAsRecordedEarlier(
  { signup, startVerification = true }: OnboardUserInput,
  { validateSignup, persistUser, markState }: OnboardingSteps,
): Promise<OnboardUserResult> {
  await validateSignup(signup);
  const { created, erased, hidden_duplicate } = await persistUser(signup);
  if (erased && patched(USER_ERASED_PATCH)) return endErased(signup);
  if (hidden_duplicate && patched(HIDDEN_DUPLICATE_NOTICE_PATCH)) return endAsHiddenDuplicate(signup, hidden_duplicate.existing_user_id);
  if (!patched(PERSIST_WRITES_COMPLETED_PATCH)) {
    await markState({ user_id: signup.user_id, onboarding_state: 'COMPLETED', request_id: signup.request_id });
  }
  setOnboardingState('COMPLETED');
  if (startVerification && patched(VERIFY_EMAIL_PATCH)) await startVerificationChild(signup.user_id);
  return { user_id: signup.user_id, onboarding_state: 'COMPLETED', created };
}

/**
 * An erased user's signup (still queued, or a run still going) ends here, cleanly: no row, no
 * verification run, and nothing for the DLQ.
 */
function endErased(signup: SignupMessage): OnboardUserResult {
  log.info('user erased: nothing written', { user_id: signup.user_id, request_id: signup.request_id });
  return { user_id: signup.user_id, onboarding_state: 'ERASED', created: false };
}

/**
 * Accepted mode, address registered: no user row, the id reads as an unverified signup (recorded
 * by persistUser), the owner is told, and the run ends as a new signup's does.
 */
async function endAsHiddenDuplicate(signup: SignupMessage, existingUserId: string | null): Promise<OnboardUserResult> {
  if (existingUserId) await notifyOwner(signup, existingUserId);
  setOnboardingState('COMPLETED');
  return { user_id: signup.user_id, onboarding_state: 'COMPLETED', created: false };
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
