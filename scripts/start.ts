/**
 * `npm start`: the whole stack on local defaults. Checks Postgres and RabbitMQ, starts a Temporal
 * dev server (persistent, Web UI on :8233) unless one is already listening, migrates, then runs
 * the API and the worker. Ctrl-C stops them in order: API and worker drain first, Temporal last.
 * TEMPORAL_MODE=cluster starts the real Temporal server on Postgres and the Web UI server instead
 * of the dev server; the API and the worker are the same.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Config, type Env, loadConfig } from '../src/config';
import { openDatabase } from '../src/db/postgres';
import { createLogger } from '../src/logger';
import { checkDependencies } from '../src/preflight';
import { devServerArgs, ensureTemporalCli } from '../src/local-stack/temporal-cli';
import { stopChild } from '../src/local-stack/child-process';
import { DEFAULT_CLUSTER_PORTS, startTemporalCluster, type TemporalCluster } from '../src/local-stack/temporal-cluster';
import { startLocalMailpit } from '../src/local-stack/mailpit';
import { WORKER_ENVIRONMENT, WORKER_NODE_OPTIONS } from '../src/worker/node-options';

const ROOT = resolve(__dirname, '..', '..');
const DATA_DIR = join(ROOT, '.data');
const say = (line: string) => process.stdout.write(`[start] ${line}\n`);
// What this script started, so a failure half-way leaves nothing running behind it.
const started: ChildProcess[] = [];

// With the full connection settings (TLS, API key), so a remote cluster or Cloud is recognised.
const temporalReachable = (config: Config): Promise<boolean> => checkDependencies(config, ['temporal']).then(() => true, () => false);

async function startTemporal(config: Config): Promise<ChildProcess | null> {
  if (await temporalReachable(config)) {
    say(`using the Temporal server already at ${config.temporal.address}`);
    return null;
  }
  const [host, port] = config.temporal.address.split(':');
  if (!['127.0.0.1', 'localhost'].includes(host)) {
    throw new Error(`Temporal at ${config.temporal.address} is unreachable, and npm start only starts a local dev server`);
  }
  const cli = ensureTemporalCli(say);
  mkdirSync(DATA_DIR, { recursive: true });
  const args = devServerArgs({
    port: Number(port),
    uiPort: config.temporal.uiPort,
    dbFile: join(DATA_DIR, 'temporal.db'),
    namespace: config.temporal.namespace,
  });
  // Own process group: Ctrl-C reaches only this script, which stops Temporal after the worker drained.
  const child = spawn(cli, args, { stdio: ['ignore', 'inherit', 'inherit'], detached: true });
  started.push(child);
  const deadline = Date.now() + 60_000;
  while (!(await temporalReachable(config))) {
    if (child.exitCode !== null) throw new Error(`temporal server start-dev exited with code ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error('temporal server start-dev did not become ready within 60 s');
    await new Promise((r) => setTimeout(r, 500));
  }
  say(`Temporal dev server on ${config.temporal.address}; Web UI: http://127.0.0.1:${config.temporal.uiPort}`);
  return child;
}

async function startCluster(config: Config): Promise<TemporalCluster> {
  const [host, port] = config.temporal.address.split(':');
  if (!['127.0.0.1', 'localhost'].includes(host)) {
    throw new Error(`TEMPORAL_MODE=cluster starts a local cluster, but TEMPORAL_ADDRESS is ${config.temporal.address}`);
  }
  if (await temporalReachable(config)) {
    throw new Error(`TEMPORAL_MODE=cluster: a Temporal server already answers at ${config.temporal.address}; stop it first`);
  }
  const startedAt = Date.now();
  const cluster = await startTemporalCluster({
    postgresUrl: config.postgres.url,
    databases: { temporal: 'onboarding_temporal', visibility: 'onboarding_temporal_visibility' },
    ports: { ...DEFAULT_CLUSTER_PORTS, frontend: Number(port) },
    namespace: config.temporal.namespace,
    runDir: join(DATA_DIR, 'temporal-cluster'),
    uiPort: config.temporal.uiPort,
    log: say,
  });
  started.push(...cluster.processes);
  say(`Temporal cluster on ${cluster.address}, ready in ${((Date.now() - startedAt) / 1000).toFixed(1)} s (logs in .data/temporal-cluster/); Web UI: ${cluster.uiUrl}`);
  return cluster;
}

/**
 * A random payload key for development, made once and kept (0600) beside the dev server's
 * database: runs recorded there stay readable across restarts. Never a well-known key.
 */
