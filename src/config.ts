/**
 * The only place that reads process.env. Everything else receives a validated Config.
 */
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';
import { z } from 'zod';
import { onboardingRunTimeoutMs } from './onboarding-policy';
import { deriveHmacKey } from './security/keyed-hash';
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
/**
 * Bounds on TRUST_PROXY, past which it would trust (nearly) every address, so any client could
 * write its own X-Forwarded-For and pick its own rate-limit key. Real chains are CDN, WAF, load
 * balancer, ingress, sidecar: five hops at most; a larger count only ever reaches entries the
 * client wrote. No proxy fleet spans more than an IPv4 /8 (10.0.0.0/8, the largest private
 * block, is the broadest legitimate entry) or an IPv6 /16 (the largest single allocations are
 * around /19; ULA is written `uniquelocal`).
 */
const MAX_PROXY_HOPS = 5;
const MIN_PROXY_PREFIX = { 4: 8, 6: 16 } as const;
const DURATION_UNITS_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
/** `500ms`, `5s`, `10m`, `24h`, `7d` → milliseconds. */
export function parseDuration(text: string): number | null {
  const match = /^(\d{1,9})(ms|s|m|h|d)$/.exec(text.trim());
  if (!match) return null;
  const ms = Number(match[1]) * DURATION_UNITS_MS[match[2] as keyof typeof DURATION_UNITS_MS];
  return ms > 0 ? ms : null;
}
const duration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .refine((text) => parseDuration(text) !== null, { error: 'must be a duration like 500ms, 5s, 10m, 24h or 7d' })
    .transform((text) => parseDuration(text) as number);

