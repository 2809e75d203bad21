/**
 * The signup use case on the real Postgres and RabbitMQ, without HTTP: what it publishes and
 * records, how it refuses a registered e-mail in each duplicate mode, and that an outage of
 * either dependency leaves nothing half-done.
 */
import { hashPassword } from '../../src/api/password';
import { SignupMessage, SignupRequest } from '../../src/contract';
import { EmailAlreadyRegisteredError, ServiceUnavailableError } from '../../src/errors';
import { createSignupPublisher, type SignupPublisher } from '../../src/messaging/signup-publisher';
import { createSignupRequestRepository } from '../../src/repositories/signup-request-repository';
import { createUserRepository, insertUser } from '../../src/repositories/user-repository';
import { createSubmitSignup, type SubmitSignupDeps } from '../../src/use-cases/submit-signup';
import { signupBody, signupMessage, unreachablePostgres, useTestDatabase } from '../support/fixtures';
import { capturingLogger } from '../support/log-capture';
import { messageCount, peekQueue } from '../harness/queues';
import { deleteTopology, silentLogger, uniqueSuffix } from '../support/stack';

const db = useTestDatabase();
let publisher: SignupPublisher;
const logs = capturingLogger('info');
let hashes = 0;

beforeAll(async () => {
  // No consumer: the queue holds exactly what the use case published.
  publisher = await createSignupPublisher({ topology: db.config.amqp, url: db.config.amqp.url, logger: silentLogger });
});
afterAll(async () => {
  await publisher?.close();
  await deleteTopology(db.config);
});

function submitSignupWith(overrides: Partial<SubmitSignupDeps> = {}) {
  return createSubmitSignup({
    users: createUserRepository(db.pool),
    signupRequests: createSignupRequestRepository(db.pool),
    publisher,
    hashPassword: (password) => {
      hashes++;
      return hashPassword(password);
    },
    duplicateSignupResponse: 'conflict',
    logger: logs.logger,
    ...overrides,
  });
}

const published = () => messageCount(db.config.amqp.url, db.config.amqp.queue);
const recorded = async (userId: string) =>
  (await db.pool.query('SELECT 1 FROM signup_requests WHERE user_id = $1', [userId])).rowCount === 1;
