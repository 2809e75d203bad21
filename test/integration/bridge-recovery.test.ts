/**
 * Issue 10, point 1: every channel, consumer and publisher comes back by itself after a consumer
 * cancel, a channel closed by the broker and a connection loss; while the consumer (or the API's
 * publisher) is down, readiness says why, and liveness fails once it stays down past
 * BRIDGE_CONSUMER_DOWN_LIVENESS_MS (PUBLISHER_DOWN_LIVENESS_MS for the API).
 * Everything here acts on this file's own queue, exchange and connections only.
 * (The broker's 406 consumer-timeout close is in test/chaos/consumer-timeout-close.test.ts.)
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import amqplib, { type Channel, type ChannelModel } from 'amqplib';
import { bridgeConnectionName, bridgeReadinessChecks } from '../../src/bridge/signup-bridge';
import { LivenessFailure } from '../../src/contract';
import { createSignupPublisher } from '../../src/messaging/signup-publisher';
import { declareTopology } from '../../src/messaging/topology';
import { createWorkerHttpApp } from '../../src/worker/http';
import { queueConsumerCount } from '../harness/run-resources';
import { signupBody } from '../support/fixtures';
import { metricValue } from '../support/metrics';
import { type Pipeline, request, startApi, startPipeline } from '../support/pipeline';
import { BROKER_CLOSE_QUEUE, closeChannelsFromBroker, closeConnectionsNamed, connectionPids, consumerChannelPids } from '../harness/rabbit-admin';
import { capturingLogger } from '../support/log-capture';
import { eventually, silentLogger, uniqueSuffix } from '../support/stack';

const LIVENESS_LIMIT_MS = 3_000;

// The bridge's warnings, to see it log what the broker did.
const logs = capturingLogger('warn');
let p: Pipeline;
let admin: ChannelModel;
let workerHttp: Server;
let workerBase: string;

beforeAll(async () => {
  p = await startPipeline(
    { BRIDGE_CONSUMER_DOWN_LIVENESS_MS: String(LIVENESS_LIMIT_MS), PUBLISHER_DOWN_LIVENESS_MS: String(LIVENESS_LIMIT_MS) },
    { logger: logs.logger },
  );
  admin = await amqplib.connect(p.config.amqp.url);
  // The worker's HTTP surface wired as src/worker/main.ts wires it.
  workerHttp = createServer(
    createWorkerHttpApp({ registry: p.workerRegistry, checks: bridgeReadinessChecks(p.bridge), liveness: () => p.bridge.livenessProblem() }),
  );
  await new Promise<void>((resolve) => workerHttp.listen(0, '127.0.0.1', resolve));
  workerBase = `http://127.0.0.1:${(workerHttp.address() as AddressInfo).port}`;
});

afterAll(async () => {
  workerHttp?.close();
  await admin?.close();
  await p?.stop();
});

/** A channel of the test's own for one operator action; a 406/404 closes only it. */
async function withChannel<T>(work: (ch: Channel) => Promise<T>): Promise<T> {
  const ch = await admin.createChannel();
  ch.on('error', () => undefined);
  try {
    return await work(ch);
  } finally {
    await ch.close().catch(() => undefined);
  }
}

/**
 * Runs `work` with an impostor under the bridge's queue name: a classic queue, so every
 * declaration of the real (quorum) one, by the bridge or the publisher, is refused until it is gone.
 */
async function withImpostorQueue(work: () => Promise<void>): Promise<void> {
  const queue = p.config.amqp.queue;
  await eventually(async () => {
    await withChannel(async (ch) => {
      await ch.deleteQueue(queue);
      await ch.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'classic' } });
    });
    return true;
  }, 30_000, 'the impostor queue in place');
  try {
    await work();
  } finally {
    await withChannel((ch) => ch.deleteQueue(queue));
  }
}

async function onboarded(userId: string): Promise<void> {
  await eventually(async () => {
    const { rows } = await p.pool.query('SELECT onboarding_state FROM users WHERE user_id = $1', [userId]);
    return rows[0]?.onboarding_state === 'COMPLETED' ? true : undefined;
  }, 60_000, `user ${userId} onboarded`);
  const { rows } = await p.pool.query('SELECT count(*)::int AS n FROM users WHERE user_id = $1', [userId]);
  expect(rows[0].n).toBe(1);
}

async function consumingAgain(): Promise<void> {
  await eventually(async () => (p.bridge.isConsuming() && (await queueConsumerCount(p.config)) === 1 ? true : undefined), 30_000, 'the bridge consuming again');
  expect(p.bridge.consumerProblem()).toBeNull();
}

