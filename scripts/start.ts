/**
 * `npm start`: the whole stack on local defaults. Checks Postgres and RabbitMQ, starts a Temporal
 * dev server (persistent, Web UI on :8233) unless one is already listening, migrates, then runs
 * the API and the worker. Ctrl-C stops them in order: API and worker drain first, Temporal last.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Connection } from '@temporalio/client';
import { type Config, type Env, loadConfig } from '../src/config';
import { createPool, ensureDatabase, migrate } from '../src/db/postgres';
import { createLogger } from '../src/logger';
import { checkDependencies } from '../src/preflight';
import { devServerArgs, ensureTemporalCli } from '../src/local-stack/temporal-cli';
import { startLocalMailpit } from '../src/local-stack/mailpit';

const ROOT = resolve(__dirname, '..', '..');
const DATA_DIR = join(ROOT, '.data');
const UI_PORT = Number(process.env.TEMPORAL_UI_PORT ?? 8233);
const say = (line: string) => process.stdout.write(`[start] ${line}\n`);
// What this script started, so a failure half-way leaves nothing running behind it.
const started: ChildProcess[] = [];

async function temporalReachable(config: Config): Promise<boolean> {
  try {
    // The full connection settings (TLS, API key), so a remote cluster or Cloud is recognised.
    const conn = await Connection.connect({ ...config.temporal.connection, connectTimeout: 1_000 });
    await conn.close();
    return true;
  } catch {
    return false;
  }
}

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
    uiPort: UI_PORT,
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
  say(`Temporal dev server on ${config.temporal.address}; Web UI: http://127.0.0.1:${UI_PORT}`);
  return child;
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

function startNode(name: string, script: string, env: Env): ChildProcess {
  // An IPC channel lets the child notice if this script dies without signalling it.
  const child = spawn(process.execPath, [script], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], detached: true, env });
  started.push(child);
  return child.on('exit', (code, signal) => say(`${name} exited (${signal ?? code})`));
}

function stop(child: ChildProcess | null, graceMs: number): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      done();
    });
    child.kill('SIGTERM');
  });
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
  const temporal = await startTemporal(config);

  await ensureDatabase(config.postgres.url);
  const pool = createPool(config.postgres.url, 1, createLogger({ name: 'start', level: 'warn' }));
  const applied = await migrate(pool);
  await pool.end();
  say(applied.length > 0 ? `applied migrations ${applied.join(', ')}` : 'database schema up to date');

  const api = startNode('api', join(__dirname, '..', 'src', 'api', 'main.js'), env);
  const worker = startNode('worker', join(__dirname, '..', 'src', 'worker', 'main.js'), env);
  say(`API on http://127.0.0.1:${config.http.port}  (Ctrl-C stops everything)`);

  let stopping = false;
  const shutdown = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say('stopping API and worker ...');
    await Promise.all([stop(api, 20_000), stop(worker, 20_000)]);
    if (temporal) {
      say('stopping Temporal ...');
      await stop(temporal, 10_000);
    }
    await stop(mailpit, 5_000);
    process.exit(code);
  };
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));
  for (const child of [api, worker, temporal, mailpit]) {
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
  await Promise.all(started.map((child) => stop(child, 5_000)));
  process.exit(1);
});
