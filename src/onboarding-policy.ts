/**
 * What the workflow and the rest of the service must agree on, with no dependencies at all: the
 * failure vocabulary, the search attribute's name and the retry budget. The workflow bundle
 * imports this file, so it must never import zod, a Node built-in or anything else.
 */

/** Failure types an onboarding run can end with. Activities throw them; the bridge and the DLQ tool read them. */
export const FailureType = {
  /** The message breaks the signup contract. */
  InvalidSignup: 'InvalidSignup',
  /** Another user already has this e-mail address. */
  DuplicateEmail: 'DuplicateEmail',
  /** The user row a later step expects is missing. */
  UserNotFound: 'UserNotFound',
  /** A step ran out of time or attempts (set by the bridge from Temporal's TimeoutFailure). */
  Timeout: 'Timeout',
  /** The user was erased (DELETE /users/{id}): a run that finds the tombstone ends without writing anything. */
  UserErased: 'UserErased',
} as const;
export type FailureType = (typeof FailureType)[keyof typeof FailureType];

/** Failure types that no retry can fix: the workflow fails at once instead of retrying. */
export const NON_RETRYABLE_FAILURE_TYPES: readonly FailureType[] = [
  FailureType.InvalidSignup,
  FailureType.DuplicateEmail,
  FailureType.UserNotFound,
  FailureType.UserErased,
];

/**
 * Marks onboardUser runs in which persistUser writes the row COMPLETED and markState is not
 * called; a run started before (its history has the markState step) replays as it was.
 */
export const PERSIST_WRITES_COMPLETED_PATCH = 'persist-user-writes-completed';

/**
 * Marks onboardUser runs of one step: persistUser checks the message against the contract itself
 * (one local activity, one marker, one activation fewer per run: bench/README.md). A run started
 * before (its history has validateSignup as a step of its own) replays as it was, with the
 * patches of its time.
 */
export const PERSIST_VALIDATES_PATCH = 'persist-user-validates';

/** The search attribute operators filter runs by in the Web UI: `OnboardingState = "FAILED"`. */
export const ONBOARDING_STATE_SEARCH_ATTRIBUTE = 'OnboardingState';

/**
 * The steps an onboarding run may take, each retried under the budget below. A run of this code
 * takes one: persistUser checks the message and writes the user row in its final state
 * (COMPLETED). The run timeout keeps room for validateSignup too: during a rolling deploy a run
 * started by this code's bridge may be taken by a worker of the earlier code, which takes both.
 */
export const ONBOARDING_STEPS = ['validateSignup', 'persistUser'] as const;

export const RETRY_INITIAL_INTERVAL_MS = 1_000;
export const RETRY_BACKOFF_COEFFICIENT = 2;
export const RETRY_MAXIMUM_INTERVAL_MS = 30_000;
export const STEP_ATTEMPT_TIMEOUT_MS = 10_000;
// Room for workflow tasks and scheduling between steps.
const RUN_SLACK_MS = 30_000;

/** The waits between attempts of one step, in ms: 1 s, 2 s, 4 s … capped at 30 s. */
export function backoffScheduleMs(maxAttempts: number): number[] {
  const waits: number[] = [];
  for (let retry = 0; retry < maxAttempts - 1; retry++) {
    waits.push(Math.min(RETRY_INITIAL_INTERVAL_MS * RETRY_BACKOFF_COEFFICIENT ** retry, RETRY_MAXIMUM_INTERVAL_MS));
  }
  return waits;
}

/**
 * The longest a run can take if every step uses its whole retry budget, each attempt timing
 * out. Used as the workflow run timeout, so a run can never outlive its message.
 */
export function onboardingRunTimeoutMs(maxAttempts: number): number {
  const perStep = maxAttempts * STEP_ATTEMPT_TIMEOUT_MS + backoffScheduleMs(maxAttempts).reduce((a, b) => a + b, 0);
  return ONBOARDING_STEPS.length * perStep + RUN_SLACK_MS;
}

// ---- E-mail verification: what the verifyEmail workflow and its starters and signallers share.

/** The search attribute operators filter verification runs by: `VerificationState = "PENDING"`. */
export const VERIFICATION_STATE_SEARCH_ATTRIBUTE = 'VerificationState';

export const VERIFY_EMAIL_WORKFLOW = 'verifyEmail';

/** One verification run per user at a time: the API, the backfill and onboardUser find it by this id. */
export function verificationWorkflowId(userId: string): string {
  return `verify-email-${userId}`;
}

/** Signals the verifyEmail run handles, by name, so src/ can send them without importing workflow code. */
export const VerificationSignal = {
  /** The user's row may have changed (a token was used, an operator set a state): read it again. */
  StateChanged: 'verificationStateChanged',
  /** The user asked for a fresh link. */
  ResendRequested: 'verificationResendRequested',
} as const;

/**
 * Marks verifyEmail runs whose row steps (beginVerification, readVerificationState,
 * finishVerification) are local activities: each runs inside the workflow task that needs it, so
 * a run takes one workflow task and one activity task fewer to its first mail, and a wake is
 * one workflow task instead of two or three (bench/README.md). Runs started before keep their steps as regular
 * activities for their whole life (they wait up to VERIFICATION_EXPIRES_AFTER), decided once, at
 * the run's first step. The mail stays a regular activity: it may retry for hours.
 */
export const VERIFICATION_LOCAL_STEPS_PATCH = 'verification-local-steps';

/** Marks onboardUser runs that start the verification child, so runs started before it replay as they were. */
export const VERIFY_EMAIL_PATCH = 'start-verify-email-child';

/**
 * Marks runs that end cleanly when their user was erased: onboardUser returns without starting
 * the verification child, verifyEmail returns instead of failing. Runs recorded before replay as
 * they were (none of them could have met an erased user).
 */
export const USER_ERASED_PATCH = 'end-cleanly-for-erased-user';

/**
 * Marks onboardUser runs that, when persistUser finds the address registered in accepted mode,
 * mail the owner a notice and end normally instead of starting a verification child.
 */
export const HIDDEN_DUPLICATE_NOTICE_PATCH = 'hidden-duplicate-notice';
