/** `npm run api`: the HTTP API. */
// First, before anything loads http, express, pg or amqplib (docs/tracing.md).
import { tracing } from './tracing-first';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../config';
import { openDatabase } from '../db/postgres';
import { createEventPublisher } from '../events/event-publisher';
import { createLogger } from '../logger';
import { createSignupPublisher } from '../messaging/signup-publisher';
import { createApiMetrics, createRegistry } from '../metrics';
import { checkDependencies } from '../preflight';
import { exitOnStartFailure, onShutdownSignal } from '../process';
import { createTemporalClient } from '../temporal/client';
import { lazyTemporalConnection } from '../temporal/connection';
import { startPurgeSchedule } from '../maintenance/purge';
import { createApps } from './app';

const DRAIN_NOTICE_MS = 500;

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger({ name: 'api', level: config.logLevel, pretty: config.env === 'development' && process.stdout.isTTY });

  // Not Temporal: accepting a signup needs Postgres and RabbitMQ only (see the connection below).
  await checkDependencies(config, ['postgres', 'rabbitmq']);
  const { pool } = await openDatabase(config.postgres, logger);
  const registry = createRegistry('api');
  const metrics = createApiMetrics(registry);
  const publisher = await createSignupPublisher({
    topology: config.amqp,
    url: config.amqp.url,
    confirmTimeoutMs: config.amqp.publishConfirmTimeoutMs,
    logger,
    metrics,
  });
  // Lazy: the API starts, and stays ready, while Temporal is down; a status read asks it under a
  // deadline and answers from the database without it.
  const temporalConnection = lazyTemporalConnection(config.temporal.connection);
  const { client: temporal, payloadCodec } = createTemporalClient(temporalConnection.connection, config, tracing);
  const admin = config.http.admin;
  if (!config.security.adminToken) {
    logger.warn('ADMIN_API_TOKEN is not set: every admin route refuses every request (the codec still takes CODEC_API_TOKEN)');
  }
  if (!LOOPBACK_HOSTS.has(admin.host)) {
    logger.warn({ host: admin.host }, 'the admin listener is bound beyond loopback: keep its port off the public network');
  }

  // For user.erased; connects on its first publish.
  const events = createEventPublisher({ url: config.events.url, exchange: config.events.exchange, confirmTimeoutMs: config.events.publishConfirmTimeoutMs, logger });
  const { publicApp, adminApp } = createApps({ config, logger, pool, publisher, temporal, payloadCodec, registry, metrics, events });
  const publicServer = createServer(publicApp);
  const adminServer = createServer(adminApp);
  // While draining, every answer says Connection: close, those in flight when it starts too. A
  // keep-alive client that sends request after request would otherwise hold its connection, and
  // the drain, open indefinitely.
  let draining = false;
  const unanswered = new Set<ServerResponse>();
  const closeAfterAnswer = (res: ServerResponse) => {
    if (!res.headersSent) res.setHeader('Connection', 'close');
  };
  for (const server of [publicServer, adminServer]) {
    server.prependListener('request', (_req, res) => {
      if (draining) return closeAfterAnswer(res);
      unanswered.add(res);
      res.once('close', () => unanswered.delete(res));
    });
  }
  // The public listener on every interface, as before; the admin one on ADMIN_HOST (loopback by default).
  const publicPort = await listen(publicServer, config.http.port);
  const adminPort = await listen(adminServer, admin.port, admin.host);
  logger.info({ port: publicPort, admin_port: adminPort, admin_host: admin.host }, 'api listening');
  // Expired rate-limit counters and idempotency keys; one process purges at a time.
  const purge = startPurgeSchedule({ pool, intervalMs: config.limits.purgeIntervalMs, logger });

  onShutdownSignal(logger, async () => {
    // First tell keep-alive clients (Connection: close) while still listening, so none is left
    // sending on a connection the server is about to drop; then stop accepting and let the
    // requests in flight finish (each ends after its publish confirm).
    draining = true;
    unanswered.forEach(closeAfterAnswer);
    await new Promise((r) => setTimeout(r, DRAIN_NOTICE_MS));
    const servers = [publicServer, adminServer];
    const closed = Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    // A request takes a hash and a confirm (at most AMQP_PUBLISH_CONFIRM_TIMEOUT_MS); a
    // connection still open well after that is cut rather than awaited.
    let forced = false;
    const cutOff = setTimeout(() => {
      forced = true;
      for (const server of servers) server.closeAllConnections();
    }, config.amqp.publishConfirmTimeoutMs + 5_000);
    await closed;
    clearTimeout(cutOff);
    logger.info({ forced }, 'api drained');
    // Before the pool ends: a purge round in progress finishes on it.
    await purge.stop();
    await Promise.allSettled([publisher.close(), events.close(), temporalConnection.close(), pool.end()]);
    await tracing?.shutdown();
  });
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '::1', 'localhost']);

/** Listens on `port` (0: any free one) and returns the port bound. */
async function listen(server: Server, port: number, host?: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return (server.address() as AddressInfo).port;
}

main().catch(exitOnStartFailure('api'));
