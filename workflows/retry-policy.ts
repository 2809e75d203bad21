/**
 * The onboarding retry budget, in one place, as pure functions: the workflow uses it for its
 * activities, and the bridge and config use it to bound how long a message stays unacked.
 */
import type { LocalActivityOptions } from '@temporalio/workflow';

export const ONBOARDING_ACTIVITIES = ['validateSignup', 'persistUser', 'markState'] as const;

/** Failure types that no retry can fix. */
export const NON_RETRYABLE_ERROR_TYPES = ['InvalidSignup', 'DuplicateEmail', 'UserNotFound'];

const INITIAL_INTERVAL_MS = 1_000;
const BACKOFF_COEFFICIENT = 2;
const MAXIMUM_INTERVAL_MS = 30_000;
const ATTEMPT_TIMEOUT_MS = 10_000;
// Room for workflow tasks and scheduling between activities.
const RUN_SLACK_MS = 30_000;

export function onboardingActivityOptions(maxAttempts: number): LocalActivityOptions {
  return {
    startToCloseTimeout: ATTEMPT_TIMEOUT_MS,
    retry: {
      initialInterval: INITIAL_INTERVAL_MS,
      backoffCoefficient: BACKOFF_COEFFICIENT,
      maximumInterval: MAXIMUM_INTERVAL_MS,
      maximumAttempts: maxAttempts,
      nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
    },
  };
}

/** The waits between attempts of one activity, in ms: 1 s, 2 s, 4 s … capped at 30 s. */
export function backoffScheduleMs(maxAttempts: number): number[] {
  const waits: number[] = [];
  for (let retry = 0; retry < maxAttempts - 1; retry++) {
    waits.push(Math.min(INITIAL_INTERVAL_MS * BACKOFF_COEFFICIENT ** retry, MAXIMUM_INTERVAL_MS));
  }
  return waits;
}

/**
 * The longest a run can take if every activity uses its whole retry budget, each attempt
 * timing out. Used as the workflow run timeout, so a run can never outlive its message.
 */
export function onboardingRunTimeoutMs(maxAttempts: number): number {
  const perActivity = maxAttempts * ATTEMPT_TIMEOUT_MS + backoffScheduleMs(maxAttempts).reduce((a, b) => a + b, 0);
  return ONBOARDING_ACTIVITIES.length * perActivity + RUN_SLACK_MS;
}
