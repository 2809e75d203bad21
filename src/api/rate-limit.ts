import type { RequestHandler } from 'express';
import { rateLimit } from 'express-rate-limit';
import { TooManyRequestsError } from '../errors';

/**
 * A per-client (req.ip) limit answering 429 problem+json with Retry-After. Registered before a
 * route's body parser, so a refused request is not even read.
 */
export function perClientLimit(what: string, limit: number, windowMs: number): RequestHandler {
  return rateLimit({
    windowMs,
    limit,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    handler: (req, res, next) => {
      req.log.warn({ ip: req.ip, limited: what }, 'rate limit exceeded');
      next(new TooManyRequestsError(Number(res.getHeader('Retry-After')) || Math.ceil(windowMs / 1000)));
    },
  });
}
