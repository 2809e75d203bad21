/**
 * The API's real admin listener (createAdminApp, behind the admin token) for the tests of its
 * erasure, listing and DLQ routes, over a test's own database and names. Temporal is the test's
 * client when it has one; otherwise a lazy connection that no route of these tests calls.
 */
import type { Client, Connection } from '@temporalio/client';
import type { Pool } from 'pg';
import type { Config } from '../../src/config';
import type { Logger } from '../../src/logger';
import { createSignupPublisher } from '../../src/messaging/signup-publisher';
import { createApiMetrics, createRegistry } from '../../src/metrics';
import { lazyTemporalConnection, type TemporalConnection } from '../../src/temporal/connection';
import { request, startApi } from './pipeline';
import { deleteTopology, TEST_ADMIN_TOKEN } from './stack';

export interface AdminRoutesApp {
  baseUrl: string;
  /** A request to the admin listener with the admin token. */
  request(method: string, path: string, body?: unknown, headers?: Record<string, string>): ReturnType<typeof request>;
  close(): Promise<void>;
}

export interface AdminRoutesDeps {
  config: Config;
  pool: Pool;
  client?: Client;
  logger: Logger;
  /**
   * Its publisher declares the exchanges and queues of `config`'s names. True on a test's names of
   * its own: close() deletes them (after the publisher, so nothing declares them again). False
   * on a running pipeline's names, which the pipeline deletes when it stops.
   */
  removeTopologyOnClose: boolean;
}

export async function startAdminRoutes(deps: AdminRoutesDeps): Promise<AdminRoutesApp> {
  const { config, pool, logger } = deps;
  const registry = createRegistry('api');
  const metrics = createApiMetrics(registry);
  const publisher = await createSignupPublisher({ topology: config.amqp, url: config.amqp.url, logger, metrics });
  const lazy = deps.client ? undefined : lazyTemporalConnection(config.temporal.connection);
  const connection = (deps.client?.connection as Connection | undefined) ?? (lazy as TemporalConnection).connection;
  const api = await startApi(config, { pool, publisher, temporal: { connection }, logger, metrics: { registry, api: metrics } });
  const auth = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
  return {
    baseUrl: api.adminBaseUrl,
    request: (method, path, body, headers = {}) => request(api.adminBaseUrl, method, path, body, { ...auth, ...headers }),
    async close() {
      await api.close();
      await publisher.close();
      await lazy?.close();
      if (deps.removeTopologyOnClose) await deleteTopology(config);
    },
  };
}
