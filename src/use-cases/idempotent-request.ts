/**
 * Idempotency-Key handling (IETF httpapi "The Idempotency-Key HTTP Header Field"), knowing
 * nothing of Express: the route parses the header, validates the body, then runs its work
 * through runIdempotently.
 *
 * - The same key and the same body within the key's lifetime (24 h) replays the first answer.
 * - The same key with another body: IdempotencyKeyReusedError (422).
 * - The first request with the key still running: IdempotentRequestInFlightError (409).
 * - An answer the client should retry (5xx) is not stored, and neither is a thrown error: the
 *   key is released and the next request with it runs again, under the user_id reserved for
 *   the key at its first claim. The API publishes with that id as the message id and the
 *   workflow id derives from it, so a message that did reach the broker is not onboarded twice.
 * - A run that crashes holds the key only until its lease lapses.
 *
 * Validate the body before calling: a request refused as invalid claims no key, so the client
 * can fix the body and send it again with the same key (as Stripe does).
 */
import { randomUUID, timingSafeEqual } from 'node:crypto';
import type { Pool } from 'pg';
import { IdempotencyKeyReusedError, IdempotentRequestInFlightError, InvalidIdempotencyKeyError } from '../errors';
import { claimIdempotencyKey, type ClaimResult, releaseIdempotencyKey, type StoredAnswer, storeIdempotentAnswer } from '../repositories/idempotency-key-repository';
import { orUnavailable } from '../repositories/queryable';
import { keyedHash } from '../security/keyed-hash';

export type IdempotentAnswer = StoredAnswer;

export interface IdempotencyDeps {
  pool: Pool;
  /** config.idempotency */
  fingerprintKey: Buffer;
  ttlMs: number;
  leaseMs: number;
}

export interface IdempotentRequest {
  /** The operation, e.g. 'POST /signup': the same key on two operations is two keys. */
  scope: string;
  /** From parseIdempotencyKey. */
  key: string;
  /** The parsed JSON body; its fingerprint is an HMAC of its canonical form. */
  body: unknown;
}

export interface IdempotentOutcome {
  answer: IdempotentAnswer;
  /** The id the work ran (or first ran) under. */
  userId: string;
  /** True when the answer is the stored one of an earlier request. */
  replayed: boolean;
}

/**
 * 16 to 128 characters of a token alphabet (a UUID, base64 or base64url all fit). Keys share
 * one namespace across anonymous clients, so short ones ("1", "2") would collide between them:
 * 16 characters push clients to random keys.
 */
export const IDEMPOTENCY_KEY_PATTERN = /^[A-Za-z0-9._~:+/=-]{16,128}$/;

/**
 * The Idempotency-Key header's value, or undefined when the request has none. The draft makes
 * it a structured-field string ("…" quoted); the bare token most clients send is accepted too.
 */
export function parseIdempotencyKey(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  if (Array.isArray(header)) throw new InvalidIdempotencyKeyError('send one Idempotency-Key header');
  const value = /^"[^"]*"$/.test(header.trim()) ? header.trim().slice(1, -1) : header.trim();
  if (!IDEMPOTENCY_KEY_PATTERN.test(value)) {
    throw new InvalidIdempotencyKeyError('Idempotency-Key must be 16 to 128 characters of A-Z a-z 0-9 . _ ~ : + / = - (a random UUID is ideal)');
  }
  return value;
}

/** HMAC-SHA256 of the scope and the body's canonical JSON: a body holds a password, so never a plain hash. */
export function requestFingerprint(fingerprintKey: Buffer, scope: string, body: unknown): string {
  return keyedHash(fingerprintKey, scope, canonicalJson(body));
}

/** JSON with object keys sorted at every level, so {"a":1,"b":2} and {"b":2,"a":1} are one body. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

// A claim can meet a key that changes under it (released, expired, purged) between its two
// statements; it then claims again. Past this many, the key is busy: answer as in flight.
const CLAIM_ATTEMPTS = 3;

export async function runIdempotently(
  deps: IdempotencyDeps,
  request: IdempotentRequest,
  work: (userId: string) => Promise<IdempotentAnswer>,
): Promise<IdempotentOutcome> {
  const { pool } = deps;
  const { scope, key } = request;
  const fingerprint = requestFingerprint(deps.fingerprintKey, scope, request.body);
  const claimToken = randomUUID();

  for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
    const claim: ClaimResult = await orUnavailable(() =>
      claimIdempotencyKey(pool, { scope, key, fingerprint, userId: randomUUID(), claimToken, leaseMs: deps.leaseMs, ttlMs: deps.ttlMs }),
    );
    if (claim.claimed) return runClaimed(claim.userId);
    const { existing } = claim;
    if (!existing) continue;
    if (!sameFingerprint(existing.fingerprint, fingerprint)) throw new IdempotencyKeyReusedError();
    if (existing.answer) return { answer: existing.answer, userId: existing.userId, replayed: true };
    if (existing.lockedForMs > 0) throw new IdempotentRequestInFlightError(Math.max(1, Math.ceil(existing.lockedForMs / 1000)));
  }
  throw new IdempotentRequestInFlightError(1);

  async function runClaimed(userId: string): Promise<IdempotentOutcome> {
    let answer: IdempotentAnswer;
    try {
      answer = await work(userId);
    } catch (err) {
      // Not stored: the next request with the key runs again. If Postgres is down too, the lease lapses by itself.
      await releaseIdempotencyKey(pool, scope, key, claimToken).catch(() => undefined);
      throw err;
    }
    if (answer.status >= 500) {
      await releaseIdempotencyKey(pool, scope, key, claimToken).catch(() => undefined);
    } else {
      // The work is done whatever happens here: its answer is the truth for this client. Should
      // storing fail, the lease lapses and a retry runs again under the same user_id.
      await storeIdempotentAnswer(pool, scope, key, claimToken, answer).catch(() => undefined);
    }
    return { answer, userId, replayed: false };
  }
}

function sameFingerprint(a: string, b: string): boolean {
  const left = Buffer.from(a, 'hex');
  const right = Buffer.from(b, 'hex');
  return left.length === right.length && timingSafeEqual(left, right);
}
