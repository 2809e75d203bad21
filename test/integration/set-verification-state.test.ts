/** The administrator's verification update on the real Postgres, without HTTP. */
import { randomUUID } from 'node:crypto';
import { ServiceUnavailableError, UserNotFoundError } from '../../src/errors';
import { createUserRepository, findUserById, insertUser } from '../../src/repositories/user-repository';
import { createSetVerificationState } from '../../src/use-cases/set-verification-state';
import { signupMessage, unreachablePostgres, useTestDatabase } from '../support/fixtures';
import { silentLogger } from '../support/stack';

const db = useTestDatabase();

/**
 * What the use case asks of the verification run, recorded. The real signal, with a real
 * Temporal server, is tested through PUT in verification.test.ts; here only that the row is
 * written first and the wake asked for after, or never when there is no row.
 */
function recordingRuns(fail = false) {
  const woken: string[] = [];
  return {
    woken,
    wake: async (userId: string) => {
      if (fail) throw new Error('temporal unreachable');
      woken.push(userId);
    },
  };
}

it('sets the state, stamps updated_at, and answers with both', async () => {
  const signup = await signupMessage();
  await insertUser(db.pool, signup);
  const before = await findUserById(db.pool, signup.user_id);
  const runs = recordingRuns();
  const updated = await createSetVerificationState({ users: createUserRepository(db.pool), runs, logger: silentLogger })(signup.user_id, 'REJECTED');
  expect(runs.woken).toEqual([signup.user_id]);
  const after = await findUserById(db.pool, signup.user_id);
  expect(after?.verification_state).toBe('REJECTED');
  expect(updated).toEqual({ user_id: signup.user_id, verification_state: 'REJECTED', updated_at: after?.updated_at.toISOString() });
  expect(after!.updated_at.getTime()).toBeGreaterThanOrEqual(before!.updated_at.getTime());
});

it('an id with no user row: UserNotFoundError, and no row is made', async () => {
  const userId = randomUUID();
  const runs = recordingRuns();
  const set = createSetVerificationState({ users: createUserRepository(db.pool), runs, logger: silentLogger });
  await expect(set(userId, 'VERIFIED')).rejects.toBeInstanceOf(UserNotFoundError);
  expect(runs.woken).toEqual([]);
  expect(await findUserById(db.pool, userId)).toBeNull();
});

it('Postgres out of reach: ServiceUnavailableError naming postgres', async () => {
  const down = await unreachablePostgres();
  try {
    const err = await createSetVerificationState({ users: createUserRepository(down), runs: recordingRuns(), logger: silentLogger })(randomUUID(), 'VERIFIED').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServiceUnavailableError);
    expect(err).toMatchObject({ service: 'postgres' });
  } finally {
    await down.end();
  }
});

it('a run that cannot be reached does not undo or fail the change: the row is the truth', async () => {
  const signup = await signupMessage();
  await insertUser(db.pool, signup);
  const updated = await createSetVerificationState({ users: createUserRepository(db.pool), runs: recordingRuns(true), logger: silentLogger })(signup.user_id, 'VERIFIED');
  expect(updated.verification_state).toBe('VERIFIED');
  expect((await findUserById(db.pool, signup.user_id))?.verification_state).toBe('VERIFIED');
});
