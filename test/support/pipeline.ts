/**
 * The whole service in this test process against the real services: the API on an ephemeral
 * port, the publisher, the bridge consumer and the Temporal worker, all on names of their own.
 */
import type { AddressInfo } from 'node:net';
import amqplib from 'amqplib';
import { createServer, type Server } from 'node:http';
import type { Client } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import type { Express } from 'express';
import type { Pool } from 'pg';
import { createApps } from '../../src/api/app';
import { type SignupBridge, startSignupBridge } from '../../src/bridge/signup-bridge';
import { type Config, type Env, loadConfig } from '../../src/config';
import type { Logger } from '../../src/logger';
import { createSignupPublisher, type SignupPublisher } from '../../src/messaging/signup-publisher';
import type { Tracing } from '../../src/telemetry/tracing';
import { createTemporalClient } from '../../src/temporal/client';
import { lazyTemporalConnection } from '../../src/temporal/connection';
import { type ApiMetrics, createApiMetrics, createRegistry, createVerificationMetrics, type Registry } from '../../src/metrics';
import { createEventPublisher, type EventPublisher } from '../../src/events/event-publisher';
import { createMailer } from '../../src/mail/mailer';
import { createOnboardingWorker } from '../../src/worker/onboarding-worker';
import {
  createTestDatabase,
  deleteTopology,
  dropTestDatabase,
  silentLogger,
  startTemporal,
  testEnv,
  uniqueSuffix,
} from './stack';

export interface Pipeline {
  config: Config;
  /** The environment that config came from, for running the real entry points against it. */
  env: Env;
  pool: Pool;
  /** The dev server; its own `client` has no codec and so sees history as Temporal stores it. */
  temporal: TestWorkflowEnvironment;
  /** A client with the service's encryption codec, as the API and the bridge use. */
  client: Client;
  payloadCodec: PayloadCodec;
  publisher: SignupPublisher;
  bridge: SignupBridge;
  /** The public listener. */
  baseUrl: string;
  /** The admin listener (the full record, PUT, /metrics, detailed /readyz, the codec). */
  adminBaseUrl: string;
  /** The API's public Express app, for tests that inspect its routes. */
  app: Express;
  /** The API's admin Express app. */
  adminApp: Express;
  /** What the API and the worker process would each serve on /metrics. */
  apiRegistry: Registry;
  workerRegistry: Registry;
  stop(): Promise<void>;
}

/** What the API needs of Temporal: a test environment, or a bare (even lazy) connection. */
export type TemporalConnection = Pick<TestWorkflowEnvironment, 'connection'>;

