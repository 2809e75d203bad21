/**
 * Every SQL statement about the `signup_requests` table: one row per accepted signup, so GET
 * can answer "queued" before the worker has made the user, and "failed" (with why) after the
 * bridge dead-lettered it. The API, the bridge and the DLQ tool all write it through here.
 */
import type { Pool } from 'pg';
import type { VerificationState } from '../contract';
import type { Queryable } from '../db/transaction';

export interface SignupRequestRecord {
  user_id: string;
  accepted_at: Date;
  failed_at: Date | null;
  failure_reason: string | null;
  /** Set when the worker found the address registered (accepted mode): the decoy's created_at (the signup's requested_at). */
  hidden_duplicate_at: Date | null;
}

// A failure reason is a Temporal failure message; the column keeps a bounded prefix.
const MAX_FAILURE_REASON_LENGTH = 1000;

/** Idempotent: a second call for the same user_id changes nothing. */
export async function recordSignupAccepted(pool: Pool, userId: string): Promise<void> {
  await pool.query('INSERT INTO signup_requests (user_id) VALUES ($1) ON CONFLICT (user_id) DO NOTHING', [userId]);
}

/** Records why the signup's onboarding failed; the last failure wins. */
export async function recordSignupFailed(pool: Pool, userId: string, reason: string): Promise<void> {
  await pool.query(
    `INSERT INTO signup_requests (user_id, failed_at, failure_reason) VALUES ($1, now(), $2)
     ON CONFLICT (user_id) DO UPDATE SET failed_at = now(), failure_reason = EXCLUDED.failure_reason`,
    [userId, reason.slice(0, MAX_FAILURE_REASON_LENGTH)],
  );
}

export async function findSignupRequest(pool: Pool, userId: string): Promise<SignupRequestRecord | null> {
  const { rows } = await pool.query<SignupRequestRecord>(
    'SELECT user_id, accepted_at, failed_at, failure_reason, hidden_duplicate_at FROM signup_requests WHERE user_id = $1',
    [userId],
  );
  return rows[0] ?? null;
}

/** A replayed signup is queued again, not failed. */
export async function clearSignupFailure(pool: Pool, userId: string): Promise<void> {
  await pool.query('UPDATE signup_requests SET failed_at = NULL, failure_reason = NULL WHERE user_id = $1', [userId]);
}

/** The recorded failure reason of each of these signups that has one. */
export async function failureReasons(pool: Pool, userIds: string[]): Promise<Map<string, string>> {
  if (userIds.length === 0) return new Map();
  const { rows } = await pool.query<{ user_id: string; failure_reason: string }>(
    'SELECT user_id, failure_reason FROM signup_requests WHERE user_id = ANY($1::uuid[]) AND failure_reason IS NOT NULL',
    [userIds],
  );
  return new Map(rows.map((r) => [r.user_id, r.failure_reason]));
}

/**
 * Records that this signup's address was found registered (accepted mode): its id now reads as
 * an unverified signup created at `createdAt`, the signup's requested_at, which a new user's row
 * takes as its created_at too. Idempotent: the first time recorded stays, so the decoy's
 * created_at and expiry do not move.
 */
export async function recordHiddenDuplicate(pool: Pool, userId: string, createdAt: Date): Promise<void> {
  await pool.query(
    `INSERT INTO signup_requests (user_id, hidden_duplicate_at) VALUES ($1, $2)
     ON CONFLICT (user_id) DO UPDATE SET hidden_duplicate_at = coalesce(signup_requests.hidden_duplicate_at, EXCLUDED.hidden_duplicate_at)`,
    [userId, createdAt],
  );
}

/** What the public status read needs of one id: the user row, or the signup request, or neither. */
export interface SignupStatusRecord {
  user_id: string;
  /** From the user row, when there is one. */
  onboarding_state: 'PERSISTED' | 'COMPLETED' | null;
  verification_state: VerificationState | null;
  user_created_at: Date | null;
  /** From the signup request, when there is one. */
  accepted_at: Date | null;
  failed_at: Date | null;
  failure_reason: string | null;
  hidden_duplicate_at: Date | null;
  /** A hidden duplicate older than the verification expiry, on Postgres's clock. */
  hidden_duplicate_expired: boolean;
}

/**
 * One statement for every kind of id (a user, a hidden duplicate, a pending or unknown signup),
 * so the public status read costs the same whichever it is: its timing tells nothing.
 */
export async function findSignupStatus(pool: Pool, userId: string, verificationExpiresAfterMs: number): Promise<SignupStatusRecord> {
  const { rows } = await pool.query<SignupStatusRecord>(
    `SELECT k.user_id::text AS user_id,
            u.onboarding_state, u.verification_state, u.created_at AS user_created_at,
            r.accepted_at, r.failed_at, r.failure_reason, r.hidden_duplicate_at,
            coalesce(r.hidden_duplicate_at + $2 * interval '1 millisecond' <= now(), false) AS hidden_duplicate_expired
       FROM (SELECT $1::uuid AS user_id) k
       LEFT JOIN users u ON u.user_id = k.user_id
       LEFT JOIN signup_requests r ON r.user_id = k.user_id`,
    [userId, verificationExpiresAfterMs],
  );
  return rows[0];
}

/** The functions above bound to one pool. */
export function createSignupRequestRepository(pool: Pool) {
  return {
    recordAccepted: (userId: string) => recordSignupAccepted(pool, userId),
    recordFailed: (userId: string, reason: string) => recordSignupFailed(pool, userId, reason),
    find: (userId: string) => findSignupRequest(pool, userId),
    clearFailure: (userId: string) => clearSignupFailure(pool, userId),
    failureReasons: (userIds: string[]) => failureReasons(pool, userIds),
    recordHiddenDuplicate: (userId: string, createdAt: Date) => recordHiddenDuplicate(pool, userId, createdAt),
    findStatus: (userId: string, verificationExpiresAfterMs: number) => findSignupStatus(pool, userId, verificationExpiresAfterMs),
  };
}
export type SignupRequestRepository = ReturnType<typeof createSignupRequestRepository>;

/** Erasure: forgets the signup. True if there was one. */
export async function deleteSignupRequest(db: Queryable, userId: string): Promise<boolean> {
  const { rowCount } = await db.query('DELETE FROM signup_requests WHERE user_id = $1', [userId]);
  return rowCount === 1;
}

export async function signupRequestExists(db: Queryable, userId: string): Promise<boolean> {
  const { rows } = await db.query('SELECT 1 FROM signup_requests WHERE user_id = $1', [userId]);
  return rows.length > 0;
}
