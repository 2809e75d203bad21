/**
 * The processes a benchmark run measures: its own Temporal server (the CLI's dev server, or a
 * real cluster on the machine's Postgres), API and worker (or the direct consumer in the
 * worker's place), with a database, queues and a task queue of their own on the machine's
 * Postgres and RabbitMQ. Or, with --url, a stack someone else runs.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { type Config, type Env, loadConfig } from '../src/config';
import { openDatabase } from '../src/db/postgres';
import { createLogger } from '../src/logger';
import { ensureMailpit, listening, mailpitArgs } from '../src/local-stack/mailpit';
import { runEnv, runPayloadKeys } from '../test/harness/env';
import { freePort } from '../test/harness/free-port';
import { distProcess, ManagedProcess, productionWorkerProcess, temporalDevServer } from '../test/harness/managed-process';
import { readMailbox } from '../test/harness/chaos/mail';
import { untilReachable } from '../test/harness/reachable';
import { dropRunResources, queueConsumerCount } from '../test/harness/run-resources';
import { startRunCluster } from '../test/harness/temporal-cluster';
import { eventually } from '../test/harness/wait';
import { findProcess, type Roles } from './proc-stats';

/** Which Temporal server a stack runs on: the CLI's dev server (SQLite) or a cluster on Postgres. */
export type TemporalMode = 'dev' | 'cluster';

/**
 * What consumes the signup queue. `worker` is the service's worker as every phase runs it, with
 * ONBOARDING_STARTS_VERIFICATION=false: each run ends at the user's row, the onboarding run the
 * issue 14 figures are of. The variants are the same worker with other settings, each for one
 * measurement:
 * - `worker-drain`: on a task queue of its own, so no run left by an earlier phase wakes in it:
 *   the onboarding-only drain;
 * - `worker-mail`: verification on (the product's default), on a task queue of its own, its mail
 *   going to the stack's Mailpit: the onboarding run with its verification run, through the mail
 *   accepted by SMTP; less the onboarding-only drain, what the verification flow adds;
 * - `worker-traced`: tracing on, exporting to the benchmark's OTLP receiver, with the same heap
 *   limits as the others (the production ones).
 */
export type ConsumerKind = 'worker' | 'worker-drain' | 'worker-mail' | 'worker-traced' | 'direct';

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
  /** Which consumer is on the queue now: any variant of the worker is 'worker'. */
  consumer(): 'worker' | 'direct' | 'external';
  /** Replaces whatever consumes the queue with `which`, once it consumes; resolves when it does. */
  useConsumer(which: ConsumerKind | 'none'): Promise<void>;
  /** Starts `which` now and resolves once it is consuming, with the seconds that took. */
  startConsumer(which: ConsumerKind): Promise<number>;
  consumerPid(): number | undefined;
  /** The Temporal task queue a worker variant polls (each variant that has its own). */
  taskQueueOf(which: ConsumerKind): string;
  /** Restarts the API on the same port with tracing on (exporting to `otlpEndpoint`) or off; resolves once it is ready. */
  useApi(which: 'plain' | 'traced'): Promise<void>;
  /** The recipient of every message Mailpit holds, one entry per message. */
  mailRecipients(): Promise<string[]>;
  mailpitPid(): number | undefined;
  /**
   * verifyEmail runs open (running) on a task queue, by Temporal's visibility: those with an id
   * in `ours`, and the others (signups an earlier phase left in the queue, onboarded meanwhile).
   */
  openVerificationRuns(taskQueue: string, ours: ReadonlySet<string>): Promise<{ ours: number; others: number }>;
  crashes(): string[];
  stop(): Promise<void>;
  /** True when this run made the stack and may stop its worker (direct baseline, backlog drain). */
  owned: boolean;
}

function adminMetrics(adminUrl: string, token: string | undefined): BenchStack['apiMetrics'] {
  return { url: `${adminUrl}/metrics`, headers: token ? { authorization: `Bearer ${token}` } : {} };
}

function findSharedRoles(): Roles {
  return {
    rabbitmq: findProcess((comm, cmd) => comm === 'beam.smp' && cmd.includes('rabbit')),
    postgres: findProcess((comm, cmd) => comm === 'postgres' && cmd.includes('-D')) ?? findProcess((comm) => comm === 'postgres'),
  };
}

