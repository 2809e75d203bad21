/**
 * DELETE /users/{user_id} leaves no trace (issue 12 point 4), on the real services: Postgres,
 * RabbitMQ, a Temporal dev server and Mailpit, with every log line of the API, the bridge, the
 * worker and the Temporal SDK captured. And a signup that meets the tombstone (queued, or with its
 * run still going) ends without creating the user and without a dead letter.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import amqplib from 'amqplib';
import { type SignupMessage } from '../../src/contract';
import { verificationWorkflowId } from '../../src/onboarding-policy';
import { recordSignupAccepted } from '../../src/repositories/signup-request-repository';
import { onboardingWorkflowId } from '../../src/temporal/onboarding-runs';
import { messageCount, peekQueue, publishRaw } from '../harness/queues';
import { freeLowPort } from '../harness/free-port';
import { type AdminRoutesApp, startAdminRoutes } from '../support/admin-routes';
import { signupMessage } from '../support/fixtures';
import { capturingLogger } from '../support/log-capture';
import { request } from '../support/pipeline';
import { eventually, onTemporalRuntimeLog, uniqueSuffix } from '../support/stack';
import { untilOnboarded } from '../support/users';
import { startVerificationStack, type VerificationStack } from '../support/verification';

/**
 * Temporal deletes a closed run asynchronously, once its close is acknowledged by the visibility
 * queue, whose ack level moves every 30 s by default: the dev server forgets a run 30–60 s after
 * DeleteWorkflowExecution (seen: ~30 s).
 */
const TEMPORAL_DELETION_MS = 100_000;
const captured = capturingLogger('debug');
const sdkLines: string[] = [];
let stopSdkCapture: () => void;
let s: VerificationStack;
let admin: AdminRoutesApp;

beforeAll(async () => {
  stopSdkCapture = onTemporalRuntimeLog((entry) => sdkLines.push(`${entry.message} ${JSON.stringify(entry.meta ?? {})}`));
  s = await startVerificationStack({ ONBOARDING_MAX_ATTEMPTS: '10' }, { logger: captured.logger });
  admin = await startAdminRoutes({ config: s.p.config, pool: s.p.pool, client: s.p.client, logger: captured.logger, removeTopologyOnClose: false });
});
afterAll(async () => {
  stopSdkCapture?.();
  await admin?.close();
  await s?.stop();
});

/** Letters only, so the names pass validation and match nothing else by chance. */
const distinctive = (prefix: string) => `${prefix}${uniqueSuffix().replace(/[^a-z]/gi, '').slice(0, 6)}${randomUUID().replace(/[^a-f]/g, '').slice(0, 8)}`;

function distinctiveSignup() {
  const local = distinctive('erasure.quill.');
  return { email: `${local.toLowerCase()}@example.com`, local: local.toLowerCase(), first_name: distinctive('Quintessa'), last_name: distinctive('Vantablack') };
}

/** Every text-like column of every table in the database, as text, that contains the needle. */
async function databaseHits(needle: string): Promise<string[]> {
  const { rows: columns } = await s.p.pool.query<{ table_schema: string; table_name: string; column_name: string }>(
    `SELECT table_schema, table_name, column_name FROM information_schema.columns
      WHERE table_schema NOT IN ('pg_catalog', 'information_schema')
        AND data_type IN ('text', 'character varying', 'character', 'json', 'jsonb', 'bytea', 'ARRAY', 'USER-DEFINED')`,
  );
  expect(columns.length).toBeGreaterThan(10);
  const hits: string[] = [];
  for (const c of columns) {
    const column = `"${c.table_schema}"."${c.table_name}"."${c.column_name}"`;
    const { rows } = await s.p.pool.query(
      `SELECT 1 FROM "${c.table_schema}"."${c.table_name}" WHERE position(lower($1) IN lower("${c.column_name}"::text)) > 0 LIMIT 1`,
      [needle],
    );
    if (rows.length > 0) hits.push(column);
  }
  return hits;
}

/** Every message on the signup queue and the DLQ (there is no retry queue), body and headers. */
async function queueText(): Promise<string> {
  const { queue, deadLetterQueue, url } = s.p.config.amqp;
  const messages = [...(await peekQueue(url, queue)), ...(await peekQueue(url, deadLetterQueue))];
  return messages.map((m) => `${m.body}\n${m.messageId}\n${JSON.stringify(m.headers)}`).join('\n');
}

const logText = () => `${captured.raw()}\n${sdkLines.join('\n')}`;

