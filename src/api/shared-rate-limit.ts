/**
 * A rate limit that holds across every API process: express-rate-limit with its counters in
 * Postgres (PostgresRateLimitStore). IPv6 clients are counted per /56 (config.limits), since
 * one customer usually holds a whole /56 or /48 and could otherwise rotate addresses freely.
 * Create each limiter once, at app construction, with a limiter name of its own.
 */
import type { Request } from 'express';
import { type RateLimitRequestHandler, rateLimit } from 'express-rate-limit';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { Config } from '../config';
import { TooManyRequestsError } from '../errors';
import { PostgresRateLimitStore } from '../security/postgres-rate-limit-store';

export interface SharedRateLimitOptions {
  pool: Pool;
  limits: Pick<Config['limits'], 'keyHmacKey' | 'ipv6Subnet'>;
  /** Names the counters; the same name in two processes is one limit. */
  limiter: string;
  limit: number;
  windowMs: number;
  /**
   * What to count by; default the client IP (IPv6 by its /56). For a limit per e-mail address,
   * return addressRateLimitKey(...) so the address is never the key.
   */
  keyGenerator?: (req: Request) => string | Promise<string>;
  /** Where the counters' outages are logged. */
  logger?: Logger;
}

export function sharedRateLimit(options: SharedRateLimitOptions): RateLimitRequestHandler {
  const { limiter, windowMs } = options;
  return rateLimit({
    windowMs,
    limit: options.limit,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    store: new PostgresRateLimitStore({ pool: options.pool, limiter, keyHmacKey: options.limits.keyHmacKey, logger: options.logger }),
    // express-rate-limit applies the subnet in its default key generator only.
    ...(options.keyGenerator ? { keyGenerator: options.keyGenerator } : { ipv6Subnet: options.limits.ipv6Subnet }),
    handler: (req, res, next) => {
      req.log?.warn({ limiter, ip: req.ip }, 'rate limit exceeded');
      // The limiter has already worked out when this client's window resets.
      next(new TooManyRequestsError(Number(res.getHeader('Retry-After')) || Math.ceil(windowMs / 1000)));
    },
  });
}
