/**
 * Reshaped onboarding runs, bundled by the lever trials instead of workflows/ to measure what a
 * different shape costs; not the service's workflow. Same input, result and failure behaviour.
 */
import { proxyLocalActivities, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { OnboardingActivities } from '../../../activities';
import type { OnboardingState } from '../../../src/contract';
import type { OnboardUserInput, OnboardUserResult } from '../../../workflows/onboard-user';
import { onboardingActivityOptions } from '../../../workflows/retry-policy';
import { OnboardingStateKey } from '../../../workflows/search-attributes';

/** The three steps as one local activity: validate, insert (idempotent), mark COMPLETED; retried whole. */
export interface OneStepActivities {
  onboardInOneStep(signup: OnboardUserInput['signup']): Promise<{ created: boolean }>;
}

/** Validation and the insert as one local activity; markState stays a step of its own. */
export interface TwoStepActivities {
  validateAndPersist(signup: OnboardUserInput['signup']): Promise<{ created: boolean }>;
}

export const setState = (state: OnboardingState) => upsertSearchAttributes([{ key: OnboardingStateKey, value: state }]);

/** PROCESSING unless the starter already set it (typedSearchAttributes in the start options). */
export function markProcessing(): void {
  if (workflowInfo().typedSearchAttributes.get(OnboardingStateKey) === undefined) setState('PROCESSING');
}

export async function threeSteps(input: OnboardUserInput): Promise<OnboardUserResult> {
  const { signup } = input;
  const { validateSignup, persistUser, markState } = proxyLocalActivities<OnboardingActivities>(onboardingActivityOptions(input.maxAttempts));
  await validateSignup(signup);
  const { created } = await persistUser(signup);
  await markState({ user_id: signup.user_id, onboarding_state: 'COMPLETED', request_id: signup.request_id });
  return { user_id: signup.user_id, onboarding_state: 'COMPLETED', created };
}

export async function oneStep(input: OnboardUserInput): Promise<OnboardUserResult> {
  const { onboardInOneStep } = proxyLocalActivities<OneStepActivities>(onboardingActivityOptions(input.maxAttempts));
  const { created } = await onboardInOneStep(input.signup);
  return { user_id: input.signup.user_id, onboarding_state: 'COMPLETED', created };
}

/** The service's try/catch around the steps, with the state set as the variant says. */
export async function withState(steps: () => Promise<OnboardUserResult>, processing: () => void): Promise<OnboardUserResult> {
  try {
    processing();
    const result = await steps();
    setState('COMPLETED');
    return result;
  } catch (err) {
    setState('FAILED');
    throw err;
  }
}
