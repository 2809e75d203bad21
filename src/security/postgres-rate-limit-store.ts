/**
 * An express-rate-limit Store on Postgres, so every API process counts against one limit (an
 * in-memory store gives each process its own, multiplying the limit by the process count).
 *
 * Ours rather than @acpr/rate-limit-postgresql: that package brings a second pg (8.11) and
 * pg-pool, opens its own pool from connection settings, runs its own migrations (a
 * `rate_limit` schema, `CREATE EXTENSION uuid-ossp`, which needs rights we should not ask for)
 * and stores keys as given. One table in our migrations, one upsert on our pool, does it.
 *
 * Every key is stored as an HMAC under a server-side key: what a limiter counts by (an IP
 * prefix, an e-mail address) never reaches the table. Keys that come from an e-mail address
 * should also be made with addressRateLimitKey, so the address is not in the request either.
 */
import type { ClientRateLimitInfo, Options, Store } from 'express-rate-limit';
import type { Pool } from 'pg';
import pino, { type Logger } from 'pino';
import { callDatabase } from '../db/postgres';
import {
  decrementCounter,
  deleteCounter,
  deleteCountersOfLimiter,
  findCounter,
  incrementCounter,
} from '../repositories/rate-limit-counter-repository';
import { keyedHash } from './keyed-hash';

const LIMITER_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

export interface PostgresRateLimitStoreOptions {
  pool: Pool;
  /** Names the counters: stores with the same name share them, in every process. */
  limiter: string;
  /** config.limits.keyHmacKey */
  keyHmacKey: Buffer;
  /** Where an outage is logged; none: not logged (tools and tests). */
  logger?: Logger;
}

const SILENT = pino({ level: 'silent' });

export class PostgresRateLimitStore implements Store {
  /** Counts are shared, not kept in this process (express-rate-limit checks misconfigurations with this). */
  readonly localKeys = false;
  readonly prefix: string;
  private windowMs = 60_000;

  constructor(private readonly options: PostgresRateLimitStoreOptions) {
    if (!LIMITER_NAME.test(options.limiter)) throw new RangeError(`limiter name must match ${LIMITER_NAME}`);
    this.prefix = `${options.limiter}:`;
  }

  /** Called once by express-rate-limit with the limiter's options. */
  init(options: Options): void {
    this.windowMs = options.windowMs;
  }

  async get(key: string): Promise<ClientRateLimitInfo | undefined> {
    const counter = await this.postgres(() => findCounter(this.options.pool, this.options.limiter, this.hash(key)));
    return counter ? { totalHits: counter.hits, resetTime: counter.resetAt } : undefined;
  }

  async increment(key: string): Promise<ClientRateLimitInfo> {
    const counter = await this.postgres(() => incrementCounter(this.options.pool, this.options.limiter, this.hash(key), this.windowMs));
    return { totalHits: counter.hits, resetTime: counter.resetAt };
  }

  async decrement(key: string): Promise<void> {
    await this.postgres(() => decrementCounter(this.options.pool, this.options.limiter, this.hash(key)));
  }

  async resetKey(key: string): Promise<void> {
    await this.postgres(() => deleteCounter(this.options.pool, this.options.limiter, this.hash(key)));
  }

  async resetAll(): Promise<void> {
    await this.postgres(() => deleteCountersOfLimiter(this.options.pool, this.options.limiter));
  }

  private hash(key: string): string {
    return keyedHash(this.options.keyHmacKey, this.options.limiter, key);
  }

  /**
   * Fails closed: without its counters a limit cannot be enforced, so the request is not let
   * through. Postgres unreachable: 503, retry later. Any other error (a missing table) is a bug:
   * it propagates, a 500 logged as one, without the driver's row data.
   */
  private postgres<T>(query: () => Promise<T>): Promise<T> {
    return callDatabase(query, this.options.logger ?? SILENT, 'rate limit unavailable');
  }
}

/**
 * The key for a limit per e-mail address (e.g. "someone tried to sign up with your address"
 * mails, verification resends): an HMAC of the normalised address, so neither the counters nor
 * req.rateLimit nor a log of either holds the address.
 */
export function addressRateLimitKey(keyHmacKey: Buffer, email: string): string {
  return `address:${keyedHash(keyHmacKey, 'address', email.trim().toLowerCase())}`;
}