async function temporalListing(workflowId: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const run of s.p.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) ids.push(run.runId);
  return ids;
}

/** The dev server's own command line: `temporal workflow list` for the id, as JSON lines. */
async function cliListing(workflowId: string): Promise<string> {
  const { stdout } = await promisify(execFile)(process.env.TEMPORAL_CLI as string, [
    'workflow',
    'list',
    '--address',
    s.p.temporal.address,
    '--namespace',
    s.p.config.temporal.namespace,
    '--query',
    `WorkflowId = '${workflowId}'`,
    '--output',
    'jsonl',
  ]);
  return stdout.trim();
}

/** Into the DLQ as the bridge puts a failed run's message there: nacked, x-death reason `rejected`. */
async function deadLetter(message: SignupMessage): Promise<void> {
  const conn = await amqplib.connect(s.p.config.amqp.url);
  try {
    const ch = await conn.createChannel();
    const { queue } = await ch.assertQueue('', {
      exclusive: true,
      arguments: { 'x-dead-letter-exchange': s.p.config.amqp.deadLetterExchange, 'x-dead-letter-routing-key': s.p.config.amqp.routingKey },
    });
    ch.sendToQueue(queue, Buffer.from(JSON.stringify(message)), { persistent: true, messageId: message.user_id });
    const msg = await eventually(async () => (await ch.get(queue, { noAck: false })) || undefined);
    ch.nack(msg, false, false);
    await ch.close();
  } finally {
    await conn.close();
  }
}

async function rowsOf(table: string, userId: string): Promise<number> {
  const { rows } = await s.p.pool.query(`SELECT 1 FROM ${table} WHERE user_id = $1`, [userId]);
  return rows.length;
}

