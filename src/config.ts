/**
 * The only place that reads process.env. Everything else receives a validated Config.
 */
import { isIP } from 'node:net';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';
import { z } from 'zod';
import { onboardingRunTimeoutMs } from './onboarding-policy';
import { type PayloadKey, parsePayloadKeys } from './temporal/payload-encryption';

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const amqpName = z.string().min(1).max(255);
// An empty variable means "not set", as a shell's `FOO=` usually intends.
const optional = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (v === '' ? undefined : v), schema.optional());
// Long enough that guessing is hopeless; `openssl rand -base64 32` gives 44 characters.
const bearerToken = z
  .string()
  .min(32, { error: 'must be at least 32 characters (openssl rand -base64 32)' })
  .max(512)
  .regex(/^[A-Za-z0-9\-._~+/]+=*$/, { error: 'must be a bearer token: letters, digits and -._~+/ (RFC 6750)' });
const PROXY_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

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
  // Where `npm start` serves the local Temporal dev server's Web UI.
  TEMPORAL_UI_PORT: port.default(8233),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('onboarding'),
  ONBOARDING_MAX_ATTEMPTS: positiveInt.max(10).default(5),

  ADMIN_API_TOKEN: optional(bearerToken),
  CODEC_API_TOKEN: optional(bearerToken),
  CODEC_CORS_ORIGINS: z.string().default('http://127.0.0.1:8233,http://localhost:8233'),
  PAYLOAD_ENCRYPTION_KEYS: optional(z.string()),
  SIGNUP_RATE_LIMIT: positiveInt.default(20),
  SIGNUP_RATE_LIMIT_WINDOW_MS: positiveInt.default(60_000),
  TRUST_PROXY: z.string().default('false'),
  DUPLICATE_SIGNUP_RESPONSE: z.enum(['conflict', 'accepted']).default('conflict'),

  // OpenTelemetry tracing (docs/tracing.md): on only when an OTLP endpoint is set; without one
  // nothing of OpenTelemetry is loaded. The base URL of an OTLP/HTTP receiver, as the spec defines it.
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL, e.g. http://127.0.0.1:4318' }).optional(),
  OTEL_SERVICE_NAME: z.string().min(1).max(255).optional(),
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
    /** The local dev server's Web UI port (`npm start`); a deployed service never serves it. */
    uiPort: number;
  };
  onboarding: { maxAttempts: number; runTimeoutMs: number };
  security: {
    /** Bearer token for PUT /users/{id} and the codec endpoint; none means both refuse everyone. */
    adminToken: string | undefined;
    /** A second token that opens only the codec endpoint, for operators of the Temporal Web UI. */
    codecToken: string | undefined;
    codecCorsOrigins: string[];
    /** First key encrypts, every key decrypts. */
    payloadKeys: PayloadKey[];
    signupRateLimit: { limit: number; windowMs: number };
    /** Express's `trust proxy`: which hops may set X-Forwarded-For, i.e. whose client IP is rate-limited. */
    trustProxy: false | number | string[];
    /** `accepted` answers a duplicate signup exactly like a new one, so the API does not reveal registered e-mails. */
    duplicateSignupResponse: 'conflict' | 'accepted';
  };
  tracing: {
    /** Where spans go over OTLP/HTTP (protobuf): the endpoint plus /v1/traces. None: tracing is off. */
    otlpTracesUrl: string | undefined;
    /** The spans' service.name; none lets each process name itself (onboarding-api, onboarding-worker). */
    serviceName: string | undefined;
  };
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
  const problems: string[] = [];
  if (e.NODE_ENV === 'production' && !e.ADMIN_API_TOKEN) {
    problems.push('ADMIN_API_TOKEN: is required when NODE_ENV=production');
  }
  // Required in every mode: a well-known development key would only pretend to protect anything.
  let payloadKeys: PayloadKey[] = [];
  if (!e.PAYLOAD_ENCRYPTION_KEYS) {
    problems.push('PAYLOAD_ENCRYPTION_KEYS: is required (keyId:base64key, e.g. k1:$(openssl rand -base64 32)); npm start generates one for development');
  } else {
    const keys = parsePayloadKeys(e.PAYLOAD_ENCRYPTION_KEYS);
    if (keys.ok) payloadKeys = keys.keys;
    else problems.push(`PAYLOAD_ENCRYPTION_KEYS: ${keys.problem}`);
  }
  const trustProxy = parseTrustProxy(e.TRUST_PROXY);
  if (trustProxy === null) {
    problems.push('TRUST_PROXY: must be false, a hop count, or a comma-separated list of proxy addresses/subnets (not true: any client could then pick its own rate-limit key)');
  }
  const codecCorsOrigins = e.CODEC_CORS_ORIGINS.split(',').map((s) => s.trim()).filter(Boolean);
  if (codecCorsOrigins.some((o) => !/^https?:\/\/[^/]+$/.test(o))) {
    problems.push('CODEC_CORS_ORIGINS: must be comma-separated origins like http://127.0.0.1:8233');
  }
  if (problems.length > 0) throw new ConfigError(problems);
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
      uiPort: e.TEMPORAL_UI_PORT,
    },
    onboarding: { maxAttempts: e.ONBOARDING_MAX_ATTEMPTS, runTimeoutMs },
    security: {
      adminToken: e.ADMIN_API_TOKEN,
      codecToken: e.CODEC_API_TOKEN,
      codecCorsOrigins,
      payloadKeys,
      signupRateLimit: { limit: e.SIGNUP_RATE_LIMIT, windowMs: e.SIGNUP_RATE_LIMIT_WINDOW_MS },
      trustProxy: trustProxy as false | number | string[],
      duplicateSignupResponse: e.DUPLICATE_SIGNUP_RESPONSE,
    },
    tracing: {
      // The spec's rule for the signal-independent variable: the traces path is appended.
      otlpTracesUrl: e.OTEL_EXPORTER_OTLP_ENDPOINT && `${e.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces`,
      serviceName: e.OTEL_SERVICE_NAME,
    },
  };
}

function parseTrustProxy(raw: string): false | number | string[] | null {
  const value = raw.trim();
  if (value === 'false' || value === '') return false;
  if (/^\d+$/.test(value)) return Number(value);
  const entries = value.split(',').map((s) => s.trim()).filter(Boolean);
  const valid = entries.every((entry) => {
    if (PROXY_NAMES.includes(entry)) return true;
    const [address, bits, ...rest] = entry.split('/');
    const family = isIP(address);
    if (family === 0 || rest.length > 0) return false;
    return bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128));
  });
  return valid && entries.length > 0 ? entries : null;
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