/**
 * The machine's RabbitMQ and Postgres, looked up again whenever one of them is gone: on a shared
 * machine someone may restart either between two phases, and a stale pid would read as no CPU.
 */
function sharedRoles(): () => Roles {
  let roles = findSharedRoles();
  return () => {
    if (Object.values(roles).some((pid) => pid === undefined || !existsSync(`/proc/${pid}`))) roles = findSharedRoles();
    return roles;
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
    ...findSharedRoles(),
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
    taskQueueOf: () => config.temporal.taskQueue,
    useApi: async () => {
      throw new Error('the benchmark does not restart an API it did not start');
    },
    mailRecipients: async () => {
      throw new Error('a stack the benchmark did not start has no Mailpit of the benchmark');
    },
    mailpitPid: () => undefined,
    openVerificationRuns: async () => {
      throw new Error('the benchmark counts runs only on a stack it started');
    },
    crashes: () => [],
    stop: async () => undefined,
  };
}

/**
 * A Mailpit of the stack's own on free ports, keeping every message (no pruning at Mailpit's
 * default 500), so a drain's mails can be counted through its HTTP API.
 */
async function startMailpit(logDir: string): Promise<{ smtpUrl: string; apiUrl: string; process: ManagedProcess }> {
  const [smtpPort, httpPort] = await Promise.all([freePort(), freePort()]);
  const args = mailpitArgs({ smtpPort, httpPort, dbFile: join(logDir, 'mailpit.db'), maxMessages: 0 });
  const mailpit = new ManagedProcess('mailpit', ensureMailpit(), args, process.env, join(logDir, 'mailpit.log')).start();
  const apiUrl = `http://127.0.0.1:${httpPort}`;
  await eventually(async () => ((await listening(smtpPort)) && (await fetch(`${apiUrl}/api/v1/info`)).ok ? true : undefined), 30_000, 'Mailpit to listen');
  return { smtpUrl: `smtp://127.0.0.1:${smtpPort}`, apiUrl, process: mailpit };
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
  opts: { suffix: string; logDir: string; temporal: TemporalMode; env?: Env; otlpEndpoint?: string },
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
  let mailpit: Awaited<ReturnType<typeof startMailpit>> | undefined;
  try {
    mailpit = await startMailpit(opts.logDir);
  } catch (err) {
    await temporal.stop().catch(() => undefined);
    throw err;
  }
  const taskQueues: Record<ConsumerKind, string> = {
    worker: config.temporal.taskQueue,
    'worker-traced': config.temporal.taskQueue,
    direct: config.temporal.taskQueue,
    'worker-drain': `${config.temporal.taskQueue}-drain`,
    'worker-mail': `${config.temporal.taskQueue}-mail`,
  };
  const traced: Env = opts.otlpEndpoint ? { OTEL_EXPORTER_OTLP_ENDPOINT: opts.otlpEndpoint } : {};
  const apis = {
    plain: distProcess('api', 'src/api/main.js', env, opts.logDir),
    traced: distProcess('api-traced', 'src/api/main.js', { ...env, ...traced }, opts.logDir),
  };
  let api = apis.plain;
  // With the heap limits and malloc arenas it runs with in production (package.json, docker-compose.yml).
  const workerWith = (name: string, overrides: Env) => productionWorkerProcess(name, { ...env, ...overrides }, opts.logDir);
  // Only the mail worker starts verification runs. Every worker still mails through the stack's
  // Mailpit: a hidden duplicate's notice goes there, and against a closed port any mail would
  // retry every few seconds and fill the CPU figures.
  const smtp: Env = { SMTP_URL: mailpit.smtpUrl };
  const onboardingOnly: Env = { ...smtp, ONBOARDING_STARTS_VERIFICATION: 'false' };
  const consumers: Record<ConsumerKind, ManagedProcess> = {
    worker: workerWith('worker', onboardingOnly),
    'worker-drain': workerWith('worker-drain', { ...onboardingOnly, TEMPORAL_TASK_QUEUE: taskQueues['worker-drain'] }),
    'worker-mail': workerWith('worker-mail', { ...smtp, TEMPORAL_TASK_QUEUE: taskQueues['worker-mail'] }),
    'worker-traced': workerWith('worker-traced', { ...onboardingOnly, ...traced }),
    direct: distProcess('direct-consumer', 'bench/direct-consumer.js', env, opts.logDir),
  };
  const everyProcess = () => [apis.plain, apis.traced, ...Object.values(consumers), mailpit?.process].filter((p): p is ManagedProcess => p !== undefined);
  let current: ConsumerKind | 'none' = 'none';
  const shared = sharedRoles();

  const stopAll = async () => {
    await Promise.all(everyProcess().map((p) => p.stop()));
    await temporal.stop().catch((err: Error) => log(`cleanup: ${err.message}`));
    await dropRunResources(config).catch((err: Error) => log(`cleanup: ${err.message}`));
  };
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const apiReady = () => eventually(async () => (await fetch(`${apiUrl}/readyz`)).ok, 60_000, 'the API to be ready');
  try {
    await untilReachable(config, ['temporal']);
    const { pool } = await openDatabase({ url: config.postgres.url, poolMax: 1 }, createLogger({ name: 'bench', level: 'warn' }));
    await pool.end();
    api.start();
    await apiReady();
  } catch (err) {
    // Nothing this run started may outlive it.
    await stopAll();
    throw err;
  }

  async function startConsumer(which: ConsumerKind): Promise<number> {
    if (which === 'worker-traced' && !opts.otlpEndpoint) throw new Error('a traced worker needs the stack made with an OTLP endpoint');
    const started = Date.now();
    consumers[which].start();
    current = which;
    await eventually(async () => (await queueConsumerCount(config)) >= 1, 120_000, `the ${which} to consume`);
    return (Date.now() - started) / 1000;
  }
  const consumerPid = () => (current === 'none' ? undefined : consumers[current].pid);

  return {
    config,
    temporalMode: opts.temporal,
    apiUrl,
    apiMetrics: adminMetrics(`http://127.0.0.1:${adminPort}`, config.security.adminToken),
    workerMetricsUrl: `http://127.0.0.1:${workerPort}/metrics`,
    owned: true,
    roles: () => ({
      api: api.pid,
      worker: consumerPid(),
      temporal: temporal.pid(),
      // Only while its mail arrives: idle, it is no part of the other phases' path.
      ...(current === 'worker-mail' ? { mailpit: mailpit?.process.pid } : {}),
      ...shared(),
    }),
    consumer: () => (current === 'none' ? 'external' : current === 'direct' ? 'direct' : 'worker'),
    consumerPid,
    startConsumer,
    taskQueueOf: (which) => taskQueues[which],
    async useConsumer(which) {
      if (current === which) return;
      // A graceful stop: the consumer settles what it holds, the rest returns to the queue.
      await Promise.all(Object.values(consumers).map((p) => p.stop()));
      current = 'none';
      await eventually(async () => (await queueConsumerCount(config)) === 0, 30_000, 'the queue to have no consumer');
      if (which !== 'none') await startConsumer(which);
    },
    async useApi(which) {
      const next = apis[which];
      if (next === api) return;
      if (which === 'traced' && !opts.otlpEndpoint) throw new Error('a traced API needs the stack made with an OTLP endpoint');
      await api.stop();
      api = next;
      api.start();
      await apiReady();
    },
    mailpitPid: () => mailpit?.process.pid,
    async mailRecipients() {
      if (!mailpit) throw new Error('this stack runs no Mailpit');
      // By message id: Mailpit pages newest first, so a mail arriving while the pages are read
      // pushes one already read onto the next page, where reading it again counted it as a
      // second mail to its user (3 in a drain of 10,000 still mailing at its deadline).
      return (await readMailbox(mailpit.apiUrl)).map((mail) => mail.to[0] ?? '');
    },
    async openVerificationRuns(taskQueue, ours) {
      const connection = await Connection.connect(config.temporal.connection);
      try {
        const client = new Client({ connection, namespace: config.temporal.namespace });
        const open = { ours: 0, others: 0 };
        for await (const run of client.workflow.list({ query: `WorkflowType = 'verifyEmail' AND ExecutionStatus = 'Running' AND TaskQueue = '${taskQueue}'` })) {
          if (ours.has(run.workflowId)) open.ours++;
          else open.others++;
        }
        return open;
      } finally {
        await connection.close();
      }
    },
    crashes: () => [...temporal.crashes(), ...everyProcess().flatMap((p) => p.crashes)],
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
