import { ConfigError, loadConfig, maskUrl } from '../../src/config';
import { backoffScheduleMs, onboardingActivityOptions, onboardingRunTimeoutMs } from '../../workflows/retry-policy';

const RABBITMQ_DEFAULT_CONSUMER_TIMEOUT_MS = 30 * 60 * 1000;

describe('loadConfig', () => {
  it('defaults to the local services', () => {
    const c = loadConfig({});
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
      loadConfig({ PORT: 'eighty', AMQP_URL: 'http://nope', AMQP_PREFETCH: '0' });
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
    expect(() => loadConfig({ ONBOARDING_MAX_ATTEMPTS: '5', AMQP_CONSUMER_TIMEOUT_MS: '300000' })).toThrow(
      /run timeout of \d+ s, more than half of AMQP_CONSUMER_TIMEOUT_MS/,
    );
  });

  it('reads Temporal connection settings the envconfig way: an API key turns TLS on', () => {
    const local = loadConfig({});
    expect(local.temporal.connection).toEqual({ address: '127.0.0.1:7233' });
    expect(local.http.workerPort).toBe(5001);
    const cloud = loadConfig({
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
    expect(loadConfig({ TEMPORAL_TLS: 'true' }).temporal.connection.tls).toBeTruthy();
    expect(() => loadConfig({ TEMPORAL_METRICS_BIND_ADDRESS: 'nope' })).toThrow(/TEMPORAL_METRICS_BIND_ADDRESS/);
  });

  it('masks passwords in URLs it prints', () => {
    expect(maskUrl('amqp://guest:secret@host:5672')).toBe('amqp://guest:***@host:5672');
    expect(maskUrl('postgres://postgres@127.0.0.1:5432/x')).toBe('postgres://postgres@127.0.0.1:5432/x');
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
      expect(() => loadConfig({ ONBOARDING_MAX_ATTEMPTS: String(attempts) })).not.toThrow();
    }
    // The bound is real: 3 activities × (attempts × 10 s + backoff) + 30 s.
    expect(onboardingRunTimeoutMs(5)).toBe(3 * (5 * 10_000 + 15_000) + 30_000);
    expect(loadConfig({}).onboarding.runTimeoutMs).toBe(onboardingRunTimeoutMs(5));
  });
});
