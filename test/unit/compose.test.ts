/**
 * No Docker engine runs here, so the compose file is checked against the config module it
 * feeds: every variable src/config.ts reads is set for api and worker and validates, ports
 * agree with the config, and each service waits for its dependencies to be healthy.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { EnvSchema, loadConfig } from '../../src/config';

const ROOT = join(__dirname, '..', '..');
const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'));
const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const CONFIG_VARIABLES = Object.keys(EnvSchema.shape);

/** What `npm run compose:env` puts in .env: compose refuses to start without these. */
const DOT_ENV: Record<string, string> = {
  ADMIN_API_TOKEN: randomBytes(32).toString('base64url'),
  PAYLOAD_ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}`,
};

/** Resolves `${NAME:-default}` and `${NAME:?error}` the way compose does, with .env as above. */
function interpolate(value: unknown): string {
  return String(value)
    .replace(/\$\{[A-Z0-9_]+:-([^}]*)\}/g, '$1')
    .replace(/\$\{([A-Z0-9_]+):\?[^}]*\}/g, (_, name: string) => {
      if (!(name in DOT_ENV)) throw new Error(`${name} is required by the compose file but not written by compose:env`);
      return DOT_ENV[name];
    });
}

function environment(service: string): Record<string, string> {
  const raw = compose.services[service].environment as Record<string, unknown>;
  return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, interpolate(v)]));
}

function hostAndPort(url: string): string {
  const u = new URL(url.includes('://') ? url : `tcp://${url}`);
  return `${u.hostname}:${u.port}`;
}

function publishedContainerPorts(service: string): number[] {
  return (compose.services[service].ports as string[]).map((p) => Number(String(p).split(':').pop()));
}

describe('docker-compose.yml', () => {
  it('has postgres, rabbitmq (management), temporal, api and worker; the infrastructure has healthchecks', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['api', 'postgres', 'rabbitmq', 'temporal', 'worker']);
    expect(compose.services.rabbitmq.image).toMatch(/^rabbitmq:.*management/);
    for (const name of ['postgres', 'rabbitmq', 'temporal', 'api', 'worker']) {
      expect(compose.services[name].healthcheck?.test).toEqual(expect.arrayContaining(['CMD']));
    }
  });

  it.each(['api', 'worker'])('%s sets every variable src/config.ts reads, and they validate', (service) => {
    const env = environment(service);
    expect(CONFIG_VARIABLES.length).toBeGreaterThan(20);
    expect(CONFIG_VARIABLES.filter((name) => !(name in env))).toEqual([]);
    expect(Object.keys(env).filter((name) => !CONFIG_VARIABLES.includes(name))).toEqual([]);
    expect(() => loadConfig(env)).not.toThrow();
  });

  it.each(['api', 'worker'])('%s reaches the services by their compose names and waits until those it needs are healthy', (service) => {
    const config = loadConfig(environment(service));
    expect(hostAndPort(config.postgres.url)).toBe('postgres:5432');
    expect(hostAndPort(config.amqp.url)).toBe('rabbitmq:5672');
    expect(config.temporal.address).toBe('temporal:7233');
    // The API does not wait for Temporal: it accepts signups without it.
    const needs = service === 'api' ? ['postgres', 'rabbitmq'] : ['postgres', 'rabbitmq', 'temporal'];
    expect(Object.keys(compose.services[service].depends_on).sort()).toEqual(needs);
    for (const dependency of needs) {
      expect(compose.services[service].depends_on[dependency]).toEqual({ condition: 'service_healthy' });
    }
    // The credentials the app uses are the ones the containers are created with.
    const pg = new URL(config.postgres.url);
    expect([pg.username, pg.password, pg.pathname.slice(1)]).toEqual([
      compose.services.postgres.environment.POSTGRES_USER,
      compose.services.postgres.environment.POSTGRES_PASSWORD,
      compose.services.postgres.environment.POSTGRES_DB,
    ]);
    const amqp = new URL(config.amqp.url);
    expect([amqp.username, amqp.password]).toEqual([
      compose.services.rabbitmq.environment.RABBITMQ_DEFAULT_USER,
      compose.services.rabbitmq.environment.RABBITMQ_DEFAULT_PASS,
    ]);
  });

  it('publishes the ports the config listens on, the same as npm start (API 5000, worker 5001)', () => {
    const defaults = loadConfig({ PAYLOAD_ENCRYPTION_KEYS: DOT_ENV.PAYLOAD_ENCRYPTION_KEYS });
    const api = loadConfig(environment('api'));
    const worker = loadConfig(environment('worker'));
    expect(api.http.port).toBe(defaults.http.port);
    expect(worker.http.workerPort).toBe(defaults.http.workerPort);
    expect(publishedContainerPorts('api')).toEqual([api.http.port]);
    const sdkMetricsPort = Number(worker.temporal.metricsBindAddress.split(':')[1]);
    expect(worker.temporal.metricsBindAddress.startsWith('0.0.0.0:')).toBe(true);
    expect(publishedContainerPorts('worker').sort()).toEqual([worker.http.workerPort, sdkMetricsPort].sort());
    expect(compose.services.api.healthcheck.test.join(' ')).toContain(`127.0.0.1:${api.http.port}/readyz`);
    expect(compose.services.worker.healthcheck.test.join(' ')).toContain(`127.0.0.1:${worker.http.workerPort}/readyz`);
    expect(publishedContainerPorts('temporal')).toEqual([7233, 8233]);
  });

  it('builds api and worker from the multi-stage Dockerfile, running as a non-root user', () => {
    for (const service of ['api', 'worker']) {
      expect(compose.services[service].build).toMatchObject({ context: '.', dockerfile: 'Dockerfile' });
      expect(compose.services[service].user ?? 'node').not.toMatch(/^(root|0)(:|$)/);
    }
    const stages = dockerfile.split(/^FROM /m).slice(1);
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const runtime = stages[stages.length - 1];
    const user = [...runtime.matchAll(/^USER\s+(\S+)/gm)].pop()?.[1];
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^(root|0)(:|$)/);
    expect(runtime).toMatch(/COPY --from=build/);
    expect(compose.services.api.command).toEqual(['node', 'dist/src/api/main.js']);
    expect(compose.services.worker.command).toEqual(['node', 'dist/src/worker/main.js']);
  });
});
