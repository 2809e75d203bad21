/**
 * Issue 12, the two planes, on the real services: the admin listener refuses every route without
 * the admin token and none of its routes exists on the public listener; /metrics and /readyz open
 * to a scraper only when ADMIN_OPEN_PROBES says so; the public health answers carry the status
 * alone, the admin readiness a fixed failure code, never a driver's text; helmet's headers on
 * every route of both listeners; and the rate limits of signup, the status read and the
 * verification link hold across two API apps with two pools on one database.
 */
import { randomUUID } from 'node:crypto';
import { Connection } from '@temporalio/client';
import { ADMIN_OPERATIONS, PUBLIC_OPERATIONS } from '../../src/api/openapi';
import type { Config, Env } from '../../src/config';
import { DEPENDENCY_FAILURES } from '../../src/contract';
import { createPool } from '../../src/db/postgres';
import { createSignupPublisher, type SignupPublisher } from '../../src/messaging/signup-publisher';
import { signupBody } from '../support/fixtures';
import { type Pipeline, request, startApi, startPipeline } from '../support/pipeline';
import { capturingLogger } from '../support/log-capture';
import { untilOnboarded } from '../support/users';
import { createTestDatabase, deleteTopology, dropTestDatabase, silentLogger, TEST_ADMIN_TOKEN, testConfig, uniqueSuffix } from '../support/stack';

let p: Pipeline;
let userId: string;
const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };

beforeAll(async () => {
  p = await startPipeline();
  userId = (await request(p.baseUrl, 'POST', '/signup', signupBody())).body.user_id;
  await untilOnboarded(p.baseUrl, userId);
});
afterAll(() => p?.stop());

/** An extra API (both listeners) on the pipeline's database, with settings of its own. */
async function extraApi(env: Env, opts: { publisher?: SignupPublisher; pool?: ReturnType<typeof createPool>; temporal?: Pick<Pipeline['temporal'], 'connection'> } = {}) {
  const config: Config = testConfig(uniqueSuffix(), { DATABASE_URL: p.config.postgres.url, ...env });
  const publisher = opts.publisher ?? (await createSignupPublisher({ topology: config.amqp, url: config.amqp.url, logger: silentLogger }));
  const api = await startApi(config, { pool: opts.pool ?? p.pool, publisher, temporal: opts.temporal ?? p.temporal });
  return {
    ...api,
    config,
    async close() {
      await api.close();
      await publisher.close();
      await deleteTopology(config).catch(() => undefined);
    },
  };
}

const concretePath = (path: string) => path.replace('{user_id}', userId).replace('{id}', userId);
const bodyFor = (path: string) => (path.startsWith('/codec/') ? { payloads: [] } : undefined);