function developmentPayloadKeys(): string {
  const file = join(DATA_DIR, 'payload-encryption-keys');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(DATA_DIR, { recursive: true });
  const keys = `dev1:${randomBytes(32).toString('base64')}`;
  writeFileSync(file, `${keys}\n`, { mode: 0o600, flag: 'wx' });
  say(`generated a development payload encryption key in ${file}`);
  return keys;
}

function startNode(name: string, script: string, env: Env, nodeOptions: readonly string[] = []): ChildProcess {
  // An IPC channel lets the child notice if this script dies without signalling it.
  const child = spawn(process.execPath, [...nodeOptions, script], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], detached: true, env });
  started.push(child);
  return child.on('exit', (code, signal) => say(`${name} exited (${signal ?? code})`));
}

async function main(): Promise<void> {
  const env: Env = { ...process.env };
  if (!env.PAYLOAD_ENCRYPTION_KEYS && (env.NODE_ENV ?? 'development') === 'development') {
    env.PAYLOAD_ENCRYPTION_KEYS = developmentPayloadKeys();
  }
  const config = loadConfig(env);
  await checkDependencies(config, ['postgres', 'rabbitmq']);
  // Without SMTP_URL, a local Mailpit catches the verification mails (docs/verification.md).
  const mailpit = env.SMTP_URL ? null : await startLocalMailpit(DATA_DIR, env, say);
  if (mailpit) started.push(mailpit);
  const cluster = config.localStack.temporalMode === 'cluster' ? await startCluster(config) : null;
  const temporal = cluster ? null : await startTemporal(config);

  const { pool, applied } = await openDatabase({ url: config.postgres.url, poolMax: 1 }, createLogger({ name: 'start', level: 'warn' }));
  await pool.end();
  say(applied.length > 0 ? `applied migrations ${applied.join(', ')}` : 'database schema up to date');

  const api = startNode('api', join(__dirname, '..', 'src', 'api', 'main.js'), env);
  // The heap limits and malloc arenas the worker runs with in production (`npm run worker`, docker-compose.yml).
  const worker = startNode('worker', join(__dirname, '..', 'src', 'worker', 'main.js'), { ...env, ...WORKER_ENVIRONMENT }, WORKER_NODE_OPTIONS);
  say(`API on http://127.0.0.1:${config.http.port}, its admin listener on http://${config.http.admin.host}:${config.http.admin.port}  (Ctrl-C stops everything)`);

  let stopping = false;
  const shutdown = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say('stopping API and worker ...');
    await Promise.all([stopChild(api, 20_000), stopChild(worker, 20_000)]);
    if (temporal || cluster) {
      say('stopping Temporal ...');
      await (cluster ? cluster.stop() : stopChild(temporal, 10_000));
    }
    await stopChild(mailpit, 5_000);
    process.exit(code);
  };
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));
  for (const child of [api, worker, temporal, mailpit, ...(cluster?.processes ?? [])]) {
    child?.on('exit', () => {
      if (!stopping) {
        say('a process stopped unexpectedly; stopping the rest');
        void shutdown(1);
      }
    });
  }
}

main().catch(async (err: Error) => {
  process.stderr.write(`npm start failed: ${err.message}\n`);
  await Promise.all(started.map((child) => stopChild(child, 5_000)));
  process.exit(1);
});
