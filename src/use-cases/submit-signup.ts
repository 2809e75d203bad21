/**
 * Accepting a signup: refuse a registered e-mail (or hide that it is one), hash the password,
 * publish the message with the broker's confirm, and record the request so a status read can
 * answer "queued" at once. Knows nothing of HTTP; the route maps its errors.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { SIGNUP_MESSAGE_VERSION, type SignupMessage, type SignupRequest } from '../contract';
import { callDatabase } from '../db/postgres';
import { EmailAlreadyRegisteredError } from '../errors';
import type { SignupPublisher } from '../messaging/signup-publisher';
import type { SignupRequestRepository } from '../repositories/signup-request-repository';
import type { UserRepository } from '../repositories/user-repository';

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

export type SubmitSignupResult =
  /** Published and confirmed by the broker: onboarding will make the user. */
  | { outcome: 'accepted'; userId: string }
  /** A registered e-mail in `accepted` mode: a decoy id, nothing published. */
  | { outcome: 'duplicateHidden'; userId: string };

/**
 * Returns the use case. It throws EmailAlreadyRegisteredError (in `conflict` mode),
 * OverloadedError (no hash slot free) and ServiceUnavailableError (Postgres or the broker
 * unreachable, or no confirm in time); after a throw nothing was published.
 */
export function createSubmitSignup(deps: SubmitSignupDeps) {
  const { users, signupRequests, publisher, hashPassword, duplicateSignupResponse } = deps;

  /** Only lets a status read answer "queued" before the worker picks it up; the message is already safe. */
  async function recordAccepted(userId: string, log: Logger): Promise<void> {
    await signupRequests.recordAccepted(userId).catch((err: Error) =>
      log.warn({ err: err.message, user_id: userId }, 'could not record the accepted signup'),
    );
  }

  return async function submitSignup(signup: SignupRequest, requestId: string): Promise<SubmitSignupResult> {
    const log = deps.logger.child({ request_id: requestId });
    const { email, first_name, last_name, password } = signup;
    const existing = await callDatabase(() => users.findByEmail(email), log);
    if (existing && duplicateSignupResponse === 'conflict') {
      throw new EmailAlreadyRegisteredError(existing.user_id, existing.verification_state);
    }
    // Hashed even for a duplicate in `accepted` mode, so both answers take as long.
    const passwordHash = await hashPassword(password);
    const userId = randomUUID();

    if (existing) {
      // Recorded so that a status read answers "queued" for the decoy as for a real signup.
      // Nothing is published, so no second row and no DLQ message.
      await recordAccepted(userId, log);
      log.info({ user_id: userId, existing_user_id: existing.user_id }, 'duplicate signup answered as accepted; nothing published');
      return { outcome: 'duplicateHidden', userId };
    }

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
    // email is masked by the logger's redaction (a***@example.com).
    log.info({ user_id: userId, email }, 'signup accepted');
    return { outcome: 'accepted', userId };
  };
}
export type SubmitSignup = ReturnType<typeof createSubmitSignup>;
