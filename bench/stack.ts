/**
 * The processes a benchmark run measures: its own Temporal server (the CLI's dev server, or a
 * real cluster on the machine's Postgres), API and worker (or the direct consumer in the
 * worker's place), with a database, queues and a task queue of their own on the machine's
 * Postgres and RabbitMQ. Or, with --url, a stack someone else runs.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Config, type Env, loadConfig } from '../src/config';
import { openDatabase } from '../src/db/postgres';
import { createLogger } from '../src/logger';
import { runEnv, runPayloadKeys } from '../test/harness/env';
import { freePort } from '../test/harness/free-port';
import { distProcess, temporalDevServer } from '../test/harness/managed-process';
import { untilReachable } from '../test/harness/reachable';
import { dropRunResources, queueConsumerCount } from '../test/harness/run-resources';
import { startRunCluster } from '../test/harness/temporal-cluster';
import { eventually } from '../test/harness/wait';
import { WORKER_NODE_OPTIONS } from '../src/worker/onboarding-worker';
import { findProcess, type Roles } from './proc-stats';

/** Which Temporal server a stack runs on: the CLI's dev server (SQLite) or a cluster on Postgres. */
export type TemporalMode = 'dev' | 'cluster';

export interface BenchStack {
  config: Config;
  /** The Temporal server the stack runs on; 'external' with --url. */
  temporalMode: TemporalMode | 'external';
  apiUrl: string;
  /** The API's /metrics, on its admin listener, and the header that opens it. */
  apiMetrics: { url: string; headers: Record<string, string> };
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

function adminMetrics(adminUrl: string, token: string | undefined): BenchStack['apiMetrics'] {
  return { url: `${adminUrl}/metrics`, headers: token ? { authorization: `Bearer ${token}` } : {} };
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
    temporalMode: 'external',
    apiUrl: url.replace(/\/$/, ''),
    // The admin listener of the same host, at ADMIN_PORT, with ADMIN_API_TOKEN from the environment.
    apiMetrics: adminMetrics(`${new URL(url).protocol}//${new URL(url).hostname}:${config.http.admin.port}`, config.security.adminToken),
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

/** A Temporal server the stack started: its root process, and stop() removes whatever it made. */
interface TemporalServer {
  address: string;
  pid(): number | undefined;
  crashes(): string[];
  stop(): Promise<void>;
}

/** A dev server of the run's own, its SQLite file in the log folder; started, not yet answering. */
async function startDevServer(logDir: string, log: (line: string) => void): Promise<TemporalServer> {
  const port = await freePort();
  const server = temporalDevServer(port, logDir, log).start();
  return { address: `127.0.0.1:${port}`, pid: () => server.pid, crashes: () => server.crashes, stop: () => server.stop('SIGTERM', 10_000) };
}

/**
 * A cluster of the run's own: the `server` binary, its persistence and visibility in two
 * databases of its own on the machine's Postgres (so their CPU lands in the postmaster's tree),
 * dropped by stop(). Resolves once its namespace answers.
 */
async function startCluster(o: { suffix: string; postgresUrl: string; namespace: string; logDir: string }, log: (line: string) => void): Promise<TemporalServer> {
  log('starting a Temporal cluster (schema setup, then the server) ...');
  const cluster = await startRunCluster({ kind: 'bench', suffix: o.suffix, postgresUrl: o.postgresUrl, namespace: o.namespace, runDir: join(o.logDir, 'temporal-cluster'), log });
  const [server] = cluster.processes;
  const crashes: string[] = [];
  let stopping = false;
  server.on('exit', (code, signal) => {
    if (!stopping) crashes.push(`temporal server exited on its own (${signal ?? code})`);
  });
  return {
    address: cluster.address,
    pid: () => (server.exitCode === null && server.signalCode === null ? server.pid : undefined),
    crashes: () => crashes,
    async stop() {
      stopping = true;
      await cluster.dispose();
    },
  };
}

export async function ownStack(
  opts: { suffix: string; logDir: string; temporal: TemporalMode; env?: Env },
  log: (line: string) => void,
): Promise<BenchStack> {
  mkdirSync(opts.logDir, { recursive: true });
  const [apiPort, adminPort, workerPort, sdkMetricsPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const envWith = (temporalAddress?: string): Env => ({
    ...process.env,
    ...runEnv('bench', opts.suffix, {
      ...(process.env.LOG_LEVEL ? { LOG_LEVEL: process.env.LOG_LEVEL } : {}),
      ...(temporalAddress ? { TEMPORAL_ADDRESS: temporalAddress } : {}),
      PORT: String(apiPort),
      ADMIN_PORT: String(adminPort),
      WORKER_HTTP_PORT: String(workerPort),
      TEMPORAL_METRICS_BIND_ADDRESS: `127.0.0.1:${sdkMetricsPort}`,
      ...opts.env,
    }),
  });
  // The database and namespace settings do not depend on where Temporal listens.
  const settings = loadConfig(envWith());
  const temporal =
    opts.temporal === 'dev'
      ? await startDevServer(opts.logDir, log)
      : await startCluster({ suffix: opts.suffix, postgresUrl: settings.postgres.url, namespace: settings.temporal.namespace, logDir: opts.logDir }, log);
  const env = envWith(temporal.address);
  const config = loadConfig(env);
  const api = distProcess('api', 'src/api/main.js', env, opts.logDir);
  // With the heap limits it runs with in production (package.json, docker-compose.yml).
  const worker = distProcess('worker', 'src/worker/main.js', env, opts.logDir, WORKER_NODE_OPTIONS);
  const direct = distProcess('direct-consumer', 'bench/direct-consumer.js', env, opts.logDir);
  let current: 'worker' | 'direct' | 'none' = 'none';
  const shared = sharedRoles();

  const stopAll = async () => {
    await Promise.all([api, worker, direct].map((p) => p.stop()));
    await temporal.stop().catch((err: Error) => log(`cleanup: ${err.message}`));
    await dropRunResources(config).catch((err: Error) => log(`cleanup: ${err.message}`));
  };
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  try {
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
    temporalMode: opts.temporal,
    apiUrl,
    apiMetrics: adminMetrics(`http://127.0.0.1:${adminPort}`, config.security.adminToken),
    workerMetricsUrl: `http://127.0.0.1:${workerPort}/metrics`,
    owned: true,
    roles: () => ({
      api: api.pid,
      worker: current === 'worker' ? worker.pid : current === 'direct' ? direct.pid : undefined,
      temporal: temporal.pid(),
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
    crashes: () => [...temporal.crashes(), ...[api, worker, direct].flatMap((p) => p.crashes)],
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