/** Every variable the service reads; exported so tests (e.g. the compose check) derive the list from here. */
export const EnvSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  PORT: port.default(5000),
  // The admin listener (docs/operations.md#two-listeners): personal data, operator routes,
  // metrics and the detailed readiness. Loopback unless ADMIN_HOST says otherwise.
  ADMIN_PORT: port.default(5002),
  ADMIN_HOST: z
    .string()
    .refine((host) => host === 'localhost' || isIP(host) !== 0, { error: 'must be an IP address (e.g. 127.0.0.1, 0.0.0.0 in a container) or localhost' })
    .default('127.0.0.1'),
  // true: the admin listener's /metrics and /readyz answer without the admin token (a scraper,
  // an orchestrator's probe). Every other admin route always needs it.
  ADMIN_OPEN_PROBES: z.enum(['true', 'false']).default('false'),
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
  // The API's publisher down (channel closed, broker unreachable) this long fails the API's liveness.
  PUBLISHER_DOWN_LIVENESS_MS: positiveInt.default(5 * 60_000),

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
  // The longest GET /users/{id} waits for Temporal to say where a run is; past it, the answer
  // comes from the database alone, with the run's state marked UNKNOWN.
  TEMPORAL_LOOKUP_TIMEOUT_MS: positiveInt.max(60_000).default(1_000),
  ONBOARDING_MAX_ATTEMPTS: positiveInt.max(10).default(5),
  // false: onboarding ends at the row and starts no verification run (the benchmark's
  // onboarding-only figures; a bulk import). Those users stay PENDING until
  // `npm run verification:backfill` starts their runs (docs/verification.md).
  ONBOARDING_STARTS_VERIFICATION: z.enum(['true', 'false']).default('true'),

  ADMIN_API_TOKEN: optional(bearerToken),
  CODEC_API_TOKEN: optional(bearerToken),
  CODEC_CORS_ORIGINS: z.string().default('http://127.0.0.1:8233,http://localhost:8233'),
  PAYLOAD_ENCRYPTION_KEYS: optional(z.string()),
  // true: the worker and the clients refuse a Temporal payload not marked encrypted (a forged
  // input or signal); false only while runs recorded before encryption was turned on are open.
  PAYLOAD_ENCRYPTION_REQUIRED: z.enum(['true', 'false']).default('true'),
  SIGNUP_RATE_LIMIT: positiveInt.default(20),
  SIGNUP_RATE_LIMIT_WINDOW_MS: positiveInt.default(60_000),
  // The public status read (GET /users/{user_id}) and the verification link's routes (GET and
  // POST /verify), per client IP, counted in Postgres across every API process.
  STATUS_RATE_LIMIT: positiveInt.default(60),
  STATUS_RATE_LIMIT_WINDOW_MS: positiveInt.default(60_000),
  VERIFY_RATE_LIMIT: positiveInt.default(20),
  VERIFY_RATE_LIMIT_WINDOW_MS: positiveInt.default(60_000),
  TRUST_PROXY: z.string().default('false'),
  // `accepted`: a registered address is answered like a new one and its owner mailed (issue 12).
  DUPLICATE_SIGNUP_RESPONSE: z.enum(['conflict', 'accepted']).default('accepted'),

  // libuv's thread pool, which Node sizes from this variable itself at its first use. argon2id
  // hashes run on it, and so do dns.lookup (pg's and amqplib's connects), fs and zlib.
  UV_THREADPOOL_SIZE: positiveInt.max(1024).default(4),
  // argon2id hashes in flight per API process; unset: the cores, at most the pool size less one.
  HASH_CONCURRENCY: optional(positiveInt.max(1023)),
  // Signups that may wait for a hash slot; past that, POST /signup answers 503 at once. Unset: 16 per slot.
  HASH_QUEUE_LIMIT: optional(z.coerce.number().int().min(0).max(10_000)),

  // ---- Password policy, idempotent signup, limits shared across processes, purging (issue 12).
  // The secret behind every keyed hash (idempotency fingerprints, address-derived rate-limit
  // keys), base64 of at least 32 bytes. Unset: derived from the first PAYLOAD_ENCRYPTION_KEYS key,
  // so set it before rotating that key, or in-window idempotency retries answer 422.
  HMAC_KEY: optional(z.string()),
  // zxcvbn score (0-4) a new password must reach; see src/security/password-policy.ts.
  PASSWORD_MIN_SCORE: z.coerce.number().int().min(0).max(4).default(3),
  // How long an Idempotency-Key is remembered (the IETF draft's 24 h), and how long one run may
  // hold it before a retry may take over (a crashed process's claim lapses).
  IDEMPOTENCY_KEY_TTL_MS: positiveInt.min(60_000).default(24 * 60 * 60 * 1000),
  IDEMPOTENCY_LEASE_MS: positiveInt.min(1_000).default(60_000),
  // How often the API purges expired rate-limit counters and idempotency keys.
  PURGE_INTERVAL_MS: positiveInt.min(10_000).default(10 * 60 * 1000),
  // Read by `npm start` only, not by the API or the worker: which Temporal it runs locally. `dev`:
  // the CLI's dev server (SQLite), unless a server already answers at TEMPORAL_ADDRESS; `cluster`:
  // the real Temporal server on Postgres with the Web UI server (src/local-stack/temporal-cluster.ts).
  TEMPORAL_MODE: z.enum(['dev', 'cluster']).default('dev'),
  // The bridge's recovery (docs/reliability.md#recovery-from-every-close-cancel-and-outage).
  // The longest the bridge holds one delivery before handing it back; default half of AMQP_CONSUMER_TIMEOUT_MS.
  BRIDGE_MAX_HOLD_MS: optional(positiveInt),
  // A consumer down (not merely paused for Temporal) this long fails the worker's liveness.
  BRIDGE_CONSUMER_DOWN_LIVENESS_MS: positiveInt.default(5 * 60_000),
  // How often the bridge asks Temporal while it holds deliveries, and the cap of its probes while paused.
  BRIDGE_TEMPORAL_PROBE_INTERVAL_MS: positiveInt.min(100).default(5_000),
  // Deliveries of a message no process could handle (undecodable, unknown version) before it is dead-lettered.
  BRIDGE_MAX_DELIVERIES: positiveInt.max(1000).default(5),
  // How long such a delivery waits before it is handed back, so one process does not spin on it.
  BRIDGE_HAND_BACK_DELAY_MS: positiveInt.default(2_000),
  // ---- E-mail verification and events (docs/verification.md, docs/events.md).
  // Unset: the local Mailpit that npm start runs (the worker warns about it in production).
  SMTP_URL: optional(z.string().regex(/^smtps?:\/\//, { error: 'must be an smtp:// or smtps:// URL' })),
  MAIL_FROM: z.string().min(3).max(320).regex(/@/, { error: 'must be an address, e.g. Onboarding <no-reply@example.com>' }).default('Onboarding <no-reply@onboarding.localhost>'),
  // Where the links in the mails point: the worker sends them and sees no request. Unset: this machine's API.
  PUBLIC_BASE_URL: optional(z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' })),
  VERIFICATION_TTL: duration('24h'),
  VERIFICATION_REMINDER_AFTER: duration('24h'),
  VERIFICATION_EXPIRES_AFTER: duration('7d'),
  // How often a waiting run reads the user's row even without a signal (a verification accepted while Temporal was down).
  VERIFICATION_RECHECK_EVERY: duration('1h'),
  // The longest wait between two attempts to send one mail; SMTP may be down for hours.
  MAIL_RETRY_MAX_INTERVAL: duration('10m'),
  RESEND_RATE_LIMIT: positiveInt.default(10),
  RESEND_ADDRESS_LIMIT: positiveInt.default(3),
  RESEND_RATE_LIMIT_WINDOW: duration('1h'),
  // "Someone tried to sign up with your address" mails per address and window (accepted mode).
  DUPLICATE_SIGNUP_NOTICE_LIMIT: positiveInt.default(3),
  DUPLICATE_SIGNUP_NOTICE_WINDOW: duration('24h'),
  EVENTS_EXCHANGE: amqpName.default('onboarding.events'),
  // OpenTelemetry tracing (docs/tracing.md): on only when an OTLP endpoint is set; without one
  // nothing of OpenTelemetry is loaded. The base URL of an OTLP/HTTP receiver, as the spec defines it.
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL, e.g. http://127.0.0.1:4318' }).optional(),
  OTEL_SERVICE_NAME: z.string().min(1).max(255).optional(),
});

export type Env = Record<string, string | undefined>;

export interface Config {
  env: 'development' | 'production' | 'test';
  logLevel: string;
  http: {
    /** The public listener: signup, status, verification, docs, health. */
    port: number;
    workerPort: number;
    bodyLimitBytes: number;
    /** The admin listener: the full record, PUT, metrics, detailed readiness, the codec. */
    admin: { port: number; host: string; openProbes: boolean };
  };
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
    /** The API's liveness fails once its publisher has been down this long. */
    publisherDownLivenessMs: number;
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
    /** The deadline of a status read's question to Temporal (GET /users/{id}). */
    lookupTimeoutMs: number;
  };
  /** The API's cap on argon2id work, so hashing never takes the whole libuv pool. */
  hashing: {
    /** Hashes in flight at once. */
    concurrency: number;
    /** Signups that may wait for a slot; one more is answered 503 at once. */
    queueLimit: number;
    /** libuv's pool size (UV_THREADPOOL_SIZE), for the record: concurrency is below it. */
    threadPoolSize: number;
  };
  onboarding: {
    maxAttempts: number;
    runTimeoutMs: number;
    /** Whether each onboarding run starts the user's verification run (ONBOARDING_STARTS_VERIFICATION). */
    startsVerification: boolean;
  };
  security: {
    /** Bearer token for every admin-listener route; none means they refuse everyone. */
    adminToken: string | undefined;
    /** A second token that opens only the codec endpoint, for operators of the Temporal Web UI. */
    codecToken: string | undefined;
    codecCorsOrigins: string[];
    /** First key encrypts, every key decrypts. */
    payloadKeys: PayloadKey[];
    /** Decoding refuses a payload not marked encrypted (the worker's and the clients' codec; not the codec endpoint's). */
    payloadEncryptionRequired: boolean;
    signupRateLimit: { limit: number; windowMs: number };
    /** Express's `trust proxy`: which hops may set X-Forwarded-For, i.e. whose client IP is rate-limited. */
    trustProxy: false | number | string[];
    /** `accepted` answers a duplicate signup exactly like a new one, so the API does not reveal registered e-mails. */
    duplicateSignupResponse: 'conflict' | 'accepted';
  };
  passwordPolicy: {
    /** zxcvbn score (0-4) a password must reach; common passwords and personal data are refused at any setting. */
    minScore: number;
  };
  idempotency: {
    /** HMAC key for request-body fingerprints: a body holds a password, so never a plain hash. */
    fingerprintKey: Buffer;
    ttlMs: number;
    leaseMs: number;
  };
  limits: {
    /** HMAC key for rate-limit keys, so no address (e-mail or IP) is stored in the counters. */
    keyHmacKey: Buffer;
    /** IPv6 clients share one counter per /56: one customer's allocation, as express-rate-limit assumes. */
    ipv6Subnet: number;
    /** Period of the purge of expired counters, idempotency keys (and verification tokens). */
    purgeIntervalMs: number;
    /** Per client IP: the public GET /users/{user_id}. */
    statusRead: { limit: number; windowMs: number };
    /** Per client IP: GET and POST /verify. */
    verify: { limit: number; windowMs: number };
  };
  /** What `npm start` runs beside the service. */
  localStack: { temporalMode: 'dev' | 'cluster' };
  /** How the bridge recovers and what it hands back (docs/reliability.md). */
  bridge: {
    /** The longest one delivery is held unsettled; at most half of amqp.consumerTimeoutMs. */
    maxHoldMs: number;
    /** Liveness fails once the consumer has been down (not paused) this long. */
    consumerDownLivenessMs: number;
    /** Probe period while deliveries are held, and the cap of the probe backoff while paused. */
    temporalProbeIntervalMs: number;
    /** Deliveries of a message no process could handle before it is dead-lettered. */
    maxDeliveries: number;
    /** How long a delivery this process cannot handle waits before it is handed back. */
    handBackDelayMs: number;
  };
  mail: { smtpUrl: string; from: string; retryMaxIntervalMs: number };
  /** Where the user.* CloudEvents go: a topic exchange on the service's broker. */
  events: { url: string; exchange: string; source: string; publishConfirmTimeoutMs: number };
  verification: {
    /** Links are `${publicBaseUrl}/verify?token=…`; no trailing slash. */
    publicBaseUrl: string;
    tokenTtlMs: number;
    reminderAfterMs: number;
    expiresAfterMs: number;
    recheckEveryMs: number;
    /** Per client (IP) and per address, each per window. */
    resend: { clientLimit: number; addressLimit: number; windowMs: number };
    /** "Someone tried to sign up with your address" mails per address and window; more are not sent. */
    duplicateNotice: { addressLimit: number; windowMs: number };
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
  if (!trustProxy.ok) problems.push(`TRUST_PROXY: ${trustProxy.problem}`);
  const hmacSecret = e.HMAC_KEY === undefined ? payloadKeys[0]?.key : parseHmacSecret(e.HMAC_KEY);
  if (e.HMAC_KEY !== undefined && !hmacSecret) {
    problems.push('HMAC_KEY: must be at least 32 bytes in standard base64 (openssl rand -base64 32)');
  }
  // A run holds its key for one publish (up to the confirm timeout) plus a few bounded queries
  // and one argon2id hash; a shorter lease would let a retry run while the first still does.
  if (e.ADMIN_PORT !== 0 && e.ADMIN_PORT === e.PORT) {
    problems.push('ADMIN_PORT: must differ from PORT: the admin routes must never be served on the public listener');
  }
  if (e.IDEMPOTENCY_LEASE_MS < e.AMQP_PUBLISH_CONFIRM_TIMEOUT_MS + 30_000) {
    problems.push('IDEMPOTENCY_LEASE_MS: must be at least AMQP_PUBLISH_CONFIRM_TIMEOUT_MS + 30000');
  }
  const codecCorsOrigins = e.CODEC_CORS_ORIGINS.split(',').map((s) => s.trim()).filter(Boolean);
  if (codecCorsOrigins.some((o) => !/^https?:\/\/[^/]+$/.test(o))) {
    problems.push('CODEC_CORS_ORIGINS: must be comma-separated origins like http://127.0.0.1:8233');
  }
  const hashConcurrency = e.HASH_CONCURRENCY ?? defaultHashConcurrency(e.UV_THREADPOOL_SIZE);
  if (hashConcurrency >= e.UV_THREADPOOL_SIZE) {
    problems.push(
      `HASH_CONCURRENCY: must be below UV_THREADPOOL_SIZE (${e.UV_THREADPOOL_SIZE}), so hashing never takes the pool that pg and amqplib also use`,
    );
  }
  problems.push(...verificationProblems(e));
  // (hmacSecret and trustProxy are only checked again for the type checker: a problem is listed for each.)
  if (problems.length > 0 || !hmacSecret || !trustProxy.ok) throw new ConfigError(problems);
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
  const bridge = bridgeSettings(e);
  return {
    env: e.NODE_ENV,
    logLevel: e.LOG_LEVEL,
    http: {
      port: e.PORT,
      workerPort: e.WORKER_HTTP_PORT,
      bodyLimitBytes: 16 * 1024,
      admin: { port: e.ADMIN_PORT, host: e.ADMIN_HOST, openProbes: e.ADMIN_OPEN_PROBES === 'true' },
    },
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
      publisherDownLivenessMs: e.PUBLISHER_DOWN_LIVENESS_MS,
    },
    temporal: {
      address: temporal.connection.address,
      namespace: temporal.namespace,
      taskQueue: e.TEMPORAL_TASK_QUEUE,
      connection: temporal.connection,
      metricsBindAddress: e.TEMPORAL_METRICS_BIND_ADDRESS,
      uiPort: e.TEMPORAL_UI_PORT,
      lookupTimeoutMs: e.TEMPORAL_LOOKUP_TIMEOUT_MS,
    },
    hashing: {
      concurrency: hashConcurrency,
      queueLimit: e.HASH_QUEUE_LIMIT ?? HASH_QUEUE_PER_SLOT * hashConcurrency,
      threadPoolSize: e.UV_THREADPOOL_SIZE,
    },
    onboarding: { maxAttempts: e.ONBOARDING_MAX_ATTEMPTS, runTimeoutMs, startsVerification: e.ONBOARDING_STARTS_VERIFICATION === 'true' },
    security: {
      adminToken: e.ADMIN_API_TOKEN,
      codecToken: e.CODEC_API_TOKEN,
      codecCorsOrigins,
      payloadKeys,
      payloadEncryptionRequired: e.PAYLOAD_ENCRYPTION_REQUIRED === 'true',
      signupRateLimit: { limit: e.SIGNUP_RATE_LIMIT, windowMs: e.SIGNUP_RATE_LIMIT_WINDOW_MS },
      trustProxy: trustProxy.value,
      duplicateSignupResponse: e.DUPLICATE_SIGNUP_RESPONSE,
    },
    passwordPolicy: { minScore: e.PASSWORD_MIN_SCORE },
    idempotency: {
      fingerprintKey: deriveHmacKey(hmacSecret, 'idempotency-fingerprint'),
      ttlMs: e.IDEMPOTENCY_KEY_TTL_MS,
      leaseMs: e.IDEMPOTENCY_LEASE_MS,
    },
    limits: {
      keyHmacKey: deriveHmacKey(hmacSecret, 'rate-limit-key'),
      ipv6Subnet: 56,
      purgeIntervalMs: e.PURGE_INTERVAL_MS,
      statusRead: { limit: e.STATUS_RATE_LIMIT, windowMs: e.STATUS_RATE_LIMIT_WINDOW_MS },
      verify: { limit: e.VERIFY_RATE_LIMIT, windowMs: e.VERIFY_RATE_LIMIT_WINDOW_MS },
    },
    localStack: { temporalMode: e.TEMPORAL_MODE },
    bridge,
    ...verificationConfig(e),
    tracing: {
      // The spec's rule for the signal-independent variable: the traces path is appended.
      otlpTracesUrl: e.OTEL_EXPORTER_OTLP_ENDPOINT && `${e.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces`,
      serviceName: e.OTEL_SERVICE_NAME,
    },
  };
}

