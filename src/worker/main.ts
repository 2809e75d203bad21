/** `npm run worker`: the Temporal worker and the bridge consumer, in one process. */
// First, before anything loads http, pg or amqplib (docs/tracing.md).
import { tracing } from './tracing-first';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { bridgeReadinessChecks, startSignupBridge } from '../bridge/signup-bridge';
import { LOCAL_SMTP_URL, loadConfig, maskUrl } from '../config';
import { openDatabase } from '../db/postgres';
import { connectedCheck, postgresCheck, temporalCheck } from '../health';
import { createEventPublisher } from '../events/event-publisher';
import { createLogger } from '../logger';
import { createMailer } from '../mail/mailer';
import { createRegistry, createVerificationMetrics } from '../metrics';
import { checkDependencies } from '../preflight';
import { exitOnStartFailure, onShutdownSignal } from '../process';
import { createTemporalClient } from '../temporal/client';
import { ensureSearchAttributes } from '../temporal/search-attributes';
import { createWorkerHttpApp } from './http';
import { createOnboardingWorker, prebuiltWorkflowBundle } from './onboarding-worker';

const GRPC_PERMISSION_DENIED = 7;
const GRPC_UNIMPLEMENTED = 12;

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger({ name: 'worker', level: config.logLevel, pretty: config.env === 'development' && process.stdout.isTTY });
  const sdkLogger = logger.child({ component: 'temporal-sdk' });
  Runtime.install({
    // Our handler drains in order (bridge, then worker); the SDK's own would stop the worker first.
    shutdownSignals: [],
    logger: new DefaultLogger('WARN', (entry) => sdkLogger.warn(entry.meta ?? {}, entry.message)),
    // The SDK's own metrics (task latencies, slots, polls, activity/workflow counts) on a
    // Prometheus endpoint of the Rust core; ours are on WORKER_HTTP_PORT.
    telemetryOptions: { metrics: { prometheus: { bindAddress: config.temporal.metricsBindAddress } } },
  });

  await checkDependencies(config, ['postgres', 'rabbitmq', 'temporal']);
  const { pool } = await openDatabase(config.postgres, logger);

  // One native connection for the worker and the bridge's client; the client's gRPC then runs
  // in the SDK's Rust core as the worker's does.
  const connection = await NativeConnection.connect(config.temporal.connection);
  await ensureSearchAttributes(connection, config.temporal.namespace).catch((err: Error & { code?: number }) => {
    // Temporal Cloud manages search attributes in its own control plane and refuses the
    // operator call; there they are registered once per namespace (see the README).
    if (err.code !== GRPC_PERMISSION_DENIED && err.code !== GRPC_UNIMPLEMENTED) throw err;
    logger.warn(
      { err: err.message, namespace: config.temporal.namespace },
      'cannot register the OnboardingState search attribute here; register it for the namespace (e.g. in Temporal Cloud) or runs will fail',
    );
  });
  // The bridge's client and the worker share one codec: what one encrypts the other must read.
  const { client, payloadCodec } = createTemporalClient(connection, config, tracing);
  const prebuiltBundle = prebuiltWorkflowBundle(tracing);
  const workflowBundlePath = existsSync(prebuiltBundle) ? prebuiltBundle : undefined;
  if (!workflowBundlePath) logger.warn({ expected: prebuiltBundle }, 'no pre-built workflow bundle (npm run build makes it); bundling workflows/ now');
  if (config.env === 'production' && (config.mail.smtpUrl === LOCAL_SMTP_URL || config.verification.publicBaseUrl.startsWith('http://127.0.0.1'))) {
    logger.warn({ smtp: maskUrl(config.mail.smtpUrl), links: config.verification.publicBaseUrl }, 'SMTP_URL or PUBLIC_BASE_URL is not set: verification mails go to a local SMTP server or carry local links');
  }
  const registry = createRegistry('worker');
  const mailer = createMailer({ smtpUrl: config.mail.smtpUrl, from: config.mail.from });
  const events = createEventPublisher({
    url: config.events.url,
    exchange: config.events.exchange,
    confirmTimeoutMs: config.events.publishConfirmTimeoutMs,
    logger: logger.child({ component: 'events' }),
  });
  const worker = await createOnboardingWorker({
    config,
    pool,
    connection,
    payloadCodec,
    logger: logger.child({ component: 'activity' }),
    workflowBundlePath,
    mailer,
    events,
    verificationMetrics: createVerificationMetrics(registry),
    tracing,
  });
  const running = worker.run();
  const bridge = await startSignupBridge({ config, client, pool, logger: logger.child({ component: 'bridge' }), registry });

  const http = createServer(
    createWorkerHttpApp({
      registry,
      checks: {
        postgres: postgresCheck(pool),
        ...bridgeReadinessChecks(bridge),
        temporal: temporalCheck(client),
        temporal_worker: connectedCheck('temporal worker', () => worker.getState() === 'RUNNING'),
      },
      liveness: () => bridge.livenessProblem(),
    }),
  );
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(config.http.workerPort, resolve);
  });
  logger.info(
    { taskQueue: config.temporal.taskQueue, queue: config.amqp.queue, port: config.http.workerPort, sdkMetrics: config.temporal.metricsBindAddress },
    'worker ready',
  );

  onShutdownSignal(logger, async () => {
    // Stop taking messages first; runs already started finish on this or another worker.
    http.close();
    http.closeAllConnections();
    await bridge.stop();
    worker.shutdown();
    await running;
    mailer.close();
    await Promise.allSettled([connection.close(), pool.end(), events.close()]);
    await tracing?.shutdown();
  });

  await running.catch((err: Error) => {
    logger.fatal({ err: err.message }, 'temporal worker stopped unexpectedly');
    process.exit(1);
  });
}

main().catch(exitOnStartFailure('worker'));