it('erasure leaves no trace: not in Postgres, the queues, Temporal visibility or history, or the logs', async () => {
  const person = distinctiveSignup();
  const needles = [person.email, person.local, person.first_name, person.last_name];
  const signup = await request(s.p.baseUrl, 'POST', '/signup', { email: person.email, first_name: person.first_name, last_name: person.last_name, password: 'correct horse battery' });
  expect(signup.status).toBe(202);
  const userId = signup.body.user_id as string;
  await untilOnboarded(s.p.baseUrl, userId);
  // The verification mail went out (a token row), and a resend was asked for (a counter row).
  await s.mailpit.waitForMessages(person.email, 1);
  await s.events.waitFor(userId, 'user.onboarded');
  expect((await request(s.p.baseUrl, 'POST', '/verification/resend', { email: person.email })).status).toBe(202);
  await s.mailpit.waitForMessages(person.email, 2);
  await s.p.pool.query(
    `INSERT INTO idempotency_keys (scope, idempotency_key, fingerprint, user_id, expires_at, response_status, response_body)
     VALUES ('POST /signup', $1, 'hmac', $2, now() + interval '1 day', 202, '{}')`,
    [`key-${randomUUID()}`, userId],
  );
  // A letter of the user (an earlier duplicate delivery, say) and one of someone else.
  const theirLetter = await signupMessage({ user_id: userId, email: person.email, first_name: person.first_name, last_name: person.last_name });
  const otherLetter = await signupMessage();
  await deadLetter(theirLetter);
  await deadLetter(otherLetter);
  await eventually(async () => ((await messageCount(s.p.config.amqp.url, s.p.config.amqp.deadLetterQueue)) === 2 ? true : undefined));

  // The checks can fail: before the erasure each finds the data.
  expect(await databaseHits(person.email)).toEqual(expect.arrayContaining(['"public"."users"."email"']));
  expect(await queueText()).toContain(person.email);
  expect(await temporalListing(onboardingWorkflowId(userId))).toHaveLength(1);
  expect(await temporalListing(verificationWorkflowId(userId))).toHaveLength(1);
  expect(await rowsOf('verification_tokens', userId)).toBeGreaterThan(0);
  expect((await s.p.pool.query('SELECT count(*)::int AS n FROM verification_resend_counts')).rows[0].n).toBeGreaterThan(0);

  const erased = await admin.request('DELETE', `/users/${userId}`, undefined, { 'x-request-id': 'erase-request-1' });
  expect(erased.status).toBe(204);
  expect(erased.body).toBeUndefined();

  // Postgres: no table holds the address, its local part or either name; the tombstone holds the id.
  for (const needle of needles) expect({ needle, hits: await databaseHits(needle) }).toEqual({ needle, hits: [] });
  for (const table of ['users', 'signup_requests', 'verification_tokens', 'idempotency_keys']) expect({ table, rows: await rowsOf(table, userId) }).toEqual({ table, rows: 0 });
  expect((await s.p.pool.query('SELECT count(*)::int AS n FROM verification_resend_counts')).rows[0].n).toBe(0);
  expect((await s.p.pool.query('SELECT * FROM erased_users')).rows).toEqual([{ user_id: userId }]);

  // The queues: the user's letter is gone, the other one stays; nothing holds the data.
  const queues = await queueText();
  for (const needle of needles) expect(queues).not.toContain(needle);
  expect((await peekQueue(s.p.config.amqp.url, s.p.config.amqp.deadLetterQueue)).map((m) => m.messageId)).toEqual([otherLetter.user_id]);

  // Temporal: no run in visibility (the SDK's list, the dev server's CLI), no history.
  for (const workflowId of [onboardingWorkflowId(userId), verificationWorkflowId(userId)]) {
    await eventually(async () => ((await temporalListing(workflowId)).length === 0 ? true : undefined), TEMPORAL_DELETION_MS, `visibility to forget ${workflowId}`);
    expect(await cliListing(workflowId)).toBe('');
    await expect(s.p.temporal.client.workflow.getHandle(workflowId).fetchHistory()).rejects.toThrow(/not found/i);
  }
  for await (const run of s.p.temporal.client.workflow.list()) expect(run.workflowId).not.toContain(userId);

  // user.erased, with the id alone.
  const event = await s.events.waitFor(userId, 'user.erased');
  expect(event.event.data).toEqual({ user_id: userId });

  // A second DELETE answers the same; an id never known is a 404, a malformed one a 400.
  expect((await admin.request('DELETE', `/users/${userId}`)).status).toBe(204);
  expect((await admin.request('DELETE', `/users/${randomUUID()}`)).status).toBe(404);
  expect((await admin.request('DELETE', '/users/not-a-uuid')).status).toBe(400);
  expect((await request(s.p.baseUrl, 'GET', `/users/${userId}`)).status).toBe(404);

  // The logs: every line of the API, the bridge, the worker and the SDK, from signup to now.
  const audit = captured.lines().filter((l) => l.audit === 'user.erased');
  expect(audit).toHaveLength(2);
  expect(audit[0]).toMatchObject({ user_id: userId, request_id: 'erase-request-1', first: true, workflow_runs_deleted: 2, dead_letters_removed: 1 });
  expect(Object.keys(audit[0]).sort()).toEqual(['audit', 'dead_letters_removed', 'first', 'hostname', 'level', 'msg', 'name', 'pid', 'request_id', 'time', 'user_id', 'workflow_runs_deleted'].sort());
  const logs = logText();
  expect(logs).toContain(userId);
  for (const needle of needles) expect({ needle, inLogs: logs.includes(needle) }).toEqual({ needle, inLogs: false });
}, 300_000);

it('a signup still queued for an erased id ends without creating the user, and leaves no letter', async () => {
  const message = await signupMessage({ first_name: distinctive('Queued'), last_name: distinctive('Tombstone') });
  // Accepted (the API records it before publishing), then erased before the bridge took it.
  await recordSignupAccepted(s.p.pool, message.user_id);
  expect((await admin.request('DELETE', `/users/${message.user_id}`)).status).toBe(204);
  await publishRaw(s.p.config.amqp.url, s.p.config.amqp.exchange, s.p.config.amqp.routingKey, Buffer.from(JSON.stringify(message)), message.user_id);

  await eventually(
    async () => (captured.lines().some((l) => l.user_id === message.user_id && l.msg === 'signup of an erased user: nothing created; acknowledged') ? true : undefined),
    60_000,
    'the bridge to settle the erased signup',
  );
  await eventually(async () => ((await temporalListing(onboardingWorkflowId(message.user_id))).length === 0 ? true : undefined), TEMPORAL_DELETION_MS, 'its run to be deleted');
  expect(await rowsOf('users', message.user_id)).toBe(0);
  expect(await rowsOf('signup_requests', message.user_id)).toBe(0);
  expect(await messageCount(s.p.config.amqp.url, s.p.config.amqp.queue)).toBe(0);
  expect((await peekQueue(s.p.config.amqp.url, s.p.config.amqp.deadLetterQueue)).map((m) => m.messageId)).not.toContain(message.user_id);
  expect(await temporalListing(verificationWorkflowId(message.user_id))).toEqual([]);
  expect(await databaseHits(message.email)).toEqual([]);
}, 240_000);

