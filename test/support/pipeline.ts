/**
 * The whole service in this test process against the real services: the API on an ephemeral
 * port, the publisher, the bridge consumer and the Temporal worker, all on names of their own.
 */
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:http';
import type { Client } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import type { Pool } from 'pg';
import { createApp } from '../../src/api/app';
import { type SignupBridge, startSignupBridge } from '../../src/bridge/signup-bridge';
import { type Config, type Env, loadConfig } from '../../src/config';
import { createSignupPublisher, type SignupPublisher } from '../../src/messaging/signup-publisher';
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
  temporal: TestWorkflowEnvironment;
  publisher: SignupPublisher;
  bridge: SignupBridge;
  baseUrl: string;
  stop(): Promise<void>;
}

export async function startApi(config: Config, deps: { pool: Pool; publisher: Pick<SignupPublisher, 'publishSignup'>; temporal: Client }) {
  const server: Server = createServer(
    createApp({ config, logger: silentLogger, pool: deps.pool, publisher: deps.publisher, temporal: deps.temporal }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export async function startPipeline(env: Env = {}): Promise<Pipeline> {
  const vars = testEnv(uniqueSuffix(), env);
  const config = loadConfig(vars);
  const pool = await createTestDatabase(config);
  const temporal = await startTemporal();
  const publisher = await createSignupPublisher({ topology: config.amqp, url: config.amqp.url, logger: silentLogger });
  const worker: Worker = await createOnboardingWorker({ config, pool, connection: temporal.nativeConnection });
  const running = worker.run();
  const bridge = await startSignupBridge({ config, client: temporal.client, pool, logger: silentLogger });
  const api = await startApi(config, { pool, publisher, temporal: temporal.client });
  return {
    config,
    env: vars,
    pool,
    temporal,
    publisher,
    bridge,
    baseUrl: api.baseUrl,
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
