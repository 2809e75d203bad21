/**
 * Every SQL statement about the `users` table. Plain functions take the pool first, so the
 * activities, the API and the tools share them without a singleton; `createUserRepository`
 * binds them to one pool for the use cases.
 */
import type { Pool } from 'pg';
import type { SignupMessage, VerificationState } from '../contract';
import { type Queryable, withTransaction } from '../db/transaction';
import { isErased, lockUserId } from './erased-user-repository';

export interface UserRecord {
  user_id: string;
  email: string;
  first_name: string;
  last_name: string;
  verification_state: VerificationState;
  /**
   * COMPLETED: onboarded; the row is written in this state, in one statement. PERSISTED: a row
   * the earlier two-step onboarding wrote and did not finish; its next run (a DLQ replay)
   * completes it.
   */
  onboarding_state: 'PERSISTED' | 'COMPLETED';
  created_at: Date;
  updated_at: Date;
  onboarded_at: Date | null;
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
 * Writes the user onboarded: the row and its final state (COMPLETED, onboarded_at) in one
 * statement, so no failure or timeout can leave a row half-onboarded. Idempotent: a retried or
 * replayed signup finds its row and changes nothing, except that a row an earlier version left
 * PERSISTED is completed (onboarded_at stamped the first time only). `created` is true only for
 * the statement that inserted the row. A different user with the same email raises
 * DuplicateEmailError, never a second row.
 *
 * An erased user (a tombstone in erased_users) is never written again: `erased` is then true and
 * nothing is inserted. The check and the insert run in one transaction under the per-user lock
 * erasure takes too, so an erasure cannot slip between them.
 */
export async function insertUser(pool: Pool, signup: SignupMessage): Promise<{ created: boolean; erased: boolean }> {
  try {
    return await withTransaction(pool, async (client) => {
      await lockUserId(client, signup.user_id);
      if (await isErased(client, signup.user_id)) return { created: false, erased: true };
      // xmax is 0 on a row this statement inserted, and set on one it updated; a row already
      // COMPLETED is left alone and returns nothing.
      const { rows } = await client.query<{ inserted: boolean }>(
        `INSERT INTO users (user_id, email, first_name, last_name, password_hash, created_at, onboarding_state, onboarded_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'COMPLETED', now())
         ON CONFLICT (user_id) DO UPDATE
           SET onboarding_state = 'COMPLETED', onboarded_at = coalesce(users.onboarded_at, now()), updated_at = now()
           WHERE users.onboarding_state <> 'COMPLETED'
         RETURNING (xmax = 0) AS inserted`,
        [signup.user_id, signup.email, signup.first_name, signup.last_name, signup.password_hash, signup.requested_at],
      );
      return { created: rows[0]?.inserted === true, erased: false };
    });
  } catch (err) {
    const e = err as { code?: string; constraint?: string };
    if (e.code === '23505' && e.constraint === 'users_email_lower_key') {
      const existing = await findUserByEmail(pool, signup.email);
      throw new DuplicateEmailError(existing?.user_id ?? null);
    }
    throw err;
  }
}

/**
 * Marks the user's onboarding COMPLETED, stamping onboarded_at the first time only, so a second
 * call changes nothing. Returns false when no such user exists. The onboarding run does not need
 * it (insertUser writes the row COMPLETED); it finishes a row some other writer left PERSISTED.
 */
export async function completeOnboarding(pool: Pool, userId: string): Promise<boolean> {
  const { rowCount } = await pool.query(
    `UPDATE users SET onboarding_state = 'COMPLETED', updated_at = now(), onboarded_at = coalesce(onboarded_at, now())
      WHERE user_id = $1`,
    [userId],
  );
  return rowCount === 1;
}

/** The onboarding state of each of these users that has a row; an id without one is absent. */
export async function onboardingStates(pool: Pool, userIds: string[]): Promise<Map<string, UserRecord['onboarding_state']>> {
  if (userIds.length === 0) return new Map();
  const { rows } = await pool.query<Pick<UserRecord, 'user_id' | 'onboarding_state'>>(
    'SELECT user_id, onboarding_state FROM users WHERE user_id = ANY($1::uuid[])',
    [userIds],
  );
  return new Map(rows.map((r) => [r.user_id, r.onboarding_state]));
}

/** Returns the updated user, or null when no such user exists. */
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

/** The functions above bound to one pool. */
export function createUserRepository(pool: Pool) {
  return {
    findById: (userId: string) => findUserById(pool, userId),
    findByEmail: (email: string) => findUserByEmail(pool, email),
    insert: (signup: SignupMessage) => insertUser(pool, signup),
    completeOnboarding: (userId: string) => completeOnboarding(pool, userId),
    onboardingStates: (userIds: string[]) => onboardingStates(pool, userIds),
    setVerificationState: (userId: string, state: VerificationState) => setVerificationState(pool, userId, state),
  };
}
export type UserRepository = ReturnType<typeof createUserRepository>;

// ---- E-mail verification: users-table queries of the verification flow (docs/verification.md).


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

// ---- Erasure and the operators' listing (docs/operations.md).

/** Deletes the user's row; returns the address it held (to find what is keyed by it), or null when there was none. */
export async function deleteUserRow(db: Queryable, userId: string): Promise<{ email: string } | null> {
  const { rows } = await db.query<{ email: string }>('DELETE FROM users WHERE user_id = $1 RETURNING email', [userId]);
  return rows[0] ?? null;
}

/**
 * A position in the listing's order (created_at, user_id). created_at is kept in microseconds
 * since the epoch, Postgres's own precision: a JavaScript Date (milliseconds) would merge rows
 * created within one millisecond and make a page skip or repeat them.
 */
export interface UserListPosition {
  createdAtMicros: bigint;
  userId: string;
}

export interface UserListQuery {
  limit: number;
  after?: UserListPosition;
  onboardingState?: UserRecord['onboarding_state'];
  verificationState?: VerificationState;
  /** Inclusive. */
  createdAfter?: Date;
  /** Exclusive. */
  createdBefore?: Date;
}

export interface UserListPage {
  users: UserRecord[];
  /** Where the next page starts, or null when this one is the last. */
  next: UserListPosition | null;
}

/**
 * One page of users in (created_at, user_id) order, a total order that does not change as rows
 * are added: keyset pagination, so a row inserted while someone pages never shifts a page and
 * no row is shown twice. Reads one row more than the limit to know whether a next page exists.
 */
export async function listUsers(db: Queryable, q: UserListQuery): Promise<UserListPage> {
  const { rows } = await db.query<UserRecord & { created_micros: string }>(
    `SELECT ${USER_COLUMNS}, (extract(epoch FROM created_at) * 1000000)::bigint::text AS created_micros
       FROM users
      WHERE ($1::bigint IS NULL OR (created_at, user_id) > (timestamptz 'epoch' + $1::bigint * interval '1 microsecond', $2::uuid))
        AND ($3::text IS NULL OR onboarding_state = $3)
        AND ($4::text IS NULL OR verification_state = $4)
        AND ($5::timestamptz IS NULL OR created_at >= $5)
        AND ($6::timestamptz IS NULL OR created_at < $6)
      ORDER BY created_at, user_id
      LIMIT $7`,
    [
      q.after ? q.after.createdAtMicros.toString() : null,
      q.after?.userId ?? null,
      q.onboardingState ?? null,
      q.verificationState ?? null,
      q.createdAfter ?? null,
      q.createdBefore ?? null,
      q.limit + 1,
    ],
  );
  const page = rows.slice(0, q.limit);
  const last = page[page.length - 1];
  return {
    users: page.map(({ created_micros: _position, ...user }) => user),
    next: rows.length > q.limit && last ? { createdAtMicros: BigInt(last.created_micros), userId: last.user_id } : null,
  };
}