it('a run still going when the user is erased is terminated; its message is acknowledged, not dead-lettered', async () => {
  const person = distinctiveSignup();
  // persistUser fails (and retries) for this address only, so the run is still going at the DELETE.
  await s.p.pool.query(`ALTER TABLE users ADD CONSTRAINT hold_erasure_run CHECK (email <> '${person.email}') NOT VALID`);
  try {
    const signup = await request(s.p.baseUrl, 'POST', '/signup', { email: person.email, first_name: person.first_name, last_name: person.last_name, password: 'correct horse battery' });
    const userId = signup.body.user_id as string;
    await eventually(async () => ((await s.p.client.workflow.getHandle(onboardingWorkflowId(userId)).describe()).status.name === 'RUNNING' ? true : undefined));
    expect((await admin.request('DELETE', `/users/${userId}`)).status).toBe(204);

    await eventually(
      async () => (captured.lines().some((l) => l.user_id === userId && l.msg === 'signup of an erased user: nothing created; acknowledged') ? true : undefined),
      60_000,
      'the bridge to settle the terminated run',
    );
    await eventually(async () => ((await temporalListing(onboardingWorkflowId(userId))).length === 0 ? true : undefined), TEMPORAL_DELETION_MS, 'its run to be deleted');
    expect(await messageCount(s.p.config.amqp.url, s.p.config.amqp.queue)).toBe(0);
    expect((await peekQueue(s.p.config.amqp.url, s.p.config.amqp.deadLetterQueue)).map((m) => m.messageId)).not.toContain(userId);
    expect(await rowsOf('users', userId)).toBe(0);
    // The bridge records no failure for it: the signup request stays deleted.
    expect(await rowsOf('signup_requests', userId)).toBe(0);
    for (const needle of [person.email, person.first_name, person.last_name]) expect(await databaseHits(needle)).toEqual([]);
  } finally {
    await s.p.pool.query('ALTER TABLE users DROP CONSTRAINT hold_erasure_run');
  }
}, 240_000);

it('an erasure Temporal cannot finish answers 503 and says so in the audit log; the retried DELETE finishes it', async () => {
  const person = distinctiveSignup();
  const signup = await request(s.p.baseUrl, 'POST', '/signup', { email: person.email, first_name: person.first_name, last_name: person.last_name, password: 'correct horse battery' });
  const userId = signup.body.user_id as string;
  await untilOnboarded(s.p.baseUrl, userId);
  // An admin listener whose Temporal address answers nothing (a closed port), as in an outage.
  const cut = await startAdminRoutes({
    config: { ...s.p.config, temporal: { ...s.p.config.temporal, connection: { ...s.p.config.temporal.connection, address: `127.0.0.1:${await freeLowPort()}` } } },
    pool: s.p.pool,
    logger: captured.logger,
    removeTopologyOnClose: false,
  });
  try {
    const halfDone = await cut.request('DELETE', `/users/${userId}`, undefined, { 'x-request-id': 'erase-cut-1' });
    expect(halfDone.status).toBe(503);
    expect(halfDone.body).toMatchObject({ service: 'temporal' });
    expect(halfDone.headers.get('retry-after')).not.toBeNull();
  } finally {
    await cut.close();
  }
  const incomplete = captured.lines().filter((l) => l.audit === 'user.erasure_incomplete' && l.user_id === userId);
  expect(incomplete).toEqual([expect.objectContaining({ request_id: 'erase-cut-1', step: 'deleting its workflow runs' })]);
  // The database part is done: the data is gone and the tombstone stops the user coming back.
  expect(await rowsOf('users', userId)).toBe(0);
  expect(await rowsOf('erased_users', userId)).toBe(1);
  expect(await temporalListing(onboardingWorkflowId(userId))).toHaveLength(1);

  const retried = await admin.request('DELETE', `/users/${userId}`, undefined, { 'x-request-id': 'erase-cut-2' });
  expect(retried.status).toBe(204);
  expect(captured.lines().filter((l) => l.audit === 'user.erased' && l.user_id === userId)).toEqual([
    expect.objectContaining({ request_id: 'erase-cut-2', first: false, workflow_runs_deleted: 2 }),
  ]);
  await eventually(async () => ((await temporalListing(onboardingWorkflowId(userId))).length === 0 ? true : undefined), TEMPORAL_DELETION_MS, 'its runs to be deleted');
}, 240_000);
