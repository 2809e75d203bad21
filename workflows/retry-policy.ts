/** The activity options of an onboarding run, built from the shared retry budget. */
import type { LocalActivityOptions } from '@temporalio/workflow';
import {
  NON_RETRYABLE_FAILURE_TYPES,
  RETRY_BACKOFF_COEFFICIENT,
  RETRY_INITIAL_INTERVAL_MS,
  RETRY_MAXIMUM_INTERVAL_MS,
  STEP_ATTEMPT_TIMEOUT_MS,
} from '../src/onboarding-policy';

export function onboardingActivityOptions(maxAttempts: number): LocalActivityOptions {
  return {
    startToCloseTimeout: STEP_ATTEMPT_TIMEOUT_MS,
    retry: {
      initialInterval: RETRY_INITIAL_INTERVAL_MS,
      backoffCoefficient: RETRY_BACKOFF_COEFFICIENT,
      maximumInterval: RETRY_MAXIMUM_INTERVAL_MS,
      maximumAttempts: maxAttempts,
      nonRetryableErrorTypes: [...NON_RETRYABLE_FAILURE_TYPES],
    },
  };
}