describe('the admin listener', () => {
  it('refuses every route without the admin token (401) or with another token (403), before doing anything', async () => {
    expect(ADMIN_OPERATIONS.length).toBeGreaterThanOrEqual(7);
    for (const op of ADMIN_OPERATIONS) {
      const path = concretePath(op.path);
      const anonymous = await request(p.adminBaseUrl, op.method.toUpperCase(), path, bodyFor(op.path));
      expect({ route: `${op.method} ${op.path}`, status: anonymous.status }).toEqual({ route: `${op.method} ${op.path}`, status: 401 });
      expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer /);
      expect(JSON.stringify(anonymous.body)).not.toMatch(/@example\.com|Lovelace|onboarding_signups/);
      const wrong = await request(p.adminBaseUrl, op.method.toUpperCase(), path, bodyFor(op.path), { authorization: `Bearer ${'x'.repeat(43)}` });
      expect({ route: `${op.method} ${op.path}`, status: wrong.status }).toEqual({ route: `${op.method} ${op.path}`, status: 403 });
    }
    // Unknown paths too: nothing about the admin plane's routes is told without the token.
    expect((await request(p.adminBaseUrl, 'GET', '/no-such-route')).status).toBe(401);
    expect((await request(p.adminBaseUrl, 'GET', '/docs/')).status).toBe(401);
    expect((await request(p.adminBaseUrl, 'GET', '/no-such-route', undefined, admin)).status).toBe(404);
  });

  it('serves the full record with the token; the public status read is not the record, token or not', async () => {
    const record = await request(p.adminBaseUrl, 'GET', `/users/${userId}`, undefined, admin);
    expect(record.status).toBe(200);
    const { rows } = await p.pool.query('SELECT email, first_name, last_name FROM users WHERE user_id = $1', [userId]);
    expect(record.body).toMatchObject({ user_id: userId, ...rows[0], onboarding_state: 'COMPLETED', verification_state: 'PENDING' });
    expect(record.body).not.toHaveProperty('password_hash');
    // A signup not (yet) a user has no record on the admin plane.
    expect((await request(p.adminBaseUrl, 'GET', `/users/${randomUUID()}`, undefined, admin)).status).toBe(404);
    // The admin token opens nothing on the public listener.
    const anonymous = await request(p.baseUrl, 'GET', `/users/${userId}`);
    const withToken = await request(p.baseUrl, 'GET', `/users/${userId}`, undefined, admin);
    expect(withToken.body).toEqual(anonymous.body);
  });

  it('is not reachable on the public port: every admin-only route is 404 there, even with the token', async () => {
    const publicRoutes = new Set(PUBLIC_OPERATIONS.map((op) => `${op.method} ${op.path}`));
    const adminOnly = ADMIN_OPERATIONS.filter((op) => !publicRoutes.has(`${op.method} ${op.path}`));
    expect(adminOnly.map((op) => `${op.method} ${op.path}`).sort()).toEqual([
      'delete /users/{user_id}',
      'get /dlq',
      'get /dlq/{id}',
      'get /metrics',
      'get /users',
      'post /codec/decode',
      'post /codec/encode',
      'post /dlq/{id}/replay',
      'put /users/{user_id}',
    ]);
    for (const op of adminOnly) {
      const res = await request(p.baseUrl, op.method.toUpperCase(), concretePath(op.path), bodyFor(op.path), admin);
      expect({ route: `${op.method} ${op.path}`, status: res.status }).toEqual({ route: `${op.method} ${op.path}`, status: 404 });
    }
    // The shared paths answer the public way there: readiness alone, the public document.
    expect((await request(p.baseUrl, 'GET', '/readyz', undefined, admin)).body).toEqual({ status: 'ready' });
    const doc = (await request(p.baseUrl, 'GET', '/openapi.json', undefined, admin)).body;
    expect(doc.paths['/metrics']).toBeUndefined();
    expect(doc.paths['/users/{user_id}'].put).toBeUndefined();
    // Nothing changed: neither the PUT nor the DELETE reached the row.
    expect((await p.pool.query('SELECT verification_state FROM users WHERE user_id = $1', [userId])).rows[0].verification_state).toBe('PENDING');
  });

  it('opens /metrics and /readyz, and only those, to an unauthenticated scraper when ADMIN_OPEN_PROBES=true', async () => {
    // Closed by default.
    expect((await request(p.adminBaseUrl, 'GET', '/metrics')).status).toBe(401);
    expect((await request(p.adminBaseUrl, 'GET', '/readyz')).status).toBe(401);
    const open = await extraApi({ ADMIN_OPEN_PROBES: 'true' });
    try {
      const metrics = await fetch(`${open.adminBaseUrl}/metrics`);
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toContain('onboarding_signups_accepted_total');
      const ready = await request(open.adminBaseUrl, 'GET', '/readyz');
      expect(ready.status).toBe(200);
      expect(Object.keys(ready.body.dependencies).sort()).toEqual(['postgres', 'rabbitmq', 'temporal']);
      for (const op of ADMIN_OPERATIONS.filter((o) => o.path !== '/metrics' && o.path !== '/readyz')) {
        const res = await request(open.adminBaseUrl, op.method.toUpperCase(), concretePath(op.path), bodyFor(op.path));
        expect({ route: `${op.method} ${op.path}`, status: res.status }).toEqual({ route: `${op.method} ${op.path}`, status: 401 });
      }
      // Still not on the public listener.
      expect((await request(open.baseUrl, 'GET', '/metrics')).status).toBe(404);
    } finally {
      await open.close();
    }
  });
});

