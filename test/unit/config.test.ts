import { availableParallelism } from 'node:os';
import { ConfigError, defaultHashConcurrency, loadConfig, maskUrl } from '../../src/config';
import { backoffScheduleMs, onboardingRunTimeoutMs } from '../../src/onboarding-policy';
import { onboardingActivityOptions } from '../../workflows/retry-policy';

const RABBITMQ_DEFAULT_CONSUMER_TIMEOUT_MS = 30 * 60 * 1000;
// The one variable without a default: the payload encryption key.
const KEY = Buffer.alloc(32, 7).toString('base64');
const BASE = { PAYLOAD_ENCRYPTION_KEYS: `k1:${KEY}` };

describe('loadConfig', () => {
  it('defaults to the local services', () => {
    const c = loadConfig(BASE);
    expect(c.postgres.url).toBe('postgres://postgres@127.0.0.1:5432/onboarding');
    expect(c.amqp.url).toBe('amqp://guest:guest@127.0.0.1:5672');
    expect(c.amqp.queue).toBe('user_onboarding_queue');
    expect(c.amqp.deadLetterQueue).toBe('user_onboarding_queue_dlq');
    expect(c.amqp.messageTtlMs).toBe(3_600_000);
    expect(c.http.port).toBe(5000);
    expect(c.temporal.taskQueue).toBe('onboarding');
  });

  it('names every invalid variable at once', () => {
    let error: unknown;
    try {
      loadConfig({ ...BASE, PORT: 'eighty', AMQP_URL: 'http://nope', AMQP_PREFETCH: '0' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toMatch(/^PORT:/m);
    expect(problems).toMatch(/^AMQP_URL:/m);
    expect(problems).toMatch(/^AMQP_PREFETCH:/m);
  });

  it('refuses a retry budget that could outlive the broker acknowledgement timeout', () => {
    expect(() => loadConfig({ ...BASE, ONBOARDING_MAX_ATTEMPTS: '5', AMQP_CONSUMER_TIMEOUT_MS: '300000' })).toThrow(
      /run timeout of \d+ s, more than half of AMQP_CONSUMER_TIMEOUT_MS/,
    );
  });

  it('starts the verification run from each onboarding run unless ONBOARDING_STARTS_VERIFICATION=false', () => {
    expect(loadConfig(BASE).onboarding.startsVerification).toBe(true);
    expect(loadConfig({ ...BASE, ONBOARDING_STARTS_VERIFICATION: 'false' }).onboarding.startsVerification).toBe(false);
    expect(() => loadConfig({ ...BASE, ONBOARDING_STARTS_VERIFICATION: 'no' })).toThrow(/ONBOARDING_STARTS_VERIFICATION/);
  });

  it('reads Temporal connection settings the envconfig way: an API key turns TLS on', () => {
    const local = loadConfig(BASE);
    expect(local.temporal.connection).toEqual({ address: '127.0.0.1:7233' });
    expect(local.http.workerPort).toBe(5001);
    const cloud = loadConfig({
      ...BASE,
      TEMPORAL_ADDRESS: 'onboarding.a1b2c.tmprl.cloud:7233',
      TEMPORAL_NAMESPACE: 'onboarding.a1b2c',
      TEMPORAL_API_KEY: 'secret-key',
      TEMPORAL_GRPC_META_X_TEAM: 'growth',
    });
    expect(cloud.temporal.namespace).toBe('onboarding.a1b2c');
    expect(cloud.temporal.connection).toMatchObject({
      address: 'onboarding.a1b2c.tmprl.cloud:7233',
      apiKey: 'secret-key',
      tls: true,
    });
    expect(loadConfig({ ...BASE, TEMPORAL_TLS: 'true' }).temporal.connection.tls).toBeTruthy();
    expect(() => loadConfig({ ...BASE, TEMPORAL_METRICS_BIND_ADDRESS: 'nope' })).toThrow(/TEMPORAL_METRICS_BIND_ADDRESS/);
  });

  it('reads the local Web UI port, 8233 unless TEMPORAL_UI_PORT says otherwise, without disturbing the connection', () => {
    expect(loadConfig(BASE).temporal.uiPort).toBe(8233);
    const custom = loadConfig({ ...BASE, TEMPORAL_UI_PORT: '18233' });
    expect(custom.temporal.uiPort).toBe(18233);
    expect(custom.temporal.connection).toEqual({ address: '127.0.0.1:7233' });
    expect(() => loadConfig({ ...BASE, TEMPORAL_UI_PORT: '70000' })).toThrow(/TEMPORAL_UI_PORT/);
  });

  it('masks passwords in URLs it prints', () => {
    expect(maskUrl('amqp://guest:secret@host:5672')).toBe('amqp://guest:***@host:5672');
    expect(maskUrl('postgres://postgres@127.0.0.1:5432/x')).toBe('postgres://postgres@127.0.0.1:5432/x');
  });
});

describe('the two listeners and the shared limits (issue 12)', () => {
  it('puts the admin listener on 5002, loopback, probes closed; limits the status read and the verification link', () => {
    const c = loadConfig(BASE);
    expect(c.http.admin).toEqual({ port: 5002, host: '127.0.0.1', openProbes: false });
    expect(c.limits.statusRead).toEqual({ limit: 60, windowMs: 60_000 });
    expect(c.limits.verify).toEqual({ limit: 20, windowMs: 60_000 });
  });

  it('takes an admin host, port and open probes; refuses a host that is not an address, and the public port', () => {
    expect(loadConfig({ ...BASE, ADMIN_HOST: '0.0.0.0', ADMIN_PORT: '6002', ADMIN_OPEN_PROBES: 'true' }).http.admin).toEqual({
      port: 6002,
      host: '0.0.0.0',
      openProbes: true,
    });
    expect(loadConfig({ ...BASE, ADMIN_HOST: '::1' }).http.admin.host).toBe('::1');
    expect(() => loadConfig({ ...BASE, ADMIN_HOST: 'admin.example.com' })).toThrow(/ADMIN_HOST: must be an IP address/);
    expect(() => loadConfig({ ...BASE, ADMIN_OPEN_PROBES: 'yes' })).toThrow(/ADMIN_OPEN_PROBES/);
    expect(() => loadConfig({ ...BASE, ADMIN_PORT: '5000' })).toThrow(/ADMIN_PORT: must differ from PORT/);
    expect(() => loadConfig({ ...BASE, PORT: '8080', ADMIN_PORT: '8080' })).toThrow(/ADMIN_PORT/);
    // 0: any free port, for each (tests and harnesses start many API processes).
    expect(loadConfig({ ...BASE, PORT: '0', ADMIN_PORT: '0' }).http.admin.port).toBe(0);
    expect(() => loadConfig({ ...BASE, STATUS_RATE_LIMIT: '0' })).toThrow(/STATUS_RATE_LIMIT/);
  });
});

describe('security settings', () => {
  const TOKEN = 'a'.repeat(43) + '=';

  it('defaults to the safe side: no admin token (admin routes closed), duplicates hidden (accepted), 20 signups a minute, no trusted proxy', () => {
    const { security } = loadConfig(BASE);
    expect(security.adminToken).toBeUndefined();
    expect(security.codecToken).toBeUndefined();
    expect(security.signupRateLimit).toEqual({ limit: 20, windowMs: 60_000 });
    expect(security.trustProxy).toBe(false);
    expect(security.duplicateSignupResponse).toBe('accepted');
    expect(security.codecCorsOrigins).toEqual(['http://127.0.0.1:8233', 'http://localhost:8233']);
    expect(security.payloadKeys).toEqual([{ id: 'k1', key: Buffer.alloc(32, 7) }]);
  });

  it('refuses to start in production without an admin token', () => {
    expect(() => loadConfig({ ...BASE, NODE_ENV: 'production' })).toThrow(/ADMIN_API_TOKEN: is required when NODE_ENV=production/);
    expect(() => loadConfig({ ...BASE, NODE_ENV: 'production', ADMIN_API_TOKEN: '' })).toThrow(/ADMIN_API_TOKEN/);
    expect(loadConfig({ ...BASE, NODE_ENV: 'production', ADMIN_API_TOKEN: TOKEN }).security.adminToken).toBe(TOKEN);
  });

  it('refuses short or malformed tokens', () => {
    expect(() => loadConfig({ ...BASE, ADMIN_API_TOKEN: 'secret' })).toThrow(/ADMIN_API_TOKEN: must be at least 32 characters/);
    expect(() => loadConfig({ ...BASE, CODEC_API_TOKEN: `${TOKEN} x` })).toThrow(/CODEC_API_TOKEN/);
  });

  it('requires payload keys in every mode, and checks each', () => {
    expect(() => loadConfig({})).toThrow(/PAYLOAD_ENCRYPTION_KEYS: is required/);
    expect(() => loadConfig({ PAYLOAD_ENCRYPTION_KEYS: 'k1:c2hvcnQ=' })).toThrow(/key k1 must be 32 bytes/);
    expect(() => loadConfig({ PAYLOAD_ENCRYPTION_KEYS: KEY })).toThrow(/keyId:base64key/);
    expect(() => loadConfig({ PAYLOAD_ENCRYPTION_KEYS: `k1:${KEY},k1:${KEY}` })).toThrow(/appears twice/);
    const other = Buffer.alloc(32, 9).toString('base64');
    expect(loadConfig({ PAYLOAD_ENCRYPTION_KEYS: `k2:${other}, k1:${KEY}` }).security.payloadKeys.map((k) => k.id)).toEqual(['k2', 'k1']);
  });

  it('accepts a hop count or proxy addresses for TRUST_PROXY, never true', () => {
    expect(loadConfig({ ...BASE, TRUST_PROXY: '1' }).security.trustProxy).toBe(1);
    expect(loadConfig({ ...BASE, TRUST_PROXY: 'loopback, 10.0.0.0/8' }).security.trustProxy).toEqual(['loopback', '10.0.0.0/8']);
    expect(() => loadConfig({ ...BASE, TRUST_PROXY: 'true' })).toThrow(/TRUST_PROXY/);
    expect(() => loadConfig({ ...BASE, TRUST_PROXY: '10.0.0.0/99' })).toThrow(/TRUST_PROXY/);
  });

  it('names the duplicate-signup modes', () => {
    expect(loadConfig({ ...BASE, DUPLICATE_SIGNUP_RESPONSE: 'accepted' }).security.duplicateSignupResponse).toBe('accepted');
    expect(() => loadConfig({ ...BASE, DUPLICATE_SIGNUP_RESPONSE: 'silent' })).toThrow(/DUPLICATE_SIGNUP_RESPONSE/);
  });
});

describe('hashing and the status lookup', () => {
  it('caps argon2id at the cores, never the whole libuv pool, with 16 waiting per slot', () => {
    // One per core while the pool has a thread to spare beyond them; always one thread left over.
    expect(defaultHashConcurrency(4, 2)).toBe(2);
    expect(defaultHashConcurrency(4, 8)).toBe(3);
    expect(defaultHashConcurrency(16, 8)).toBe(8);
    expect(defaultHashConcurrency(2, 8)).toBe(1);
    const c = loadConfig(BASE);
    expect(c.hashing).toEqual({
      concurrency: defaultHashConcurrency(4, availableParallelism()),
      queueLimit: 16 * defaultHashConcurrency(4, availableParallelism()),
      threadPoolSize: 4,
    });
    expect(loadConfig({ ...BASE, UV_THREADPOOL_SIZE: '8', HASH_CONCURRENCY: '1', HASH_QUEUE_LIMIT: '0' }).hashing).toEqual({
      concurrency: 1,
      queueLimit: 0,
      threadPoolSize: 8,
    });
  });

  it('refuses a hash cap that would take the whole libuv pool', () => {
    expect(() => loadConfig({ ...BASE, UV_THREADPOOL_SIZE: '4', HASH_CONCURRENCY: '4' })).toThrow(/HASH_CONCURRENCY: must be below UV_THREADPOOL_SIZE \(4\)/);
    expect(() => loadConfig({ ...BASE, HASH_QUEUE_LIMIT: '-1' })).toThrow(/HASH_QUEUE_LIMIT/);
  });

  it('asks Temporal about a run for at most 1 s unless TEMPORAL_LOOKUP_TIMEOUT_MS says otherwise', () => {
    expect(loadConfig(BASE).temporal.lookupTimeoutMs).toBe(1_000);
    expect(loadConfig({ ...BASE, TEMPORAL_LOOKUP_TIMEOUT_MS: '250' }).temporal.lookupTimeoutMs).toBe(250);
    expect(() => loadConfig({ ...BASE, TEMPORAL_LOOKUP_TIMEOUT_MS: '0' })).toThrow(/TEMPORAL_LOOKUP_TIMEOUT_MS/);
  });
});

describe('tracing settings', () => {
  it('are off without OTEL_EXPORTER_OTLP_ENDPOINT, and send to its /v1/traces with it', () => {
    expect(loadConfig(BASE).tracing).toEqual({ otlpTracesUrl: undefined, serviceName: undefined });
    expect(loadConfig({ ...BASE, OTEL_EXPORTER_OTLP_ENDPOINT: '' }).tracing.otlpTracesUrl).toBeUndefined();
    expect(loadConfig({ ...BASE, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }).tracing.otlpTracesUrl).toBe('http://collector:4318/v1/traces');
    expect(loadConfig({ ...BASE, OTEL_EXPORTER_OTLP_ENDPOINT: 'https://otlp.example.com/otlp/' }).tracing.otlpTracesUrl).toBe(
      'https://otlp.example.com/otlp/v1/traces',
    );
    expect(loadConfig({ ...BASE, OTEL_SERVICE_NAME: 'onboarding-api-eu' }).tracing.serviceName).toBe('onboarding-api-eu');
  });

  it('refuse an endpoint that is not an http(s) URL', () => {
    expect(() => loadConfig({ ...BASE, OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4317' })).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT: must be an http/);
    expect(() => loadConfig({ ...BASE, OTEL_EXPORTER_OTLP_ENDPOINT: 'grpc://collector:4317' })).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT/);
  });
});

describe('retry policy', () => {
  it('backs off 1 s, 2 s, 4 s … capped at 30 s', () => {
    expect(backoffScheduleMs(8)).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    const { retry } = onboardingActivityOptions(4);
    expect(retry).toMatchObject({ initialInterval: 1000, backoffCoefficient: 2, maximumInterval: 30000, maximumAttempts: 4 });
    expect(retry?.nonRetryableErrorTypes).toEqual(expect.arrayContaining(['InvalidSignup', 'DuplicateEmail']));
  });

  it('keeps the whole run, at every allowed attempt count, well inside RabbitMQ’s 30-minute ack timeout', () => {
    for (let attempts = 1; attempts <= 10; attempts++) {
      expect(onboardingRunTimeoutMs(attempts)).toBeLessThanOrEqual(RABBITMQ_DEFAULT_CONSUMER_TIMEOUT_MS / 2);
      expect(() => loadConfig({ ...BASE, ONBOARDING_MAX_ATTEMPTS: String(attempts) })).not.toThrow();
    }
    // The bound is real: 2 activities × (attempts × 10 s + backoff) + 30 s.
    expect(onboardingRunTimeoutMs(5)).toBe(2 * (5 * 10_000 + 15_000) + 30_000);
    expect(loadConfig(BASE).onboarding.runTimeoutMs).toBe(onboardingRunTimeoutMs(5));
  });
});

describe('issue 12: TRUST_PROXY never trusts all addresses; keyed-hash secret; policy, idempotency and purge settings', () => {
  it.each([
    ['true', /not true/],
    ['TRUE', /TRUST_PROXY: TRUE: must be loopback/],
    ['*', /must be loopback/],
    ['0.0.0.0/0', /IPv4 subnet must be \/8 or narrower/],
    ['1.0.0.0/7', /IPv4 subnet must be \/8 or narrower/],
    ['::/0', /IPv6 subnet must be \/16 or narrower/],
    ['0:0:0:0:0:0:0:0/0', /IPv6 subnet must be \/16 or narrower/],
    ['2000::/3', /IPv6 subnet must be \/16 or narrower/],
    // IPv4-mapped subnets match IPv4 clients: ::ffff:0:0/96 is every IPv4 address.
    ['::ffff:0:0/96', /IPv4 subnet must be \/8 or narrower/],
    ['::ffff:0.0.0.0/96', /IPv4 subnet must be \/8 or narrower/],
    ['0:0:0:0:0:ffff:0:0/100', /IPv4 subnet must be \/8 or narrower/],
    ['loopback, 0.0.0.0/0', /0\.0\.0\.0\/0: trusts too many/],
    ['10.0.0.0/255.0.0.0', /must be loopback/],
    ['10.0.0.0/33', /prefix longer than the address/],
    ['6', /hop count must be at most 5/],
    ['99999999999999999999', /hop count must be at most 5/],
  ])('refuses TRUST_PROXY=%s', (value, problem) => {
    expect(() => loadConfig({ ...BASE, TRUST_PROXY: value })).toThrow(problem);
  });

  it.each([
    ['0', false],
    ['5', 5],
    ['loopback', ['loopback']],
    ['203.0.113.7', ['203.0.113.7']],
    ['10.0.0.0/8, uniquelocal', ['10.0.0.0/8', 'uniquelocal']],
    ['::ffff:10.0.0.0/104', ['::ffff:10.0.0.0/104']],
    ['2606:4700::/32', ['2606:4700::/32']],
    ['fd00::/16', ['fd00::/16']],
  ])('accepts TRUST_PROXY=%s', (value, expected) => {
    expect(loadConfig({ ...BASE, TRUST_PROXY: value }).security.trustProxy).toEqual(expected);
  });

  it('derives one HMAC key per purpose, the same in every process, from HMAC_KEY or else the first payload key', () => {
    const derived = loadConfig(BASE);
    expect(derived.idempotency.fingerprintKey).toHaveLength(32);
    expect(derived.limits.keyHmacKey).toHaveLength(32);
    expect(derived.idempotency.fingerprintKey.equals(derived.limits.keyHmacKey)).toBe(false);
    expect(derived.idempotency.fingerprintKey.equals(Buffer.alloc(32, 7))).toBe(false);
    expect(loadConfig(BASE).idempotency.fingerprintKey.equals(derived.idempotency.fingerprintKey)).toBe(true);
    const explicit = loadConfig({ ...BASE, HMAC_KEY: Buffer.alloc(32, 1).toString('base64') });
    expect(explicit.idempotency.fingerprintKey.equals(derived.idempotency.fingerprintKey)).toBe(false);
    expect(explicit.limits.keyHmacKey.equals(derived.limits.keyHmacKey)).toBe(false);
    expect(() => loadConfig({ ...BASE, HMAC_KEY: Buffer.alloc(31, 1).toString('base64') })).toThrow(/HMAC_KEY: must be at least 32 bytes/);
    expect(() => loadConfig({ ...BASE, HMAC_KEY: 'not base64!' })).toThrow(/HMAC_KEY/);
  });

  it('defaults: score 3, keys kept 24 h with a 60 s lease, IPv6 /56, purge every 10 minutes', () => {
    const c = loadConfig(BASE);
    expect(c.passwordPolicy).toEqual({ minScore: 3 });
    expect(c.idempotency).toMatchObject({ ttlMs: 86_400_000, leaseMs: 60_000 });
    expect(c.limits).toMatchObject({ ipv6Subnet: 56, purgeIntervalMs: 600_000 });
    expect(loadConfig({ ...BASE, PASSWORD_MIN_SCORE: '0' }).passwordPolicy.minScore).toBe(0);
    expect(() => loadConfig({ ...BASE, PASSWORD_MIN_SCORE: '5' })).toThrow(/PASSWORD_MIN_SCORE/);
    expect(() => loadConfig({ ...BASE, PURGE_INTERVAL_MS: '1000' })).toThrow(/PURGE_INTERVAL_MS/);
  });

  it('refuses a lease shorter than one publish could take, so a retry never overlaps a live run', () => {
    expect(() => loadConfig({ ...BASE, IDEMPOTENCY_LEASE_MS: '20000' })).toThrow(/IDEMPOTENCY_LEASE_MS: must be at least/);
    expect(() => loadConfig({ ...BASE, IDEMPOTENCY_LEASE_MS: '60000', AMQP_PUBLISH_CONFIRM_TIMEOUT_MS: '40000' })).toThrow(/IDEMPOTENCY_LEASE_MS/);
    expect(loadConfig({ ...BASE, IDEMPOTENCY_LEASE_MS: '35000' }).idempotency.leaseMs).toBe(35_000);
  });
});
