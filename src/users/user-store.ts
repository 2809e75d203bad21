/**
 * Transitional re-export, to be deleted: the SQL lives in src/repositories/ (one module per
 * table). This path stays only for the files other branches own that still import it
 * (src/bridge/signup-bridge.ts, scripts/dlq.ts, bench/direct-consumer.ts); nothing in this
 * branch's own code imports it.
 */
import type { Pool } from 'pg';
import { completeOnboarding } from '../repositories/user-repository';

export {
  DuplicateEmailError,
  findUserByEmail,
  findUserById,
  insertUser,
  setVerificationState,
  type UserRecord,
} from '../repositories/user-repository';
export {
  clearSignupFailure,
  failureReasons,
  findSignupRequest,
  recordSignupAccepted,
  recordSignupFailed,
  type SignupRequestRecord,
} from '../repositories/signup-request-repository';

/** @deprecated completeOnboarding(pool, userId): COMPLETED is the only state anything sets. */
export function markOnboardingState(pool: Pool, userId: string, _state: 'COMPLETED'): Promise<boolean> {
  return completeOnboarding(pool, userId);
}
