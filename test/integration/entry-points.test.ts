/**
 * The two processes as they run in production: the compiled `node dist/src/api/main.js` and
 * `node dist/src/worker/main.js`, configured only through the environment, against real
 * Postgres, RabbitMQ and a Temporal dev server. Each serves health and our metrics on its own
 * port; the worker's Temporal SDK Runtime serves its metrics on TEMPORAL_METRICS_BIND_ADDRESS;
 * one request id follows a signup through both processes' JSON logs; SIGTERM drains, even with
 * keep-alive clients sending signups back to back, and exits 0.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Config, Env } from '../../src/config';
import { signupBody } from '../support/fixtures';
import { request } from '../support/pipeline';
import { DIST } from '../support/processes';
import { deleteTopology, dropTestDatabase, eventually, startTemporal, testConfig, testEnv, uniqueSuffix } from '../support/stack';
import { freePort } from '../harness/free-port';

interface RunningProcess {
  child: ChildProcess;
  output: () => string;
}

function runEntryPoint(script: string, env: Env): RunningProcess {
  let output = '';
  const child = spawn(process.execPath, [join(DIST, 'src', script)], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  return { child, output: () => output };
}

async function whenReady(base: string, proc: RunningProcess): Promise<void> {
  await eventually(async () => {
    if (proc.child.exitCode !== null) throw new Error(`exited early:\n${proc.output()}`);
    const res = await request(base, 'GET', '/readyz');
    return res.status === 200 ? true : undefined;
  }, 60_000, `${base}/readyz`);
}

function jsonLines(output: string): Array<Record<string, any>> {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line));
}

let temporal: TestWorkflowEnvironment;
let config: Config;
let api: RunningProcess;
let worker: RunningProcess;
let apiBase: string;
let adminBase: string;
let workerBase: string;
let sdkMetricsPort: number;

// dist/ is compiled once per run by the jest global setup.
beforeAll(async () => {
  temporal = await startTemporal();
  const suffix = uniqueSuffix();
  const [apiPort, adminPort, workerPort] = [await freePort(), await freePort(), await freePort()];
  sdkMetricsPort = await freePort();
  const env: Env = {
    ...testEnv(suffix),
    NODE_ENV: 'production',
    LOG_LEVEL: 'info',
    PORT: String(apiPort),
    ADMIN_PORT: String(adminPort),
    WORKER_HTTP_PORT: String(workerPort),
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_NAMESPACE: 'default',
    TEMPORAL_METRICS_BIND_ADDRESS: `127.0.0.1:${sdkMetricsPort}`,
  };
  config = testConfig(suffix, env);
  apiBase = `http://127.0.0.1:${apiPort}`;
  adminBase = `http://127.0.0.1:${adminPort}`;
  workerBase = `http://127.0.0.1:${workerPort}`;
  // The worker first: it registers the search attribute and both create the database.
  worker = runEntryPoint('worker/main.js', env);
  await whenReady(workerBase, worker);
  api = runEntryPoint('api/main.js', env);
  await whenReady(apiBase, api);
});

afterAll(async () => {
  for (const proc of [api, worker]) {
    if (proc && proc.child.exitCode === null && proc.child.signalCode === null) {
      proc.child.kill('SIGKILL');
      await once(proc.child, 'exit');
    }
  }
  await temporal?.teardown();
  if (config) {
    await deleteTopology(config).catch(() => undefined);
    await dropTestDatabase(config);
  }
});

it('serves readiness, onboards a signup, exports our metrics and the SDK’s, traces one request id, drains on SIGTERM', async () => {
  const admin = { authorization: `Bearer ${config.security.adminToken}` };
  // Two listeners: the public one tells readiness alone and serves no admin route; the admin one
  // (on 127.0.0.1) tells each dependency, behind the token.
  expect((await request(apiBase, 'GET', '/readyz')).body).toEqual({ status: 'ready' });
  expect((await request(apiBase, 'GET', '/metrics')).status).toBe(404);
  expect((await request(adminBase, 'GET', '/readyz')).status).toBe(401);
  const apiReady = await request(adminBase, 'GET', '/readyz', undefined, admin);
  expect(Object.keys(apiReady.body.dependencies).sort()).toEqual(['postgres', 'rabbitmq', 'temporal']);
  const workerReady = await request(workerBase, 'GET', '/readyz');
  expect(Object.keys(workerReady.body.dependencies).sort()).toEqual(['bridge', 'postgres', 'rabbitmq', 'temporal', 'temporal_worker']);
  expect((await request(workerBase, 'GET', '/healthz')).body).toEqual({ status: 'ok' });
  expect((await request(apiBase, 'GET', '/openapi.json')).body.openapi).toBe('3.1.0');

  const requestId = `entry-points-${uniqueSuffix()}`;
  const body = signupBody();
  const accepted = await request(apiBase, 'POST', '/signup', body, { 'X-Request-Id': requestId });
  expect(accepted.status).toBe(202);
  await eventually(async () => {
    const user = await request(apiBase, 'GET', `/users/${accepted.body.user_id}`);
    return user.body?.onboarding_state === 'COMPLETED' ? true : undefined;
  }, 30_000, 'onboarding to complete');

  const apiMetrics = await (await fetch(`${adminBase}/metrics`, { headers: admin })).text();
  expect(apiMetrics).toMatch(/^onboarding_signups_accepted_total\{process="api"\} 1$/m);
  expect(apiMetrics).toMatch(/^onboarding_publish_confirm_seconds_count\{[^}]*result="confirmed"[^}]*\} 1$/m);

  const ours = await eventually(async () => {
    const text = await (await fetch(`${workerBase}/metrics`)).text();
    return /^onboarding_bridge_acks_total\{process="worker"\} 1$/m.test(text) ? text : undefined;
  }, 30_000, 'the worker to ack the message');
  expect(ours).toMatch(/^onboarding_end_to_end_seconds_count\{process="worker"\} 1$/m);
  expect(ours).toMatch(/^onboarding_workflow_outcomes_total\{[^}]*outcome="completed"[^}]*\} 1$/m);
  expect(ours).toMatch(/^onboarding_dlq_messages\{process="worker"\} 0$/m);

  const sdk = await (await fetch(`http://127.0.0.1:${sdkMetricsPort}/metrics`)).text();
  expect(sdk).toMatch(/^temporal_workflow_task_execution_latency\w*\{/m);
  expect(sdk).toMatch(/^temporal_local_activity_execution_latency\w*\{activity_type="persistUser"/m);
  expect(sdk).toContain(config.temporal.taskQueue);

  // JSON logs: the API's line and the worker's bridge and activity lines share the request id.
  const apiLines = jsonLines(api.output()).filter((l) => l.request_id === requestId);
  expect(apiLines.find((l) => l.msg === 'signup accepted')?.email).toMatch(/^u\*\*\*@example\.com$/);
  const workerLines = jsonLines(worker.output()).filter((l) => l.request_id === requestId);
  expect(workerLines.map((l) => l.activity ?? l.msg)).toEqual(
    expect.arrayContaining(['persistUser', 'onboarding completed']),
  );
  for (const line of workerLines) expect(line.workflowId).toBe(`onboard-user-${accepted.body.user_id}`);
  for (const output of [api.output(), worker.output()]) {
    expect(output).not.toContain(body.email as string);
    expect(output).not.toContain(body.password as string);
    expect(output).not.toContain('$argon2id$');
  }

  // A deploy under load: keep-alive clients send signups back to back while both processes drain.
  // Every signup the API takes must get its answer to its client; a request may go unanswered
  // only if the API never took it (refused, or reset in the listen queue as the API stops listening).
  let sigtermAt = Infinity;
  let stopLoad = false;
  const outcomes: Array<{ status?: number; connection?: string | null; error?: string; afterSigterm: boolean }> = [];
  const client = async () => {
    while (!stopLoad) {
      try {
        const res = await fetch(`${apiBase}/signup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(signupBody()) });
        await res.arrayBuffer();
        outcomes.push({ status: res.status, connection: res.headers.get('connection'), afterSigterm: Date.now() > sigtermAt });
      } catch (err) {
        const code = (err as { cause?: { code?: string } }).cause?.code;
        if (code !== 'ECONNREFUSED') outcomes.push({ error: `${code} ${(err as Error).message}`, afterSigterm: true });
        return;
      }
    }
  };
  const signupsAnswered = (): number =>
    jsonLines(api.output()).filter((l) => l.msg === 'request completed' && l.req?.url === '/signup' && l.res?.statusCode === 202).length;
  const answeredBeforeLoad = signupsAnswered();
  const clients = Array.from({ length: 4 }, client);
  await eventually(async () => (outcomes.length >= 8 ? true : undefined), 30_000, 'signups before the deploy');
  sigtermAt = Date.now();
  api.child.kill('SIGTERM');
  worker.child.kill('SIGTERM');
  // 'close', not 'exit': every line the process wrote has been read by then.
  const [[apiCode], [workerCode]] = await Promise.all([once(api.child, 'close'), once(worker.child, 'close')]);
  stopLoad = true;
  await Promise.all(clients);
  expect({ api: apiCode, worker: workerCode }).toEqual({ api: 0, worker: 0 });
  // A reset or a socket closed under a request the API never read (an idle keep-alive connection
  // closed by server.close() as the client reuses it) is judged by the API's own account below.
  expect(outcomes.filter((o) => o.error && !/^(ECONNREFUSED|ECONNRESET|UND_ERR_SOCKET) /.test(o.error))).toEqual([]);
  expect(outcomes.filter((o) => !o.error && o.status !== 202)).toEqual([]);
  // The API's own account: each 202 it sent reached its client, and no request was cut short.
  expect(signupsAnswered() - answeredBeforeLoad).toBe(outcomes.filter((o) => o.status === 202).length);
  expect(jsonLines(api.output()).filter((l) => l.msg === 'request aborted')).toEqual([]);
  // Answered while draining, with the connection closed behind them: no client was left holding one.
  expect(outcomes.filter((o) => o.afterSigterm && o.connection === 'close').length).toBeGreaterThan(0);
  expect(jsonLines(api.output()).find((l) => l.msg === 'api drained')).toMatchObject({ forced: false });
});
