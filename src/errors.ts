/**
 * Failures the service knows how to explain. Each maps to one HTTP answer in src/api/problem.ts;
 * anything else is a bug and becomes a 500 with no detail.
 */
import type { FieldIssue } from './contract';

export abstract class AppError extends Error {
  override readonly name = this.constructor.name;
}

export class ValidationError extends AppError {
  constructor(
    message: string,
    readonly issues: FieldIssue[],
  ) {
    super(message);
  }
}

export class MalformedBodyError extends AppError {}

export class UnsupportedMediaTypeError extends AppError {}

export class PayloadTooLargeError extends AppError {
  constructor(readonly limitBytes: number) {
    super(`request body larger than ${limitBytes} bytes`);
  }
}

/**
 * Only in DUPLICATE_SIGNUP_RESPONSE=conflict mode. It carries nothing of the registered user (no
 * id, no state): the answer already tells an anonymous caller that the address is registered,
 * and must not also hand out a key to that user's record.
 */
export class EmailAlreadyRegisteredError extends AppError {
  constructor() {
    super('a user with this email is already registered');
  }
}

export class NotFoundError extends AppError {}

export class UserNotFoundError extends NotFoundError {
  constructor(readonly userId: string) {
    super(`no user or signup with id ${userId}`);
  }
}

/** A dependency is down or slow; the client should retry later. */
export class ServiceUnavailableError extends AppError {
  constructor(
    readonly service: 'rabbitmq' | 'postgres' | 'temporal',
    message: string,
    readonly retryAfterSeconds = 5,
  ) {
    super(message);
  }
}

/** No credentials, or a malformed Authorization header: 401 with a Bearer challenge. */
export class AuthenticationRequiredError extends AppError {}

/** Credentials presented but not accepted. */
export class ForbiddenError extends AppError {}

export class TooManyRequestsError extends AppError {
  constructor(readonly retryAfterSeconds: number) {
    super('too many requests from this client; retry later');
  }
}

/** The Idempotency-Key header is malformed (400). */
export class InvalidIdempotencyKeyError extends AppError {}

/** The Idempotency-Key was first used with a different request body (422, as the IETF draft says). */
export class IdempotencyKeyReusedError extends AppError {
  constructor() {
    super('this Idempotency-Key was used with a different request body; use a new key for a new request');
  }
}

/** The first request with this Idempotency-Key is still being processed (409); retry later. */
export class IdempotentRequestInFlightError extends AppError {
  constructor(readonly retryAfterSeconds: number) {
    super('a request with this Idempotency-Key is still being processed; retry later');
  }
}

/** Why a verification token was refused; each maps to a problem (or page) in one place. */
export type VerificationTokenRefusal =
  | 'malformed'
  | 'unknown'
  | 'mismatch'
  | 'used'
  | 'already_verified'
  | 'expired'
  | 'superseded'
  | 'closed';

const REFUSAL_MESSAGES: Record<VerificationTokenRefusal, string> = {
  malformed: 'this is not a verification link; copy the whole link from the mail',
  unknown: 'this verification link is not valid',
  mismatch: 'this verification link belongs to another account',
  used: 'this verification link has already been used',
  already_verified: 'this e-mail address is already verified',
  expired: 'this verification link has expired; ask for a new one',
  superseded: 'a newer verification link was sent; use the link in the latest mail',
  closed: 'this e-mail address can no longer be verified with this link; ask for a new one',
};

export class VerificationTokenError extends AppError {
  constructor(readonly reason: VerificationTokenRefusal) {
    super(REFUSAL_MESSAGES[reason]);
  }
}

/**
 * This process is at its capacity for work it caps (argon2id hashing): refused at once rather
 * than queued without bound. Nothing was done; the client retries after `retryAfterSeconds`.
 */
export class OverloadedError extends AppError {
  constructor(readonly retryAfterSeconds = 1) {
    super('the server is at capacity for signups; retry shortly');
  }
}
