/**
 * Issue 10, point 2: no delivery is held near the broker's timeout. While Temporal does not
 * answer (frozen, or stopped), the bridge pauses consuming, hands back what it holds long
 * before its hold limit, does not redeliver in a loop, and resumes and drains when Temporal is
 * back. Against a Temporal dev server of this file's own, which it freezes and stops.
 */
import { Client, Connection, defaultGrpcRetryOptions, makeGrpcRetryInterceptor } from '@temporalio/client';
import { startSignupBridge } from '../../src/bridge/signup-bridge';
import { loadConfig } from '../../src/config';
import { createRegistry } from '../../src/metrics';
import { encryptedDataConverter } from '../../src/temporal/payload-encryption';
import { signupBody } from '../support/fixtures';
import { metricValue } from '../support/metrics';
import { type Pipeline, request, startPipeline } from '../support/pipeline';
import { queueConsumerCount } from '../harness/run-resources';
import { messageCount } from '../harness/queues';
import { eventually, silentLogger } from '../support/stack';
import { startTemporalProcess, type TemporalProcess } from '../support/temporal-process';

// Far longer than any wait below: whatever is handed back here, the circuit handed back.
const HOLD_LIMIT_MS = 10 * 60_000;
const PROBE_INTERVAL_MS = 1_000;
const SIGNUPS = 5;

let temporal: TemporalProcess;
let p: Pipeline;

beforeAll(async () => {
  temporal = await startTemporalProcess();
  p = await startPipeline(
    { BRIDGE_MAX_HOLD_MS: String(HOLD_LIMIT_MS), BRIDGE_TEMPORAL_PROBE_INTERVAL_MS: String(PROBE_INTERVAL_MS) },
    { temporal: () => temporal.environment() },
  );
}, 120_000);

afterAll(async () => {
  await p?.stop();
  await temporal?.remove();
});

const deliveries = async () => (await metricValue(p.workerRegistry, 'onboarding_bridge_deliveries_total', { redelivered: 'false' }) ?? 0)
  + (await metricValue(p.workerRegistry, 'onboarding_bridge_deliveries_total', { redelivered: 'true' }) ?? 0);

async function acceptSignups(n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const res = await request(p.baseUrl, 'POST', '/signup', signupBody());
    expect(res.status).toBe(202);
    ids.push(res.body.user_id);
  }
  return ids;
}

async function rowsPerUser(ids: string[]): Promise<number[]> {
  const { rows } = await p.pool.query<{ user_id: string; n: string }>(
    'SELECT user_id, count(*) AS n FROM users WHERE user_id = ANY($1::uuid[]) GROUP BY user_id',
    [ids],
  );
  const byId = new Map(rows.map((r) => [r.user_id, Number(r.n)]));
  return ids.map((id) => byId.get(id) ?? 0);
}

/** While Temporal is out: paused (no consumer on the queue), everything handed back, and no redelivery loop. */
async function expectPausedWithEverythingHandedBack(ids: string[]): Promise<void> {
  // Seconds on a quiet machine; over a minute when the benchmark test shares both cores.
  await eventually(async () => {
    const consumers = await queueConsumerCount(p.config);
    const ready = await messageCount(p.config.amqp.url, p.config.amqp.queue);
    return consumers === 0 && ready === ids.length ? true : undefined;
  }, 110_000, 'the consumer paused and every held delivery handed back');
  expect(p.bridge.isConsuming()).toBe(false);
  expect(p.bridge.inFlight()).toBe(0);
  expect(p.bridge.deliveryProblem()).toMatch(/^not consuming: paused since .* because Temporal/);
  // RabbitMQ itself is fine: readiness names the bridge, not the broker.
  expect(p.bridge.consumerProblem()).toBeNull();
  expect(await metricValue(p.workerRegistry, 'onboarding_bridge_temporal_circuit_open')).toBe(1);
  expect(await metricValue(p.workerRegistry, 'onboarding_bridge_hand_backs_total', { reason: 'temporal_unreachable' })).toBeGreaterThanOrEqual(1);

  // Several probe intervals later nothing has been delivered again: the messages wait in the queue.
  const before = await deliveries();
  await new Promise((r) => setTimeout(r, 5 * PROBE_INTERVAL_MS));
  expect(await deliveries()).toBe(before);
  expect(await messageCount(p.config.amqp.url, p.config.amqp.queue)).toBe(ids.length);
}

