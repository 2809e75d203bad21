/**
 * Issue 10, point 3: what waiting in this process cannot heal is not retried in a loop that holds
 * the delivery. A run result this bridge cannot decrypt (the worker encrypts with key k2, this
 * bridge has only k1, as during a key rotation) and a contract version it does not read are each
 * logged, counted, named by readiness, handed back for a process that can handle them, and
 * dead-lettered with the reason `npm run dlq -- list` shows once BRIDGE_MAX_DELIVERIES is reached.
 */
import { randomBytes } from 'node:crypto';
import { type SignupBridge, startSignupBridge } from '../../src/bridge/signup-bridge';
import { type Env, loadConfig } from '../../src/config';
import { createRegistry, type Registry } from '../../src/metrics';
import { signupBody, signupMessage } from '../support/fixtures';
import { metricValue } from '../support/metrics';
import { createTemporalClient } from '../../src/temporal/client';
import { type Pipeline, request, startPipeline } from '../support/pipeline';
import { runScript } from '../support/processes';
import { messageCount, peekQueue, publishRaw } from '../harness/queues';
import { eventually, silentLogger } from '../support/stack';

const K1 = `k1:${randomBytes(32).toString('base64')}`;
const K2 = `k2:${randomBytes(32).toString('base64')}`;
const MAX_DELIVERIES = 3;

let p: Pipeline;
const started: SignupBridge[] = [];

beforeAll(async () => {
  // The worker and the API have rotated to k2 (k1 still decrypts); each test starts its own bridges.
  p = await startPipeline({ PAYLOAD_ENCRYPTION_KEYS: `${K2},${K1}`, BRIDGE_MAX_DELIVERIES: String(MAX_DELIVERIES), BRIDGE_HAND_BACK_DELAY_MS: '300' });
  await p.bridge.stop(1_000);
});

afterEach(async () => {
  await Promise.all(started.splice(0).map((b) => b.stop(1_000)));
});

afterAll(() => p?.stop());

async function startBridge(env: Env): Promise<{ bridge: SignupBridge; registry: Registry }> {
  const config = loadConfig({ ...p.env, ...env });
  const registry = createRegistry('worker');
  const bridge = await startSignupBridge({ config, client: createTemporalClient(p.temporal.connection, config).client, pool: p.pool, logger: silentLogger, registry });
  started.push(bridge);
  return { bridge, registry };
}

const count = async (registry: Registry, name: string, labels: Record<string, string>) => (await metricValue(registry, name, labels)) ?? 0;
const dlqIds = async () => (await peekQueue(p.config.amqp.url, p.config.amqp.deadLetterQueue)).map((m) => m.messageId);

async function dlqLine(id: string): Promise<string> {
  const list = await runScript('scripts/dlq.js', ['list'], p.env);
  expect(list.code).toBe(0);
  return list.stdout.split('\n').find((l) => l.startsWith(id)) ?? '';
}

it('a result encrypted with a key this bridge lacks: handed back, counted, named by readiness, then dead-lettered with the reason', async () => {
  const { bridge, registry } = await startBridge({ PAYLOAD_ENCRYPTION_KEYS: K1 });
  const accepted = await request(p.baseUrl, 'POST', '/signup', signupBody());
  expect(accepted.status).toBe(202);
  const id = accepted.body.user_id as string;

  await eventually(async () => ((await dlqIds()).includes(id) ? true : undefined), 60_000, 'the letter in the DLQ');
  expect(await count(registry, 'onboarding_bridge_delivery_errors_total', { kind: 'undecodable_result' })).toBe(MAX_DELIVERIES);
  expect(await count(registry, 'onboarding_bridge_hand_backs_total', { reason: 'undecodable_result' })).toBe(MAX_DELIVERIES - 1);
  expect(await count(registry, 'onboarding_bridge_nacks_total', { reason: 'undecodable_result' })).toBe(1);
  expect(await count(registry, 'onboarding_bridge_acks_total', {})).toBe(0);
  expect(bridge.deliveryProblem()).toMatch(/^payload key k2 missing \(3 deliveries this process could not handle/);
  // Not a broker problem: the consumer kept consuming throughout.
  expect(bridge.isConsuming()).toBe(true);
  expect(bridge.consumerProblem()).toBeNull();

  // Listed as a letter no process could handle, not as a failed run, with the recorded reason.
  const line = await dlqLine(id);
  expect(line).toMatch(new RegExp(`^${id}\\s+unhandleable\\s`));
  expect(line).toContain(`payload key k2 missing; dead-lettered after ${MAX_DELIVERIES} deliveries that no process could handle`);
  // The run itself completed (its user row is there, once); only its result was unreadable here.
  const { rows } = await p.pool.query('SELECT count(*)::int AS n FROM users WHERE user_id = $1', [id]);
  expect(rows[0].n).toBe(1);
});

it('handed back, it is taken by a process that has the key, and nothing is dead-lettered', async () => {
  const lacking = await startBridge({ PAYLOAD_ENCRYPTION_KEYS: K1, BRIDGE_MAX_DELIVERIES: '1000' });
  const accepted = await request(p.baseUrl, 'POST', '/signup', signupBody());
  expect(accepted.status).toBe(202);
  const id = accepted.body.user_id as string;
  await eventually(async () => ((await count(lacking.registry, 'onboarding_bridge_hand_backs_total', { reason: 'undecodable_result' })) >= 1 ? true : undefined), 60_000, 'a hand-back');

  const able = await startBridge({});
  await eventually(async () => ((await count(able.registry, 'onboarding_bridge_acks_total', {})) === 1 ? true : undefined), 60_000, 'the able bridge to ack it');
  expect(await messageCount(p.config.amqp.url, p.config.amqp.queue)).toBe(0);
  expect(await dlqIds()).not.toContain(id);
  expect(able.bridge.deliveryProblem()).toBeNull();
  expect(lacking.bridge.deliveryProblem()).toMatch(/^payload key k2 missing/);
});

it('a contract version this process does not read: handed back, then dead-lettered with the reason', async () => {
  const { bridge, registry } = await startBridge({});
  const message = { ...(await signupMessage()), version: 2 };
  await publishRaw(p.config.amqp.url, p.config.amqp.exchange, p.config.amqp.routingKey, Buffer.from(JSON.stringify(message)), message.user_id);

  await eventually(async () => ((await dlqIds()).includes(message.user_id) ? true : undefined), 60_000, 'the letter in the DLQ');
  expect(await count(registry, 'onboarding_bridge_delivery_errors_total', { kind: 'unknown_contract_version' })).toBe(MAX_DELIVERIES);
  expect(await count(registry, 'onboarding_bridge_hand_backs_total', { reason: 'unknown_contract_version' })).toBe(MAX_DELIVERIES - 1);
  expect(await count(registry, 'onboarding_bridge_nacks_total', { reason: 'unknown_contract_version' })).toBe(1);
  expect(bridge.deliveryProblem()).toMatch(/^signup contract version 2 unknown here \(this process reads version 1\)/);
  const { rows } = await p.pool.query('SELECT failure_reason FROM signup_requests WHERE user_id = $1', [message.user_id]);
  expect(rows[0].failure_reason).toBe(`signup contract version 2 unknown here (this process reads version 1); dead-lettered after ${MAX_DELIVERIES} deliveries that no process could handle`);
  // The DLQ tool lists it as a letter no process could handle (not poison), with the recorded reason.
  const line = await dlqLine(message.user_id);
  expect(line).toMatch(new RegExp(`^${message.user_id}\\s+unhandleable\\s`));
  expect(line).toContain(rows[0].failure_reason);
});
