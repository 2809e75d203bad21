/**
 * The one place where failures become HTTP answers, as RFC 9457 problem+json.
 */
import { STATUS_CODES } from 'node:http';
import type { ErrorRequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import {
  AppError,
  AuthenticationRequiredError,
  EmailAlreadyRegisteredError,
  ForbiddenError,
  TooManyRequestsError,
  MalformedBodyError,
  PayloadTooLargeError,
  ServiceUnavailableError,
  UnsupportedMediaTypeError,
  NotFoundError,
  ValidationError,
} from '../errors';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  [extension: string]: unknown;
}

export function problemFor(err: unknown): { problem: Problem; headers?: Record<string, string> } {
  if (err instanceof ValidationError) {
    return { problem: { type: '/problems/validation-error', title: 'Invalid request', status: 400, detail: err.message, errors: err.issues } };
  }
  if (err instanceof MalformedBodyError) {
    return { problem: { type: '/problems/malformed-body', title: 'Malformed request body', status: 400, detail: err.message } };
  }
  if (err instanceof UnsupportedMediaTypeError) {
    return { problem: { type: '/problems/unsupported-media-type', title: 'Unsupported media type', status: 415, detail: err.message } };
  }
  if (err instanceof PayloadTooLargeError) {
    return { problem: { type: '/problems/payload-too-large', title: 'Payload too large', status: 413, detail: err.message } };
  }
  if (err instanceof EmailAlreadyRegisteredError) {
    return {
      problem: {
        type: '/problems/email-already-registered',
        title: 'Email already registered',
        status: 409,
        detail: err.message,
        user_id: err.userId,
        verification_state: err.verificationState,
      },
    };
  }
  if (err instanceof AuthenticationRequiredError) {
    return {
      problem: { type: '/problems/authentication-required', title: 'Authentication required', status: 401, detail: err.message },
      headers: { 'WWW-Authenticate': 'Bearer realm="onboarding-admin"' },
    };
  }
  if (err instanceof ForbiddenError) {
    return { problem: { type: '/problems/forbidden', title: 'Forbidden', status: 403, detail: err.message } };
  }
  if (err instanceof TooManyRequestsError) {
    return {
      problem: { type: '/problems/too-many-requests', title: 'Too many requests', status: 429, detail: err.message },
      headers: { 'Retry-After': String(err.retryAfterSeconds) },
    };
  }
  if (err instanceof NotFoundError) {
    return { problem: { type: '/problems/not-found', title: 'Not found', status: 404, detail: err.message } };
  }
  if (err instanceof ServiceUnavailableError) {
    return {
      problem: { type: '/problems/service-unavailable', title: 'Service unavailable', status: 503, detail: err.message, service: err.service },
      headers: { 'Retry-After': String(err.retryAfterSeconds) },
    };
  }
  // Express's own client errors (e.g. a malformed %-escape in the path) carry a 4xx status; their
  // messages may echo internals, so only the status is kept.
  const status = (err as { status?: unknown } | null)?.status;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return { problem: { type: 'about:blank', title: STATUS_CODES[status] ?? 'Client error', status } };
  }
  return { problem: { type: 'about:blank', title: 'Internal Server Error', status: 500 } };
}

export function sendProblem(res: Response, err: unknown): void {
  const { problem, headers } = problemFor(err);
  if (headers) res.set(headers);
  res.status(problem.status).type('application/problem+json').json({ ...problem, request_id: res.getHeader('X-Request-Id') });
}

/** Translates body-parser's errors into ours, then answers. Never leaks a stack or an internal message. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const translated = translateBodyParserError(err, req.app.get('bodyLimitBytes'));
    if (!(translated instanceof AppError)) {
      logger.error({ err, method: req.method, url: req.originalUrl }, 'unhandled error');
    }
    if (res.headersSent) return;
    sendProblem(res, translated);
  };
}

function translateBodyParserError(err: unknown, limitBytes: number): unknown {
  const type = (err as { type?: string } | null)?.type;
  switch (type) {
    case 'entity.too.large':
      return new PayloadTooLargeError(limitBytes);
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
