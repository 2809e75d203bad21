/**
 * The DLQ over HTTP (GET /dlq, GET /dlq/{id}, POST /dlq/{id}/replay) and erasure's removal of a
 * user's letters, against the real RabbitMQ and Postgres. No bridge consumes here, so a replayed
 * letter stays on the signup queue where the test can see it.
 */
import { randomUUID } from 'node:crypto';
import amqplib from 'amqplib';
import type { SignupMessage } from '../../src/contract';
import { createDeadLetterQueue } from '../../src/dlq/dead-letter-queue';
import { declareTopology } from '../../src/messaging/topology';
import { recordSignupFailed } from '../../src/repositories/signup-request-repository';
import { createSignupRequestRepository } from '../../src/repositories/signup-request-repository';
import { createUserRepository, insertUser } from '../../src/repositories/user-repository';
import { createDeadLetterOperations } from '../../src/use-cases/review-dead-letters';
import { peekQueue } from '../harness/queues';
import { type AdminRoutesApp, startAdminRoutes } from '../support/admin-routes';
import { signupMessage, useTestDatabase } from '../support/fixtures';
import { eventually, silentLogger } from '../support/stack';

const db = useTestDatabase();
let admin: AdminRoutesApp;

beforeAll(async () => {
  const conn = await amqplib.connect(db.config.amqp.url);
  await declareTopology(await conn.createChannel(), db.config.amqp);
  await conn.close();
  admin = await startAdminRoutes({ config: db.config, pool: db.pool, logger: silentLogger, removeTopologyOnClose: true });
});
afterAll(async () => {
  await admin?.close();
});
beforeEach(async () => {
  const conn = await amqplib.connect(db.config.amqp.url);
  const ch = await conn.createChannel();
  await ch.purgeQueue(db.config.amqp.deadLetterQueue);
  await ch.purgeQueue(db.config.amqp.queue);
  await conn.close();
});

/** Into the DLQ as the bridge puts a failed run's message there: nacked, x-death reason `rejected`. */
async function deadLetter(body: Buffer, messageId: string): Promise<void> {
  const conn = await amqplib.connect(db.config.amqp.url);
  try {
    const ch = await conn.createChannel();
    const { queue } = await ch.assertQueue('', {
      exclusive: true,
      arguments: { 'x-dead-letter-exchange': db.config.amqp.deadLetterExchange, 'x-dead-letter-routing-key': db.config.amqp.routingKey },
    });
    ch.sendToQueue(queue, body, { persistent: true, messageId });
    const msg = await eventually(async () => (await ch.get(queue, { noAck: false })) || undefined);
    ch.nack(msg, false, false);
    await ch.close();
  } finally {
    await conn.close();
  }
  await eventually(async () => ((await dlq()).some((m) => m.messageId === messageId) ? true : undefined), 10_000, `${messageId} in the DLQ`);
}

const dlq = () => peekQueue(db.config.amqp.url, db.config.amqp.deadLetterQueue);
const signupLetter = async (signup: SignupMessage) => deadLetter(Buffer.from(JSON.stringify(signup)), signup.user_id);