type ParsedEnv = z.infer<typeof EnvSchema>;

/** Where mail goes without SMTP_URL: the Mailpit `npm start` runs. */
export const LOCAL_SMTP_URL = 'smtp://127.0.0.1:1025';

function verificationProblems(e: ParsedEnv): string[] {
  const problems: string[] = [];
  if (e.VERIFICATION_REMINDER_AFTER >= e.VERIFICATION_EXPIRES_AFTER) {
    problems.push('VERIFICATION_REMINDER_AFTER: must be shorter than VERIFICATION_EXPIRES_AFTER');
  }
  return problems;
}

function verificationConfig(e: ParsedEnv): Pick<Config, 'mail' | 'events' | 'verification'> {
  return {
    mail: { smtpUrl: e.SMTP_URL ?? LOCAL_SMTP_URL, from: e.MAIL_FROM, retryMaxIntervalMs: e.MAIL_RETRY_MAX_INTERVAL },
    events: {
      url: e.AMQP_URL,
      exchange: e.EVENTS_EXCHANGE,
      source: '/onboarding-service',
      publishConfirmTimeoutMs: e.AMQP_PUBLISH_CONFIRM_TIMEOUT_MS,
    },
    verification: {
      publicBaseUrl: (e.PUBLIC_BASE_URL ?? `http://127.0.0.1:${e.PORT}`).replace(/\/+$/, ''),
      tokenTtlMs: e.VERIFICATION_TTL,
      reminderAfterMs: e.VERIFICATION_REMINDER_AFTER,
      expiresAfterMs: e.VERIFICATION_EXPIRES_AFTER,
      recheckEveryMs: e.VERIFICATION_RECHECK_EVERY,
      resend: { clientLimit: e.RESEND_RATE_LIMIT, addressLimit: e.RESEND_ADDRESS_LIMIT, windowMs: e.RESEND_RATE_LIMIT_WINDOW },
      duplicateNotice: { addressLimit: e.DUPLICATE_SIGNUP_NOTICE_LIMIT, windowMs: e.DUPLICATE_SIGNUP_NOTICE_WINDOW },
    },
  };
}

