/**
 * Issue 10, point 1, the broker's own channel close: with the broker's consumer_timeout shortened
 * (this changes the WHOLE broker, hence the serial chaos pass; restored in a finally within
 * seconds) and this file's Temporal frozen, a held delivery makes RabbitMQ close the consumer
 * channel with `406 PRECONDITION_FAILED - delivery acknowledgement on channel N timed out`. The
 * bridge opens a fresh channel and subscribes again by itself; after SIGCONT every signup ends as
 * one row. AMQP_CONSUMER_TIMEOUT_MS stays as configured: this stands for a broker whose timeout
 * is shorter than the service was told, and the bridge's circuit is slowed down so the broker
 * strikes first.
 */
import { type SignupBridge, startSignupBridge } from '../../src/bridge/signup-bridge';
import { loadConfig } from '../../src/config';
import { createRegistry } from '../../src/metrics';
import { queueConsumerCount } from '../harness/run-resources';
import { signupBody } from '../support/fixtures';
import { capturingLogger } from '../support/log-capture';
import { metricValue } from '../support/metrics';
import { type Pipeline, request, startPipeline } from '../support/pipeline';
import { messageCount } from '../harness/queues';
import { BROKER_DEFAULTS, brokerConsumerTimeout, setBrokerConsumerTimeout } from '../harness/rabbit-admin';
import { eventually } from '../support/stack';
import { startTemporalProcess, type TemporalProcess } from '../support/temporal-process';

const SHORT_CONSUMER_TIMEOUT_MS = 5_000;
const SIGNUPS = 3;

let temporal: TemporalProcess;
let p: Pipeline;
let bridge: SignupBridge | undefined;

async function restoreBroker(): Promise<void> {
  await setBrokerConsumerTimeout(BROKER_DEFAULTS.consumerTimeoutMs, BROKER_DEFAULTS.channelTickIntervalMs);
}

beforeAll(async () => {
  temporal = await startTemporalProcess();
  p = await startPipeline({}, { temporal: () => temporal.environment() });
}, 120_000);

afterAll(async () => {
  // Belt and braces: the test restores the broker in its own finally already.
  await restoreBroker();
  await bridge?.stop(1_000);
  await p?.stop();
  await temporal?.remove();
});

async function rowsPerUser(ids: string[]): Promise<number[]> {
  const { rows } = await p.pool.query<{ user_id: string; n: number }>(
    'SELECT user_id, count(*)::int AS n FROM users WHERE user_id = ANY($1::uuid[]) GROUP BY user_id',
    [ids],
  );
  const byId = new Map(rows.map((r) => [r.user_id, r.n]));
  return ids.map((id) => byId.get(id) ?? 0);
}

it('consumer channel closed by the broker (406 ack timeout) while Temporal is frozen: reopened, resubscribed, every signup one row', async () => {
  const logs = capturingLogger('info');
  const registry = createRegistry('worker');
  // A watchdog slower than the broker's timeout, so the broker closes the channel before the circuit hands back.
  const config = loadConfig({ ...p.env, BRIDGE_TEMPORAL_PROBE_INTERVAL_MS: String(10 * 60_000) });
  await p.bridge.stop(1_000);

  const ids: string[] = [];
  try {
    await setBrokerConsumerTimeout(SHORT_CONSUMER_TIMEOUT_MS, 1_000);
    // Channels opened from now on carry the short timeout: this bridge's consumer channel is one.
    bridge = await startSignupBridge({ config, client: p.client, pool: p.pool, logger: logs.logger, registry });
    temporal.freeze();
    for (let i = 0; i < SIGNUPS; i++) {
      const res = await request(p.baseUrl, 'POST', '/signup', signupBody());
      expect(res.status).toBe(202);
      ids.push(res.body.user_id);
    }
    await eventually(
      async () => ((await metricValue(registry, 'onboarding_bridge_consumer_lost_total', { what: 'channel' })) ?? 0) >= 1 || undefined,
      60_000,
      'the broker to close the consumer channel',
    );
  } finally {
    await restoreBroker();
    temporal.thaw();
  }
  expect(await brokerConsumerTimeout()).toContain(String(BROKER_DEFAULTS.consumerTimeoutMs));
  const lost = logs.lines().find((l) => l.msg === 'consumer channel lost; reopening it');
  expect(lost?.reason).toMatch(/PRECONDITION_FAILED - delivery acknowledgement on channel \d+ timed out/);

  await eventually(async () => ((await rowsPerUser(ids)).every((n) => n === 1) ? true : undefined), 120_000, 'every signup onboarded');
  expect(await rowsPerUser(ids)).toEqual(ids.map(() => 1));
  await eventually(async () => ((await messageCount(p.config.amqp.url, p.config.amqp.queue)) === 0 ? true : undefined), 60_000, 'the queue empty');
  await eventually(async () => (bridge?.isConsuming() && (await queueConsumerCount(p.config)) === 1 ? true : undefined), 30_000, 'the bridge consuming');
  expect(logs.lines().some((l) => l.msg === 'consumer channel open again')).toBe(true);
}, 300_000);
