/**
 * Every SQL statement about idempotency_keys. A key moves through: claimed by a run (lease in
 * locked_until) -> answered (the answer stored) or released (no answer: the run failed with a
 * 5xx or crashed; the next request with the key claims it again under the same user_id).
 * Times are Postgres's now(), so every API process agrees on them.
 */
import { deleteExpiredBatch, type Queryable } from './queryable';

/** An answer as it is replayed: status, the headers that matter (Location) and the body as sent. */
export interface StoredAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface IdempotencyClaim {
  scope: string;
  key: string;
  fingerprint: string;
  /** Reserved for the key if this claim creates it; an existing key keeps its own. */
  userId: string;
  claimToken: string;
  leaseMs: number;
  ttlMs: number;
}

/** A key some other request holds or has answered. */
export interface ExistingKey {
  fingerprint: string;
  userId: string;
  answer: StoredAnswer | null;
  /** How long the run holding it may still hold it; 0 when no run does. */
  lockedForMs: number;
}

export type ClaimResult = { claimed: true; userId: string } | { claimed: false; existing: ExistingKey | null };

/**
 * Claims the key for one run: creates it, or takes over one with the same fingerprint that has
 * no answer and no live lease. Otherwise returns the key as it is (null if it vanished between
 * the two statements, e.g. purged: the caller claims again). An expired key counts as absent.
 */
export async function claimIdempotencyKey(db: Queryable, claim: IdempotencyClaim): Promise<ClaimResult> {
  await db.query('DELETE FROM idempotency_keys WHERE scope = $1 AND idempotency_key = $2 AND expires_at <= now()', [claim.scope, claim.key]);
  const { rows } = await db.query<{ user_id: string }>(
    `INSERT INTO idempotency_keys AS k (scope, idempotency_key, fingerprint, user_id, claim_token, locked_until, expires_at)
     VALUES ($1, $2, $3, $4, $5, now() + $6::double precision * interval '1 millisecond', now() + $7::double precision * interval '1 millisecond')
     ON CONFLICT (scope, idempotency_key) DO UPDATE
       SET claim_token = EXCLUDED.claim_token, locked_until = EXCLUDED.locked_until
       WHERE k.fingerprint = EXCLUDED.fingerprint
         AND k.response_status IS NULL
         AND (k.locked_until IS NULL OR k.locked_until <= now())
     RETURNING k.user_id`,
    [claim.scope, claim.key, claim.fingerprint, claim.userId, claim.claimToken, claim.leaseMs, claim.ttlMs],
  );
  if (rows[0]) return { claimed: true, userId: rows[0].user_id };
  const existing = await db.query<{
    fingerprint: string;
    user_id: string;
    response_status: number | null;
    response_headers: Record<string, string> | null;
    response_body: string | null;
    locked_for_ms: number;
  }>(
    `SELECT fingerprint, user_id, response_status, response_headers, response_body,
            GREATEST(0, CEIL(EXTRACT(EPOCH FROM (locked_until - now())) * 1000))::int AS locked_for_ms
     FROM idempotency_keys WHERE scope = $1 AND idempotency_key = $2 AND expires_at > now()`,
    [claim.scope, claim.key],
  );
  const row = existing.rows[0];
  if (!row) return { claimed: false, existing: null };
  return {
    claimed: false,
    existing: {
      fingerprint: row.fingerprint,
      userId: row.user_id,
      answer: row.response_status === null ? null : { status: row.response_status, headers: row.response_headers ?? {}, body: row.response_body ?? '' },
      lockedForMs: row.locked_for_ms ?? 0,
    },
  };
}

/** Stores the answer of the run holding `claimToken`. False if that run lost the key (its lease lapsed and another took it). */
export async function storeIdempotentAnswer(db: Queryable, scope: string, key: string, claimToken: string, answer: StoredAnswer): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE idempotency_keys
     SET response_status = $4, response_headers = $5, response_body = $6, claim_token = NULL, locked_until = NULL
     WHERE scope = $1 AND idempotency_key = $2 AND claim_token = $3`,
    [scope, key, claimToken, answer.status, JSON.stringify(answer.headers), answer.body],
  );
  return rowCount === 1;
}

/** Lets the next request with the key run again (under the same user_id). False if this run no longer held it. */
export async function releaseIdempotencyKey(db: Queryable, scope: string, key: string, claimToken: string): Promise<boolean> {
  const { rowCount } = await db.query(
    'UPDATE idempotency_keys SET claim_token = NULL, locked_until = NULL WHERE scope = $1 AND idempotency_key = $2 AND claim_token = $3',
    [scope, key, claimToken],
  );
  return rowCount === 1;
}

/** Deletes up to `batchSize` expired keys; returns how many. */
export function purgeExpiredIdempotencyKeys(db: Queryable, batchSize: number): Promise<number> {
  return deleteExpiredBatch(db, 'idempotency_keys', 'expires_at', batchSize);
}

/** Erasure: forgets every key that reserved this user_id (its answer names the id). */
export async function deleteIdempotencyKeysOfUser(db: Queryable, userId: string): Promise<number> {
  const { rowCount } = await db.query('DELETE FROM idempotency_keys WHERE user_id = $1', [userId]);
  return rowCount ?? 0;
}