/**
 * The bridge must hand back what it holds well before the broker's consumer timeout would close
 * its channel; its own hand-back delay has to fit inside that hold.
 */
function bridgeSettings(e: z.infer<typeof EnvSchema>): Config['bridge'] {
  const maxHoldMs = e.BRIDGE_MAX_HOLD_MS ?? Math.floor(e.AMQP_CONSUMER_TIMEOUT_MS / 2);
  const problems: string[] = [];
  if (maxHoldMs > e.AMQP_CONSUMER_TIMEOUT_MS / 2) {
    problems.push(`BRIDGE_MAX_HOLD_MS: must be at most half of AMQP_CONSUMER_TIMEOUT_MS (${Math.floor(e.AMQP_CONSUMER_TIMEOUT_MS / 2)} ms)`);
  }
  if (e.BRIDGE_HAND_BACK_DELAY_MS >= maxHoldMs) {
    problems.push(`BRIDGE_HAND_BACK_DELAY_MS: must be less than the longest hold (${maxHoldMs} ms)`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    maxHoldMs,
    consumerDownLivenessMs: e.BRIDGE_CONSUMER_DOWN_LIVENESS_MS,
    temporalProbeIntervalMs: e.BRIDGE_TEMPORAL_PROBE_INTERVAL_MS,
    maxDeliveries: e.BRIDGE_MAX_DELIVERIES,
    handBackDelayMs: e.BRIDGE_HAND_BACK_DELAY_MS,
  };
}

/**
 * argon2id is CPU-bound: more hashes at once than cores only makes each slower, and every hash
 * holds a libuv pool thread for its whole length. So: one per core, and never the whole pool, so
 * that a DNS lookup for a reconnect or a file read always finds a free thread.
 */
export function defaultHashConcurrency(threadPoolSize: number, cores = availableParallelism()): number {
  return Math.max(1, Math.min(cores, threadPoolSize - 1));
}

// A signup may wait about 16 hash times (some 0.3-0.6 s here) for a slot; longer, and the
// client is better told to retry than kept waiting behind work it cannot see.
const HASH_QUEUE_PER_SLOT = 16;

function parseHmacSecret(raw: string): Buffer | undefined {
  const secret = Buffer.from(raw, 'base64');
  // Buffer.from ignores bad characters; the round trip catches them.
  return secret.length >= 32 && secret.toString('base64') === raw ? secret : undefined;
}

type TrustProxy = Config['security']['trustProxy'];

/** Express's `trust proxy` from TRUST_PROXY, refusing every value that would trust all (or nearly all) addresses. */
function parseTrustProxy(raw: string): { ok: true; value: TrustProxy } | { ok: false; problem: string } {
  const value = raw.trim();
  if (value === 'false' || value === '' || value === '0') return { ok: true, value: false };
  if (/^\d+$/.test(value)) {
    const hops = Number(value);
    return hops <= MAX_PROXY_HOPS
      ? { ok: true, value: hops }
      : { ok: false, problem: `a hop count must be at most ${MAX_PROXY_HOPS}: more only ever counts entries the client wrote itself` };
  }
  const entries = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (entries.length === 0 || value === 'true') {
    return { ok: false, problem: 'must be false, a hop count, or a comma-separated list of proxy addresses/subnets (not true: any client could then pick its own rate-limit key)' };
  }
  for (const entry of entries) {
    const problem = proxyEntryProblem(entry);
    if (problem) return { ok: false, problem: `${entry}: ${problem}` };
  }
  return { ok: true, value: entries };
}

function proxyEntryProblem(entry: string): string | undefined {
  if (PROXY_NAMES.includes(entry)) return undefined;
  const [address, bits, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0 || (bits !== undefined && !/^\d+$/.test(bits))) {
    return `must be ${PROXY_NAMES.join(', ')}, an IP address or a subnet in CIDR notation`;
  }
  if (bits === undefined) return undefined;
  let prefix = Number(bits);
  let effectiveFamily: 4 | 6 = family === 4 ? 4 : 6;
  if (prefix > (family === 4 ? 32 : 128)) return 'has a prefix longer than the address';
  // ::ffff:a.b.c.d/n with n >= 96 matches IPv4 clients (proxy-addr maps them), so it is an IPv4 /(n-96).
  if (family === 6 && prefix >= 96 && /^\[::ffff:[0-9a-f]{1,4}:[0-9a-f]{1,4}\]$/.test(new URL(`http://[${address}]`).hostname)) {
    prefix -= 96;
    effectiveFamily = 4;
  }
  const minimum = MIN_PROXY_PREFIX[effectiveFamily];
  return prefix < minimum
    ? `trusts too many addresses: an IPv${effectiveFamily} subnet must be /${minimum} or narrower (any client inside could set X-Forwarded-For)`
    : undefined;
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
