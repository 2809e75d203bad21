/**
 * The whole service in this test process against the real services: the API on an ephemeral
 * port, the publisher, the bridge consumer and the Temporal worker, all on names of their own.
 */
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:http';
import type { Client } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import type { Express } from 'express';
import type { Pool } from 'pg';
import { createApp } from '../../src/api/app';
import { type SignupBridge, startSignupBridge } from '../../src/bridge/signup-bridge';
import { type Config, type Env, loadConfig } from '../../src/config';
import type { Logger } from '../../src/logger';
import { createSignupPublisher, type SignupPublisher } from '../../src/messaging/signup-publisher';
import { createTemporalClient } from '../../src/temporal/client';
import { type ApiMetrics, createApiMetrics, createRegistry, type Registry } from '../../src/metrics';
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
  baseUrl: string;
  /** The API's Express app, for tests that inspect its routes. */
  app: Express;
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
  },
) {
  const { client, payloadCodec } = createTemporalClient(deps.temporal.connection, config);
  const registry = deps.metrics?.registry ?? createRegistry('api');
  const metrics = deps.metrics?.api ?? createApiMetrics(registry);
  const app = createApp({
    config,
    logger: deps.logger ?? silentLogger,
    pool: deps.pool,
    publisher: deps.publisher,
    temporal: client,
    payloadCodec,
    hashPassword: deps.hashPassword,
    registry,
    metrics,
  });
  const server: Server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    app,
    baseUrl: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export interface PipelineOptions {
  /** Where every component logs; silent unless a test wants to read the lines. */
  logger?: Logger;
  /** A Temporal dev server of the test's own, e.g. one with the Web UI on. */
  temporal?: () => Promise<TestWorkflowEnvironment>;
}

export async function startPipeline(env: Env = {}, opts: PipelineOptions = {}): Promise<Pipeline> {
  const logger = opts.logger ?? silentLogger;
  const vars = testEnv(uniqueSuffix(), env);
  const config = loadConfig(vars);
  const pool = await createTestDatabase(config);
  const temporal = await (opts.temporal ?? startTemporal)();
  const { client, payloadCodec } = createTemporalClient(temporal.connection, config);
  const apiRegistry = createRegistry('api');
  const apiMetrics = createApiMetrics(apiRegistry);
  const publisher = await createSignupPublisher({ topology: config.amqp, url: config.amqp.url, logger, metrics: apiMetrics });
  const worker: Worker = await createOnboardingWorker({ config, pool, connection: temporal.nativeConnection, payloadCodec, logger });
  const running = worker.run();
  const workerRegistry = createRegistry('worker');
  const bridge = await startSignupBridge({ config, client, pool, logger, registry: workerRegistry });
  const api = await startApi(config, {
    pool,
    publisher,
    temporal,
    logger,
    metrics: { registry: apiRegistry, api: apiMetrics },
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
    app: api.app,
    apiRegistry,
    workerRegistry,
    async stop() {
      await api.close();
      await bridge.stop(1_000);
      await publisher.close();
      worker.shutdown();
      await running;
      await temporal.teardown();
      await deleteTopology(config);
      await dropTestDatabase(config, pool);
    },
  };
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