const requestCount = async () => (await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM signup_requests')).rows[0].n;

async function registeredUser() {
  const existing = await signupMessage();
  await insertUser(db.pool, existing);
  return existing;
}

it('publishes the signup with an argon2id hash and the request id, records it, and answers accepted', async () => {
  const requestId = `req-${uniqueSuffix()}`;
  const signup = SignupRequest.parse(signupBody({ email: ` Ada.${uniqueSuffix()}@Example.com ` }));
  const before = await published();
  const result = await submitSignupWith()(signup, requestId);

  expect(result).toEqual({ userId: expect.stringMatching(/^[0-9a-f-]{36}$/) });
  expect(await published()).toBe(before + 1);
  const message = (await peekQueue(db.config.amqp.url, db.config.amqp.queue)).find((m) => m.messageId === result.userId);
  const body = SignupMessage.parse(JSON.parse(message?.body ?? 'null'));
  expect(body).toMatchObject({ user_id: result.userId, email: signup.email, first_name: 'Ada', request_id: requestId });
  expect(body.password_hash).toMatch(/^\$argon2id\$/);
  expect(message?.body).not.toContain(signup.password);
  expect(message?.headers).toMatchObject({ 'x-request-id': requestId });
  expect(await recorded(result.userId)).toBe(true);

  const line = logs.lines().find((l) => l.msg === 'signup accepted' && l.request_id === requestId);
  expect(line).toMatchObject({ user_id: result.userId, email: 'a***@example.com' });
});

it('conflict mode: refuses a registered e-mail, in any case, saying nothing of the registered user; hashes, publishes and records nothing', async () => {
  const existing = await registeredUser();
  const before = { published: await published(), requests: await requestCount(), hashes };
  const err = await submitSignupWith()(SignupRequest.parse(signupBody({ email: existing.email.toUpperCase() })), 'req-dup').catch((e: unknown) => e);

  expect(err).toBeInstanceOf(EmailAlreadyRegisteredError);
  expect(Object.keys(err as object)).toEqual(['name']);
  expect(JSON.stringify(err)).not.toContain(existing.user_id);
  expect({ published: await published(), requests: await requestCount(), hashes }).toEqual(before);
});

it('accepted mode: a registered e-mail goes the way of a new one: hashed, published under a new id, recorded', async () => {
  const existing = await registeredUser();
  const before = { published: await published(), hashes };
  const result = await submitSignupWith({ duplicateSignupResponse: 'accepted' })(SignupRequest.parse(signupBody({ email: existing.email })), 'req-hidden');

  expect(result).toEqual({ userId: expect.any(String) });
  expect(result.userId).not.toBe(existing.user_id);
  expect(await recorded(result.userId)).toBe(true);
  expect({ published: await published(), hashes }).toEqual({ published: before.published + 1, hashes: before.hashes + 1 });
  // The log line is the one of a new signup: nothing in the API's log tells them apart.
  const line = logs.lines().find((l) => l.request_id === 'req-hidden');
  expect(line).toMatchObject({ msg: 'signup accepted', user_id: result.userId });
});

it('conflict mode, a retry under an Idempotency-Key whose first run was onboarded: its own row is not a duplicate', async () => {
  const existing = await registeredUser();
  const result = await submitSignupWith()(SignupRequest.parse(signupBody({ email: existing.email })), 'req-retry', existing.user_id);
  expect(result).toEqual({ userId: existing.user_id });
});

it('hashes the NFKC form of the password: one password typed two ways is one secret', async () => {
  const seen: string[] = [];
  const submit = submitSignupWith({ hashPassword: async (password) => (seen.push(password), hashPassword(password)) });
  // "Ａ" (full-width) and "ﬁ" (ligature) become "A" and "fi" under NFKC.
  await submit(SignupRequest.parse(signupBody({ password: 'Ａ ﬁne passphrase' })), 'req-nfkc');
  expect(seen).toEqual(['A fine passphrase']);
});

it('Postgres unreachable: ServiceUnavailableError naming postgres, before anything is hashed or published', async () => {
  const unreachable = await unreachablePostgres();
  try {
    const before = { published: await published(), hashes };
    const submitSignup = submitSignupWith({ users: createUserRepository(unreachable) });
    const err = await submitSignup(SignupRequest.parse(signupBody()), 'req-pg-down').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServiceUnavailableError);
    expect(err).toMatchObject({ service: 'postgres' });
    expect({ published: await published(), hashes }).toEqual(before);
  } finally {
    await unreachable.end();
  }
});

it('broker unreachable: ServiceUnavailableError naming rabbitmq, and no request recorded', async () => {
  const down = await createSignupPublisher({ topology: db.config.amqp, url: 'amqp://guest:guest@127.0.0.1:1', logger: silentLogger, waitForConnect: false });
  try {
    const before = await requestCount();
    const err = await submitSignupWith({ publisher: down })(SignupRequest.parse(signupBody()), 'req-mq-down').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServiceUnavailableError);
    expect(err).toMatchObject({ service: 'rabbitmq' });
    expect(await requestCount()).toBe(before);
  } finally {
    await down.close();
  }
});

it('still accepts a published signup whose request cannot be recorded: the message is what counts', async () => {
  await db.pool.query('ALTER TABLE signup_requests ADD CONSTRAINT refuse_all CHECK (false) NOT VALID');
  try {
    const before = await published();
    const result = await submitSignupWith()(SignupRequest.parse(signupBody()), 'req-unrecorded');
    expect(await published()).toBe(before + 1);
    expect(await recorded(result.userId)).toBe(false);
    expect(logs.lines().find((l) => l.msg === 'could not record the accepted signup' && l.user_id === result.userId)).toBeDefined();
  } finally {
    await db.pool.query('ALTER TABLE signup_requests DROP CONSTRAINT refuse_all');
  }
});
