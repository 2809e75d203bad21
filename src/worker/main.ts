/** `npm run worker`: the Temporal worker and the bridge consumer, in one process. */
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { startSignupBridge } from '../bridge/signup-bridge';
import { loadConfig } from '../config';
import { createPool, ensureDatabase, migrate } from '../db/postgres';
import { createLogger } from '../logger';
import { checkDependencies } from '../preflight';
import { exitOnStartFailure, onShutdownSignal } from '../process';
import { ensureSearchAttributes } from '../temporal/search-attributes';
import { createOnboardingWorker } from './onboarding-worker';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger({ name: 'worker', level: config.logLevel, pretty: config.env === 'development' && process.stdout.isTTY });
  const sdkLogger = logger.child({ component: 'temporal-sdk' });
  Runtime.install({
    // Our handler drains in order (bridge, then worker); the SDK's own would stop the worker first.
    shutdownSignals: [],
    logger: new DefaultLogger('WARN', (entry) => sdkLogger.warn(entry.meta ?? {}, entry.message)),
  });

  await checkDependencies(config, ['postgres', 'rabbitmq', 'temporal']);
  await ensureDatabase(config.postgres.url);
  const pool = createPool(config.postgres.url, config.postgres.poolMax, logger);
  await migrate(pool);

  const clientConnection = await Connection.connect(config.temporal.connection);
  await ensureSearchAttributes(clientConnection, config.temporal.namespace);
  const client = new Client({ connection: clientConnection, namespace: config.temporal.namespace });

  const workerConnection = await NativeConnection.connect(config.temporal.connection);
  const worker = await createOnboardingWorker({ config, pool, connection: workerConnection });
  const running = worker.run();
  const bridge = await startSignupBridge({ config, client, pool, logger: logger.child({ component: 'bridge' }) });
  logger.info({ taskQueue: config.temporal.taskQueue, queue: config.amqp.queue }, 'worker ready');

  onShutdownSignal(logger, async () => {
    // Stop taking messages first; runs already started finish on this or another worker.
    await bridge.stop();
    worker.shutdown();
    await running;
    await Promise.allSettled([clientConnection.close(), workerConnection.close(), pool.end()]);
  });

  await running.catch((err: Error) => {
    logger.fatal({ err: err.message }, 'temporal worker stopped unexpectedly');
    process.exit(1);
  });
}

main().catch(exitOnStartFailure('worker'));