describe('health answers', () => {
  it('public /readyz and /healthz tell the status alone, when down too; the admin /readyz a fixed code per dependency, never the driver’s text', async () => {
    expect((await request(p.baseUrl, 'GET', '/readyz')).body).toEqual({ status: 'ready' });
    // Postgres and Temporal unreachable, the publisher never connected and down past its liveness limit.
    const unreachable = testConfig(uniqueSuffix(), {
      DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none',
      AMQP_URL: 'amqp://guest:guest@127.0.0.1:1',
      PUBLISHER_DOWN_LIVENESS_MS: '1',
    });
    const publisher = await createSignupPublisher({ topology: unreachable.amqp, url: unreachable.amqp.url, logger: silentLogger, waitForConnect: false });
    const deadPool = createPool(unreachable.postgres.url, 1, silentLogger);
    const deadConnection = Connection.lazy({ address: '127.0.0.1:1', connectTimeout: 500 });
    const logs = capturingLogger('warn');
    const down = await startApi(unreachable, { pool: deadPool, publisher, temporal: { connection: deadConnection } as never, logger: logs.logger });
    try {
      const ready = await request(down.baseUrl, 'GET', '/readyz');
      expect(ready.status).toBe(503);
      expect(ready.body).toEqual({ status: 'not_ready' });
      const live = await request(down.baseUrl, 'GET', '/healthz');
      expect(live.status).toBe(503);
      expect(live.body).toEqual({ status: 'failing' });

      const detailed = await request(down.adminBaseUrl, 'GET', '/readyz', undefined, admin);
      expect(detailed.status).toBe(503);
      expect(Object.keys(detailed.body.dependencies).sort()).toEqual(['postgres', 'rabbitmq', 'temporal']);
      for (const status of Object.values<any>(detailed.body.dependencies)) {
        expect(Object.keys(status).sort()).toEqual(['failure', 'latency_ms', 'status']);
        expect(DEPENDENCY_FAILURES).toContain(status.failure);
      }
      expect(detailed.body.dependencies.postgres.failure).toBe('unreachable');
      expect(detailed.body.dependencies.rabbitmq.failure).toBe('not_connected');
      expect(['unreachable', 'timeout']).toContain(detailed.body.dependencies.temporal.failure);
      expect(JSON.stringify(detailed.body)).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|UNAVAILABLE|Connection|deadline|terminated/);
      // The driver's own words are for the operator's log.
      const logged = logs.lines().filter((l) => l.msg === 'readiness check failed');
      expect(logged.find((l) => l.dependency === 'postgres')).toMatchObject({ failure: 'unreachable', err: expect.stringMatching(/ECONNREFUSED|connect/) });
    } finally {
      await down.close();
      await publisher.close();
      await deadPool.end();
      await deadConnection.close().catch(() => undefined);
    }
  });
});

