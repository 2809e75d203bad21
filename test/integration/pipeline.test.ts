/**
 * The whole path on real services: HTTP → argon2id → RabbitMQ (confirms) → bridge → Temporal
 * workflow → Postgres, and the DLQ for what cannot be onboarded.
 */
import { randomUUID } from 'node:crypto';
import { createPool, ensureDatabase } from '../../src/db/postgres';
import { createSignupPublisher } from '../../src/messaging/signup-publisher';
import { signupBody, unreachablePostgres } from '../support/fixtures';
import { capturingLogger } from '../support/log-capture';
import { type Pipeline, request, startApi, startPipeline } from '../support/pipeline';
import { untilOnboarded } from '../support/users';
import { deathReason, messageCount, peekQueue, publishRaw } from '../harness/queues';
import { deleteTopology, dropTestDatabase, eventually, silentLogger, TEST_ADMIN_TOKEN, testConfig, uniqueSuffix } from '../support/stack';

let p: Pipeline;

beforeAll(async () => {
  // Two attempts keep the retry-exhaustion case to about a second of backoff.
  // `conflict`: this file tests the 409 and the dead letters of concurrent duplicates.
  p = await startPipeline({ ONBOARDING_MAX_ATTEMPTS: '2', DUPLICATE_SIGNUP_RESPONSE: 'conflict' });
});
afterAll(() => p?.stop());

const signup = (body: unknown) => request(p.baseUrl, 'POST', '/signup', body);
const getUser = (id: string) => request(p.baseUrl, 'GET', `/users/${id}`);

async function rowsFor(email: string) {
  const { rows } = await p.pool.query('SELECT * FROM users WHERE lower(email) = lower($1)', [email]);
  return rows;
}

const completed = (id: string) => untilOnboarded(p.baseUrl, id);

async function dlqIds(): Promise<string[]> {
  return (await peekQueue(p.config.amqp.url, p.config.amqp.deadLetterQueue)).map((m) => m.messageId ?? m.body);
}

