/**
 * GET /users (admin): the users a page at a time, in (created_at, user_id) order. The cursor is
 * opaque to clients: base64url of the last row's position, so a client cannot build one from a
 * row it sees, and a bad one is refused (400) rather than silently starting over.
 */
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { UserView, VerificationState } from '../contract';
import { callDatabase } from '../db/postgres';
import { ValidationError } from '../errors';
import { listUsers, type UserListPosition, type UserRecord } from '../repositories/user-repository';
import { userRecordView } from './read-user-record';

export const USER_LIST_DEFAULT_LIMIT = 50;
export const USER_LIST_MAX_LIMIT = 200;

export interface UserListRequest {
  limit: number;
  cursor?: string;
  onboarding_state?: UserRecord['onboarding_state'];
  verification_state?: VerificationState;
  created_after?: Date;
  created_before?: Date;
}

export interface UserListAnswer {
  users: UserView[];
  /** Pass as `cursor` for the next page; null on the last page. */
  next_cursor: string | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MICROS = /^-?\d{1,19}$/;

export function encodeCursor(position: UserListPosition): string {
  return Buffer.from(JSON.stringify([position.createdAtMicros.toString(), position.userId]), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): UserListPosition {
  const refuse = () => new ValidationError('invalid cursor', [{ field: 'cursor', code: 'invalid_cursor', message: 'must be a next_cursor this API returned' }]);
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(cursor)) throw refuse();
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw refuse();
  }
  if (!Array.isArray(decoded) || decoded.length !== 2) throw refuse();
  const [micros, userId] = decoded as unknown[];
  if (typeof micros !== 'string' || !MICROS.test(micros) || typeof userId !== 'string' || !UUID.test(userId)) throw refuse();
  return { createdAtMicros: BigInt(micros), userId };
}

export function createListUsers({ pool, logger }: { pool: Pool; logger: Logger }) {
  /** Throws ValidationError (400) for a bad cursor or range, ServiceUnavailableError when Postgres is down. */
  return async function listUserPage(req: UserListRequest): Promise<UserListAnswer> {
    const after = req.cursor === undefined ? undefined : decodeCursor(req.cursor);
    if (req.created_after && req.created_before && req.created_after >= req.created_before) {
      throw new ValidationError('invalid range', [{ field: 'created_before', code: 'invalid_range', message: 'must be after created_after' }]);
    }
    const page = await callDatabase(
      () =>
        listUsers(pool, {
          limit: req.limit,
          after,
          onboardingState: req.onboarding_state,
          verificationState: req.verification_state,
          createdAfter: req.created_after,
          createdBefore: req.created_before,
        }),
      logger,
    );
    return { users: page.users.map(userRecordView), next_cursor: page.next ? encodeCursor(page.next) : null };
  };
}
export type ListUsers = ReturnType<typeof createListUsers>;