describe('helmet', () => {
  const HELMET_HEADERS = ['content-security-policy', 'strict-transport-security', 'x-content-type-options', 'x-frame-options', 'cross-origin-opener-policy', 'referrer-policy'];

  function expectHelmet(route: string, headers: Headers): void {
    const missing = HELMET_HEADERS.filter((h) => headers.get(h) === null);
    expect({ route, missing, poweredBy: headers.get('x-powered-by') }).toEqual({ route, missing: [], poweredBy: null });
  }

  it('sends its headers on every route of both listeners, the docs, the operations endpoints and every refusal included', async () => {
    const publicRoutes: Array<[string, string, unknown?]> = [
      ['POST', '/signup', signupBody()],
      ['POST', '/signup', { email: 'nope' }],
      ['GET', `/users/${userId}`],
      ['GET', `/users/${randomUUID()}`],
      ['GET', '/verify?token=nope'],
      ['POST', '/verify', { token: 'nope' }],
      ['POST', '/verification/resend', { email: 'someone@example.com' }],
      ['GET', '/openapi.json'],
      ['GET', '/docs/'],
      ['GET', '/docs/swagger-ui-init.js'],
      ['GET', '/healthz'],
      ['GET', '/readyz'],
      ['GET', '/metrics'],
      ['GET', '/no-such-route'],
    ];
    for (const [method, path, body] of publicRoutes) {
      const res = await request(p.baseUrl, method, path, body);
      expectHelmet(`public ${method} ${path} ${res.status}`, res.headers);
    }
    for (const op of ADMIN_OPERATIONS) {
      for (const headers of [{}, admin]) {
        const res = await request(p.adminBaseUrl, op.method.toUpperCase(), concretePath(op.path), bodyFor(op.path), headers);
        expectHelmet(`admin ${op.method} ${op.path} ${res.status}`, res.headers);
      }
    }
    for (const path of ['/docs/', '/docs/swagger-ui-init.js', '/no-such-route']) {
      const res = await request(p.adminBaseUrl, 'GET', path, undefined, admin);
      expectHelmet(`admin GET ${path} ${res.status}`, res.headers);
    }
  });
});

describe('rate limits shared by every API process', () => {
  it('two APIs with two pools on one database share one limit for signup, the status read and the verification link', async () => {
    // A database of this test's own, so no other request from this address counts.
    const config = testConfig(uniqueSuffix(), { SIGNUP_RATE_LIMIT: '2', STATUS_RATE_LIMIT: '2', VERIFY_RATE_LIMIT: '2' });
    const poolA = await createTestDatabase(config);
    const poolB = createPool(config.postgres.url, 2, silentLogger);
    const env = { DATABASE_URL: config.postgres.url, SIGNUP_RATE_LIMIT: '2', STATUS_RATE_LIMIT: '2', VERIFY_RATE_LIMIT: '2' };
    const a = await extraApi(env, { pool: poolA });
    const b = await extraApi(env, { pool: poolB });
    try {
      // Signup: one each, then the third, on either, is refused.
      expect((await request(a.baseUrl, 'POST', '/signup', signupBody())).status).toBe(202);
      expect((await request(b.baseUrl, 'POST', '/signup', signupBody())).status).toBe(202);
      const refused = await request(a.baseUrl, 'POST', '/signup', signupBody());
      expect(refused.status).toBe(429);
      expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
      expect((await request(b.baseUrl, 'POST', '/signup', signupBody())).status).toBe(429);
      // The status read: its own limiter, so the signups above did not use it up.
      expect((await request(b.baseUrl, 'GET', `/users/${randomUUID()}`)).status).toBe(404);
      expect((await request(a.baseUrl, 'GET', `/users/${randomUUID()}`)).status).toBe(404);
      expect((await request(b.baseUrl, 'GET', `/users/${randomUUID()}`)).status).toBe(429);
      // The verification link's page and button, one limiter for both.
      expect((await request(a.baseUrl, 'GET', '/verify?token=nope')).status).toBe(400);
      expect((await request(b.baseUrl, 'POST', '/verify', { token: 'nope' })).status).toBe(400);
      expect((await request(a.baseUrl, 'GET', '/verify?token=nope')).status).toBe(429);
      // One row per limiter and client, keyed by an HMAC: no address is stored.
      const { rows } = await poolA.query('SELECT limiter, key_hash, hits FROM rate_limit_counters ORDER BY limiter');
      expect(rows.map((r) => [r.limiter, r.hits])).toEqual([['signup', 4], ['status-read', 3], ['verify', 3]]);
      for (const row of rows) expect(row.key_hash).not.toMatch(/127\.0\.0\.1|::1/);
    } finally {
      await a.close();
      await b.close();
      await poolB.end();
      await dropTestDatabase(config, poolA);
    }
  });
});
