/**
 * Property-based bad input: thousands of generated bodies against the real API and RabbitMQ.
 * Never a 5xx; every body the contract accepts is accepted; nothing else is ever published.
 */
import { Connection } from '@temporalio/client';
import fc from 'fast-check';
import type { Pool } from 'pg';
import { PersonName, SignupMessage, SignupRequest } from '../../src/contract';
import { createSignupPublisher, type SignupPublisher } from '../../src/messaging/signup-publisher';
import { createPasswordPolicy, refineSignupPassword } from '../../src/security/password-policy';
import { startApi } from '../support/pipeline';
import { peekQueue } from '../harness/queues';
import { createTestDatabase, deleteTopology, dropTestDatabase, silentLogger, testConfig, uniqueSuffix } from '../support/stack';

const RUNS = 5_000;
const config = testConfig(uniqueSuffix());
let pool: Pool;
let publisher: SignupPublisher;
let api: Awaited<ReturnType<typeof startApi>>;
let temporalConnection: Connection;

beforeAll(async () => {
  pool = await createTestDatabase(config);
  // No bridge consumes this queue, so it holds exactly what the API published.
  publisher = await createSignupPublisher({ topology: config.amqp, url: config.amqp.url, logger: silentLogger });
  // POST /signup never talks to Temporal; a lazy connection is never opened.
  temporalConnection = Connection.lazy({ address: '127.0.0.1:1' });
  api = await startApi(config, { pool, publisher, temporal: { connection: temporalConnection } });
});

afterAll(async () => {
  await api?.close();
  await publisher?.close();
  await deleteTopology(config);
  await dropTestDatabase(config, pool);
});

const text = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 120 }),
  fc.constantFrom('', ' ', 'Ada', 'Ō\u0301', 'null', '\u0000', 'Ada\u0085', '\uD800', 'x'.repeat(101), '🦄'.repeat(30)),
);
const email = fc.oneof(
  fc.tuple(fc.stringMatching(/^[a-z0-9][a-z0-9._+-]{0,20}$/), fc.domain()).map(([local, domain]) => `${local}@${domain}`),
  fc.emailAddress(),
  fc.tuple(fc.constantFrom(' ', '', '  '), fc.emailAddress()).map(([pad, e]) => `${pad}${e.toUpperCase()}${pad}`),
  text,
);
const password = fc.oneof(fc.string({ minLength: 8, maxLength: 128 }), fc.string({ unit: 'binary', maxLength: 140 }), text);
const anyJson = fc.jsonValue({ maxDepth: 3 });
const field = <T>(good: fc.Arbitrary<T>) => fc.oneof({ weight: 8, arbitrary: good }, { weight: 1, arbitrary: anyJson }, { weight: 1, arbitrary: fc.constant(undefined) });

const signupLike = fc
  .record({
    email: field(email),
    first_name: field(text),
    last_name: field(text),
    password: field(password),
    extra: fc.dictionary(fc.string({ maxLength: 10 }), anyJson, { maxKeys: 3 }),
  })
  .map(({ extra, ...fields }) => JSON.stringify({ ...extra, ...fields }));

// Mostly-valid signups, so that "every valid body is accepted" is tested on hundreds of them.
const validSignup = fc
  .record({
    email: fc.tuple(fc.stringMatching(/^[a-z0-9][a-z0-9._+-]{0,30}$/), fc.domain()).map(([local, domain]) => `${local}@${domain}`),
    first_name: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 }).filter((n) => PersonName.safeParse(n).success),
    last_name: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 }).filter((n) => PersonName.safeParse(n).success),
    password: fc.string({ unit: 'grapheme', minLength: 8, maxLength: 100 }),
  })
  .map((fields) => JSON.stringify(fields));

const body = fc.oneof(
  { weight: 5, arbitrary: signupLike },
  { weight: 1, arbitrary: validSignup },
  { weight: 2, arbitrary: anyJson.map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
  { weight: 1, arbitrary: fc.integer({ min: 16_000, max: 40_000 }).map((n) => JSON.stringify({ email: 'a@b.co', first_name: 'x'.repeat(n), last_name: 'y', password: 'long enough' })) },
);

// The route's own rule: the contract, then the password policy at the configured score.
const SignupWithPolicy = SignupRequest.superRefine(refineSignupPassword(createPasswordPolicy(config.passwordPolicy)));

function expectedStatus(raw: string): number {
  if (Buffer.byteLength(raw) > 16 * 1024) return 413;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return 400;
  }
  // The server reads only objects and arrays as JSON bodies; the contract decides the rest.
  if (typeof parsed !== 'object' || parsed === null) return 400;
  return SignupWithPolicy.safeParse(parsed).success ? 202 : 400;
}

it(`answers ${RUNS} generated bodies without a 5xx, accepting exactly the valid ones`, async () => {
  const acceptedEmails: string[] = [];
  let accepted = 0;
  await fc.assert(
    fc.asyncProperty(body, async (raw) => {
      const res = await fetch(`${api.baseUrl}/signup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw });
      const answer = (await res.json()) as { user_id?: string };
      expect(res.status).toBeLessThan(500);
      expect(res.status).toBe(expectedStatus(raw));
      if (res.status === 202) {
        accepted++;
        acceptedEmails.push(SignupRequest.parse(JSON.parse(raw)).email);
        expect(answer.user_id).toEqual(expect.any(String));
      }
    }),
    { numRuns: RUNS },
  );
  // Enough of both kinds for the property to mean something.
  expect(accepted).toBeGreaterThan(RUNS * 0.05);
  expect(accepted).toBeLessThan(RUNS * 0.9);

  const published = await peekQueue(config.amqp.url, config.amqp.queue);
  expect(published).toHaveLength(accepted);
  for (const msg of published) {
    const parsed = SignupMessage.safeParse(JSON.parse(msg.body));
    expect(parsed.success).toBe(true);
    expect(acceptedEmails).toContain(parsed.data?.email);
  }
}, 600_000);
