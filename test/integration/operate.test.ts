/**
 * Operating the service on real services: the OpenAPI document against the routes and the
 * answers the API really gives, health and readiness, Prometheus metrics, and a request id
 * followed from HTTP through RabbitMQ and the bridge into the workflow's activities.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import type express from 'express';
import { z } from 'zod';
import { ADMIN_OPERATIONS, PUBLIC_OPERATIONS } from '../../src/api/openapi';
import { PROBLEM_KINDS } from '../../src/api/problem';
import { CodecPayloads, Liveness, Problem, PublicReadiness, Readiness, SignupAccepted, SignupStatusView, UserLookup, UserView, VerificationUpdated } from '../../src/contract';
import { connectedCheck, postgresCheck, temporalCheck } from '../../src/health';
import { createSignupPublisher } from '../../src/messaging/signup-publisher';
import { createRegistry } from '../../src/metrics';
import { createPool } from '../../src/db/postgres';
import { createWorkerHttpApp } from '../../src/worker/http';
import { signupBody } from '../support/fixtures';
import { capturingLogger } from '../support/log-capture';
import { type Pipeline, request, startApi, startPipeline } from '../support/pipeline';
import { untilOnboarded } from '../support/users';
import { metricValue } from '../support/metrics';
import { publishRaw } from '../harness/queues';
import { eventually, silentLogger, TEST_ADMIN_TOKEN, testConfig, uniqueSuffix } from '../support/stack';

const logs = capturingLogger('info');
let p: Pipeline;

beforeAll(async () => {
  // `conflict`, so the 409 of a registered e-mail is among the answers checked against the document.
  p = await startPipeline({ DUPLICATE_SIGNUP_RESPONSE: 'conflict' }, { logger: logs.logger });
});
afterAll(() => p?.stop());

async function listen(app: express.Express) {
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }),
  };
}

/** Method and OpenAPI-style path of every route registered on an Express app, routers included. */
function expressRoutes(app: express.Express): string[] {
  const found: string[] = [];
  const walk = (stack: any[]) => {
    for (const layer of stack) {
      if (layer.route) {
        for (const method of Object.keys(layer.route.methods)) {
          found.push(`${method} ${String(layer.route.path).replace(/:(\w+)/g, '{$1}')}`);
        }
      } else if (layer.handle?.stack) {
        walk(layer.handle.stack);
      }
    }
  };
  walk((app as any).router.stack);
  // A route-level middleware (the rate limiter, the admin check) registers its path again.
  return [...new Set(found)].sort();
}

const completed = (id: string) => untilOnboarded(p.baseUrl, id);

const admin = () => ({ authorization: `Bearer ${TEST_ADMIN_TOKEN}` });