it('signup → 202 with Location, then one user row with an argon2id hash, shown PENDING by GET', async () => {
  const body = signupBody({ email: `  Grace.${randomUUID()}@Example.com ` });
  const res = await signup(body);
  expect(res.status).toBe(202);
  expect(res.body).toEqual({ status: 'SUCCESS', message: expect.any(String), user_id: expect.any(String), verification: 'PENDING' });
  expect(res.headers.get('location')).toBe(`/users/${res.body.user_id}`);

  // Never a bare 404 while onboarding is under way.
  const early = await getUser(res.body.user_id);
  expect(early.status).toBe(200);
  expect(['QUEUED', 'PROCESSING', 'COMPLETED']).toContain(early.body.onboarding_state);

  const done = await completed(res.body.user_id);
  // The public status read: no personal data.
  expect(done.body).toEqual({ user_id: res.body.user_id, onboarding_state: 'COMPLETED', verification_state: 'PENDING', created_at: expect.any(String) });
  const [row] = await rowsFor((body.email as string).trim());
  expect(row).toMatchObject({ email: (body.email as string).trim().toLowerCase(), first_name: 'Ada', last_name: 'Lovelace' });
  expect(row.password_hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  expect(JSON.stringify(row)).not.toContain(body.password as string);
});

it('conflict mode: answers 409 for an email already registered, saying nothing of its user', async () => {
  const body = signupBody();
  const first = await signup(body);
  await completed(first.body.user_id);
  const again = await signup({ ...body, email: (body.email as string).toUpperCase(), password: 'another password' });
  expect(again.status).toBe(409);
  expect(again.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(again.body).toMatchObject({ status: 409, type: '/problems/email-already-registered' });
  expect(again.body).not.toHaveProperty('user_id');
  expect(again.body).not.toHaveProperty('verification_state');
  expect(JSON.stringify(again.body)).not.toContain(first.body.user_id);
});

it('turns 20 parallel signups with one email into exactly one row; every other 2xx ends in the DLQ', async () => {
  const email = `race-${uniqueSuffix()}@example.com`;
  const answers = await Promise.all(Array.from({ length: 20 }, () => signup(signupBody({ email }))));
  expect(answers.every((a) => a.status === 202 || a.status === 409)).toBe(true);
  const accepted = answers.filter((a) => a.status === 202).map((a) => a.body.user_id as string);
  expect(accepted.length).toBeGreaterThanOrEqual(1);

  // Each accepted signup ends as the one row or as one DLQ message, never both, never neither.
  await eventually(async () => {
    const rows = await rowsFor(email);
    const dead = (await dlqIds()).filter((id) => accepted.includes(id));
    return rows.length + dead.length === accepted.length ? true : undefined;
  }, 60_000, 'every accepted duplicate to settle');
  const rows = await rowsFor(email);
  expect(rows).toHaveLength(1);
  expect(accepted).toContain(rows[0].user_id);
  const dead = (await dlqIds()).filter((id) => accepted.includes(id));
  expect(new Set(dead).size).toBe(dead.length);
  expect(dead).not.toContain(rows[0].user_id);
  for (const id of dead) {
    const res = await getUser(id);
    expect(res.body).toMatchObject({ onboarding_state: 'FAILED', failure_reason: 'DuplicateEmail' });
  }
});

describe('bad input', () => {
  // A second API whose queue no bridge consumes, so its depth shows exactly what was published.
  let unconsumed: { baseUrl: string; close(): Promise<void> };
  let config: ReturnType<typeof testConfig>;
  let closePublisher: () => Promise<void>;

  beforeAll(async () => {
    config = testConfig(uniqueSuffix(), { DATABASE_URL: p.config.postgres.url });
    const publisher = await createSignupPublisher({ topology: config.amqp, url: config.amqp.url, logger: silentLogger });
    closePublisher = publisher.close;
    unconsumed = await startApi(config, { pool: p.pool, publisher, temporal: p.temporal });
  });
  afterAll(async () => {
    await unconsumed.close();
    await closePublisher();
    await deleteTopology(config);
  });

  it('gets 400/413/415 problem+json with field-level errors, and nothing is published', async () => {
    const post = (body: string, contentType = 'application/json') =>
      fetch(`${unconsumed.baseUrl}/signup`, { method: 'POST', headers: { 'content-type': contentType }, body }).then(
        async (r) => ({ status: r.status, type: r.headers.get('content-type'), body: (await r.json()) as any }),
      );

    const invalid = await post(JSON.stringify({ email: 'nope', first_name: '', last_name: 'L\u0007', password: 'short' }));
    expect(invalid.status).toBe(400);
    expect(invalid.type).toMatch(/^application\/problem\+json/);
    expect(invalid.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['email', 'first_name', 'last_name', 'password']);

    expect((await post('{"email": ')).status).toBe(400);
    expect((await post('[]')).status).toBe(400);
    expect((await post('"just a string"')).status).toBe(400);
    expect((await post('email=a@b.c', 'application/x-www-form-urlencoded')).status).toBe(415);
    expect((await post(JSON.stringify(signupBody({ first_name: 'x'.repeat(17 * 1024) })))).status).toBe(413);

    expect(await messageCount(config.amqp.url, config.amqp.queue)).toBe(0);
    // The probe can see a message: one valid signup shows up as exactly one.
    expect((await post(JSON.stringify(signupBody()))).status).toBe(202);
    await eventually(async () => ((await messageCount(config.amqp.url, config.amqp.queue)) === 1 ? true : undefined));
  });
});

it('dead-letters a poison message put straight on the queue, and keeps consuming', async () => {
  const marker = `poison-${randomUUID()}`;
  await publishRaw(p.config.amqp.url, p.config.amqp.exchange, p.config.amqp.routingKey, Buffer.from(`{"not": "a signup", "marker": "${marker}"}`), marker);
  await publishRaw(p.config.amqp.url, p.config.amqp.exchange, p.config.amqp.routingKey, Buffer.from('\u0000\u0001 not json'), `${marker}-bytes`);
  const dead = await eventually(async () => {
    const msgs = (await peekQueue(p.config.amqp.url, p.config.amqp.deadLetterQueue)).filter((m) => m.messageId?.startsWith(marker));
    return msgs.length === 2 ? msgs : undefined;
  }, 30_000, 'the poison messages to reach the DLQ');
  expect(dead.map(deathReason)).toEqual(['rejected', 'rejected']);

  const after = await signup(signupBody());
  expect(after.status).toBe(202);
  await completed(after.body.user_id);
});

it('dead-letters a signup whose activities exhaust their retries, and GET explains why', async () => {
  const body = signupBody();
  // A real Postgres failure on every attempt, for this one email only.
  await p.pool.query(`ALTER TABLE users ADD CONSTRAINT reject_one CHECK (email <> '${body.email}') NOT VALID`);
  try {
    const res = await signup(body);
    expect(res.status).toBe(202);
    const id = res.body.user_id as string;
    await eventually(async () => ((await dlqIds()).includes(id) ? true : undefined), 60_000, 'the message to reach the DLQ');
    expect(await rowsFor(body.email as string)).toHaveLength(0);
    const view = await getUser(id);
    expect(view.status).toBe(200);
    // The public answer names the failure by a fixed code; the server's own words stay with the operator.
    expect(view.body).toMatchObject({ user_id: id, onboarding_state: 'FAILED', failure_reason: 'Other' });
    expect(JSON.stringify(view.body)).not.toContain('reject_one');
    const { rows } = await p.pool.query('SELECT failure_reason FROM signup_requests WHERE user_id = $1', [id]);
    expect(rows[0].failure_reason).toContain('reject_one');
  } finally {
    await p.pool.query('ALTER TABLE users DROP CONSTRAINT reject_one');
  }
});

it('answers 503 with Retry-After when the broker is unreachable, and records nothing', async () => {
  const unreachable = testConfig(uniqueSuffix(), { DATABASE_URL: p.config.postgres.url, AMQP_URL: 'amqp://guest:guest@127.0.0.1:1' });
  const publisher = await createSignupPublisher({
    topology: unreachable.amqp,
    url: unreachable.amqp.url,
    logger: silentLogger,
    waitForConnect: false,
  });
  const api = await startApi(unreachable, { pool: p.pool, publisher, temporal: p.temporal });
  try {
    const before = await p.pool.query('SELECT count(*)::int AS n FROM signup_requests');
    const res = await request(api.baseUrl, 'POST', '/signup', signupBody());
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(res.body).toMatchObject({ status: 503, service: 'rabbitmq' });
    const after = await p.pool.query('SELECT count(*)::int AS n FROM signup_requests');
    expect(after.rows[0].n).toBe(before.rows[0].n);
  } finally {
    await api.close();
    await publisher.close();
  }
});

it('answers 503 naming Postgres when it is unreachable, but 500 (logged as a bug) for a database error no retry fixes', async () => {
  const down = await unreachablePostgres();
  // A database without the service's tables: every query is an error of the SQL, not of the connection.
  const bare = testConfig(uniqueSuffix());
  await ensureDatabase(bare.postgres.url);
  const barePool = createPool(bare.postgres.url, 2, silentLogger);
  const logs = capturingLogger('error');
  const unreachable = await startApi(p.config, { pool: down, publisher: p.publisher, temporal: p.temporal });
  const broken = await startApi(p.config, { pool: barePool, publisher: p.publisher, temporal: p.temporal, logger: logs.logger });
  try {
    const outage = await request(unreachable.baseUrl, 'GET', `/users/${randomUUID()}`);
    expect(outage.status).toBe(503);
    expect(outage.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(outage.body).toMatchObject({ status: 503, service: 'postgres' });
    expect((await request(unreachable.baseUrl, 'POST', '/signup', signupBody())).status).toBe(503);

    const bug = await request(broken.baseUrl, 'GET', `/users/${randomUUID()}`);
    expect(bug.status).toBe(500);
    expect(bug.body).toEqual({ type: 'about:blank', title: 'Internal Server Error', status: 500, request_id: expect.any(String) });
    expect(logs.lines().find((l) => l.msg === 'unhandled error')?.err).toMatchObject({ code: '42P01' });
  } finally {
    await unreachable.close();
    await broken.close();
    await down.end();
    await dropTestDatabase(bare, barePool);
  }
});

describe('GET and PUT /users/{user_id}', () => {
  const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
  let userId: string;
  beforeAll(async () => {
    const res = await signup(signupBody());
    userId = res.body.user_id;
    await completed(userId);
  });

  it('sets VERIFIED on an empty body, and any valid state given', async () => {
    const put = await request(p.adminBaseUrl, 'PUT', `/users/${userId}`, undefined, admin);
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ user_id: userId, verification_state: 'VERIFIED' });
    expect((await getUser(userId)).body.verification_state).toBe('VERIFIED');

    const rejected = await request(p.adminBaseUrl, 'PUT', `/users/${userId}`, { verification_state: 'REJECTED' }, admin);
    expect(rejected.body.verification_state).toBe('REJECTED');
  });

  it('answers 400 for an invalid state or id, 404 for an unknown id', async () => {
    expect((await request(p.adminBaseUrl, 'PUT', `/users/${userId}`, { verification_state: 'MAYBE' }, admin)).status).toBe(400);
    expect((await request(p.adminBaseUrl, 'PUT', `/users/${userId}`, 'VERIFIED', { 'content-type': 'text/plain', ...admin })).status).toBe(415);
    expect((await request(p.adminBaseUrl, 'PUT', '/users/not-a-uuid', undefined, admin)).status).toBe(400);
    expect((await request(p.adminBaseUrl, 'PUT', `/users/${randomUUID()}`, undefined, admin)).status).toBe(404);
    expect((await getUser('not-a-uuid')).status).toBe(400);
    expect((await getUser(randomUUID())).status).toBe(404);
  });
});
