/**
 * The chaos run's own stack: a Temporal dev server (persistent db file), a Mailpit that catches
 * every mail the workers send, API and worker processes from dist/, a database and queues of its
 * own on the machine's Postgres and RabbitMQ.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Config, type Env, loadConfig } from '../../../src/config';
import { openDatabase } from '../../../src/db/postgres';
import { listening } from '../../../src/local-stack/mailpit';
import { createLogger } from '../../../src/logger';
import { runEnv } from '../env';
import { freeLowPort } from '../free-port';
import { distProcess, type ManagedProcess, mailpitServer, productionWorkerProcess, temporalDevServer } from '../managed-process';
import { untilReachable } from '../reachable';
import { dropRunResources, queueConsumerCount } from '../run-resources';
import { eventually } from '../wait';
import type { ChaosContext } from './faults';

export interface ChaosStack extends ChaosContext {
  apiPorts: number[];
  everything: ManagedProcess[];
  /** Starts everything and resolves once each API answers and every bridge consumes. */
  start(): Promise<void>;
  /** Stops every process that runs; the Temporal server last. */
  stopProcesses(): Promise<void>;
  /** Removes the run's database, queues and mail. */
  dropResources(log: (line: string) => void): Promise<void>;
  /** The last lines each process logged. */
  logTails(): string[];
}

/** A worker process on ports of its own: health and metrics, and the Temporal SDK's metrics. */
async function workerProcess(name: string, env: Env, dir: string): Promise<{ process: ManagedProcess; baseUrl: string }> {
  const http = await freeLowPort();
  const sdkMetrics = await freeLowPort();
  // With the heap limits and malloc arenas of production, so the faults meet the worker as it runs there.
  const worker = productionWorkerProcess(name, { ...env, WORKER_HTTP_PORT: String(http), TEMPORAL_METRICS_BIND_ADDRESS: `127.0.0.1:${sdkMetrics}` }, dir);
  return { process: worker, baseUrl: `http://127.0.0.1:${http}` };
}

/** `env` is what the planned faults need of every process (e.g. the payload keys of a rotation), over the run's own. */
export async function chaosStack(
  opts: { suffix: string; apis: number; workers: number; dir: string; env?: Env },
  log: (line: string) => void,
): Promise<ChaosStack> {
  const temporalPort = await freeLowPort();
  const apiPorts = await Promise.all(Array.from({ length: opts.apis }, freeLowPort));
  const mailPorts = { smtp: await freeLowPort(), http: await freeLowPort() };
  // The mail is counted at the end, then removed with its directory, whatever the run's verdict.
  const mailDir = mkdtempSync(join(tmpdir(), 'onboarding-chaos-mail-'));
  const mail = { smtpPort: mailPorts.smtp, apiUrl: `http://127.0.0.1:${mailPorts.http}` };
  const env = {
    ...process.env,
    ...runEnv('chaos', opts.suffix, {
      TEMPORAL_ADDRESS: `127.0.0.1:${temporalPort}`,
      SMTP_URL: `smtp://127.0.0.1:${mailPorts.smtp}`,
      // The verification runs go on through the run, but no reminder or expiry falls inside it
      // (the defaults, said here so a change of them cannot make the mail count wrong): every
      // user's one mail is the verification mail.
      VERIFICATION_REMINDER_AFTER: '24h',
      VERIFICATION_EXPIRES_AFTER: '7d',
      // A send that failed (SMTP or Postgres down) is tried again within 15 s of the fault's end.
      MAIL_RETRY_MAX_INTERVAL: '15s',
      ...opts.env,
    }),
  };
  const config: Config = loadConfig(env);
  const temporal = temporalDevServer(temporalPort, opts.dir, log);
  const mailpit = mailpitServer(mailPorts, mailDir, opts.dir, log);
  const apis = apiPorts.map((port, n) => distProcess(`api-${n}`, 'src/api/main.js', { ...env, PORT: String(port) }, opts.dir));
  const workers = await Promise.all(Array.from({ length: opts.workers }, async (_, n) => (await workerProcess(`worker-${n}`, env, opts.dir)).process));
  const everything = [temporal, mailpit, ...apis, ...workers];
  const untilBridgesConsume = async (what: string) => {
    await eventually(async () => (await queueConsumerCount(config)) >= opts.workers, 90_000, what);
  };

  return {
    config,
    temporal,
    apis,
    workers,
    mailpit,
    mail,
    apiPorts,
    everything,
    untilBridgesConsume,
    async startExtraWorker(name, overrides) {
      const extra = await workerProcess(name, { ...env, ...overrides }, opts.dir);
      everything.push(extra.process);
      extra.process.start();
      return extra;
    },
    async start() {
      temporal.start();
      mailpit.start();
      await untilReachable(config, ['temporal']);
      await eventually(async () => (await listening(mail.smtpPort)) && (await fetch(`${mail.apiUrl}/api/v1/info`)).ok, 30_000, 'Mailpit to listen');
      const { pool } = await openDatabase({ url: config.postgres.url, poolMax: 1 }, createLogger({ name: 'chaos', level: 'warn' }));
      await pool.end();
      for (const p of [...apis, ...workers]) p.start();
      for (const [n, port] of apiPorts.entries()) {
        await eventually(async () => (await fetch(`http://127.0.0.1:${port}/users/${randomUUID()}`)).status === 404, 60_000, `api-${n}`);
      }
      await untilBridgesConsume('the bridges to consume');
    },
    async stopProcesses() {
      await Promise.all(everything.filter((p) => p !== temporal).map((p) => (p.child ? p.stop() : undefined)));
      if (temporal.child) await temporal.stop('SIGTERM', 10_000);
    },
    async dropResources(log) {
      await dropRunResources(config).catch((err: Error) => log(`cleanup: ${err.message}`));
      rmSync(mailDir, { recursive: true, force: true });
    },
    logTails: () =>
      everything.map((p) => `--- last lines of ${p.name} ---\n${readFileSync(p.logFile, 'utf8').split('\n').slice(-15).join('\n')}`),
  };
}
