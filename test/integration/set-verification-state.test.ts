/** The administrator's verification update on the real Postgres, without HTTP. */
import { randomUUID } from 'node:crypto';
import { ServiceUnavailableError, UserNotFoundError } from '../../src/errors';
import { createUserRepository, findUserById, insertUser } from '../../src/repositories/user-repository';
import { createSetVerificationState } from '../../src/use-cases/set-verification-state';
import { signupMessage, unreachablePostgres, useTestDatabase } from '../support/fixtures';
import { silentLogger } from '../support/stack';

const db = useTestDatabase();

it('sets the state, stamps updated_at, and answers with both', async () => {
  const signup = await signupMessage();
  await insertUser(db.pool, signup);
  const before = await findUserById(db.pool, signup.user_id);
  const updated = await createSetVerificationState({ users: createUserRepository(db.pool), logger: silentLogger })(signup.user_id, 'REJECTED');
  const after = await findUserById(db.pool, signup.user_id);
  expect(after?.verification_state).toBe('REJECTED');
  expect(updated).toEqual({ user_id: signup.user_id, verification_state: 'REJECTED', updated_at: after?.updated_at.toISOString() });
  expect(after!.updated_at.getTime()).toBeGreaterThanOrEqual(before!.updated_at.getTime());
});

it('an id with no user row: UserNotFoundError, and no row is made', async () => {
  const userId = randomUUID();
  const set = createSetVerificationState({ users: createUserRepository(db.pool), logger: silentLogger });
  await expect(set(userId, 'VERIFIED')).rejects.toBeInstanceOf(UserNotFoundError);
  expect(await findUserById(db.pool, userId)).toBeNull();
});

it('Postgres out of reach: ServiceUnavailableError naming postgres', async () => {
  const down = await unreachablePostgres();
  try {
    const err = await createSetVerificationState({ users: createUserRepository(down), logger: silentLogger })(randomUUID(), 'VERIFIED').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServiceUnavailableError);
    expect(err).toMatchObject({ service: 'postgres' });
  } finally {
    await down.end();
  }
});
