/**
 * Every SQL statement about the `signup_requests` table: one row per accepted signup, so GET
 * can answer "queued" before the worker has made the user, and "failed" (with why) after the
 * bridge dead-lettered it. The API, the bridge and the DLQ tool all write it through here.
 */
import type { Pool } from 'pg';
import type { Queryable } from '../db/transaction';

export interface SignupRequestRecord {
  user_id: string;
  accepted_at: Date;
  failed_at: Date | null;
  failure_reason: string | null;
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
    'SELECT user_id, accepted_at, failed_at, failure_reason FROM signup_requests WHERE user_id = $1',
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

/** The functions above bound to one pool. */
export function createSignupRequestRepository(pool: Pool) {
  return {
    recordAccepted: (userId: string) => recordSignupAccepted(pool, userId),
    recordFailed: (userId: string, reason: string) => recordSignupFailed(pool, userId, reason),
    find: (userId: string) => findSignupRequest(pool, userId),
    clearFailure: (userId: string) => clearSignupFailure(pool, userId),
    failureReasons: (userIds: string[]) => failureReasons(pool, userIds),
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