describe('OpenAPI document', () => {
  let doc: any;
  let adminDoc: any;
  beforeAll(async () => {
    const res = await request(p.baseUrl, 'GET', '/openapi.json');
    expect(res.status).toBe(200);
    doc = res.body;
    const adminRes = await request(p.adminBaseUrl, 'GET', '/openapi.json', undefined, admin());
    expect(adminRes.status).toBe(200);
    adminDoc = adminRes.body;
  });

  it('is OpenAPI 3.1 with JSON Schema 2020-12 components generated from the contract', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.components.schemas.SignupRequest).toMatchObject({
      type: 'object',
      required: ['email', 'first_name', 'last_name', 'password'],
      properties: { password: { minLength: 8, maxLength: 256 }, email: { maxLength: 254 } },
    });
    expect(doc.components.schemas.Problem.required).toEqual(['type', 'title', 'status']);
  });

  it('documents every route each listener serves, and no route it does not', () => {
    const served = expressRoutes(p.app);
    const documented = PUBLIC_OPERATIONS.map((op) => `${op.method} ${op.path}`).sort();
    expect(served).toEqual(documented);
    for (const op of PUBLIC_OPERATIONS) expect(doc.paths[op.path][op.method]).toBeDefined();
    const adminServed = expressRoutes(p.adminApp);
    expect(adminServed).toEqual(ADMIN_OPERATIONS.map((op) => `${op.method} ${op.path}`).sort());
    for (const op of ADMIN_OPERATIONS) expect(adminDoc.paths[op.path][op.method]).toBeDefined();
  });

  it('gives each listener a document of its own: no admin route or personal-data schema in the public one', () => {
    expect(Object.keys(doc.paths).sort()).toEqual(
      ['/healthz', '/openapi.json', '/readyz', '/signup', '/users/{user_id}', '/verification/resend', '/verify'],
    );
    expect(Object.keys(doc.paths['/users/{user_id}'])).toEqual(['get']);
    for (const path of ['/metrics', '/codec/encode', '/codec/decode']) expect(doc.paths[path]).toBeUndefined();
    expect(doc.components.schemas.CodecPayloads).toBeUndefined();
    expect(doc.components.securitySchemes).toBeUndefined();
    expect(Object.keys(adminDoc.paths).sort()).toEqual(
      ['/codec/decode', '/codec/encode', '/dlq', '/dlq/{id}', '/dlq/{id}/replay', '/metrics', '/openapi.json', '/readyz', '/users', '/users/{user_id}'],
    );
    expect(Object.keys(adminDoc.paths['/users/{user_id}']).sort()).toEqual(['delete', 'get', 'put']);
    expect(adminDoc.paths['/signup']).toBeUndefined();
    for (const ops of Object.values<any>(adminDoc.paths)) for (const op of Object.values<any>(ops)) expect(op.security).toEqual([{ bearerAuth: [] }]);
  });

  it('documents every status the problem mapping can produce, and 500 on every API operation', () => {
    const documented = new Set<number>();
    for (const d of [doc, adminDoc]) {
      for (const ops of Object.values<any>(d.paths)) for (const op of Object.values<any>(ops)) for (const s of Object.keys(op.responses)) documented.add(Number(s));
    }
    for (const kind of Object.values(PROBLEM_KINDS)) expect(documented).toContain(kind.status);
    for (const path of ['/signup', '/users/{user_id}']) {
      for (const op of Object.values<any>(doc.paths[path])) expect(op.responses['500']).toBeDefined();
    }
  });

  it('documents each status the running API actually answers, with a body that matches its schema', async () => {
    const first = await request(p.baseUrl, 'POST', '/signup', signupBody());
    await completed(first.body.user_id);
    const dup = (await p.pool.query('SELECT email FROM users WHERE user_id = $1', [first.body.user_id])).rows[0].email;
    const big = signupBody({ first_name: 'x'.repeat(20_000) });
    const token = admin();
    const pub = 'public';
    const adm = 'admin';
    const cases: Array<[string, string, string, string, unknown?, Record<string, string>?]> = [
      [pub, 'post', '/signup', '/signup', signupBody()],
      [pub, 'post', '/signup', '/signup', signupBody({ email: 'nope' })],
      [pub, 'post', '/signup', '/signup', '{"email":', { 'content-type': 'application/json' }],
      [pub, 'post', '/signup', '/signup', big],
      [pub, 'post', '/signup', '/signup', 'plain text', { 'content-type': 'text/plain' }],
      [pub, 'post', '/signup', '/signup', signupBody({ email: dup })],
      [pub, 'get', '/users/{user_id}', `/users/${first.body.user_id}`],
      [pub, 'get', '/users/{user_id}', '/users/not-a-uuid'],
      [pub, 'get', '/users/{user_id}', `/users/${randomUUID()}`],
      [pub, 'get', '/healthz', '/healthz'],
      [pub, 'get', '/readyz', '/readyz'],
      [adm, 'get', '/users/{user_id}', `/users/${first.body.user_id}`, undefined, token],
      [adm, 'get', '/users/{user_id}', `/users/${randomUUID()}`, undefined, token],
      [adm, 'get', '/users/{user_id}', `/users/${first.body.user_id}`],
      [adm, 'put', '/users/{user_id}', `/users/${first.body.user_id}`, { verification_state: 'VERIFIED' }, token],
      [adm, 'put', '/users/{user_id}', `/users/${first.body.user_id}`, { verification_state: 'MAYBE' }, token],
      [adm, 'put', '/users/{user_id}', `/users/${randomUUID()}`, undefined, token],
      [adm, 'put', '/users/{user_id}', `/users/${first.body.user_id}`],
      [adm, 'put', '/users/{user_id}', `/users/${first.body.user_id}`, undefined, { authorization: `Bearer ${'x'.repeat(43)}` }],
      [adm, 'post', '/codec/encode', '/codec/encode', { payloads: [{ metadata: { encoding: 'anNvbi9wbGFpbg==' }, data: 'e30=' }] }, token],
      [adm, 'post', '/codec/decode', '/codec/decode', { payloads: [] }],
      [adm, 'get', '/readyz', '/readyz', undefined, token],
      [adm, 'get', '/readyz', '/readyz'],
      [adm, 'get', '/metrics', '/metrics', undefined, token],
    ];
    const seen: string[] = [];
    for (const [plane, method, template, path, body, headers] of cases) {
      const res = await request(plane === pub ? p.baseUrl : p.adminBaseUrl, method.toUpperCase(), path, body, headers);
      seen.push(`${plane} ${method} ${template} ${res.status}`);
      const answer = (plane === pub ? doc : adminDoc).paths[template][method].responses[String(res.status)];
      expect({ route: `${plane} ${method} ${template}`, status: res.status, documented: Boolean(answer) }).toEqual(
        expect.objectContaining({ documented: true }),
      );
      const contentType = Object.keys(answer.content)[0];
      expect(res.headers.get('content-type')).toContain(contentType.split(';')[0]);
      const ref: string | undefined = answer.content[contentType].schema.$ref;
      if (ref) {
        const schema = SCHEMAS[ref.split('/').pop()!];
        expect(schema.safeParse(res.body).error?.issues ?? []).toEqual([]);
      }
    }
    // 503 below; 429 in security.test.ts.
    expect(seen).toEqual([
      'public post /signup 202', 'public post /signup 400', 'public post /signup 400', 'public post /signup 413', 'public post /signup 415', 'public post /signup 409',
      'public get /users/{user_id} 200', 'public get /users/{user_id} 400', 'public get /users/{user_id} 404',
      'public get /healthz 200', 'public get /readyz 200',
      'admin get /users/{user_id} 200', 'admin get /users/{user_id} 404', 'admin get /users/{user_id} 401',
      'admin put /users/{user_id} 200', 'admin put /users/{user_id} 400', 'admin put /users/{user_id} 404',
      'admin put /users/{user_id} 401', 'admin put /users/{user_id} 403',
      'admin post /codec/encode 200', 'admin post /codec/decode 401',
      'admin get /readyz 200', 'admin get /readyz 401', 'admin get /metrics 200',
    ]);
  });

  it('serves Swagger UI at /docs on each listener, each with its own document', async () => {
    const res = await fetch(`${p.baseUrl}/docs/`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('swagger-ui');
    const init = await (await fetch(`${p.baseUrl}/docs/swagger-ui-init.js`)).text();
    expect(init).toContain('"/signup"');
    expect(init).not.toContain('"/metrics"');
    expect((await fetch(`${p.adminBaseUrl}/docs/`)).status).toBe(401);
    const adminInit = await (await fetch(`${p.adminBaseUrl}/docs/swagger-ui-init.js`, { headers: admin() })).text();
    expect(adminInit).toContain('"/metrics"');
    expect(adminInit).not.toContain('"/signup"');
  });
});

