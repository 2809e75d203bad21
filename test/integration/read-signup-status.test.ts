/**
 * The status-read use case on the real Postgres and a real Temporal dev server, without HTTP:
 * the user row when there is one, otherwise the recorded request merged with the run's state,
 * and what it answers when either dependency is out of reach.
 */
import { randomUUID } from 'node:crypto';
import { Connection } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { ServiceUnavailableError, UserNotFoundError } from '../../src/errors';
import { createSignupRequestRepository, recordHiddenDuplicate, recordSignupAccepted, recordSignupFailed } from '../../src/repositories/signup-request-repository';
import { completeOnboarding, insertUser } from '../../src/repositories/user-repository';
import { createTemporalClient, type TemporalClient } from '../../src/temporal/client';
import { ONBOARD_USER_WORKFLOW, onboardingProgress, onboardingProgressWithin, onboardingWorkflowId } from '../../src/temporal/onboarding-runs';
import { createReadSignupStatus, type ReadSignupStatusDeps } from '../../src/use-cases/read-signup-status';
import type { onboardUser } from '../../workflows';
import { closedPort, signupMessage, unreachablePostgres, useTestDatabase } from '../support/fixtures';
import { silentLogger, startTemporal } from '../support/stack';

const db = useTestDatabase();
let temporal: TestWorkflowEnvironment;
let client: TemporalClient['client'];
// No worker polls it: a run started here stays RUNNING until the test ends it.
const idleTaskQueue = `status-test-${randomUUID()}`;

beforeAll(async () => {
  temporal = await startTemporal();
  client = createTemporalClient(temporal.connection, db.config).client;
});
afterAll(() => temporal?.teardown());

function readSignupStatusWith(overrides: Partial<ReadSignupStatusDeps> = {}) {
  return createReadSignupStatus({
    signupRequests: createSignupRequestRepository(db.pool),
    runProgress: (userId) => onboardingProgress(client, userId),
    verificationExpiresAfterMs: 60_000,
    logger: silentLogger,
    ...overrides,
  });
}

async function startIdleRun(userId: string) {
  return client.workflow.start<typeof onboardUser>(ONBOARD_USER_WORKFLOW, {
    taskQueue: idleTaskQueue,
    workflowId: onboardingWorkflowId(userId),
    args: [{ signup: await signupMessage({ user_id: userId }), maxAttempts: 1 }],
  });
}

it('a user row: its id, states and created_at, nothing personal, whatever Temporal says', async () => {
  const signup = await signupMessage();
  await insertUser(db.pool, signup);
  await completeOnboarding(db.pool, signup.user_id);
  const status = await readSignupStatusWith()(signup.user_id);
  expect(status).toEqual({
    user_id: signup.user_id,
    verification_state: 'PENDING',
    onboarding_state: 'COMPLETED',
    created_at: new Date(signup.requested_at).toISOString(),
  });
  for (const secret of [signup.email, signup.first_name, signup.last_name, signup.password_hash]) expect(JSON.stringify(status)).not.toContain(secret);
});

it('a hidden duplicate: read as a new, unverified signup created when it was requested; EXPIRED once the verification expiry has passed', async () => {
  const userId = randomUUID();
  await recordSignupAccepted(db.pool, userId);
  const requestedAt = new Date(Date.now() - 1_000);
  await recordHiddenDuplicate(db.pool, userId, requestedAt);
  await expect(readSignupStatusWith()(userId)).resolves.toEqual({
    user_id: userId,
    verification_state: 'PENDING',
    onboarding_state: 'COMPLETED',
    created_at: requestedAt.toISOString(),
  });
  // A second record (a retried activity) keeps the first time.
  await recordHiddenDuplicate(db.pool, userId, new Date());
  await expect(readSignupStatusWith({ verificationExpiresAfterMs: 500 })(userId)).resolves.toEqual({
    user_id: userId,
    verification_state: 'EXPIRED',
    onboarding_state: 'COMPLETED',
    created_at: requestedAt.toISOString(),
  });
});

it('a request the bridge recorded as failed: FAILED, with why', async () => {
  const userId = randomUUID();
  await recordSignupFailed(db.pool, userId, 'DuplicateEmail: email already registered');
  await expect(readSignupStatusWith()(userId)).resolves.toEqual({
    user_id: userId,
    verification_state: 'PENDING',
    onboarding_state: 'FAILED',
    created_at: expect.any(String),
    failure_reason: 'DuplicateEmail',
  });
});

it('a recorded request with no run yet: QUEUED', async () => {
  const userId = randomUUID();
  await recordSignupAccepted(db.pool, userId);
  await expect(readSignupStatusWith()(userId)).resolves.toEqual({ user_id: userId, verification_state: 'PENDING', onboarding_state: 'QUEUED', created_at: expect.any(String) });
});

it('a running run: PROCESSING; once it ends without a user: FAILED with a fixed code, never the run’s own words', async () => {
  const userId = randomUUID();
  await recordSignupAccepted(db.pool, userId);
  const handle = await startIdleRun(userId);
  await expect(readSignupStatusWith()(userId)).resolves.toMatchObject({ onboarding_state: 'PROCESSING' });
  await handle.terminate('stopped by the test');
  const status = await readSignupStatusWith()(userId);
  expect(status).toMatchObject({ user_id: userId, onboarding_state: 'FAILED', failure_reason: 'Other' });
});

it('an id nobody knows: UserNotFoundError', async () => {
  const userId = randomUUID();
  await expect(readSignupStatusWith()(userId)).rejects.toBeInstanceOf(UserNotFoundError);
});

describe('with Temporal out of reach', () => {
  let unreachable: TemporalClient['client'];
  beforeAll(async () => {
    unreachable = createTemporalClient(Connection.lazy({ address: `127.0.0.1:${await closedPort()}`, connectTimeout: 500 }), db.config).client;
  });
  afterAll(() => unreachable.connection.close());
  // The API's deadline: the client would otherwise retry for about 20 s before giving up.
  const readWithoutTemporal = () => readSignupStatusWith({ runProgress: (userId) => onboardingProgressWithin(unreachable, userId, 1_000) });

  it('a recorded request still reads QUEUED, with the run state UNKNOWN: it was accepted, its message is safe', async () => {
    const userId = randomUUID();
    await recordSignupAccepted(db.pool, userId);
    await expect(readWithoutTemporal()(userId)).resolves.toEqual({
      user_id: userId,
      verification_state: 'PENDING',
      onboarding_state: 'QUEUED',
      created_at: expect.any(String),
      run_state: 'UNKNOWN',
    });
  });

  it('an id with nothing recorded: ServiceUnavailableError naming temporal, not a 404 it cannot know', async () => {
    const err = await readWithoutTemporal()(randomUUID()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServiceUnavailableError);
    expect(err).toMatchObject({ service: 'temporal' });
  });
});

it('with Postgres out of reach: ServiceUnavailableError naming postgres', async () => {
  const down = await unreachablePostgres();
  try {
    const read = readSignupStatusWith({ signupRequests: createSignupRequestRepository(down) });
    const err = await read(randomUUID()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServiceUnavailableError);
    expect(err).toMatchObject({ service: 'postgres' });
  } finally {
    await down.end();
  }
});
