/**
 * `npm run dlq`: every dead letter explained (poison, failed workflow, expired) together with
 * what the database says of its user; replay that removes the DLQ copy only after the broker's
 * confirm and finishes a half-onboarded user; purge. Runs the compiled CLI.
 */
import { randomUUID } from 'node:crypto';
import amqplib from 'amqplib';
import type { SignupMessage } from '../../src/contract';
import { createSignupPublisher } from '../../src/messaging/signup-publisher';
import { recordSignupFailed } from '../../src/repositories/signup-request-repository';
import { insertUser } from '../../src/repositories/user-repository';
import { ONBOARD_USER_WORKFLOW, onboardingWorkflowId } from '../../src/temporal/onboarding-runs';
import type { onboardUser } from '../../workflows';
import { signupBody, signupMessage } from '../support/fixtures';
import { type Pipeline, request, startPipeline } from '../support/pipeline';
import { runScript } from '../support/processes';
import { peekQueue, publishRaw } from '../harness/queues';
import { deleteTopology, eventually, silentLogger, testConfig, testEnv, uniqueSuffix } from '../support/stack';

let p: Pipeline;
const dlq = (...args: string[]) => runScript('scripts/dlq.js', args, p.env);

beforeAll(async () => {
  p = await startPipeline({ ONBOARDING_MAX_ATTEMPTS: '1' });
});
afterAll(() => p?.stop());

async function dlqIds(): Promise<string[]> {
  return (await peekQueue(p.config.amqp.url, p.config.amqp.deadLetterQueue)).map((m) => m.messageId ?? '');
}

/** Into the DLQ as the bridge puts a failed run's message there: nacked, x-death reason `rejected`. */
async function deadLetterAsRejected(signup: SignupMessage): Promise<void> {
  const conn = await amqplib.connect(p.config.amqp.url);
  try {
    const ch = await conn.createChannel();
    const { queue } = await ch.assertQueue('', {
      exclusive: true,
      arguments: { 'x-dead-letter-exchange': p.config.amqp.deadLetterExchange, 'x-dead-letter-routing-key': p.config.amqp.routingKey },
    });
    ch.sendToQueue(queue, Buffer.from(JSON.stringify(signup)), { persistent: true, messageId: signup.user_id });
    const msg = await eventually(async () => (await ch.get(queue, { noAck: false })) || undefined);
    ch.nack(msg, false, false);
    await ch.close();
  } finally {
    await conn.close();
  }
}

async function userRows(userId: string): Promise<number> {
  const { rows } = await p.pool.query('SELECT 1 FROM users WHERE user_id = $1', [userId]);
  return rows.length;
}

