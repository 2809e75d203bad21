import { DefaultLogger } from '@temporalio/worker';
import { MockActivityEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import type { Pool } from 'pg';
import { createActivities } from '../../activities';
import type { Config } from '../../src/config';
import { FailureType } from '../../src/onboarding-policy';
import { recordSignupAccepted } from '../../src/repositories/signup-request-repository';
import { eraseUserRows } from '../../src/use-cases/erase-user';
import { signupMessage } from '../support/fixtures';
import { createTestDatabase, dropTestDatabase, testConfig, uniqueSuffix } from '../support/stack';

let config: Config;
let pool: Pool;
let activities: ReturnType<typeof createActivities>;
// Failures are what these tests expect; the SDK would log each one.
const quiet = { logger: new DefaultLogger('ERROR') };
const env = new MockActivityEnvironment(undefined, quiet);

beforeAll(async () => {
  config = testConfig(uniqueSuffix());
  pool = await createTestDatabase(config);
  activities = createActivities({ pool });
});
afterAll(() => dropTestDatabase(config, pool));

async function failureOf(run: () => Promise<unknown>): Promise<ApplicationFailure> {
  try {
    await run();
  } catch (err) {
    expect(err).toBeInstanceOf(ApplicationFailure);
    return err as ApplicationFailure;
  }
  throw new Error('expected the activity to fail');
}

async function rowsFor(email: string): Promise<Array<Record<string, unknown>>> {
  const { rows } = await pool.query('SELECT * FROM users WHERE lower(email) = lower($1)', [email]);
  return rows;
}

describe('validateSignup (the step of runs started by the earlier code)', () => {
  it('passes a message that keeps the contract', async () => {
    await expect(env.run(activities.validateSignup, await signupMessage())).resolves.toBeUndefined();
  });

  it('fails a broken message as non-retryable InvalidSignup, naming the field', async () => {
    const broken = { ...(await signupMessage()), password_hash: 'plaintext-password' };
    const failure = await failureOf(() => env.run(activities.validateSignup, broken));
    expect(failure.type).toBe(FailureType.InvalidSignup);
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toMatch(/password_hash/);
  });
});

describe('persistUser', () => {
  it('fails a broken message as non-retryable InvalidSignup, naming the field, and writes nothing', async () => {
    const signup = await signupMessage();
    const broken = { ...signup, password_hash: 'plaintext-password' };
    const failure = await failureOf(() => env.run(activities.persistUser, broken));
    expect(failure.type).toBe(FailureType.InvalidSignup);
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toMatch(/password_hash/);
    expect(await rowsFor(signup.email)).toEqual([]);
  });

  it('is idempotent under retry: a second run of the same signup keeps one row', async () => {
    const signup = await signupMessage();
    await expect(env.run(activities.persistUser, signup)).resolves.toEqual({ created: true, erased: false });
    await expect(env.run(activities.persistUser, signup)).resolves.toEqual({ created: false, erased: false });
    const rows = await rowsFor(signup.email);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ user_id: signup.user_id, verification_state: 'PENDING', onboarding_state: 'COMPLETED' });
    expect(rows[0].password_hash).toBe(signup.password_hash);
  });

  it('writes the row and its final state together: COMPLETED, onboarded_at stamped once', async () => {
    const signup = await signupMessage();
    await env.run(activities.persistUser, signup);
    const [first] = await rowsFor(signup.email);
    expect(first.onboarding_state).toBe('COMPLETED');
    expect(first.onboarded_at).toBeInstanceOf(Date);
    await env.run(activities.persistUser, signup);
    const [again] = await rowsFor(signup.email);
    expect(again.onboarded_at).toEqual(first.onboarded_at);
    expect(again.updated_at).toEqual(first.updated_at);
  });

  it('finishes a row an earlier version left PERSISTED (its replay), without counting it as created', async () => {
    const signup = await signupMessage();
    await pool.query(
      `INSERT INTO users (user_id, email, first_name, last_name, password_hash, onboarding_state)
       VALUES ($1, $2, 'Ada', 'Lovelace', $3, 'PERSISTED')`,
      [signup.user_id, signup.email, signup.password_hash],
    );
    await expect(env.run(activities.persistUser, signup)).resolves.toEqual({ created: false, erased: false });
    const rows = await rowsFor(signup.email);
    expect(rows).toHaveLength(1);
    expect(rows[0].onboarding_state).toBe('COMPLETED');
    expect(rows[0].onboarded_at).toBeInstanceOf(Date);
  });

  it('fails a second user with the same email, in any case, as non-retryable DuplicateEmail', async () => {
    const first = await signupMessage();
    await env.run(activities.persistUser, first);
    const second = await signupMessage({ email: first.email.toUpperCase() });
    const failure = await failureOf(() => env.run(activities.persistUser, second));
    expect(failure.type).toBe(FailureType.DuplicateEmail);
    expect(failure.nonRetryable).toBe(true);
    expect(failure.details).toEqual([{ existing_user_id: first.user_id }]);
    expect(await rowsFor(first.email)).toHaveLength(1);
  });

  it('accepted mode: records a second user with the same email as a hidden duplicate, created at its request time; no row, no failure', async () => {
    const accepting = createActivities({ pool, duplicateSignupResponse: 'accepted' });
    const first = await signupMessage();
    await env.run(accepting.persistUser, first);
    const second = await signupMessage({ email: first.email.toUpperCase() });
    const outcome = await env.run(accepting.persistUser, second);
    expect(outcome).toEqual({ created: false, erased: false, hidden_duplicate: { existing_user_id: first.user_id } });
    expect(await rowsFor(first.email)).toHaveLength(1);
    const { rows } = await pool.query('SELECT hidden_duplicate_at FROM signup_requests WHERE user_id = $1', [second.user_id]);
    expect(rows).toEqual([{ hidden_duplicate_at: new Date(second.requested_at) }]);
    // A retried attempt changes nothing.
    await expect(env.run(accepting.persistUser, second)).resolves.toEqual(outcome);
  });

  it('lets exactly one of 20 concurrent signups with one email create a row', async () => {
    const email = `race-${uniqueSuffix()}@example.com`;
    const signups = await Promise.all(Array.from({ length: 20 }, () => signupMessage({ email })));
    const results = await Promise.allSettled(signups.map((s) => new MockActivityEnvironment(undefined, quiet).run(activities.persistUser, s)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(failures.map((f) => (f.reason as ApplicationFailure).type)).toEqual(Array(19).fill(FailureType.DuplicateEmail));
    expect(await rowsFor(email)).toHaveLength(1);
  });

  it('lets a database error through as retryable', async () => {
    const signup = await signupMessage();
    await pool.query('ALTER TABLE users ADD CONSTRAINT test_reject CHECK (email <> $$' + signup.email + '$$) NOT VALID');
    try {
      const err = await env.run(activities.persistUser, signup).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect(err).not.toBeInstanceOf(ApplicationFailure);
      // Without the failing row Postgres describes in `detail`: it would carry the e-mail and the hash.
      expect(err).toMatchObject({ name: 'PostgresError', code: '23514', constraint: 'test_reject' });
      expect((err as Error).message).toContain('test_reject');
      const everything = `${JSON.stringify(err)} ${(err as Error).stack}`;
      expect(everything).not.toContain(signup.email);
      expect(everything).not.toContain(signup.password_hash);
      expect(err).not.toHaveProperty('detail');
    } finally {
      await pool.query('ALTER TABLE users DROP CONSTRAINT test_reject');
    }
  });
});

describe('markState (runs started before persistUser wrote the row COMPLETED)', () => {
  it('records COMPLETED, and leaves a row already COMPLETED as it was', async () => {
    const signup = await signupMessage();
    await env.run(activities.persistUser, signup);
    const [first] = await rowsFor(signup.email);
    await env.run(activities.markState, { user_id: signup.user_id, onboarding_state: 'COMPLETED' as const });
    const [row] = await rowsFor(signup.email);
    expect(row.onboarding_state).toBe('COMPLETED');
    expect(row.onboarded_at).toEqual(first.onboarded_at);
  });

  it('fails for an unknown user as non-retryable', async () => {
    const failure = await failureOf(() =>
      env.run(activities.markState, { user_id: '00000000-0000-4000-8000-000000000000', onboarding_state: 'COMPLETED' as const }),
    );
    expect(failure.type).toBe(FailureType.UserNotFound);
  });
});

describe('persistUser and erasure (the tombstone)', () => {
  const secret = Buffer.alloc(32, 1);

  it('writes nothing for an erased user and says so', async () => {
    const signup = await signupMessage();
    await recordSignupAccepted(pool, signup.user_id);
    await expect(eraseUserRows(pool, signup.user_id, secret)).resolves.toEqual({ first: true });
    await expect(env.run(activities.persistUser, signup)).resolves.toEqual({ created: false, erased: true });
    expect(await rowsFor(signup.email)).toEqual([]);
  });

  it('never leaves a user behind an erasure that races it: erased after the insert, or the insert sees the tombstone', async () => {
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const signup = await signupMessage();
        await recordSignupAccepted(pool, signup.user_id);
        const [persisted] = await Promise.all([env.run(activities.persistUser, signup) as Promise<{ erased: boolean }>, eraseUserRows(pool, signup.user_id, secret)]);
        expect(await rowsFor(signup.email)).toEqual([]);
        return persisted.erased ? 'tombstone first' : 'erased after';
      }),
    );
    expect(outcomes).toHaveLength(20);
  });

  it('an id never known is not erased: no tombstone', async () => {
    const signup = await signupMessage();
    await expect(eraseUserRows(pool, signup.user_id, secret)).resolves.toBeNull();
    const { rows } = await pool.query('SELECT 1 FROM erased_users WHERE user_id = $1', [signup.user_id]);
    expect(rows).toEqual([]);
  });
});
