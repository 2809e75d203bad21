/**
 * Real services for tests, isolated per test file: a database, queue names and a task queue of
 * their own, and a Temporal dev server started from the cached CLI. Everything is removed after.
 */
import { randomBytes } from 'node:crypto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, type LogEntry, type LogLevel, Runtime } from '@temporalio/worker';
import type { Pool } from 'pg';
import { type Config, type Env, loadConfig } from '../../src/config';
import { createPool, ensureDatabase, migrate } from '../../src/db/postgres';
import { createLogger, type Logger } from '../../src/logger';
import { OnboardingStateKey } from '../../workflows/search-attributes';
import { deleteTopology, dropDatabase } from '../../scripts/run-resources';

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

// One admin token and one payload key per test process, so every API a test file starts agrees.
export const TEST_ADMIN_TOKEN = randomBytes(32).toString('base64url');
export const TEST_PAYLOAD_KEYS = `test1:${randomBytes(32).toString('base64')}`;

export const silentLogger: Logger = createLogger({ name: 'test', level: process.env.TEST_LOG_LEVEL ?? 'silent' });

export function uniqueSuffix(): string {
  return `${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
}

/** Environment whose database, AMQP names and task queue belong to this test file alone. */
export function testEnv(suffix: string, env: Env = {}): Env {
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: `postgres://postgres@127.0.0.1:5432/onboarding_test_${suffix}`,
    AMQP_EXCHANGE: `onboarding.test.${suffix}`,
    AMQP_QUEUE: `user_onboarding_queue.test.${suffix}`,
    AMQP_DEAD_LETTER_EXCHANGE: `onboarding.dlx.test.${suffix}`,
    AMQP_DLQ: `user_onboarding_queue_dlq.test.${suffix}`,
    TEMPORAL_TASK_QUEUE: `onboarding-test-${suffix}`,
    ADMIN_API_TOKEN: TEST_ADMIN_TOKEN,
    PAYLOAD_ENCRYPTION_KEYS: TEST_PAYLOAD_KEYS,
    // Every request of a test comes from 127.0.0.1; tests of the limit set their own.
    SIGNUP_RATE_LIMIT: '100000',
    ...env,
  };
}

export function testConfig(suffix: string, env: Env = {}): Config {
  return loadConfig(testEnv(suffix, env));
}

export async function createTestDatabase(config: Config): Promise<Pool> {
  await ensureDatabase(config.postgres.url);
  const pool = createPool(config.postgres.url, 10, silentLogger);
  await migrate(pool);
  return pool;
}

export async function dropTestDatabase(config: Config, pool?: Pool): Promise<void> {
  await pool?.end().catch(() => undefined);
  await dropDatabase(config);
}

/** Deletes the queues and exchanges a test config names. */
export { deleteTopology };

/**
 * A real Temporal dev server (not the time-skipping test server) with our search attributes;
 * with `uiPort`, its Web UI too.
 */
export function startTemporal(opts: { uiPort?: number; port?: number } = {}): Promise<TestWorkflowEnvironment> {
  const path = process.env.TEMPORAL_CLI;
  if (!path) throw new Error('TEMPORAL_CLI is not set; the jest global setup resolves it');
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path },
      // A set port: a test that points a process at Temporal before it is there.
      ...(opts.port !== undefined ? { port: opts.port } : {}),
      searchAttributes: [OnboardingStateKey],
      ui: opts.uiPort !== undefined,
      ...(opts.uiPort !== undefined ? { uiPort: opts.uiPort } : {}),
      log: { format: 'pretty', level: 'error' },
    },
  });
}

/** Polls until `probe` returns something other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(probe: () => Promise<T | undefined>, timeoutMs = 30_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
