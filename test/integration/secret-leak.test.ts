/**
 * The service this replaces logged plaintext passwords and stored them base64-encoded. This
 * test runs signups through everything on the real services, one to completion and one into
 * the DLQ, then searches every place data comes to rest for the passwords: every table, every
 * RabbitMQ message (DLQ included), Temporal's raw history, and every log line the API, the
 * bridge and the worker wrote.
 */
import { uniquePassword } from '../harness/unique-password';
import { inspect } from 'node:util';
import { temporal as proto } from '@temporalio/proto';
import { createLogger } from '../../src/logger';
import { signupBody } from '../support/fixtures';
import { type Pipeline, request, startPipeline } from '../support/pipeline';
import { peekQueue } from '../harness/queues';
import { eventually, onTemporalRuntimeLog, TEST_ADMIN_TOKEN, uniqueSuffix } from '../support/stack';

const logLines: string[] = [];
let stopRuntimeCapture: () => void;
let p: Pipeline;

beforeAll(async () => {
  // The same logger the service builds (redaction included), at its most talkative, into a buffer.
  const logger = createLogger({ name: 'leak-test', level: 'trace', destination: { write: (line: string) => void logLines.push(line) } });
  // The worker's lines: the Temporal SDK's logger, workflow and activity logs included.
  stopRuntimeCapture = onTemporalRuntimeLog((entry) => logLines.push(inspect(entry, { depth: 20, breakLength: Infinity })));
  // `conflict`: the 409 path is one of the paths a password must not leak from.
  p = await startPipeline({ ONBOARDING_MAX_ATTEMPTS: '2', DUPLICATE_SIGNUP_RESPONSE: 'conflict' }, { logger });
});
afterAll(async () => {
  stopRuntimeCapture?.();
  await p?.stop();
});

/**
 * The password as it would appear inside any base64 text: the encodings of its bytes at each
 * of the three alignments, trimmed of the characters the neighbouring bytes would change.
 */
