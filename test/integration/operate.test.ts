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
import { OPERATIONS } from '../../src/api/openapi';
import { PROBLEM_KINDS } from '../../src/api/problem';
import { CodecPayloads, Liveness, Problem, Readiness, SignupAccepted, SignupStatusView, UserLookup, VerificationUpdated } from '../../src/contract';
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

describe('OpenAPI document', () => {
  let doc: any;
  beforeAll(async () => {
    const res = await request(p.baseUrl, 'GET', '/openapi.json');
    expect(res.status).toBe(200);
    doc = res.body;
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

  it('documents every route the app serves, and no route it does not', () => {
    const served = expressRoutes(p.app);
    const documented = OPERATIONS.map((op) => `${op.method} ${op.path}`).sort();
    expect(served).toEqual(documented);
    for (const op of OPERATIONS) expect(doc.paths[op.path][op.method]).toBeDefined();
  });

  it('documents every status the problem mapping can produce, and 500 on every API operation', () => {
    const documented = new Set<number>();
    for (const ops of Object.values<any>(doc.paths)) for (const op of Object.values<any>(ops)) for (const s of Object.keys(op.responses)) documented.add(Number(s));
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
    const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
    const cases: Array<[string, string, string, unknown?, Record<string, string>?]> = [
      ['post', '/signup', '/signup', signupBody()],
      ['post', '/signup', '/signup', signupBody({ email: 'nope' })],
      ['post', '/signup', '/signup', '{"email":', { 'content-type': 'application/json' }],
      ['post', '/signup', '/signup', big],
      ['post', '/signup', '/signup', 'plain text', { 'content-type': 'text/plain' }],
      ['post', '/signup', '/signup', signupBody({ email: dup })],
      ['get', '/users/{user_id}', `/users/${first.body.user_id}`],
      ['get', '/users/{user_id}', '/users/not-a-uuid'],
      ['get', '/users/{user_id}', `/users/${randomUUID()}`],
      ['put', '/users/{user_id}', `/users/${first.body.user_id}`, { verification_state: 'VERIFIED' }, admin],
      ['put', '/users/{user_id}', `/users/${first.body.user_id}`, { verification_state: 'MAYBE' }, admin],
      ['put', '/users/{user_id}', `/users/${randomUUID()}`, undefined, admin],
      ['put', '/users/{user_id}', `/users/${first.body.user_id}`],
      ['put', '/users/{user_id}', `/users/${first.body.user_id}`, undefined, { authorization: `Bearer ${'x'.repeat(43)}` }],
      ['post', '/codec/encode', '/codec/encode', { payloads: [{ metadata: { encoding: 'anNvbi9wbGFpbg==' }, data: 'e30=' }] }, admin],
      ['post', '/codec/decode', '/codec/decode', { payloads: [] }],
      ['get', '/healthz', '/healthz'],
      ['get', '/readyz', '/readyz'],
      ['get', '/metrics', '/metrics'],
    ];
    const seen: string[] = [];
    for (const [method, template, path, body, headers] of cases) {
      const res = await request(p.baseUrl, method.toUpperCase(), path, body, headers);
      seen.push(`${method} ${template} ${res.status}`);
      const answer = doc.paths[template][method].responses[String(res.status)];
      expect({ route: `${method} ${template}`, status: res.status, documented: Boolean(answer) }).toEqual(
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
    // 202, 400 ×2 (fields, JSON), 413, 415, 409; 200, 400, 404; 200, 400, 404, 401, 403; codec 200, 401; 200 ×3.
    // 503 below; 429 in security.test.ts.
    expect(seen).toEqual([
      'post /signup 202', 'post /signup 400', 'post /signup 400', 'post /signup 413', 'post /signup 415', 'post /signup 409',
      'get /users/{user_id} 200', 'get /users/{user_id} 400', 'get /users/{user_id} 404',
      'put /users/{user_id} 200', 'put /users/{user_id} 400', 'put /users/{user_id} 404',
      'put /users/{user_id} 401', 'put /users/{user_id} 403',
      'post /codec/encode 200', 'post /codec/decode 401',
      'get /healthz 200', 'get /readyz 200', 'get /metrics 200',
    ]);
  });

  it('serves Swagger UI at /docs', async () => {
    const res = await fetch(`${p.baseUrl}/docs/`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('swagger-ui');
  });
});

const SCHEMAS: Record<string, z.ZodType> = {
  SignupAccepted,
  UserLookup,
  SignupStatusView,
  VerificationUpdated,
  Problem,
  Liveness,
  Readiness,
  CodecPayloads,
};

describe('health', () => {
  it('API: /healthz is alive, /readyz reports each dependency with its latency', async () => {
    expect((await request(p.baseUrl, 'GET', '/healthz')).body).toEqual({ status: 'ok' });
    const ready = await request(p.baseUrl, 'GET', '/readyz');
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
      const ready = await request(down.baseUrl, 'GET', '/readyz');
      expect(ready.status).toBe(503);
      expect(ready.body.status).toBe('not_ready');
      expect(ready.body.dependencies.rabbitmq).toMatchObject({ status: 'down', error: 'publisher not connected' });
      expect(ready.body.dependencies.postgres.status).toBe('up');
      const res = await request(down.baseUrl, 'POST', '/signup', signupBody());
      expect(res.status).toBe(503);
      expect(Problem.parse(res.body).service).toBe('rabbitmq');
      // Both 503s are in the document, with the schemas these bodies match.
      const doc = (await request(down.baseUrl, 'GET', '/openapi.json')).body;
      expect(doc.paths['/signup'].post.responses['503'].content['application/problem+json']).toBeDefined();
      expect(doc.paths['/readyz'].get.responses['503'].content['application/json'].schema.$ref).toBe('#/components/schemas/Readiness');
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
    const text = await (await fetch(`${p.baseUrl}/metrics`)).text();
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
    expect(activities).toEqual([
      ['validateSignup', workflowId],
      ['persistUser', workflowId],
    ]);
    expect(logs.raw()).not.toContain(body.email as string);
    expect(logs.raw()).not.toContain(body.password as string);
    expect(traced.find((l) => l.msg === 'signup accepted')?.email).toBe('u***@example.com');
  });
});
