/**
 * The full user record, personal data included, for the admin listener only: the public status
 * read (read-signup-status.ts) carries none. Knows nothing of HTTP.
 */
import type { Logger } from 'pino';
import type { UserView } from '../contract';
import { callDatabase } from '../db/postgres';
import { UserNotFoundError } from '../errors';
import type { UserRecord, UserRepository } from '../repositories/user-repository';

export interface ReadUserRecordDeps {
  users: Pick<UserRepository, 'findById'>;
  logger: Logger;
}

/** Throws UserNotFoundError when no user row has this id (a signup not yet onboarded has none), ServiceUnavailableError when Postgres is down. */
export function createReadUserRecord({ users, logger }: ReadUserRecordDeps) {
  return async function readUserRecord(userId: string): Promise<UserView> {
    const user = await callDatabase(() => users.findById(userId), logger);
    if (!user) throw new UserNotFoundError(userId);
    return userRecordView(user);
  };
}
export type ReadUserRecord = ReturnType<typeof createReadUserRecord>;

/** The admin view of a user row (never the hash); the listing answers the same shape. */
export function userRecordView(user: UserRecord): UserView {
  return {
    user_id: user.user_id,
    email: user.email,
    first_name: user.first_name,
    last_name: user.last_name,
    verification_state: user.verification_state,
    onboarding_state: user.onboarding_state,
    created_at: user.created_at.toISOString(),
    updated_at: user.updated_at.toISOString(),
  };
}
