/**
 * The processes a benchmark run measures: its own Temporal dev server, API and worker (or the
 * direct consumer in the worker's place), with a database, queues and a task queue of their own
 * on the machine's Postgres and RabbitMQ. Or, with --url, a stack someone else runs.
 */
import { type Config, type Env, loadConfig } from '../src/config';
import { openDatabase } from '../src/db/postgres';
import { createLogger } from '../src/logger';
import { runEnv, runPayloadKeys } from '../test/harness/env';
import { freePort } from '../test/harness/free-port';
import { distProcess, temporalDevServer } from '../test/harness/managed-process';
import { untilReachable } from '../test/harness/reachable';
import { dropRunResources, queueConsumerCount } from '../test/harness/run-resources';
import { eventually } from '../test/harness/wait';
import { WORKER_NODE_OPTIONS } from '../src/worker/onboarding-worker';
import { findProcess, type Roles } from './proc-stats';

export interface BenchStack {
  config: Config;
  apiUrl: string;
  /** Where the worker serves /metrics; undefined with --url. */
  workerMetricsUrl?: string;
  /** Root pids of each measured component, read when asked (processes restart between phases). */
  roles(): Roles;
  /** Which consumer is on the queue now. */
  consumer(): 'worker' | 'direct' | 'external';
  /** Replaces whatever consumes the queue with `which`, once it consumes; resolves when it does. */
  useConsumer(which: 'worker' | 'direct' | 'none'): Promise<void>;
  /** Starts `which` now and resolves once it is consuming, with the seconds that took. */
  startConsumer(which: 'worker' | 'direct'): Promise<number>;
  consumerPid(): number | undefined;
  crashes(): string[];
  stop(): Promise<void>;
  /** True when this run made the stack and may stop its worker (direct baseline, backlog drain). */
  owned: boolean;
}

function sharedRoles(): Roles {
  return {
    rabbitmq: findProcess((comm, cmd) => comm === 'beam.smp' && cmd.includes('rabbit')),
    postgres: findProcess((comm, cmd) => comm === 'postgres' && cmd.includes('-D')) ?? findProcess((comm) => comm === 'postgres'),
  };
}

/** A stack started elsewhere (`npm start`): its API at `url`, its database and queues from the environment. */
export function externalStack(url: string, log: (line: string) => void): BenchStack {
  // The bench reads Postgres and RabbitMQ only; it never decodes a Temporal payload, so a
  // throwaway key satisfies the config when the caller has not set the real one.
  const config = loadConfig({ PAYLOAD_ENCRYPTION_KEYS: runPayloadKeys('bench'), ...process.env });
  log(`using the stack at ${url}; database and queues from the environment`);
  const byCmd = (part: string) => findProcess((comm, cmd) => comm.startsWith('node') && cmd.includes(part));
  // Found once: someone else's processes do not restart under the benchmark.
  const roles: Roles = {
    api: byCmd('src/api/main.js'),
    worker: byCmd('src/worker/main.js'),
    temporal: findProcess((_comm, cmd) => cmd.includes('server start-dev')),
    ...sharedRoles(),
  };
  return {
    config,
    apiUrl: url.replace(/\/$/, ''),
    owned: false,
    roles: () => roles,
    consumer: () => 'external',
    useConsumer: async () => {
      throw new Error('the benchmark does not stop a worker it did not start');
    },
    startConsumer: async () => {
      throw new Error('the benchmark does not start consumers on a stack it did not start');
    },
    consumerPid: () => roles.worker,
    crashes: () => [],
    stop: async () => undefined,
  };
}

export async function ownStack(opts: { suffix: string; logDir: string; env?: Env }, log: (line: string) => void): Promise<BenchStack> {
  const [temporalPort, apiPort, workerPort, sdkMetricsPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const env: Env = {
    ...process.env,
    ...runEnv('bench', opts.suffix, {
      ...(process.env.LOG_LEVEL ? { LOG_LEVEL: process.env.LOG_LEVEL } : {}),
      TEMPORAL_ADDRESS: `127.0.0.1:${temporalPort}`,
      PORT: String(apiPort),
      WORKER_HTTP_PORT: String(workerPort),
      TEMPORAL_METRICS_BIND_ADDRESS: `127.0.0.1:${sdkMetricsPort}`,
      ...opts.env,
    }),
  };
  const config = loadConfig(env);
  const temporal = temporalDevServer(temporalPort, opts.logDir, log);
  const api = distProcess('api', 'src/api/main.js', env, opts.logDir);
  // With the heap limits it runs with in production (package.json, docker-compose.yml).
  const worker = distProcess('worker', 'src/worker/main.js', env, opts.logDir, WORKER_NODE_OPTIONS);
  const direct = distProcess('direct-consumer', 'bench/direct-consumer.js', env, opts.logDir);
  let current: 'worker' | 'direct' | 'none' = 'none';
  const shared = sharedRoles();

  const stopAll = async () => {
    await Promise.all([api, worker, direct].map((p) => p.stop()));
    await temporal.stop('SIGTERM', 10_000);
    await dropRunResources(config).catch((err: Error) => log(`cleanup: ${err.message}`));
  };
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  try {
    temporal.start();
    await untilReachable(config, ['temporal']);
    const { pool } = await openDatabase({ url: config.postgres.url, poolMax: 1 }, createLogger({ name: 'bench', level: 'warn' }));
    await pool.end();
    api.start();
    await eventually(async () => (await fetch(`${apiUrl}/readyz`)).ok, 60_000, 'the API to be ready');
  } catch (err) {
    // Nothing this run started may outlive it.
    await stopAll();
    throw err;
  }

  async function startConsumer(which: 'worker' | 'direct'): Promise<number> {
    const started = Date.now();
    (which === 'worker' ? worker : direct).start();
    current = which;
    await eventually(async () => (await queueConsumerCount(config)) >= 1, 120_000, `the ${which} to consume`);
    return (Date.now() - started) / 1000;
  }

  return {
    config,
    apiUrl,
    workerMetricsUrl: `http://127.0.0.1:${workerPort}/metrics`,
    owned: true,
    roles: () => ({
      api: api.pid,
      worker: current === 'worker' ? worker.pid : current === 'direct' ? direct.pid : undefined,
      temporal: temporal.pid,
      ...shared,
    }),
    consumer: () => (current === 'none' ? 'external' : current),
    consumerPid: () => (current === 'worker' ? worker.pid : current === 'direct' ? direct.pid : undefined),
    startConsumer,
    async useConsumer(which) {
      if (current === which) return;
      // A graceful stop: the consumer settles what it holds, the rest returns to the queue.
      await Promise.all([worker.stop(), direct.stop()]);
      current = 'none';
      await eventually(async () => (await queueConsumerCount(config)) === 0, 30_000, 'the queue to have no consumer');
      if (which !== 'none') await startConsumer(which);
    },
    crashes: () => [temporal, api, worker, direct].flatMap((p) => p.crashes),
    stop: stopAll,
  };
}

/** The worker's own count of deliveries that RabbitMQ marked as redelivered. */
export async function workerRedeliveries(metricsUrl: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  return sumMetric(text, 'onboarding_bridge_deliveries_total', (labels) => labels.includes('redelivered="true"'));
}

/** Sums the samples of one Prometheus metric whose labels pass `filter`. */
export function sumMetric(text: string, name: string, filter: (labels: string) => boolean = () => true): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m && m[1] === name && filter(m[2] ?? '')) sum += Number(m[3]);
  }
  return sum;
}
