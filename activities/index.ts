import { ApplicationFailure } from '@temporalio/common';
import type { Pool } from 'pg';
import { SignupMessage, toFieldIssues } from '../src/contract';
import { withoutRowData } from '../src/db/postgres';
import { DuplicateEmailError, insertUser, markOnboardingState } from '../src/users/user-store';

export interface ActivityDeps {
  pool: Pool;
}

/**
 * The onboarding activities, built from their dependencies so tests can hand them a pool of
 * their own. Failure types named here are listed as non-retryable in workflows/retry-policy.ts.
 */
export function createActivities({ pool }: ActivityDeps) {
  return {
    /** Re-checks the message against the contract: the workflow may be started by something other than the bridge. */
    async validateSignup(signup: SignupMessage): Promise<void> {
      const parsed = SignupMessage.safeParse(signup);
      if (!parsed.success) {
        const issues = toFieldIssues(parsed.error);
        throw ApplicationFailure.nonRetryable(
          `invalid signup: ${issues.map((i) => `${i.field} ${i.message}`).join('; ')}`,
          'InvalidSignup',
          issues,
        );
      }
    },

    /** Idempotent: a retry or a replayed message finds its own row and succeeds. */
    async persistUser(signup: SignupMessage): Promise<{ created: boolean }> {
      try {
        return await insertUser(pool, signup);
      } catch (err) {
        if (err instanceof DuplicateEmailError) {
          throw ApplicationFailure.nonRetryable('email already registered', 'DuplicateEmail', {
            existing_user_id: err.existingUserId,
          });
        }
        // The SDK logs a failed attempt and records it in history: never with the row in it.
        throw withoutRowData(err);
      }
    },

    async markState(input: { user_id: string; onboarding_state: 'PERSISTED' | 'COMPLETED' }): Promise<void> {
      const found = await markOnboardingState(pool, input.user_id, input.onboarding_state).catch((err: unknown) => {
        throw withoutRowData(err);
      });
      if (!found) throw ApplicationFailure.nonRetryable(`no user ${input.user_id}`, 'UserNotFound');
    },
  };
}

export type OnboardingActivities = ReturnType<typeof createActivities>;