async function signupOnboarded(baseUrl = p.baseUrl): Promise<void> {
  const res = await request(baseUrl, 'POST', '/signup', signupBody());
  expect(res.status).toBe(202);
  await onboarded(res.body.user_id);
}

it('consumer cancelled by the broker (its queue deleted): subscribes again; a signup after it is onboarded', async () => {
  await signupOnboarded();
  const cancels = (await metricValue(p.workerRegistry, 'onboarding_bridge_consumer_lost_total', { what: 'consumer' })) ?? 0;
  // What the deleted queue held is gone with it and not counted; this queue is empty here.
  await withChannel((ch) => ch.deleteQueue(p.config.amqp.queue));
  await eventually(
    async () => ((await metricValue(p.workerRegistry, 'onboarding_bridge_consumer_lost_total', { what: 'consumer' })) === cancels + 1 ? true : undefined),
    10_000,
    'the bridge to see the cancel',
  );
  // An operator declares it again (the bridge's fresh channel declares it too; both are idempotent).
  await withChannel((ch) => declareTopology(ch, p.config.amqp));
  await consumingAgain();
  await signupOnboarded();
});

it('consumer channel closed by the broker (a channel-level 404): logged, reopened on the same connection, resubscribed; a signup after it is onboarded', async () => {
  const name = bridgeConnectionName(p.config.amqp.queue);
  const [connection] = await connectionPids(name);
  const closed = await consumerChannelPids(name);
  expect(closed).toHaveLength(1);
  await closeChannelsFromBroker(closed);
  await eventually(async () => {
    const open = await consumerChannelPids(name);
    return open.length === 1 && open[0] !== closed[0] ? true : undefined;
  }, 30_000, 'the bridge consuming on a fresh channel');
  // A channel close, not a connection loss.
  expect(await connectionPids(name)).toEqual([connection]);
  const lost = logs.lines().find((l) => l.msg === 'consumer channel lost; reopening it' && String(l.reason).includes(BROKER_CLOSE_QUEUE));
  expect(lost?.reason).toMatch(/^Channel closed by server: 404 \(NOT-FOUND\) with message "NOT_FOUND - no queue 'chaos: the broker closes this channel'/);
  await consumingAgain();
  await signupOnboarded();
});

it('connection closed by the broker: the bridge reconnects, resubscribes and onboards', async () => {
  const name = bridgeConnectionName(p.config.amqp.queue);
  const [before] = await connectionPids(name);
  const lost = (await metricValue(p.workerRegistry, 'onboarding_bridge_consumer_lost_total', { what: 'channel' })) ?? 0;
  expect(await closeConnectionsNamed(name, 'test: connection loss')).toBe(1);
  await eventually(async () => {
    const pids = await connectionPids(name);
    return pids.length === 1 && pids[0] !== before ? true : undefined;
  }, 30_000, 'a new bridge connection');
  await consumingAgain();
  expect(await metricValue(p.workerRegistry, 'onboarding_bridge_consumer_lost_total', { what: 'channel' })).toBeGreaterThan(lost);
  await signupOnboarded();
});

it('publisher: its confirm channel closed by the broker (404, exchange deleted) comes back; a 2xx only after a confirm', async () => {
  await withChannel((ch) => ch.deleteExchange(p.config.amqp.exchange));
  // The publish that meets the missing exchange is refused, never answered 2xx.
  const refused = await request(p.baseUrl, 'POST', '/signup', signupBody());
  expect(refused.status).toBe(503);
  expect(refused.body.service).toBe('rabbitmq');
  // The fresh channel declares the exchange and its binding again.
  await eventually(async () => (p.publisher.isConnected() ? true : undefined), 30_000, 'the publish channel open again');
  const accepted = await eventually(async () => {
    const res = await request(p.baseUrl, 'POST', '/signup', signupBody());
    return res.status === 202 ? res : undefined;
  }, 30_000, 'a signup accepted again');
  await onboarded(accepted.body.user_id);
});

it('publisher: its connection closed by the broker comes back by itself', async () => {
  const name = `onboarding-api ${uniqueSuffix()}`;
  const publisher = await createSignupPublisher({ topology: p.config.amqp, url: p.config.amqp.url, logger: silentLogger, connectionName: name });
  const api = await startApi(p.config, { pool: p.pool, publisher, temporal: p.temporal });
  try {
    await signupOnboarded(api.baseUrl);
    const [before] = await connectionPids(name);
    expect(await closeConnectionsNamed(name, 'test: connection loss')).toBe(1);
    await eventually(async () => {
      const pids = await connectionPids(name);
      return pids.length === 1 && pids[0] !== before && publisher.isConnected() ? true : undefined;
    }, 30_000, 'the publisher reconnected');
    await signupOnboarded(api.baseUrl);
  } finally {
    await api.close();
    await publisher.close();
  }
});

it('a consumer that cannot come back says why in readiness, fails liveness past the limit, and heals when it can', async () => {
  await withImpostorQueue(async () => {
    const ready = await eventually(async () => {
      const res = await request(workerBase, 'GET', '/readyz');
      return res.status === 503 && /inequivalent arg/.test(res.body.dependencies.rabbitmq.error ?? '') ? res : undefined;
    }, 30_000, 'readiness to name the refused declaration');
    expect(ready.body.dependencies.rabbitmq.error).toMatch(/^not consuming for \d+ s: consumer channel cannot be opened: .*PRECONDITION_FAILED/);
    const live = await eventually(async () => {
      const res = await request(workerBase, 'GET', '/healthz');
      return res.status === 503 ? res : undefined;
    }, 30_000, 'liveness to fail past the limit');
    expect(live.body).toEqual({ status: 'failing', reason: expect.stringMatching(/^consumer down for \d+ s \(limit 3 s\): .*inequivalent arg/) });
  });
  await consumingAgain();
  expect((await request(workerBase, 'GET', '/healthz')).body).toEqual({ status: 'ok' });
  const ready = await request(workerBase, 'GET', '/readyz');
  expect(ready.body.dependencies.rabbitmq.status).toBe('up');
  await signupOnboarded();
});

it('an API whose publisher cannot come back says so in readiness, fails liveness past the limit (the reason in its log), and heals when it can', async () => {
  const name = `onboarding-api ${uniqueSuffix()}`;
  const apiLogs = capturingLogger('warn');
  const publisher = await createSignupPublisher({ topology: p.config.amqp, url: p.config.amqp.url, logger: silentLogger, connectionName: name });
  const api = await startApi(p.config, { pool: p.pool, publisher, temporal: p.temporal, logger: apiLogs.logger });
  const admin = { authorization: `Bearer ${p.config.security.adminToken}` };
  try {
    expect((await request(api.baseUrl, 'GET', '/healthz')).body).toEqual({ status: 'ok' });
    await withImpostorQueue(async () => {
      // The broker closes its connection; it reconnects, and its fresh channel's declaration is refused.
      expect(await closeConnectionsNamed(name, 'test: connection loss')).toBe(1);
      // The admin listener names the dependency, by its fixed code; the public one says not ready, nothing more.
      const ready = await eventually(async () => {
        const res = await request(api.adminBaseUrl, 'GET', '/readyz', undefined, admin);
        return res.status === 503 && res.body.dependencies.rabbitmq.status === 'down' ? res : undefined;
      }, 30_000, 'readiness to report the publisher down');
      expect(ready.body.dependencies.rabbitmq).toEqual({ status: 'down', latency_ms: expect.any(Number), failure: 'not_connected' });
      expect((await request(api.baseUrl, 'GET', '/readyz')).body).toEqual({ status: 'not_ready' });
      const live = await eventually(async () => {
        const res = await request(api.baseUrl, 'GET', '/healthz');
        return res.status === 503 ? res : undefined;
      }, 30_000, 'liveness to fail past the limit');
      // The public answer carries no reason (a driver's text); the log has it, naming the refused declaration.
      expect(live.body).toEqual({ status: 'failing' });
      const logged = await eventually(
        async () => apiLogs.lines().find((l) => l.msg === 'liveness failing' && /inequivalent arg/.test(l.reason ?? '')),
        10_000,
        'the liveness reason in the log',
      );
      expect(logged.reason).toMatch(/^publisher down for \d+ s \(limit 3 s\): publish channel cannot be opened: .*inequivalent arg/);
      // As the API's OpenAPI document says.
      expect(LivenessFailure.safeParse(live.body).success).toBe(true);
      const doc = (await request(api.baseUrl, 'GET', '/openapi.json')).body;
      expect(doc.paths['/healthz'].get.responses['503'].content['application/json'].schema.$ref).toBe('#/components/schemas/LivenessFailure');
      // A signup meanwhile is refused, never half-done.
      const refused = await request(api.baseUrl, 'POST', '/signup', signupBody());
      expect(refused.status).toBe(503);
    });
    await eventually(async () => (publisher.isConnected() ? true : undefined), 30_000, 'the publisher back');
    expect(await request(api.baseUrl, 'GET', '/healthz')).toMatchObject({ status: 200, body: { status: 'ok' } });
    await consumingAgain();
    await signupOnboarded(api.baseUrl);
  } finally {
    await api.close();
    await publisher.close();
  }
});
