/**
 * POST /verification/resend. The caller always hears the same (202), so nothing here may change
 * what it is told; the outcome is for logs and tests. Limited per address, counted under an HMAC
 * of the address so the table never holds one.
 */
import { createHmac, hkdfSync } from 'node:crypto';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { countResendRequest } from '../repositories/resend-count-repository';
import type { VerificationRuns } from '../temporal/verification-runs';
import { findUserByEmail } from '../repositories/user-repository';
import { wakeRun } from './dependencies';

export interface ResendVerificationDeps {
  pool: Pool;
  runs: Pick<VerificationRuns, 'wake'>;
  logger: Logger;
  /** Keys the HMAC of addresses; see resendAddressSecret. */
  addressSecret: Buffer;
  limit: { perAddress: number; windowMs: number };
}

export type ResendOutcome = 'requested' | 'unknown' | 'not-needed' | 'address-limited' | 'temporal-unavailable';

/** A key for address HMACs derived from the active payload key, so operators manage no extra secret. */
export function resendAddressSecret(payloadKey: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', payloadKey, Buffer.alloc(0), 'onboarding/verification-resend-address', 32));
}

export function addressKey(secret: Buffer, email: string): Buffer {
  return createHmac('sha256', secret).update(email.trim().toLowerCase(), 'utf8').digest();
}

/**
 * For a PENDING user, the run mails a fresh link; for an EXPIRED one, a new run starts and reopens
 * it, so nobody is locked out for good. Unknown, VERIFIED and REJECTED addresses get nothing.
 */
export async function resendVerification(deps: ResendVerificationDeps, email: string): Promise<ResendOutcome> {
  const requests = await countResendRequest(deps.pool, addressKey(deps.addressSecret, email), deps.limit.windowMs);
  if (requests > deps.limit.perAddress) return 'address-limited';
  const user = await findUserByEmail(deps.pool, email);
  if (!user) return 'unknown';
  if (user.verification_state !== 'PENDING' && user.verification_state !== 'EXPIRED') return 'not-needed';
  const reached = await wakeRun(deps.runs, deps.logger, user.user_id, 'ResendRequested', {
    reopenExpired: user.verification_state === 'EXPIRED',
  });
  return reached ? 'requested' : 'temporal-unavailable';
}
