/**
 * No Docker engine runs here, so the compose file is checked against the config module it
 * feeds: every variable src/config.ts reads is set for api and worker and validates, and is in
 * the configuration reference; ports agree with the config and only the API's leaves
 * 127.0.0.1; each service waits for its dependencies. The Temporal part is checked against
 * cluster mode (src/local-stack/temporal-cluster.ts): the same versions, databases, history
 * shard count and pool sizes.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { EnvSchema, loadConfig } from '../../src/config';
import { DEFAULT_CLUSTER_PORTS, renderClusterConfig, TEMPORAL_SERVER, TEMPORAL_UI_SERVER } from '../../src/local-stack/temporal-cluster';
import { WORKER_ENVIRONMENT, WORKER_NODE_OPTIONS } from '../../src/worker/node-options';

const ROOT = join(__dirname, '..', '..');
const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true });
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

/** The services built from our image. */
const OUR_SERVICES = ['migrate', 'api', 'worker'];

/**
 * The variables the configuration reference names: the tables under "Configuration reference"
 * in docs/operations.md, or, where that file does not exist, the README's `| variable |` tables.
 * A name ending in `*` stands for every variable it begins.
 */
function configurationReference(): string[] {
  const operations = join(ROOT, 'docs', 'operations.md');
  let text: string;
  if (existsSync(operations)) {
    const doc = readFileSync(operations, 'utf8');
    const heading = /^(#+) Configuration reference\s*$/m.exec(doc);
    if (!heading) throw new Error('docs/operations.md has no "Configuration reference" heading');
    const rest = doc.slice(heading.index + heading[0].length);
    const next = new RegExp(`^#{1,${heading[1].length}} `, 'm').exec(rest);
    text = next ? rest.slice(0, next.index) : rest;
  } else {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    text = readme.split(/\n(?=\| variable \|)/).slice(1).map((table) => table.split(/\n(?!\|)/)[0]).join('\n');
  }
  const firstCells = text.split('\n').filter((line) => line.startsWith('| `')).map((line) => line.split('|')[1]);
  return firstCells.flatMap((cell) => [...cell.matchAll(/`([A-Z][A-Z0-9_]*\*?)`/g)].map((m) => m[1]));
}

function inReference(name: string, reference: string[]): boolean {
  return reference.some((entry) => (entry.endsWith('*') ? name.startsWith(entry.slice(0, -1)) : name === entry));
}

describe('docker-compose.yml', () => {
  it('has postgres, rabbitmq (management), the Temporal cluster and its jobs, the migration job, mailpit, api and worker; long-running infrastructure has healthchecks', () => {
    expect(Object.keys(compose.services).sort()).toEqual(
      ['api', 'mailpit', 'migrate', 'postgres', 'rabbitmq', 'temporal', 'temporal-namespace', 'temporal-schema', 'temporal-ui', 'worker'].sort(),
    );
    expect(compose.services.rabbitmq.image).toMatch(/^rabbitmq:.*management/);
    for (const name of ['postgres', 'rabbitmq', 'temporal', 'mailpit', 'api', 'worker']) {
      expect(compose.services[name].healthcheck?.test).toEqual(expect.arrayContaining(['CMD']));
    }
    expect(compose.services.postgres.volumes).toEqual(['postgres-data:/var/lib/postgresql/data']);
  });

  it('publishes only the API’s public port beyond this machine: every other port, the admin listener’s included, on 127.0.0.1', () => {
    const api = loadConfig(environment('api'));
    const beyondLoopback: string[] = [];
    for (const [name, service] of Object.entries<{ ports?: string[] }>(compose.services)) {
      for (const mapping of service.ports ?? []) {
        // Short syntax only ("host:container" or "ip:host:container"), so nothing slips past this parse.
        expect(mapping).toMatch(/^(\d{1,3}(\.\d{1,3}){3}:)?\d+:\d+$/);
        if (!/^127\.0\.0\.1:\d+:\d+$/.test(mapping)) beyondLoopback.push(`${name} ${mapping}`);
      }
    }
    expect(beyondLoopback).toEqual([`api ${api.http.port}:${api.http.port}`]);
    expect(compose.services.api.ports).toContain(`127.0.0.1:${api.http.admin.port}:${api.http.admin.port}`);
    // Inside the container the admin listener must bind beyond loopback for the mapping to reach it.
    expect(api.http.admin.host).toBe('0.0.0.0');
    expect(api.http.admin.openProbes).toBe(false);
  });

  it('exposes no management UI: RabbitMQ’s is not published, the Temporal and Mailpit UIs on 127.0.0.1 only', () => {
    const MANAGEMENT_UIS: Array<[string, number]> = [['rabbitmq', 15672], ['temporal-ui', 8233], ['mailpit', 8025]];
    for (const [service, port] of MANAGEMENT_UIS) {
      for (const mapping of compose.services[service].ports ?? []) {
        if (Number(String(mapping).split(':').pop()) === port) expect(mapping).toBe(`127.0.0.1:${port}:${port}`);
      }
    }
    expect(publishedContainerPorts('rabbitmq')).toEqual([5672]);
  });

  it.each(OUR_SERVICES)('%s sets only variables the configuration reference documents', (service) => {
    const reference = configurationReference();
    expect(reference.length).toBeGreaterThan(20);
    expect(Object.keys(environment(service)).filter((name) => !inReference(name, reference))).toEqual([]);
  });

  it.each(['api', 'worker'])('%s sets every variable src/config.ts reads, and they validate', (service) => {
    const env = environment(service);
    expect(CONFIG_VARIABLES.length).toBeGreaterThan(20);
    expect(CONFIG_VARIABLES.filter((name) => !(name in env))).toEqual([]);
    // Beside the configuration, only the worker's process environment (malloc arenas), which glibc reads.
    const processEnvironment: string[] = service === 'worker' ? Object.keys(WORKER_ENVIRONMENT) : [];
    expect(Object.keys(env).filter((name) => !CONFIG_VARIABLES.includes(name) && !processEnvironment.includes(name))).toEqual([]);
    expect(() => loadConfig(env)).not.toThrow();
  });

  it.each(['api', 'worker'])('%s reaches the services by their compose names and waits until those it needs are healthy', (service) => {
    const config = loadConfig(environment(service));
    expect(hostAndPort(config.postgres.url)).toBe('postgres:5432');
    expect(hostAndPort(config.amqp.url)).toBe('rabbitmq:5672');
    expect(config.temporal.address).toBe('temporal:7233');
    // The API does not wait for Temporal: it accepts signups without it.
    const dependsOn = compose.services[service].depends_on;
    const healthy = service === 'api' ? ['postgres', 'rabbitmq'] : ['postgres', 'rabbitmq', 'temporal'];
    for (const dependency of healthy) expect(dependsOn[dependency]).toEqual({ condition: 'service_healthy' });
    // The schema is migrated before either starts, and the namespace and search attribute exist
    // before the worker starts.
    const jobs = service === 'api' ? ['migrate'] : ['migrate', 'temporal-namespace'];
    for (const job of jobs) expect(dependsOn[job]).toEqual({ condition: 'service_completed_successfully' });
    expect(Object.keys(dependsOn).sort()).toEqual([...healthy, ...jobs].sort());
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
    expect(publishedContainerPorts('api')).toEqual([api.http.port, api.http.admin.port]);
    expect(api.http.admin.port).toBe(defaults.http.admin.port);
    const sdkMetricsPort = Number(worker.temporal.metricsBindAddress.split(':')[1]);
    expect(worker.temporal.metricsBindAddress.startsWith('0.0.0.0:')).toBe(true);
    expect(publishedContainerPorts('worker').sort()).toEqual([worker.http.workerPort, sdkMetricsPort].sort());
    expect(compose.services.api.healthcheck.test.join(' ')).toContain(`127.0.0.1:${api.http.port}/readyz`);
    expect(compose.services.worker.healthcheck.test.join(' ')).toContain(`127.0.0.1:${worker.http.workerPort}/readyz`);
    expect(publishedContainerPorts('temporal')).toEqual([DEFAULT_CLUSTER_PORTS.frontend]);
    // The Web UI where npm start serves it, so CODEC_CORS_ORIGINS holds for both.
    expect(publishedContainerPorts('temporal-ui')).toEqual([8233]);
    expect(compose.services['temporal-ui'].environment.TEMPORAL_UI_PORT).toBe('8233');
    expect(environment('api').CODEC_CORS_ORIGINS).toContain('http://127.0.0.1:8233');
  });

  it('migrates our schema in a one-off job from our image, with the services’ environment', () => {
    const migrate = compose.services.migrate;
    expect(migrate.build).toEqual(compose.services.api.build);
    expect(migrate.command).toEqual(['node', 'dist/scripts/migrate.js']);
    expect(migrate.environment).toEqual(compose.services.api.environment);
    expect(migrate.depends_on).toEqual({ postgres: { condition: 'service_healthy' } });
    expect(migrate.restart).toBe('no');
  });

  it('runs the Temporal cluster as cluster mode does: same versions, databases, shard count and pools', () => {
    const [schema, server, namespace, ui] = ['temporal-schema', 'temporal', 'temporal-namespace', 'temporal-ui'].map((name) => compose.services[name]);
    const version = TEMPORAL_SERVER.version.replace(/^v/, '');
    expect(server.image).toBe(`temporalio/server:${version}`);
    expect(schema.image).toMatch(new RegExp(`^temporalio/admin-tools:${version.replace(/\./g, '\\.')}(-|$)`));
    expect(namespace.image).toBe(schema.image);
    expect(ui.image).toBe(`temporalio/ui:${TEMPORAL_UI_SERVER.version.replace(/^v/, '')}`);

    // The schema job sets up and updates exactly the two databases the server uses.
    const env = server.environment;
    expect(env.DB).toBe('postgres12');
    const script: string = schema.command.join('\n');
    for (const [database, store] of [[env.DBNAME, 'temporal'], [env.VISIBILITY_DBNAME, 'visibility']]) {
      for (const step of ['create-database', 'setup-schema -v 0.0', `update-schema -d $$schema/${store}/versioned`]) {
        expect(script).toContain(`temporal-sql-tool --database ${database} ${step}`);
      }
    }
    expect(schema.environment).toMatchObject({ SQL_PLUGIN: env.DB, SQL_HOST: env.POSTGRES_SEEDS, SQL_USER: env.POSTGRES_USER, SQL_PASSWORD: env.POSTGRES_PWD });
    expect([env.POSTGRES_USER, env.POSTGRES_PWD]).toEqual([compose.services.postgres.environment.POSTGRES_USER, compose.services.postgres.environment.POSTGRES_PASSWORD]);
    expect(server.depends_on).toEqual({ 'temporal-schema': { condition: 'service_completed_successfully' } });

    const ours = parse(
      renderClusterConfig({
        postgresUrl: 'postgres://u:p@db:5432/x',
        databases: { temporal: 't', visibility: 'v' },
        ports: DEFAULT_CLUSTER_PORTS,
      }),
    );
    const [store, visibility] = [ours.persistence.datastores['postgres-default'].sql, ours.persistence.datastores['postgres-visibility'].sql];
    expect(Number(env.NUM_HISTORY_SHARDS)).toBe(ours.persistence.numHistoryShards);
    expect([env.SQL_MAX_CONNS, env.SQL_MAX_IDLE_CONNS].map(Number)).toEqual([store.maxConns, store.maxIdleConns]);
    expect([env.SQL_VIS_MAX_CONNS, env.SQL_VIS_MAX_IDLE_CONNS].map(Number)).toEqual([visibility.maxConns, visibility.maxIdleConns]);
    expect(Object.keys(ours.services).sort()).toEqual(['frontend', 'history', 'matching', 'worker']);

    // The namespace job makes the namespace the services use, with the search attribute the workflow sets.
    expect(interpolate(namespace.environment.NAMESPACE)).toBe(environment('api').TEMPORAL_NAMESPACE);
    expect(namespace.command.join('\n')).toMatch(/search-attribute create --namespace "\$\$NAMESPACE" --name OnboardingState --type Keyword/);
    expect(namespace.depends_on).toEqual({ temporal: { condition: 'service_healthy' } });
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
    expect(compose.services.worker.command).toEqual(['node', ...WORKER_NODE_OPTIONS, 'dist/src/worker/main.js']);
    // The worker's environment is the services' own, with its malloc arenas over it.
    expect(compose.services.worker.environment).toEqual({ ...compose.services.api.environment, ...WORKER_ENVIRONMENT });
  });

  it('gives the worker the same heap limits and malloc arenas in package.json\'s script', () => {
    const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    const environment = Object.entries(WORKER_ENVIRONMENT).map(([name, value]) => `${name}=${value}`);
    expect(scripts.worker).toBe(`${environment.join(' ')} node ${WORKER_NODE_OPTIONS.join(' ')} dist/src/worker/main.js`);
  });
});
