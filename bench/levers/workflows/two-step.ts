import { proxyLocalActivities } from '@temporalio/workflow';
import type { OnboardingActivities } from '../../../activities';
import type { OnboardUserInput } from '../../../workflows/onboard-user';
import { onboardingActivityOptions } from '../../../workflows/retry-policy';
import { setState, withState, type TwoStepActivities } from './shared';

/** Validation inside the insert's activity (one step), then markState as its own step: two local activities. */
export const onboardUser = (input: OnboardUserInput) =>
  withState(async () => {
    const { signup } = input;
    const { validateAndPersist } = proxyLocalActivities<TwoStepActivities>(onboardingActivityOptions(input.maxAttempts));
    const { markState } = proxyLocalActivities<OnboardingActivities>(onboardingActivityOptions(input.maxAttempts));
    const { created } = await validateAndPersist(signup);
    await markState({ user_id: signup.user_id, onboarding_state: 'COMPLETED', request_id: signup.request_id });
    return { user_id: signup.user_id, onboarding_state: 'COMPLETED', created };
  }, () => setState('PROCESSING'));
