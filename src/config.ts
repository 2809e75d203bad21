/**
 * The only place that reads process.env. Everything else receives a validated Config.
 */
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';
import { z } from 'zod';
import { onboardingRunTimeoutMs } from '../workflows/retry-policy';

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const amqpName = z.string().min(1).max(255);

/** Every variable the service reads; exported so tests (e.g. the compose check) derive the list from here. */
export const EnvSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  PORT: port.default(5000),
  // The worker's own HTTP port: /healthz, /readyz, /metrics.
  WORKER_HTTP_PORT: port.default(5001),

  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, { error: 'must be a postgres:// URL' })
    .default('postgres://postgres@127.0.0.1:5432/onboarding'),
  PG_POOL_MAX: positiveInt.max(200).default(10),

  AMQP_URL: z
    .string()
    .regex(/^amqps?:\/\//, { error: 'must be an amqp:// or amqps:// URL' })
    .default('amqp://guest:guest@127.0.0.1:5672'),
  AMQP_EXCHANGE: amqpName.default('onboarding'),
  AMQP_QUEUE: amqpName.default('user_onboarding_queue'),
  AMQP_DEAD_LETTER_EXCHANGE: amqpName.default('onboarding.dlx'),
  AMQP_DLQ: amqpName.default('user_onboarding_queue_dlq'),
  AMQP_MESSAGE_TTL_MS: positiveInt.default(60 * 60 * 1000),
  AMQP_PREFETCH: positiveInt.max(65535).default(50),
  AMQP_PUBLISH_CONFIRM_TIMEOUT_MS: positiveInt.default(5000),
  // RabbitMQ's consumer_timeout: an unacked delivery older than this closes the channel.
  AMQP_CONSUMER_TIMEOUT_MS: positiveInt.default(30 * 60 * 1000),

  // Temporal's own variables, read by @temporalio/envconfig as every Temporal SDK and the CLI do;
  // listed here so they are validated and documented with the rest. TLS client certificates and
  // a TOML profile (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE) work too, see the README.
  TEMPORAL_ADDRESS: z.string().min(1).default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_API_KEY: z.string().min(1).optional(),
  TEMPORAL_TLS: z.enum(['true', 'false']).optional(),
  // Where the worker's Temporal SDK Runtime serves its own Prometheus metrics.
  TEMPORAL_METRICS_BIND_ADDRESS: z
    .string()
    .regex(/^[^\s:]+:\d{1,5}$/, { error: 'must be host:port' })
    .default('127.0.0.1:9464'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('onboarding'),
  ONBOARDING_MAX_ATTEMPTS: positiveInt.max(10).default(5),
});

export type Env = Record<string, string | undefined>;

export interface Config {
  env: 'development' | 'production' | 'test';
  logLevel: string;
  http: { port: number; workerPort: number; bodyLimitBytes: number };
  postgres: { url: string; poolMax: number };
  amqp: {
    url: string;
    exchange: string;
    routingKey: string;
    queue: string;
    deadLetterExchange: string;
    deadLetterQueue: string;
    messageTtlMs: number;
    prefetch: number;
    publishConfirmTimeoutMs: number;
    consumerTimeoutMs: number;
  };
  temporal: {
    address: string;
    namespace: string;
    taskQueue: string;
    /** For Connection.connect and NativeConnection.connect: address, TLS, API key, gRPC metadata. */
    connection: NativeConnectionOptions & { address: string };
    metricsBindAddress: string;
  };
  onboarding: { maxAttempts: number; runTimeoutMs: number };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Builds the Config from an environment, or throws a ConfigError that names every bad variable. */
export function loadConfig(rawEnv: Env = process.env): Config {
  // An empty variable means unset, as `${TEMPORAL_API_KEY:-}` in docker-compose.yml yields.
  const env: Env = Object.fromEntries(Object.entries(rawEnv).filter(([, value]) => value !== ''));
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  const e = parsed.data;
  const temporal = temporalConnection(env, e.TEMPORAL_ADDRESS, e.TEMPORAL_NAMESPACE);
  const runTimeoutMs = onboardingRunTimeoutMs(e.ONBOARDING_MAX_ATTEMPTS);
  // The bridge holds each message unacked until its workflow ends, so the whole retry
  // budget has to finish well before RabbitMQ gives up on the delivery.
  if (runTimeoutMs > e.AMQP_CONSUMER_TIMEOUT_MS / 2) {
    throw new ConfigError([
      `ONBOARDING_MAX_ATTEMPTS=${e.ONBOARDING_MAX_ATTEMPTS} gives a workflow run timeout of ${Math.round(runTimeoutMs / 1000)} s, ` +
        `more than half of AMQP_CONSUMER_TIMEOUT_MS (${Math.round(e.AMQP_CONSUMER_TIMEOUT_MS / 1000)} s); lower the attempts`,
    ]);
  }
  return {
    env: e.NODE_ENV,
    logLevel: e.LOG_LEVEL,
    http: { port: e.PORT, workerPort: e.WORKER_HTTP_PORT, bodyLimitBytes: 16 * 1024 },
    postgres: { url: e.DATABASE_URL, poolMax: e.PG_POOL_MAX },
    amqp: {
      url: e.AMQP_URL,
      exchange: e.AMQP_EXCHANGE,
      routingKey: 'user.signup',
      queue: e.AMQP_QUEUE,
      deadLetterExchange: e.AMQP_DEAD_LETTER_EXCHANGE,
      deadLetterQueue: e.AMQP_DLQ,
      messageTtlMs: e.AMQP_MESSAGE_TTL_MS,
      prefetch: e.AMQP_PREFETCH,
      publishConfirmTimeoutMs: e.AMQP_PUBLISH_CONFIRM_TIMEOUT_MS,
      consumerTimeoutMs: e.AMQP_CONSUMER_TIMEOUT_MS,
    },
    temporal: {
      address: temporal.connection.address,
      namespace: temporal.namespace,
      taskQueue: e.TEMPORAL_TASK_QUEUE,
      connection: temporal.connection,
      metricsBindAddress: e.TEMPORAL_METRICS_BIND_ADDRESS,
    },
    onboarding: { maxAttempts: e.ONBOARDING_MAX_ATTEMPTS, runTimeoutMs },
  };
}

/**
 * Temporal connection settings the way every Temporal SDK and the CLI read them (envconfig):
 * TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY (which turns TLS on), TEMPORAL_TLS*,
 * TEMPORAL_GRPC_META_*, or a TOML profile. Our defaults fill in what none of them set.
 */
function temporalConnection(env: Env, defaultAddress: string, defaultNamespace: string) {
  const vars = Object.fromEntries(
    Object.entries(env).filter((entry): entry is [string, string] => entry[0].startsWith('TEMPORAL_') && entry[1] !== undefined),
  );
  let loaded: ReturnType<typeof loadClientConnectConfig>;
  try {
    loaded = loadClientConnectConfig({ overrideEnvVars: vars });
  } catch (err) {
    throw new ConfigError([`TEMPORAL_*: ${(err as Error).message}`]);
  }
  const options = loaded.connectionOptions;
  return {
    namespace: loaded.namespace ?? defaultNamespace,
    connection: { ...options, address: options.address ?? defaultAddress },
  };
}

/** A URL safe to print: the password, if any, replaced by ***. */
export function maskUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}
