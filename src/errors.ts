/**
 * Failures the service knows how to explain. Each maps to one HTTP answer in src/api/problem.ts;
 * anything else is a bug and becomes a 500 with no detail.
 */
import type { FieldIssue, VerificationState } from './contract';

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

export class EmailAlreadyRegisteredError extends AppError {
  constructor(
    readonly userId: string,
    readonly verificationState: VerificationState,
  ) {
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

/**
 * This process is at its capacity for work it caps (argon2id hashing): refused at once rather
 * than queued without bound. Nothing was done; the client retries after `retryAfterSeconds`.
 */
export class OverloadedError extends AppError {
  constructor(readonly retryAfterSeconds = 1) {
    super('the server is at capacity for signups; retry shortly');
  }
}
