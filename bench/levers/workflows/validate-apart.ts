import { patched, proxyLocalActivities } from '@temporalio/workflow';
import type { OnboardingActivities } from '../../../activities';
import { PERSIST_WRITES_COMPLETED_PATCH } from '../../../src/onboarding-policy';
import type { OnboardUserInput } from '../../../workflows/onboard-user';
import { onboardingActivityOptions } from '../../../workflows/retry-policy';
import { setState, withState } from './shared';

/**
 * The service's onboarding-only run as it was before persistUser checked the message itself
 * (commit f8a6510): validateSignup a local activity of its own, then persistUser, and that code's
 * one patch marker. Against the baseline (today's: the patch marker, persistUser) it measures
 * what the separate check cost.
 */
export const onboardUser = (input: OnboardUserInput) =>
  withState(async () => {
    const { signup } = input;
    const { validateSignup, persistUser } = proxyLocalActivities<OnboardingActivities>(onboardingActivityOptions(input.maxAttempts));
    await validateSignup(signup);
    const { created } = await persistUser(signup);
    patched(PERSIST_WRITES_COMPLETED_PATCH);
    return { user_id: signup.user_id, onboarding_state: 'COMPLETED', created };
  }, () => setState('PROCESSING'));