export async function startApi(
  config: Config,
  deps: {
    pool: Pool;
    publisher: Pick<SignupPublisher, 'publishSignup' | 'isConnected' | 'downReason'>;
    temporal: TemporalConnection;
    logger?: Logger;
    hashPassword?: (password: string) => Promise<string>;
    metrics?: { registry: Registry; api: ApiMetrics };
    /** A port chosen ahead, e.g. the one PUBLIC_BASE_URL names; otherwise any free one. */
    port?: number;
    /** The events publisher erasure announces user.erased on; without it the API opens (and closes) one of its own. */
    events?: EventPublisher;
    tracing?: Tracing;
  },
) {
  const { client, payloadCodec } = createTemporalClient(deps.temporal.connection, config, deps.tracing);
  const registry = deps.metrics?.registry ?? createRegistry('api');
  const metrics = deps.metrics?.api ?? createApiMetrics(registry);
  const logger = deps.logger ?? silentLogger;
  const events =
    deps.events ?? createEventPublisher({ url: config.events.url, exchange: config.events.exchange, confirmTimeoutMs: config.events.publishConfirmTimeoutMs, logger });
  const { publicApp: app, adminApp } = createApps({
    config,
    events,
    logger,
    pool: deps.pool,
    publisher: deps.publisher,
    temporal: client,
    payloadCodec,
    hashPassword: deps.hashPassword,
    registry,
    metrics,
  });
  const server: Server = createServer(app);
  await new Promise<void>((resolve) => server.listen(deps.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const adminServer: Server = createServer(adminApp);
  await new Promise<void>((resolve) => adminServer.listen(0, '127.0.0.1', resolve));
  const close = (s: Server) =>
    new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  return {
    app,
    adminApp,
    baseUrl: `http://127.0.0.1:${port}`,
    adminBaseUrl: `http://127.0.0.1:${(adminServer.address() as AddressInfo).port}`,
    close: async () => {
      await Promise.all([close(server), close(adminServer)]);
      if (!deps.events) await events.close();
    },
  };
}

export interface PipelineOptions {
  /** Where every component logs; silent unless a test wants to read the lines. */
  logger?: Logger;
  /** A Temporal dev server of the test's own, e.g. one with the Web UI on. */
  temporal?: () => Promise<TestWorkflowEnvironment>;
  /** The API's port, for a PUBLIC_BASE_URL that names it. */
  apiPort?: number;
  /** Started tracing (startTracing), for the Temporal clients and the worker as the entry points pass it. */
  tracing?: Tracing;
}

export async function startPipeline(env: Env = {}, opts: PipelineOptions = {}): Promise<Pipeline> {
  const logger = opts.logger ?? silentLogger;
  const vars = testEnv(uniqueSuffix(), env);
  const config = loadConfig(vars);
  const pool = await createTestDatabase(config);
  const temporal = await (opts.temporal ?? startTemporal)();
  // The API's kind of connection (src/api/main.ts) for the API and the bridge: the environment's
  // own, closed at teardown while a call to a stopped Temporal is being retried, crashes jest.
  const clientConnection = lazyTemporalConnection({ address: temporal.connection.options.address });
  const { client, payloadCodec } = createTemporalClient(clientConnection.connection, config, opts.tracing);
  const apiRegistry = createRegistry('api');
  const apiMetrics = createApiMetrics(apiRegistry);
  const publisher = await createSignupPublisher({ topology: config.amqp, url: config.amqp.url, logger, metrics: apiMetrics });
  const workerRegistry = createRegistry('worker');
  const mailer = createMailer({ smtpUrl: config.mail.smtpUrl, from: config.mail.from });
  const events = createEventPublisher({ url: config.events.url, exchange: config.events.exchange, confirmTimeoutMs: config.events.publishConfirmTimeoutMs, logger });
  const worker: Worker = await createOnboardingWorker({
    config,
    pool,
    connection: temporal.nativeConnection,
    payloadCodec,
    logger,
    mailer,
    events,
    verificationMetrics: createVerificationMetrics(workerRegistry),
    tracing: opts.tracing,
  });
  const running = worker.run();
  const bridge = await startSignupBridge({ config, client, pool, logger, registry: workerRegistry });
  const api = await startApi(config, {
    pool,
    publisher,
    temporal: clientConnection,
    logger,
    metrics: { registry: apiRegistry, api: apiMetrics },
    port: opts.apiPort,
    tracing: opts.tracing,
    events,
  });
  return {
    config,
    env: vars,
    pool,
    temporal,
    client,
    payloadCodec,
    publisher,
    bridge,
    baseUrl: api.baseUrl,
    adminBaseUrl: api.adminBaseUrl,
    app: api.app,
    adminApp: api.adminApp,
    apiRegistry,
    workerRegistry,
    async stop() {
      await api.close();
      await bridge.stop(1_000);
      await publisher.close();
      worker.shutdown();
      await running;
      mailer.close();
      await events.close();
      await clientConnection.close();
      await temporal.teardown();
      await deleteTopology(config);
      await deleteEventsExchange(config);
      await dropTestDatabase(config, pool);
    },
  };
}

/** The test's own events exchange, made by the worker's first publish. */
async function deleteEventsExchange(config: Config): Promise<void> {
  const connection = await amqplib.connect(config.amqp.url);
  await (await connection.createChannel()).deleteExchange(config.events.exchange);
  await connection.close();
}

export async function request(baseUrl: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: any;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  return { status: res.status, headers: res.headers, body: parsed };
}
