/**
 * Every SQL statement about users and signup requests. Functions take the pool as their
 * first argument so the API, the bridge and the activities share them without a singleton.
 */
import type { Pool } from 'pg';
import type { SignupMessage, VerificationState } from '../contract';

export interface UserRecord {
  user_id: string;
  email: string;
  first_name: string;
  last_name: string;
  verification_state: VerificationState;
  onboarding_state: 'PERSISTED' | 'COMPLETED';
  created_at: Date;
  updated_at: Date;
  onboarded_at: Date | null;
}

export interface SignupRequestRecord {
  user_id: string;
  accepted_at: Date;
  failed_at: Date | null;
  failure_reason: string | null;
}

// password_hash is deliberately absent: nothing read through this module can leak it.
const USER_COLUMNS =
  'user_id, email, first_name, last_name, verification_state, onboarding_state, created_at, updated_at, onboarded_at';

export async function findUserById(pool: Pool, userId: string): Promise<UserRecord | null> {
  const { rows } = await pool.query<UserRecord>(`SELECT ${USER_COLUMNS} FROM users WHERE user_id = $1`, [userId]);
  return rows[0] ?? null;
}

export async function findUserByEmail(pool: Pool, email: string): Promise<UserRecord | null> {
  const { rows } = await pool.query<UserRecord>(`SELECT ${USER_COLUMNS} FROM users WHERE lower(email) = lower($1)`, [
    email,
  ]);
  return rows[0] ?? null;
}

export class DuplicateEmailError extends Error {
  constructor(readonly existingUserId: string | null) {
    super('email already registered');
    this.name = 'DuplicateEmailError';
  }
}

/**
 * Inserts the user unless a row with this user_id exists (a retried or replayed signup).
 * A different user with the same email raises DuplicateEmailError, never a second row.
 */
export async function insertUser(pool: Pool, signup: SignupMessage): Promise<{ created: boolean }> {
  try {
    const { rowCount } = await pool.query(
      `INSERT INTO users (user_id, email, first_name, last_name, password_hash, created_at)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (user_id) DO NOTHING`,
      [signup.user_id, signup.email, signup.first_name, signup.last_name, signup.password_hash, signup.requested_at],
    );
    return { created: rowCount === 1 };
  } catch (err) {
    const e = err as { code?: string; constraint?: string };
    if (e.code === '23505' && e.constraint === 'users_email_lower_key') {
      const existing = await findUserByEmail(pool, signup.email);
      throw new DuplicateEmailError(existing?.user_id ?? null);
    }
    throw err;
  }
}

/** Returns false when no such user exists. */
export async function markOnboardingState(
  pool: Pool,
  userId: string,
  state: 'PERSISTED' | 'COMPLETED',
): Promise<boolean> {
  const { rowCount } = await pool.query(
    `UPDATE users SET onboarding_state = $2, updated_at = now(),
            onboarded_at = CASE WHEN $2 = 'COMPLETED' THEN coalesce(onboarded_at, now()) ELSE onboarded_at END
      WHERE user_id = $1`,
    [userId, state],
  );
  return rowCount === 1;
}

export async function setVerificationState(
  pool: Pool,
  userId: string,
  state: VerificationState,
): Promise<UserRecord | null> {
  const { rows } = await pool.query<UserRecord>(
    `UPDATE users SET verification_state = $2, updated_at = now() WHERE user_id = $1 RETURNING ${USER_COLUMNS}`,
    [userId, state],
  );
  return rows[0] ?? null;
}

export async function recordSignupAccepted(pool: Pool, userId: string): Promise<void> {
  await pool.query('INSERT INTO signup_requests (user_id) VALUES ($1) ON CONFLICT (user_id) DO NOTHING', [userId]);
}

export async function recordSignupFailed(pool: Pool, userId: string, reason: string): Promise<void> {
  await pool.query(
    `INSERT INTO signup_requests (user_id, failed_at, failure_reason) VALUES ($1, now(), $2)
     ON CONFLICT (user_id) DO UPDATE SET failed_at = now(), failure_reason = EXCLUDED.failure_reason`,
    [userId, reason.slice(0, 1000)],
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

export async function failureReasons(pool: Pool, userIds: string[]): Promise<Map<string, string>> {
  if (userIds.length === 0) return new Map();
  const { rows } = await pool.query<{ user_id: string; failure_reason: string }>(
    'SELECT user_id, failure_reason FROM signup_requests WHERE user_id = ANY($1::uuid[]) AND failure_reason IS NOT NULL',
    [userIds],
  );
  return new Map(rows.map((r) => [r.user_id, r.failure_reason]));
}

// ---- E-mail verification: users-table queries of the verification flow (docs/verification.md).

import type { Queryable } from '../db/transaction';

/** What a verification mail needs of the user; nothing else leaves the table. */
export interface VerificationRecipient {
  user_id: string;
  email: string;
  first_name: string;
  verification_state: VerificationState;
}

export async function findVerificationRecipient(db: Queryable, userId: string): Promise<VerificationRecipient | null> {
  const { rows } = await db.query<VerificationRecipient>(
    'SELECT user_id, email, first_name, verification_state FROM users WHERE user_id = $1',
    [userId],
  );
  return rows[0] ?? null;
}

export async function verificationStateOf(db: Queryable, userId: string): Promise<VerificationState | null> {
  const { rows } = await db.query<{ verification_state: VerificationState }>('SELECT verification_state FROM users WHERE user_id = $1', [userId]);
  return rows[0]?.verification_state ?? null;
}

/**
 * Moves the user from one verification state to another only if it is in `from` now, so a token,
 * the expiry timer and an operator never overwrite each other's decision. True if it moved.
 */
export async function transitionVerificationState(
  db: Queryable,
  userId: string,
  from: VerificationState,
  to: VerificationState,
): Promise<boolean> {
  const { rowCount } = await db.query(
    'UPDATE users SET verification_state = $3, updated_at = now() WHERE user_id = $1 AND verification_state = $2',
    [userId, from, to],
  );
  return rowCount === 1;
}

/** PENDING users whose onboarding completed, in user_id order after `afterUserId`: the backfill's pages. */
export async function listPendingUserIds(db: Queryable, afterUserId: string | null, limit: number): Promise<string[]> {
  const { rows } = await db.query<{ user_id: string }>(
    `SELECT user_id FROM users
      WHERE verification_state = 'PENDING' AND onboarding_state = 'COMPLETED' AND ($1::uuid IS NULL OR user_id > $1)
      ORDER BY user_id LIMIT $2`,
    [afterUserId, limit],
  );
  return rows.map((r) => r.user_id);
}