it('lists without personal data, shows one as the CLI does, and 404s an unknown id', async () => {
  const failed = await signupMessage();
  await recordSignupFailed(db.pool, failed.user_id, 'DuplicateEmail: email already registered');
  await signupLetter(failed);
  const poisonId = `poison-${randomUUID()}`;
  await deadLetter(Buffer.from('{"email": 42}'), poisonId);

  const list = await admin.request('GET', '/dlq');
  expect(list.status).toBe(200);
  expect(list.body.count).toBe(2);
  expect(list.body.letters).toEqual([
    expect.objectContaining({ id: failed.user_id, user_id: failed.user_id, reason: 'workflow-failed', failure_type: 'DuplicateEmail', user: 'none', replay: 'republish', dead_letter_count: 1 }),
    expect.objectContaining({ id: poisonId, user_id: null, reason: 'poison', failure_type: null, replay: 'skip' }),
  ]);
  const listed = JSON.stringify(list.body);
  for (const personal of [failed.email, failed.email.split('@')[0], failed.first_name, failed.last_name, failed.password_hash, '@example.com']) {
    expect(listed).not.toContain(personal);
  }

  const shown = await admin.request('GET', `/dlq/${failed.user_id}`);
  expect(shown.status).toBe(200);
  expect(shown.body).toMatchObject({ id: failed.user_id, workflow_id: `onboard-user-${failed.user_id}`, body: { user_id: failed.user_id, password_hash: '[redacted]', email: '[see masked email]' } });
  expect(shown.body.email).toMatch(/^u\*\*\*@example\.com #[0-9a-f]{8}$/);
  expect(JSON.stringify(shown.body)).not.toContain('$argon2id$');
  expect(JSON.stringify(shown.body)).not.toContain(failed.email);

  expect((await admin.request('GET', `/dlq/${randomUUID()}`)).status).toBe(404);
  expect((await admin.request('POST', `/dlq/${randomUUID()}/replay`)).status).toBe(404);
  expect((await admin.request('GET', `/dlq/${encodeURIComponent('a b')}`)).status).toBe(400);
  // Viewing takes nothing away.
  expect((await dlq()).map((m) => m.messageId)).toEqual([failed.user_id, poisonId]);
});

it('replays one: republished to the signup queue with the confirm; an onboarded user only loses the copy; poison is skipped', async () => {
  const pending = await signupMessage();
  const onboarded = await signupMessage();
  await insertUser(db.pool, onboarded);
  await signupLetter(pending);
  await signupLetter(onboarded);
  const poisonId = `poison-${randomUUID()}`;
  await deadLetter(Buffer.from('not json'), poisonId);

  const replayed = await admin.request('POST', `/dlq/${pending.user_id}/replay`);
  expect(replayed.status).toBe(200);
  expect(replayed.body.outcomes).toEqual([{ id: pending.user_id, outcome: 'replayed', message: 'replayed' }]);
  const queued = await peekQueue(db.config.amqp.url, db.config.amqp.queue);
  expect(queued.map((m) => m.messageId)).toEqual([pending.user_id]);
  expect(JSON.parse(queued[0].body)).toEqual(pending);

  const removed = await admin.request('POST', `/dlq/${onboarded.user_id}/replay`);
  expect(removed.body.outcomes).toEqual([expect.objectContaining({ id: onboarded.user_id, outcome: 'removed' })]);
  const skipped = await admin.request('POST', `/dlq/${poisonId}/replay`);
  expect(skipped.body.outcomes).toEqual([expect.objectContaining({ id: poisonId, outcome: 'skipped' })]);

  expect((await dlq()).map((m) => m.messageId)).toEqual([poisonId]);
  expect((await peekQueue(db.config.amqp.url, db.config.amqp.queue)).map((m) => m.messageId)).toEqual([pending.user_id]);
});

it("erasure's removal takes the user's letters only; the others stay, in order, their bodies untouched", async () => {
  const erased = await signupMessage();
  const others = [await signupMessage(), await signupMessage(), await signupMessage()];
  await signupLetter(others[0]);
  await signupLetter(erased);
  await signupLetter(others[1]);
  // A second letter of the same user, e.g. a replay that failed again.
  await signupLetter(erased);
  await signupLetter(others[2]);
  const before = (await dlq()).filter((m) => m.messageId !== erased.user_id);

  const ops = createDeadLetterOperations({
    queue: createDeadLetterQueue({ url: db.config.amqp.url, topology: db.config.amqp, pool: db.pool }),
    users: createUserRepository(db.pool),
    signupRequests: createSignupRequestRepository(db.pool),
    logger: silentLogger,
  });
  // A listing over HTTP at the same moment waits for the removal instead of hiding the letters from it.
  const [removed, listing] = await Promise.all([ops.removeLettersOf(erased.user_id), admin.request('GET', '/dlq')]);
  expect(removed).toBe(2);
  expect([5, 3]).toContain(listing.body.count);

  const after = await dlq();
  expect(after.map((m) => m.messageId)).toEqual(others.map((o) => o.user_id));
  expect(after.map((m) => m.body)).toEqual(before.map((m) => m.body));
  expect(after.map((m) => m.body).join('\n')).not.toContain(erased.email);
  expect(await ops.removeLettersOf(erased.user_id)).toBe(0);
});