it('lists, shows, replays and purges, explaining each message', async () => {
  // A poison message and a signup whose run fails on a real Postgres error.
  const poisonId = `poison-${randomUUID()}`;
  await publishRaw(p.config.amqp.url, p.config.amqp.exchange, p.config.amqp.routingKey, Buffer.from('{"email": 42}'), poisonId);
  const body = signupBody();
  await p.pool.query(`ALTER TABLE users ADD CONSTRAINT reject_dlq CHECK (email <> '${body.email}') NOT VALID`);
  const accepted = await request(p.baseUrl, 'POST', '/signup', body);
  expect(accepted.status).toBe(202);
  const failedId = accepted.body.user_id as string;
  await eventually(async () => {
    const ids = await dlqIds();
    return ids.includes(failedId) && ids.includes(poisonId) ? true : undefined;
  }, 60_000, 'both messages in the DLQ');

  const list = await dlq('list');
  expect(list.code).toBe(0);
  const lines = list.stdout.split('\n');
  const poisonLine = lines.find((l) => l.startsWith(poisonId)) ?? '';
  expect(poisonLine).toMatch(/poison/);
  expect(poisonLine).toMatch(/email/);
  const failedLine = lines.find((l) => l.startsWith(failedId)) ?? '';
  expect(failedLine).toMatch(/workflow-failed/);
  expect(failedLine).toMatch(/reject_dlq/);
  // The email is masked, never printed in clear.
  expect(list.stdout).not.toContain(body.email);
  expect(failedLine).toContain(`${(body.email as string)[0]}***@example.com`);

  const show = await dlq('show', failedId);
  expect(show.code).toBe(0);
  const shown = JSON.parse(show.stdout);
  expect(shown).toMatchObject({ id: failedId, reason: 'workflow-failed', workflow_id: `onboard-user-${failedId}` });
  expect(show.stdout).not.toContain('$argon2id$');
  expect(show.stdout).not.toContain(body.email);

  // Fix the cause, replay: the DLQ copy goes and the user row appears.
  await p.pool.query('ALTER TABLE users DROP CONSTRAINT reject_dlq');
  const replay = await dlq('replay', failedId);
  expect(replay.stdout).toContain(`${failedId}: replayed`);
  expect(replay.code).toBe(0);
  await eventually(async () => ((await userRows(failedId)) === 1 ? true : undefined), 30_000, 'the replayed signup to be persisted');
  expect(await dlqIds()).not.toContain(failedId);
  await eventually(async () => ((await request(p.baseUrl, 'GET', `/users/${failedId}`)).body.onboarding_state === 'COMPLETED' ? true : undefined));

  // --all leaves poison where it is: it cannot be replayed, only purged.
  const all = await dlq('replay', '--all');
  expect(all.stdout).toContain(`${poisonId}: skipped`);
  expect(await dlqIds()).toContain(poisonId);

  expect((await dlq('purge')).code).toBe(1);
  expect(await dlqIds()).toContain(poisonId);
  const purge = await dlq('purge', '--yes');
  expect(purge.stdout).toMatch(/purged \d+ message/);
  expect(await dlqIds()).toEqual([]);
});

it('replaying a message whose user already exists is harmless', async () => {
  const res = await request(p.baseUrl, 'POST', '/signup', signupBody());
  const userId = res.body.user_id as string;
  await eventually(async () => ((await userRows(userId)) === 1 ? true : undefined), 30_000, 'the user row');
  // The same signup lands in the DLQ anyway (as after a run that timed out once it had persisted).
  await deadLetterAsRejected(await signupMessage({ user_id: userId }));
  await eventually(async () => ((await dlqIds()).includes(userId) ? true : undefined));

  const list = await dlq('list');
  expect(list.stdout.split('\n').find((l) => l.startsWith(userId))).toContain('its run failed, but user onboarded (COMPLETED): safe to purge');
  const replay = await dlq('replay', userId);
  expect(replay.code).toBe(0);
  expect(replay.stdout).toContain(`${userId}: user already onboarded (COMPLETED); DLQ copy removed`);
  expect(await dlqIds()).not.toContain(userId);
  expect(await userRows(userId)).toBe(1);
});

