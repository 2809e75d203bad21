/**
 * The compiled API (`node dist/src/api/main.js`) needs Postgres and RabbitMQ only. Started with
 * nothing listening at TEMPORAL_ADDRESS it starts and is ready, accepts a signup onto the queue,
 * and answers GET /users/{id} from the database with the run's state UNKNOWN, the lookup ended by
 * its own deadline rather than by the client's retries. When a Temporal server appears at that
 * address, the API uses it without a restart.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Pool } from 'pg';
import { type Config, type Env, loadConfig } from '../../src/config';
import { insertUser } from '../../src/repositories/user-repository';
import { freeLowPort, freePort } from '../harness/free-port';
import { ManagedProcess } from '../harness/managed-process';
import { signupBody, signupMessage } from '../support/fixtures';
import { request } from '../support/pipeline';
import { DIST } from '../support/processes';
import { peekQueue } from '../harness/queues';
import { createTestDatabase, deleteTopology, dropTestDatabase, eventually, startTemporal, testEnv, uniqueSuffix } from '../support/stack';

let config: Config;
let pool: Pool;
let api: ManagedProcess;
let apiBase: string;
let adminBase: string;
let temporalPort: number;
let temporal: TestWorkflowEnvironment | undefined;
const logDir = mkdtempSync(join(tmpdir(), 'api-without-temporal-'));
const logFile = join(logDir, 'api.log');

function apiLogLines(): Array<Record<string, any>> {
  return readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line));
}

beforeAll(async () => {
  // Nothing listens here until the test starts Temporal: a port no retrying client can take meanwhile.
  temporalPort = await freeLowPort();
  const [apiPort, adminPort] = [await freePort(), await freePort()];
  const env: Env = {
    ...testEnv(uniqueSuffix()),
    NODE_ENV: 'production',
    LOG_LEVEL: 'info',
    PORT: String(apiPort),
    ADMIN_PORT: String(adminPort),
    // Nothing listens here until the last test starts a dev server on it.
    TEMPORAL_ADDRESS: `127.0.0.1:${temporalPort}`,
    TEMPORAL_LOOKUP_TIMEOUT_MS: '1000',
  };
  config = loadConfig(env);
  pool = await createTestDatabase(config);
  apiBase = `http://127.0.0.1:${apiPort}`;
  adminBase = `http://127.0.0.1:${adminPort}`;
  api = new ManagedProcess('api', process.execPath, [join(DIST, 'src', 'api', 'main.js')], { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, logFile).start();
  await eventually(async () => {
    if (!api.running) throw new Error(`the API exited:\n${readFileSync(logFile, 'utf8')}`);
    return (await request(apiBase, 'GET', '/healthz')).status === 200 ? true : undefined;
  }, 60_000, 'the API to listen');
});

afterAll(async () => {
  await api?.stop();
  await temporal?.teardown();
  await deleteTopology(config);
  await dropTestDatabase(config, pool);
  rmSync(logDir, { recursive: true, force: true });
});

const admin = () => ({ authorization: `Bearer ${config.security.adminToken}` });

it('starts with Temporal unreachable and is ready: Temporal is reported down, for information', async () => {
  // The public listener: ready, nothing more; the admin listener: each dependency.
  expect(await request(apiBase, 'GET', '/readyz')).toMatchObject({ status: 200, body: { status: 'ready' } });
  const ready = await request(adminBase, 'GET', '/readyz', undefined, admin());
  expect(ready.status).toBe(200);
  expect(ready.body).toMatchObject({
    status: 'ready',
    informational: ['temporal'],
    dependencies: { postgres: { status: 'up' }, rabbitmq: { status: 'up' }, temporal: { status: 'down' } },
  });
  expect(api.crashes).toEqual([]);
});

it('accepts a signup: 202, and its message is on the queue', async () => {
  const res = await request(apiBase, 'POST', '/signup', signupBody());
  expect(res.status).toBe(202);
  const queued = await peekQueue(config.amqp.url, config.amqp.queue);
  expect(queued.map((m) => m.messageId)).toContain(res.body.user_id);
});

it('answers GET from the database: QUEUED with run_state UNKNOWN, the lookup ended by its deadline', async () => {
  const accepted = await request(apiBase, 'POST', '/signup', signupBody());
  const userId = accepted.body.user_id as string;
  const res = await request(apiBase, 'GET', `/users/${userId}`);
  expect(res.status).toBe(200);
  expect(res.body).toEqual({ user_id: userId, verification_state: 'PENDING', onboarding_state: 'QUEUED', created_at: expect.any(String), run_state: 'UNKNOWN' });
  // The lookup failed with DEADLINE_EXCEEDED: TEMPORAL_LOOKUP_TIMEOUT_MS, not the client's ~20 s
  // of retries (which end in UNAVAILABLE), decided how long this answer took.
  const lookup = await eventually(async () =>
    apiLogLines().find((l) => l.user_id === userId && String(l.msg).startsWith('temporal unavailable for a progress lookup')),
  );
  expect(lookup).toMatchObject({ deadline_exceeded: true });
});

it('answers a user row with its public status, and an id the database does not know with 503 naming Temporal', async () => {
  const signup = await signupMessage();
  await insertUser(pool, signup);
  const user = await request(apiBase, 'GET', `/users/${signup.user_id}`);
  expect(user.status).toBe(200);
  expect(user.body).toEqual({ user_id: signup.user_id, onboarding_state: 'COMPLETED', verification_state: 'PENDING', created_at: expect.any(String) });

  const unknown = await request(apiBase, 'GET', `/users/${randomUUID()}`);
  expect(unknown.status).toBe(503);
  expect(unknown.body).toMatchObject({ service: 'temporal' });
  expect(unknown.headers.get('retry-after')).toMatch(/^\d+$/);
});

it('uses Temporal as soon as it is there, without a restart', async () => {
  const accepted = await request(apiBase, 'POST', '/signup', signupBody());
  const userId = accepted.body.user_id as string;
  temporal = await startTemporal({ port: temporalPort });
  // No worker consumes the queue here: Temporal knows no run, so the answer is plain QUEUED.
  const known = await eventually(async () => {
    const res = await request(apiBase, 'GET', `/users/${userId}`);
    return res.status === 200 && res.body.run_state === undefined ? res : undefined;
  }, 60_000, 'a status read that Temporal answered');
  expect(known.body).toEqual({ user_id: userId, verification_state: 'PENDING', onboarding_state: 'QUEUED', created_at: expect.any(String) });
  const ready = await request(adminBase, 'GET', '/readyz', undefined, admin());
  expect(ready.body.dependencies.temporal.status).toBe('up');
  expect(api.crashes).toEqual([]);
});
