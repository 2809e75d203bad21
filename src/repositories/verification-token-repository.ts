/**
 * The verification_tokens table: one row per link mailed. Only the selector and a SHA-256 of the
 * verifier are stored; the token itself exists only in the mail.
 */
import type { Queryable } from '../db/transaction';

export type TokenPurpose = 'verification' | 'reminder' | 'resend';

export interface VerificationTokenRecord {
  selector: Buffer;
  user_id: string;
  verifier_hash: Buffer;
  purpose: TokenPurpose;
  expires_at: Date;
  used_at: Date | null;
  superseded_at: Date | null;
  /** Computed by Postgres, so every process judges expiry by the same clock. */
  expired: boolean;
}

export async function insertToken(
  db: Queryable,
  token: { selector: Buffer; userId: string; verifierHash: Buffer; purpose: TokenPurpose; ttlMs: number },
): Promise<void> {
  await db.query(
    `INSERT INTO verification_tokens (selector, user_id, verifier_hash, purpose, expires_at)
     VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5::double precision / 1000))`,
    [token.selector, token.userId, token.verifierHash, token.purpose, token.ttlMs],
  );
}

export async function findTokenBySelector(db: Queryable, selector: Buffer): Promise<VerificationTokenRecord | null> {
  const { rows } = await db.query<VerificationTokenRecord>(
    `SELECT selector, user_id, verifier_hash, purpose, expires_at, used_at, superseded_at, expires_at <= now() AS expired
       FROM verification_tokens WHERE selector = $1`,
    [selector],
  );
  return rows[0] ?? null;
}

/**
 * Marks the token used if, and only if, it is still usable. Of two concurrent requests with the
 * same token exactly one gets the row back: the UPDATE takes the row lock and re-checks.
 */
export async function consumeToken(db: Queryable, selector: Buffer): Promise<{ user_id: string } | null> {
  const { rows } = await db.query<{ user_id: string }>(
    `UPDATE verification_tokens SET used_at = now()
      WHERE selector = $1 AND used_at IS NULL AND superseded_at IS NULL AND expires_at > now()
      RETURNING user_id`,
    [selector],
  );
  return rows[0] ?? null;
}

/** Every other unused link of the user stops working: a newer one was mailed, or verification ended. */
export async function supersedeTokens(db: Queryable, userId: string, keep?: Buffer): Promise<number> {
  const { rowCount } = await db.query(
    `UPDATE verification_tokens SET superseded_at = now()
      WHERE user_id = $1 AND used_at IS NULL AND superseded_at IS NULL AND ($2::bytea IS NULL OR selector <> $2)`,
    [userId, keep ?? null],
  );
  return rowCount ?? 0;
}

/** Erasure: every link of the user, used or not. */
export async function deleteTokensOfUser(db: Queryable, userId: string): Promise<number> {
  const { rowCount } = await db.query('DELETE FROM verification_tokens WHERE user_id = $1', [userId]);
  return rowCount ?? 0;
}

/**
 * Kept this long past their expiry so that an old link still gets its clear answer ("expired",
 * "used") rather than "unknown"; after that a link is simply unknown.
 */
export const EXPIRED_TOKEN_RETENTION_DAYS = 7;

/** The purge schedule's batch: up to batchSize links past their expiry and the retention above. */
export async function purgeExpiredVerificationTokens(db: Queryable, batchSize: number): Promise<number> {
  const { rowCount } = await db.query(
    `DELETE FROM verification_tokens WHERE ctid IN (
       SELECT ctid FROM verification_tokens WHERE expires_at <= now() - make_interval(days => $2) LIMIT $1)`,
    [batchSize, EXPIRED_TOKEN_RETENTION_DAYS],
  );
  return rowCount ?? 0;
}