const SCHEMAS: Record<string, z.ZodType> = {
  SignupAccepted,
  UserLookup,
  UserView,
  PublicReadiness,
  SignupStatusView,
  VerificationUpdated,
  Problem,
  Liveness,
  Readiness,
  CodecPayloads,
};

describe('health', () => {
  it('API: /healthz is alive; the public /readyz tells the status alone, the admin /readyz each dependency with its latency', async () => {
    expect((await request(p.baseUrl, 'GET', '/healthz')).body).toEqual({ status: 'ok' });
    expect(await request(p.baseUrl, 'GET', '/readyz')).toMatchObject({ status: 200, body: { status: 'ready' } });
    expect(Object.keys((await request(p.baseUrl, 'GET', '/readyz')).body)).toEqual(['status']);
    const ready = await request(p.adminBaseUrl, 'GET', '/readyz', undefined, admin());
    expect(ready.status).toBe(200);
    expect(ready.body.status).toBe('ready');
    for (const dep of ['postgres', 'rabbitmq', 'temporal']) {
      expect(ready.body.dependencies[dep]).toEqual({ status: 'up', latency_ms: expect.any(Number) });
    }
  });

  it('API: /readyz is 503 naming RabbitMQ when the publisher cannot connect, and signups get 503', async () => {
    const unreachable = testConfig(uniqueSuffix(), { DATABASE_URL: p.config.postgres.url, AMQP_URL: 'amqp://guest:guest@127.0.0.1:1' });
    const publisher = await createSignupPublisher({ topology: unreachable.amqp, url: unreachable.amqp.url, logger: silentLogger, waitForConnect: false });
    const down = await startApi(unreachable, { pool: p.pool, publisher, temporal: p.temporal });
    try {
      // Public: the status alone. Admin: which dependency, by its fixed code, never the driver's text.
      expect(await request(down.baseUrl, 'GET', '/readyz')).toMatchObject({ status: 503, body: { status: 'not_ready' } });
      expect(PublicReadiness.parse((await request(down.baseUrl, 'GET', '/readyz')).body)).toEqual({ status: 'not_ready' });
      const ready = await request(down.adminBaseUrl, 'GET', '/readyz', undefined, admin());
      expect(ready.status).toBe(503);
      expect(ready.body.status).toBe('not_ready');
      expect(ready.body.dependencies.rabbitmq).toEqual({ status: 'down', latency_ms: expect.any(Number), failure: 'not_connected' });
      expect(ready.body.dependencies.postgres.status).toBe('up');
      const res = await request(down.baseUrl, 'POST', '/signup', signupBody());
      expect(res.status).toBe(503);
      expect(Problem.parse(res.body).service).toBe('rabbitmq');
      // Both 503s are in the document, with the schemas these bodies match.
      const doc = (await request(down.baseUrl, 'GET', '/openapi.json')).body;
      expect(doc.paths['/signup'].post.responses['503'].content['application/problem+json']).toBeDefined();
      expect(doc.paths['/readyz'].get.responses['503'].content['application/json'].schema.$ref).toBe('#/components/schemas/PublicReadiness');
      const adminDoc = (await request(down.adminBaseUrl, 'GET', '/openapi.json', undefined, admin())).body;
      expect(adminDoc.paths['/readyz'].get.responses['503'].content['application/json'].schema.$ref).toBe('#/components/schemas/Readiness');
      expect(Readiness.parse(ready.body).status).toBe('not_ready');
    } finally {
      await down.close();
      await publisher.close();
    }
  });

  it('worker: the same endpoints on its own port; 503 naming Postgres and Temporal when they are unreachable', async () => {
    const up = await listen(
      createWorkerHttpApp({
        registry: p.workerRegistry,
        checks: {
          postgres: postgresCheck(p.pool),
          rabbitmq: connectedCheck('bridge consumer', () => p.bridge.isConsuming()),
          temporal: temporalCheck(p.temporal.client),
        },
      }),
    );
    const deadPool = createPool('postgres://postgres@127.0.0.1:1/none', 1, silentLogger);
    const deadConnection = Connection.lazy({ address: '127.0.0.1:1', connectTimeout: 500 });
    const down = await listen(
      createWorkerHttpApp({
        registry: createRegistry('worker'),
        checks: {
          postgres: postgresCheck(deadPool),
          rabbitmq: connectedCheck('bridge consumer', () => p.bridge.isConsuming()),
          temporal: temporalCheck(new Client({ connection: deadConnection })),
        },
      }),
    );
    try {
      expect((await request(up.baseUrl, 'GET', '/healthz')).status).toBe(200);
      const ready = await request(up.baseUrl, 'GET', '/readyz');
      expect(ready.status).toBe(200);
      expect(Object.keys(ready.body.dependencies).sort()).toEqual(['postgres', 'rabbitmq', 'temporal']);
      const metrics = await fetch(`${up.baseUrl}/metrics`);
      expect(await metrics.text()).toContain('onboarding_bridge_deliveries_total');

      const notReady = await request(down.baseUrl, 'GET', '/readyz');
      expect(notReady.status).toBe(503);
      expect(notReady.body.dependencies.postgres.status).toBe('down');
      expect(notReady.body.dependencies.temporal.status).toBe('down');
      expect(notReady.body.dependencies.rabbitmq.status).toBe('up');
      expect(Readiness.parse(notReady.body)).toBeTruthy();
    } finally {
      await up.close();
      await down.close();
      await deadPool.end();
      await deadConnection.close().catch(() => undefined);
    }
  });
});

