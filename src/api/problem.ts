/**
 * The one place where failures become HTTP answers, as RFC 9457 problem+json.
 */
import type { ErrorRequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import type { Problem } from '../contract';
import { redactQueryString } from '../logger';
import {
  AppError,
  AuthenticationRequiredError,
  EmailAlreadyRegisteredError,
  ForbiddenError,
  IdempotencyKeyReusedError,
  IdempotentRequestInFlightError,
  InvalidIdempotencyKeyError,
  TooManyRequestsError,
  MalformedBodyError,
  PayloadTooLargeError,
  ServiceUnavailableError,
  UnsupportedMediaTypeError,
  NotFoundError,
  OverloadedError,
  ValidationError,
  VerificationTokenError,
} from '../errors';

/**
 * Every kind of problem the API answers with. The OpenAPI document and its test read this
 * table, so a new kind added here without documenting it fails the test.
 */
export const PROBLEM_KINDS = {
  validation: { type: '/problems/validation-error', title: 'Invalid request', status: 400 },
  malformedBody: { type: '/problems/malformed-body', title: 'Malformed request body', status: 400 },
  unsupportedMediaType: { type: '/problems/unsupported-media-type', title: 'Unsupported media type', status: 415 },
  payloadTooLarge: { type: '/problems/payload-too-large', title: 'Payload too large', status: 413 },
  emailAlreadyRegistered: { type: '/problems/email-already-registered', title: 'Email already registered', status: 409 },
  invalidIdempotencyKey: { type: '/problems/invalid-idempotency-key', title: 'Invalid Idempotency-Key', status: 400 },
  idempotencyKeyReused: { type: '/problems/idempotency-key-reused', title: 'Idempotency-Key reused with another request', status: 422 },
  idempotentRequestInFlight: { type: '/problems/idempotent-request-in-flight', title: 'Request with this Idempotency-Key in progress', status: 409 },
  badRequest: { type: '/problems/bad-request', title: 'Bad request', status: 400 },
  authenticationRequired: { type: '/problems/authentication-required', title: 'Authentication required', status: 401 },
  forbidden: { type: '/problems/forbidden', title: 'Forbidden', status: 403 },
  notFound: { type: '/problems/not-found', title: 'Not found', status: 404 },
  tooManyRequests: { type: '/problems/too-many-requests', title: 'Too many requests', status: 429 },
  serviceUnavailable: { type: '/problems/service-unavailable', title: 'Service unavailable', status: 503 },
  verificationTokenInvalid: { type: '/problems/verification-token-invalid', title: 'Invalid verification link', status: 400 },
  verificationTokenUsed: { type: '/problems/verification-token-used', title: 'Verification link already used', status: 409 },
  verificationTokenExpired: { type: '/problems/verification-token-expired', title: 'Verification link no longer valid', status: 410 },
  overloaded: { type: '/problems/overloaded', title: 'Overloaded', status: 503 },
  internal: { type: 'about:blank', title: 'Internal Server Error', status: 500 },
} as const;
export type ProblemKind = keyof typeof PROBLEM_KINDS;

const VERIFICATION_REFUSAL_KINDS: Record<VerificationTokenError['reason'], ProblemKind> = {
  malformed: 'verificationTokenInvalid',
  unknown: 'verificationTokenInvalid',
  mismatch: 'verificationTokenInvalid',
  used: 'verificationTokenUsed',
  already_verified: 'verificationTokenUsed',
  closed: 'verificationTokenUsed',
  expired: 'verificationTokenExpired',
  superseded: 'verificationTokenExpired',
};

export function problemFor(err: unknown): { kind: ProblemKind; problem: Problem; headers?: Record<string, string> } {
  if (err instanceof ValidationError) {
    return { kind: 'validation', problem: { ...PROBLEM_KINDS.validation, detail: err.message, errors: err.issues } };
  }
  if (err instanceof MalformedBodyError) {
    return { kind: 'malformedBody', problem: { ...PROBLEM_KINDS.malformedBody, detail: err.message } };
  }
  if (err instanceof UnsupportedMediaTypeError) {
    return { kind: 'unsupportedMediaType', problem: { ...PROBLEM_KINDS.unsupportedMediaType, detail: err.message } };
  }
  if (err instanceof PayloadTooLargeError) {
    return { kind: 'payloadTooLarge', problem: { ...PROBLEM_KINDS.payloadTooLarge, detail: err.message } };
  }
  if (err instanceof EmailAlreadyRegisteredError) {
    return {
      kind: 'emailAlreadyRegistered',
      // Nothing of the registered user: no id, no state (issue 12).
      problem: { ...PROBLEM_KINDS.emailAlreadyRegistered, detail: err.message },
    };
  }
  if (err instanceof InvalidIdempotencyKeyError) {
    return { kind: 'invalidIdempotencyKey', problem: { ...PROBLEM_KINDS.invalidIdempotencyKey, detail: err.message } };
  }
  if (err instanceof IdempotencyKeyReusedError) {
    return { kind: 'idempotencyKeyReused', problem: { ...PROBLEM_KINDS.idempotencyKeyReused, detail: err.message } };
  }
  if (err instanceof IdempotentRequestInFlightError) {
    return {
      kind: 'idempotentRequestInFlight',
      problem: { ...PROBLEM_KINDS.idempotentRequestInFlight, detail: err.message },
      headers: { 'Retry-After': String(err.retryAfterSeconds) },
    };
  }
  if (err instanceof AuthenticationRequiredError) {
    return {
      kind: 'authenticationRequired',
      problem: { ...PROBLEM_KINDS.authenticationRequired, detail: err.message },
      headers: { 'WWW-Authenticate': 'Bearer realm="onboarding-admin"' },
    };
  }
  if (err instanceof ForbiddenError) {
    return { kind: 'forbidden', problem: { ...PROBLEM_KINDS.forbidden, detail: err.message } };
  }
  if (err instanceof TooManyRequestsError) {
    return {
      kind: 'tooManyRequests',
      problem: { ...PROBLEM_KINDS.tooManyRequests, detail: err.message },
      headers: { 'Retry-After': String(err.retryAfterSeconds) },
    };
  }
  if (err instanceof NotFoundError) {
    return { kind: 'notFound', problem: { ...PROBLEM_KINDS.notFound, detail: err.message } };
  }
  if (err instanceof ServiceUnavailableError) {
    return {
      kind: 'serviceUnavailable',
      problem: { ...PROBLEM_KINDS.serviceUnavailable, detail: err.message, service: err.service },
      headers: { 'Retry-After': String(err.retryAfterSeconds) },
    };
  }
  if (err instanceof VerificationTokenError) {
    const kind = VERIFICATION_REFUSAL_KINDS[err.reason];
    return { kind, problem: { ...PROBLEM_KINDS[kind], detail: err.message, reason: err.reason } };
  }
  if (err instanceof OverloadedError) {
    return {
      kind: 'overloaded',
      problem: { ...PROBLEM_KINDS.overloaded, detail: err.message },
      headers: { 'Retry-After': String(err.retryAfterSeconds) },
    };
  }
  // Express's own client errors (e.g. a malformed %-escape in the path) carry a 400; their
  // messages may echo internals, so only the kind is kept.
  if ((err as { status?: unknown } | null)?.status === 400) {
    return { kind: 'badRequest', problem: { ...PROBLEM_KINDS.badRequest } };
  }
  return { kind: 'internal', problem: { ...PROBLEM_KINDS.internal } };
}

export function sendProblem(res: Response, err: unknown): void {
  const { kind, problem, headers } = problemFor(err);
  // Read back by the signup counter, which labels rejections by kind.
  res.locals.problemKind = kind;
  if (headers) res.set(headers);
  res.status(problem.status).type('application/problem+json').json({ ...problem, request_id: res.getHeader('X-Request-Id') });
}

/** Translates body-parser's errors into ours, then answers. Never leaks a stack or an internal message. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const translated = translateBodyParserError(err, req.app.get('bodyLimitBytes'));
    if (!(translated instanceof AppError)) {
      logger.error({ err, method: req.method, url: redactQueryString(req.originalUrl) }, 'unhandled error');
    }
    if (res.headersSent) return;
    sendProblem(res, translated);
  };
}

function translateBodyParserError(err: unknown, appLimitBytes: number): unknown {
  const { type, limit } = (err ?? {}) as { type?: string; limit?: unknown };
  switch (type) {
    case 'entity.too.large':
      // The limit of the parser that refused, which a route may set above or below the app's
      // (the codec's 4 MiB): the text always names the limit that applied.
      return new PayloadTooLargeError(typeof limit === 'number' ? limit : appLimitBytes);
    case 'entity.parse.failed':
      return new MalformedBodyError('request body is not valid JSON');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new UnsupportedMediaTypeError('unsupported body encoding or charset');
    case 'request.aborted':
    case 'request.size.invalid':
    case 'stream.encoding.set':
      return new MalformedBodyError('request body could not be read');
    default:
      return err;
  }
}
