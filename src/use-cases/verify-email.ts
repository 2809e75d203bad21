/**
 * Using a verification token: GET /verify only looks (mail scanners prefetch links); POST /verify
 * uses it. The row changes in one transaction with the token, so a verification the API accepted
 * is kept even while Temporal is down; the run is told, and reads the row anyway when it wakes.
 */
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { EmailVerified, VerificationState } from '../contract';
import { withTransaction } from '../db/transaction';
import { VerificationTokenError } from '../errors';
import { consumeToken, findTokenBySelector, type VerificationTokenRecord } from '../repositories/verification-token-repository';
import type { VerificationRuns } from '../temporal/verification-runs';
import { transitionVerificationState, verificationStateOf } from '../repositories/user-repository';
import { type ParsedToken, parseToken, verifierMatches } from '../verification/token';
import { wakeRun } from './dependencies';
import { callDatabase } from '../db/postgres';

export interface VerifyEmailDeps {
  pool: Pool;
  runs: Pick<VerificationRuns, 'wake'>;
  logger: Logger;
}

/** What the confirmation page needs to know before it offers the button. */
export interface TokenInspection {
  user_id: string;
}

/** Throws the VerificationTokenError that explains a token that cannot be used; changes nothing. */
export async function inspectVerificationToken(deps: VerifyEmailDeps, rawToken: unknown): Promise<TokenInspection> {
  const { record } = await usableToken(deps, rawToken);
  const state = await callDatabase(() => verificationStateOf(deps.pool, record.user_id), deps.logger);
  if (state !== 'PENDING') throw refusalForState(state);
  return { user_id: record.user_id };
}

/**
 * Uses the token: the user becomes VERIFIED and the token is spent, both or neither. Of two
 * concurrent requests with one token exactly one succeeds; the other is told it was used.
 */
export async function verifyEmailWithToken(deps: VerifyEmailDeps, rawToken: unknown, expectedUserId?: string): Promise<EmailVerified> {
  const { record, parsed } = await usableToken(deps, rawToken);
  if (expectedUserId !== undefined && expectedUserId.toLowerCase() !== record.user_id) throw new VerificationTokenError('mismatch');
  const userId = record.user_id;
  await callDatabase(() =>
    withTransaction(deps.pool, async (client) => {
      if (!(await consumeToken(client, parsed.selector))) {
        // Another request used it between our read and now.
        throw refusalForState(await verificationStateOf(client, userId), 'used');
      }
      if (!(await transitionVerificationState(client, userId, 'PENDING', 'VERIFIED'))) {
        throw refusalForState(await verificationStateOf(client, userId));
      }
    }),
    deps.logger,
  );
  deps.logger.info({ user_id: userId }, 'e-mail address verified');
  await wakeRun(deps.runs, deps.logger, userId, 'StateChanged');
  return { user_id: userId, verification_state: 'VERIFIED' };
}

/** The token's row, if the token is well-formed, known, genuine (compared in constant time) and still usable. */
async function usableToken(deps: VerifyEmailDeps, rawToken: unknown): Promise<{ record: VerificationTokenRecord; parsed: ParsedToken }> {
  const parsed = typeof rawToken === 'string' ? parseToken(rawToken) : null;
  if (!parsed) throw new VerificationTokenError('malformed');
  const record = await callDatabase(() => findTokenBySelector(deps.pool, parsed.selector), deps.logger);
  // A known selector with the wrong verifier (a spliced or guessed token) is as unknown as any other.
  if (!record || !verifierMatches(parsed.verifier, record.verifier_hash)) throw new VerificationTokenError('unknown');
  if (record.used_at) {
    throw refusalForState(await callDatabase(() => verificationStateOf(deps.pool, record.user_id), deps.logger), 'used');
  }
  if (record.superseded_at) throw new VerificationTokenError('superseded');
  if (record.expired) throw new VerificationTokenError('expired');
  return { record, parsed };
}

/** A user who is not PENDING: already verified says so; anything else cannot be verified by this link. */
function refusalForState(state: VerificationState | null, otherwise: 'used' | 'closed' = 'closed'): VerificationTokenError {
  return new VerificationTokenError(state === 'VERIFIED' ? 'already_verified' : otherwise);
}