it('replay finishes a half-onboarded user: a row left PERSISTED behind a failed run and its letter ends COMPLETED', async () => {
  // The state the earlier two-step onboarding could leave: the row written, the run failed
  // before it marked the row, the message dead-lettered.
  const signup = await signupMessage();
  await p.pool.query(
    `INSERT INTO users (user_id, email, first_name, last_name, password_hash, onboarding_state)
     VALUES ($1, $2, $3, $4, $5, 'PERSISTED')`,
    [signup.user_id, signup.email, signup.first_name, signup.last_name, signup.password_hash],
  );
  // Its failed run: started where no worker polls, then terminated. Its id may run again.
  const failedRun = await p.client.workflow.start<typeof onboardUser>(ONBOARD_USER_WORKFLOW, {
    taskQueue: `nobody-polls-${randomUUID()}`,
    workflowId: onboardingWorkflowId(signup.user_id),
    args: [{ signup, maxAttempts: 1 }],
  });
  await failedRun.terminate('the run failed after the row was written');
  await recordSignupFailed(p.pool, signup.user_id, 'Timeout: timed out (START_TO_CLOSE)');
  await deadLetterAsRejected(signup);
  await eventually(async () => ((await dlqIds()).includes(signup.user_id) ? true : undefined));

  const line = (await dlq('list')).stdout.split('\n').find((l) => l.startsWith(signup.user_id)) ?? '';
  expect(line).toContain('user row left PERSISTED, not onboarded: replay finishes it');
  const shown = JSON.parse((await dlq('show', signup.user_id)).stdout);
  expect(shown).toMatchObject({ user: 'PERSISTED', reason: 'workflow-failed' });

  const replay = await dlq('replay', signup.user_id);
  expect(replay.code).toBe(0);
  expect(replay.stdout).toContain(`${signup.user_id}: replayed; its run finishes the user row left PERSISTED`);
  const finished = await eventually(async () => {
    const { rows } = await p.pool.query('SELECT onboarding_state, onboarded_at FROM users WHERE user_id = $1', [signup.user_id]);
    return rows[0]?.onboarding_state === 'COMPLETED' ? rows[0] : undefined;
  }, 60_000, 'the replayed run to finish the user');
  expect(finished.onboarded_at).toBeInstanceOf(Date);
  expect(await userRows(signup.user_id)).toBe(1);
  expect(await dlqIds()).not.toContain(signup.user_id);
  // A new run of the same id, after the failed one, did it. Visibility may trail the run's end
  // (a cluster's SQL visibility store is written after the history), so it is asked until it agrees.
  const runs = await eventually(async () => {
    const listed: string[] = [];
    for await (const run of p.client.workflow.list({ query: `WorkflowId = '${onboardingWorkflowId(signup.user_id)}'` })) listed.push(run.status.name);
    return listed.sort().join(',') === 'COMPLETED,TERMINATED' ? listed.sort() : undefined;
  }, 30_000, 'visibility to list the failed run and the replayed one');
  expect(runs).toEqual(['COMPLETED', 'TERMINATED']);
  expect((await request(p.baseUrl, 'GET', `/users/${signup.user_id}`)).body).toMatchObject({ onboarding_state: 'COMPLETED' });
});

it('explains a signup that expired unconsumed', async () => {
  // A queue no one consumes, with a short TTL.
  const suffix = uniqueSuffix();
  const env = testEnv(suffix, { DATABASE_URL: p.config.postgres.url, AMQP_MESSAGE_TTL_MS: '200' });
  const config = testConfig(suffix, env);
  const publisher = await createSignupPublisher({ topology: config.amqp, url: config.amqp.url, logger: silentLogger });
  try {
    const message = await signupMessage();
    await publisher.publishSignup(message);
    await eventually(async () => {
      const msgs = await peekQueue(config.amqp.url, config.amqp.deadLetterQueue);
      return msgs.length === 1 ? true : undefined;
    }, 30_000, 'the message to expire into the DLQ');
    const list = await runScript('scripts/dlq.js', ['list'], env);
    expect(list.code).toBe(0);
    const line = list.stdout.split('\n').find((l) => l.startsWith(message.user_id)) ?? '';
    expect(line).toMatch(/expired/);
    expect(line).toMatch(/message TTL/);
    expect(line).toContain('no user: replay onboards it');

    // Its run, started from an earlier delivery, onboards the user after all: the tool says so.
    await insertUser(p.pool, message);
    const after = (await runScript('scripts/dlq.js', ['list'], env)).stdout.split('\n').find((l) => l.startsWith(message.user_id)) ?? '';
    expect(after).toContain('expired in the queue, but user onboarded (COMPLETED) by its run: safe to purge');
    const shown = JSON.parse((await runScript('scripts/dlq.js', ['show', message.user_id], env)).stdout);
    expect(shown).toMatchObject({ reason: 'expired', user: 'COMPLETED', verdict: expect.stringContaining('safe to purge') });
  } finally {
    await publisher.close();
    await deleteTopology(config);
  }
});

it('refuses unknown commands with usage', async () => {
  const res = await dlq('frobnicate');
  expect(res.code).toBe(2);
  expect(res.stdout).toMatch(/usage: npm run dlq/);
  expect((await dlq('show')).code).toBe(2);
});