describe('metrics and the request id', () => {
  it('counts signups, confirms, deliveries, outcomes, end-to-end latency, nacks and the DLQ depth', async () => {
    const accepted0 = (await metricValue(p.apiRegistry, 'onboarding_signups_accepted_total')) ?? 0;
    const unsupported0 = (await metricValue(p.apiRegistry, 'onboarding_signups_rejected_total', { reason: 'unsupportedMediaType' })) ?? 0;
    const res = await request(p.baseUrl, 'POST', '/signup', signupBody());
    await completed(res.body.user_id);
    await request(p.baseUrl, 'POST', '/signup', signupBody({ password: 'short' }));
    await request(p.baseUrl, 'POST', '/signup', 'plain', { 'content-type': 'text/plain' });
    await publishRaw(p.config.amqp.url, p.config.amqp.exchange, p.config.amqp.routingKey, Buffer.from('{"not":"a signup"}'), 'poison-1');

    expect(await metricValue(p.apiRegistry, 'onboarding_signups_accepted_total')).toBe(accepted0 + 1);
    expect(await metricValue(p.apiRegistry, 'onboarding_signups_rejected_total', { reason: 'validation' })).toBeGreaterThanOrEqual(1);
    expect(await metricValue(p.apiRegistry, 'onboarding_signups_rejected_total', { reason: 'unsupportedMediaType' })).toBe(unsupported0 + 1);
    expect(await metricValue(p.apiRegistry, 'onboarding_publish_confirm_seconds_count', { result: 'confirmed' })).toBeGreaterThanOrEqual(1);

    await eventually(async () => ((await metricValue(p.workerRegistry, 'onboarding_bridge_nacks_total', { reason: 'contract_violation' })) ? true : undefined), 10_000, 'the poison nack');
    expect(await metricValue(p.workerRegistry, 'onboarding_bridge_acks_total')).toBeGreaterThanOrEqual(1);
    expect(await metricValue(p.workerRegistry, 'onboarding_workflow_outcomes_total', { outcome: 'completed' })).toBeGreaterThanOrEqual(1);
    expect(await metricValue(p.workerRegistry, 'onboarding_end_to_end_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(await metricValue(p.workerRegistry, 'onboarding_bridge_deliveries_total', { redelivered: 'false' })).toBeGreaterThanOrEqual(2);
    await eventually(async () => ((await metricValue(p.workerRegistry, 'onboarding_dlq_messages')) ?? 0) >= 1 || undefined, 10_000, 'the DLQ gauge');

    // The text format Prometheus scrapes, default process metrics included.
    const text = await (await fetch(`${p.adminBaseUrl}/metrics`, { headers: admin() })).text();
    expect(text).toMatch(/^onboarding_signups_accepted_total\{process="api"\} \d+$/m);
    expect(text).toContain('process_cpu_user_seconds_total');
  });

  it('follows X-Request-Id from HTTP through the message and the bridge into every activity; e-mails masked', async () => {
    const requestId = `trace-${randomUUID()}`;
    const body = signupBody();
    const res = await request(p.baseUrl, 'POST', '/signup', body, { 'X-Request-Id': requestId });
    expect(res.headers.get('x-request-id')).toBe(requestId);
    await completed(res.body.user_id);
    const workflowId = `onboard-user-${res.body.user_id}`;
    const traced = await eventually(async () => {
      const lines = logs.lines().filter((l) => l.request_id === requestId);
      return lines.some((l) => l.msg === 'onboarding completed') ? lines : undefined;
    }, 10_000, 'the bridge to log the completion');

    expect(traced.find((l) => l.msg === 'signup accepted')).toBeDefined();
    expect(logs.lines().find((l) => l.req?.id === requestId && l.res?.statusCode === 202)).toBeDefined();
    const bridge = traced.filter((l) => l.msg === 'onboarding completed' || l.msg.startsWith('signup received'));
    expect(bridge).toHaveLength(2);
    for (const line of bridge) expect(line.workflowId).toBe(workflowId);
    const activities = traced.filter((l) => l.activity).map((l) => [l.activity, l.workflowId]);
    expect(activities).toEqual([['persistUser', workflowId]]);
    expect(logs.raw()).not.toContain(body.email as string);
    expect(logs.raw()).not.toContain(body.password as string);
    expect(traced.find((l) => l.msg === 'signup accepted')?.email).toBe('u***@example.com');
  });
});