function base64Forms(secret: string): string[] {
  const forms: string[] = [];
  for (let offset = 0; offset < 3; offset++) {
    const encoded = Buffer.concat([Buffer.alloc(offset), Buffer.from(secret, 'utf8')]).toString('base64').replace(/=+$/, '');
    const core = encoded.slice(offset === 0 ? 0 : 4, encoded.length - 4);
    forms.push(core, core.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  return forms;
}

async function databaseDump(): Promise<string> {
  const { rows: tables } = await p.pool.query<{ tablename: string }>("SELECT tablename FROM pg_tables WHERE schemaname = 'public'");
  expect(tables.map((t) => t.tablename)).toEqual(expect.arrayContaining(['users', 'signup_requests', 'schema_migrations']));
  const parts: string[] = [];
  for (const { tablename } of tables) {
    const { rows } = await p.pool.query<{ row: string }>(`SELECT t::text AS row FROM "${tablename}" t`);
    parts.push(`## ${tablename}\n${rows.map((r) => r.row).join('\n')}`);
  }
  return parts.join('\n');
}

async function queueDump(queue: string): Promise<string> {
  const messages = await peekQueue(p.config.amqp.url, queue);
  return messages.map((m) => `${m.body}\n${JSON.stringify(m.headers)}`).join('\n');
}

/** Every event of every workflow on this file's dev server, serialized as Temporal stores it. */
async function rawTemporalHistory(): Promise<string> {
  const parts: string[] = [];
  // The dev server's own client has no codec.
  for await (const run of p.temporal.client.workflow.list()) {
    const history = await p.temporal.client.workflow.getHandle(run.workflowId, run.runId).fetchHistory();
    parts.push(Buffer.from(proto.api.history.v1.History.encode(history).finish()).toString('latin1'));
  }
  return parts.join('\n');
}

it('finds no password, in clear or base64, anywhere; the e-mail only in the users table and the queues', async () => {
  const suffix = uniqueSuffix();
  const completedSignup = signupBody({ password: uniquePassword('Completed'), first_name: `Ada${suffix}`, last_name: `Lovelace${suffix}` });
  const deadSignup = signupBody({ password: uniquePassword('Dead'), first_name: `Reject${suffix}`, last_name: `Babbage${suffix}` });
  const duplicatePassword = uniquePassword('Duplicate');
  const invalidPassword = uniquePassword('Invalid');

  // 1. A signup onboarded to completion, then verified by an admin.
  const accepted = await request(p.baseUrl, 'POST', '/signup', completedSignup);
  expect(accepted.status).toBe(202);
  const userId = accepted.body.user_id as string;
  await eventually(async () => ((await request(p.baseUrl, 'GET', `/users/${userId}`)).body?.onboarding_state === 'COMPLETED' ? true : undefined));
  expect((await request(p.adminBaseUrl, 'PUT', `/users/${userId}`, undefined, { authorization: `Bearer ${TEST_ADMIN_TOKEN}` })).status).toBe(200);

  // 2. A duplicate (409) and an invalid signup (400), each with a password of its own.
  expect((await request(p.baseUrl, 'POST', '/signup', { ...completedSignup, password: duplicatePassword })).status).toBe(409);
  expect((await request(p.baseUrl, 'POST', '/signup', { ...signupBody(), email: 'not-an-address', password: invalidPassword })).status).toBe(400);

  // 3. A signup whose insert Postgres rejects on every attempt: retries exhausted, into the DLQ.
  await p.pool.query(`ALTER TABLE users ADD CONSTRAINT reject_leak_test CHECK (first_name <> '${deadSignup.first_name}') NOT VALID`);
  let deadId: string;
  try {
    const dead = await request(p.baseUrl, 'POST', '/signup', deadSignup);
    expect(dead.status).toBe(202);
    deadId = dead.body.user_id;
    await eventually(async () => {
      const dlq = await peekQueue(p.config.amqp.url, p.config.amqp.deadLetterQueue);
      return dlq.some((m) => m.messageId === deadId) ? true : undefined;
    }, 60_000, 'the rejected signup to reach the DLQ');
    await eventually(async () => ((await request(p.baseUrl, 'GET', `/users/${deadId}`)).body?.onboarding_state === 'FAILED' ? true : undefined));
  } finally {
    await p.pool.query('ALTER TABLE users DROP CONSTRAINT reject_leak_test');
  }
  await eventually(async () => (p.bridge.inFlight() === 0 ? true : undefined), 10_000, 'the bridge to settle');

  const places: Record<string, string> = {
    database: await databaseDump(),
    'RabbitMQ queue': await queueDump(p.config.amqp.queue),
    'RabbitMQ DLQ': await queueDump(p.config.amqp.deadLetterQueue),
    'raw Temporal history': await rawTemporalHistory(),
    logs: logLines.join('\n'),
  };
  // The searches can find things: each place holds what it should.
  expect(places.database).toContain(completedSignup.email as string);
  expect(places['RabbitMQ DLQ']).toContain(deadSignup.email as string);
  expect(places['raw Temporal history']).toContain(`onboard-user-${userId}`);
  expect(places['raw Temporal history']).toContain(`onboard-user-${deadId!}`);
  expect(places.logs).toContain(userId);
  expect(places.logs).toContain('onboarding failed');
  expect(logLines.length).toBeGreaterThan(10);

  const leaks: string[] = [];
  for (const password of [completedSignup.password, deadSignup.password, duplicatePassword, invalidPassword] as string[]) {
    for (const needle of [password, ...base64Forms(password)]) {
      for (const [place, haystack] of Object.entries(places)) {
        if (haystack.includes(needle)) leaks.push(`password ${password.split('-')[0]} as "${needle}" in ${place}`);
      }
    }
  }
  // Personal data and the argon2id hashes: never in Temporal's history nor in a log line.
  const { rows } = await p.pool.query<{ password_hash: string }>('SELECT password_hash FROM users WHERE user_id = $1', [userId]);
  const personal = [
    completedSignup.email,
    deadSignup.email,
    completedSignup.first_name,
    completedSignup.last_name,
    deadSignup.last_name,
    rows[0].password_hash,
    TEST_ADMIN_TOKEN,
  ] as string[];
  for (const needle of personal) {
    for (const place of ['raw Temporal history', 'logs']) {
      if (places[place].includes(needle)) leaks.push(`"${needle}" in ${place}`);
    }
  }
  // The e-mail in clear: the users table (the completed one) and the queue bodies, nowhere else.
  expect(places.database.split('## ').filter((part) => part.includes(completedSignup.email as string)).map((part) => part.split('\n')[0])).toEqual(['users']);
  expect(places.database).not.toContain(deadSignup.email as string);
  expect(leaks).toEqual([]);
});