async function expectDrained(ids: string[]): Promise<void> {
  await eventually(async () => ((await rowsPerUser(ids)).every((n) => n === 1) ? true : undefined), 90_000, 'every signup onboarded');
  expect(await rowsPerUser(ids)).toEqual(ids.map(() => 1));
  // Settled, not only ready: a delivery still held (its run done, its outcome on the way) would be
  // handed back by the next case's outage and count there as one of its own.
  await eventually(async () => ((await messageCount(p.config.amqp.url, p.config.amqp.queue)) === 0 && p.bridge.inFlight() === 0 ? true : undefined), 30_000, 'the queue empty and every delivery settled');
  expect(await queueConsumerCount(p.config)).toBe(1);
  expect(p.bridge.isConsuming()).toBe(true);
  expect(p.bridge.deliveryProblem()).toBeNull();
  expect(await metricValue(p.workerRegistry, 'onboarding_bridge_temporal_circuit_open')).toBe(0);
}

it('Temporal frozen (SIGSTOP): pauses, hands back before the hold limit, does not spin; resumes and drains after SIGCONT', async () => {
  const warmUp = await acceptSignups(1);
  await expectDrained(warmUp);

  temporal.freeze();
  let ids: string[];
  try {
    ids = await acceptSignups(SIGNUPS);
    await expectPausedWithEverythingHandedBack(ids);
  } finally {
    temporal.thaw();
  }
  await expectDrained(ids);
}, 240_000);

it('Temporal stopped: the same; resumes and drains after the restart', async () => {
  const handedBack0 = (await metricValue(p.workerRegistry, 'onboarding_bridge_hand_backs_total', { reason: 'temporal_unreachable' })) ?? 0;
  await temporal.stop();
  let ids: string[];
  try {
    ids = await acceptSignups(SIGNUPS);
    await expectPausedWithEverythingHandedBack(ids);
    expect(await metricValue(p.workerRegistry, 'onboarding_bridge_hand_backs_total', { reason: 'temporal_unreachable' })).toBeGreaterThan(handedBack0);
  } finally {
    await temporal.start();
  }
  await expectDrained(ids);
}, 240_000);

it('a run failing with transport errors is retried a bounded number of times, then opens the circuit', async () => {
  // A client that gives up on the first UNAVAILABLE, and a watchdog too slow to get there first,
  // so what opens the circuit here is the run's own transport errors.
  const connection = await Connection.connect({
    address: temporal.address,
    interceptors: [makeGrpcRetryInterceptor(defaultGrpcRetryOptions({ maxAttempts: 1 }))],
  });
  const client = new Client({ connection, dataConverter: encryptedDataConverter(p.payloadCodec) });
  const config = loadConfig({ ...p.env, BRIDGE_TEMPORAL_PROBE_INTERVAL_MS: String(10 * 60_000) });
  const registry = createRegistry('worker');
  await p.bridge.stop(1_000);
  const bridge = await startSignupBridge({ config, client, pool: p.pool, logger: silentLogger, registry });
  let ids: string[] = [];
  try {
    await temporal.stop();
    try {
      ids = await acceptSignups(1);
      await eventually(async () => ((await metricValue(registry, 'onboarding_bridge_temporal_circuit_open')) === 1 ? true : undefined), 60_000, 'the circuit to open');
      expect(await metricValue(registry, 'onboarding_bridge_delivery_errors_total', { kind: 'transport' })).toBe(3);
      expect(await metricValue(registry, 'onboarding_bridge_hand_backs_total', { reason: 'temporal_unreachable' })).toBe(1);
      await eventually(async () => ((await queueConsumerCount(p.config)) === 0 ? true : undefined), 10_000, 'the consumer paused');
      expect(await messageCount(p.config.amqp.url, p.config.amqp.queue)).toBe(1);
      expect(bridge.deliveryProblem()).toMatch(/because Temporal unreachable/);
    } finally {
      await temporal.start();
    }
    await eventually(async () => ((await rowsPerUser(ids)).every((n) => n === 1) ? true : undefined), 90_000, 'the signup onboarded');
    expect(bridge.isConsuming()).toBe(true);
  } finally {
    await bridge.stop(1_000);
    await connection.close();
  }
});
