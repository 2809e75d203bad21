/** `npm run api`: the HTTP API. */
import { createServer } from 'node:http';
import { Client, Connection } from '@temporalio/client';
import { loadConfig } from '../config';
import { createPool, ensureDatabase, migrate } from '../db/postgres';
import { createLogger } from '../logger';
import { createSignupPublisher } from '../messaging/signup-publisher';
import { createApiMetrics, createRegistry } from '../metrics';
import { checkDependencies } from '../preflight';
import { exitOnStartFailure, onShutdownSignal } from '../process';
import { createEncryptionCodec, encryptedDataConverter } from '../temporal/payload-encryption';
import { createApp } from './app';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger({ name: 'api', level: config.logLevel, pretty: config.env === 'development' && process.stdout.isTTY });

  await checkDependencies(config, ['postgres', 'rabbitmq', 'temporal']);
  await ensureDatabase(config.postgres.url);
  const pool = createPool(config.postgres.url, config.postgres.poolMax, logger);
  await migrate(pool);
  const registry = createRegistry('api');
  const metrics = createApiMetrics(registry);
  const publisher = await createSignupPublisher({ topology: config.amqp, url: config.amqp.url, logger, metrics });
  const temporalConnection = await Connection.connect(config.temporal.connection);
  const payloadCodec = createEncryptionCodec(config.security.payloadKeys);
  const temporal = new Client({
    connection: temporalConnection,
    namespace: config.temporal.namespace,
    dataConverter: encryptedDataConverter(payloadCodec),
  });
  if (!config.security.adminToken) {
    logger.warn('ADMIN_API_TOKEN is not set: PUT /users/{user_id} and /codec refuse every request');
  }

  const server = createServer(createApp({ config, logger, pool, publisher, temporal, payloadCodec, registry, metrics }));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.http.port, resolve);
  });
  logger.info({ port: config.http.port }, 'api listening');

  onShutdownSignal(logger, async () => {
    // Stop accepting, let in-flight requests finish (each ends after its publish confirm).
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    await closed;
    await Promise.allSettled([publisher.close(), temporalConnection.close(), pool.end()]);
  });
}

main().catch(exitOnStartFailure('api'));
