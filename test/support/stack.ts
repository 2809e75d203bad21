/**
 * Real services for tests, isolated per test file: a database, queue names and a task queue of
 * their own, and a Temporal dev server started from the cached CLI. Everything is removed after.
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, type LogEntry, type LogLevel, Runtime } from '@temporalio/worker';
import type { Pool } from 'pg';
import { type Config, type Env, loadConfig } from '../../src/config';
import { openDatabase } from '../../src/db/postgres';
import { createLogger, type Logger } from '../../src/logger';
import { OnboardingStateKey, VerificationStateKey } from '../../workflows/search-attributes';
import { RUN_ADMIN_TOKEN, runEnv, runPayloadKeys } from '../harness/env';
import { deleteTopology, dropDatabase } from '../harness/run-resources';

// What test files use of the harness, from the one module they import.
export { uniqueSuffix } from '../harness/env';
export { eventually } from '../harness/wait';
/** Deletes the queues and exchanges a test config names. */
export { deleteTopology };

// Tests provoke failures on purpose; the SDK would log each at WARN, so only ERROR reaches the
// console. Once per test process, so a test that wants the worker's log lines (the secret-leak
// test) subscribes to them instead of installing a runtime of its own.
const LOG_LEVELS: LogLevel[] = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'];
const consoleLevel = LOG_LEVELS.indexOf((process.env.TEST_TEMPORAL_LOG_LEVEL as LogLevel | undefined) ?? 'ERROR');
const runtimeLogListeners = new Set<(entry: LogEntry) => void>();
Runtime.install({
  logger: new DefaultLogger('INFO', (entry) => {
    for (const listener of runtimeLogListeners) listener(entry);
    if (LOG_LEVELS.indexOf(entry.level) >= consoleLevel) console.error(`[temporal ${entry.level}] ${entry.message}`, entry.meta ?? '');
  }),
});

/** Calls `listener` with every Temporal SDK log line of this process (INFO and up) until the returned function is called. */
export function onTemporalRuntimeLog(listener: (entry: LogEntry) => void): () => void {
  runtimeLogListeners.add(listener);
  return () => runtimeLogListeners.delete(listener);
}

// One admin token and one payload key (id `test1`) per test process, so every API a test file starts agrees.
export const TEST_ADMIN_TOKEN = RUN_ADMIN_TOKEN;
export const TEST_PAYLOAD_KEYS = runPayloadKeys('test');

export const silentLogger: Logger = createLogger({ name: 'test', level: process.env.TEST_LOG_LEVEL ?? 'silent' });

/** Environment whose database, AMQP names and task queue belong to this test file alone. */
export function testEnv(suffix: string, env: Env = {}): Env {
  return runEnv('test', suffix, env);
}

export function testConfig(suffix: string, env: Env = {}): Config {
  return loadConfig(testEnv(suffix, env));
}

export async function createTestDatabase(config: Config): Promise<Pool> {
  return (await openDatabase({ url: config.postgres.url, poolMax: 10 }, silentLogger)).pool;
}

export async function dropTestDatabase(config: Config, pool?: Pool): Promise<void> {
  await pool?.end().catch(() => undefined);
  await dropDatabase(config);
}


export type TemporalServerFactory = (opts: { uiPort?: number }) => Promise<TestWorkflowEnvironment>;
let temporalServerFactory: TemporalServerFactory | undefined;

/** From now on in this test file, startTemporal() starts its servers with `factory` (e.g. a real cluster, test/support/cluster.ts). */
export function useTemporalServer(factory: TemporalServerFactory): void {
  temporalServerFactory = factory;
}

/**
 * A real Temporal dev server (not the time-skipping test server) with our search attributes;
 * with `uiPort`, its Web UI too. Or whatever server useTemporalServer chose.
 */
export function startTemporal(opts: { uiPort?: number; port?: number } = {}): Promise<TestWorkflowEnvironment> {
  if (temporalServerFactory) return temporalServerFactory(opts);
  const path = process.env.TEMPORAL_CLI;
  if (!path) throw new Error('TEMPORAL_CLI is not set; the jest global setup resolves it');
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path },
      // A set port: a test that points a process at Temporal before it is there.
      ...(opts.port !== undefined ? { port: opts.port } : {}),
      searchAttributes: [OnboardingStateKey, VerificationStateKey],
      ui: opts.uiPort !== undefined,
      ...(opts.uiPort !== undefined ? { uiPort: opts.uiPort } : {}),
      log: { format: 'pretty', level: 'error' },
    },
  });
}
