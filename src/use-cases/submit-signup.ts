/**
 * Accepting a signup: refuse a registered e-mail (in `conflict` mode), hash the password,
 * publish the message with the broker's confirm, and record the request so a status read can
 * answer "queued" at once. Knows nothing of HTTP; the route maps its errors.
 *
 * In `accepted` mode (the default) a registered e-mail goes exactly the way of a new one: the
 * same lookup, hash, publish with confirm and record, so neither the answer nor its timing can
 * tell them apart. The worker finds the address registered, records the request as a hidden
 * duplicate (whose status reads like an unverified signup's) and mails the address's owner.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { SIGNUP_MESSAGE_VERSION, type SignupMessage, type SignupRequest } from '../contract';
import { callDatabase } from '../db/postgres';
import { EmailAlreadyRegisteredError } from '../errors';
import type { SignupPublisher } from '../messaging/signup-publisher';
import type { SignupRequestRepository } from '../repositories/signup-request-repository';
import type { UserRepository } from '../repositories/user-repository';
import { normalizePassword } from '../security/password-rule';

export interface SubmitSignupDeps {
  users: Pick<UserRepository, 'findByEmail'>;
  signupRequests: Pick<SignupRequestRepository, 'recordAccepted'>;
  publisher: Pick<SignupPublisher, 'publishSignup'>;
  /** argon2id under the API's cap; refuses with OverloadedError when the cap and its queue are full. */
  hashPassword: (password: string) => Promise<string>;
  /** `accepted` answers a duplicate exactly like a new signup, so registered e-mails stay private. */
  duplicateSignupResponse: 'conflict' | 'accepted';
  logger: Logger;
}

/** Published and confirmed by the broker. In `accepted` mode this may be a registered address: the worker decides. */
export interface SubmitSignupResult {
  userId: string;
}

/**
 * Returns the use case. It throws EmailAlreadyRegisteredError (in `conflict` mode only),
 * OverloadedError (no hash slot free) and ServiceUnavailableError (Postgres or the broker
 * unreachable, or no confirm in time); after a throw nothing was published, or (a confirm
 * timeout) a retry with the same `userId` is deduplicated downstream.
 *
 * `userId` is the id to run under: the one an Idempotency-Key reserved, or a fresh one.
 */
export function createSubmitSignup(deps: SubmitSignupDeps) {
  const { users, signupRequests, publisher, hashPassword, duplicateSignupResponse } = deps;

  /** Only lets a status read answer "queued" before the worker picks it up; the message is already safe. */
  async function recordAccepted(userId: string, log: Logger): Promise<void> {
    await signupRequests.recordAccepted(userId).catch((err: Error) =>
      log.warn({ err: err.message, user_id: userId }, 'could not record the accepted signup'),
    );
  }

  return async function submitSignup(signup: SignupRequest, requestId: string, userId: string = randomUUID()): Promise<SubmitSignupResult> {
    const log = deps.logger.child({ request_id: requestId });
    const { email, first_name, last_name, password } = signup;
    // Looked up in both modes, so `accepted` mode does the same work whatever the answer.
    const existing = await callDatabase(() => users.findByEmail(email), log);
    // A retry under an Idempotency-Key whose first run was already onboarded finds its own row: not a duplicate.
    if (existing && existing.user_id !== userId && duplicateSignupResponse === 'conflict') {
      throw new EmailAlreadyRegisteredError();
    }
    // NFKC, so one password typed two ways is one secret (src/security/password-rule.ts).
    const passwordHash = await hashPassword(normalizePassword(password));
    const message: SignupMessage = {
      version: SIGNUP_MESSAGE_VERSION,
      user_id: userId,
      email,
      first_name,
      last_name,
      password_hash: passwordHash,
      requested_at: new Date().toISOString(),
      request_id: requestId,
    };
    await publisher.publishSignup(message);
    await recordAccepted(userId, log);
    // email is masked by the logger's redaction (a***@example.com). Whether it is registered is
    // not logged here: the worker's log says so, and this line must read the same for both.
    log.info({ user_id: userId, email }, 'signup accepted');
    return { userId };
  };
}
export type SubmitSignup = ReturnType<typeof createSubmitSignup>;
