/**
 * The worker as it runs in production: the compiled `node dist/src/worker/main.js`, configured
 * only through the environment, against real Postgres, RabbitMQ and a Temporal dev server. Its
 * own HTTP port serves health and our metrics; the Temporal SDK Runtime serves its metrics on
 * TEMPORAL_METRICS_BIND_ADDRESS; SIGTERM drains and exits 0.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Config } from '../../src/config';
import { signupMessage } from '../support/fixtures';
import { request } from '../support/pipeline';
import { DIST } from '../support/processes';
import { publishRaw } from '../support/queues';
import { deleteTopology, dropTestDatabase, eventually, startTemporal, testConfig, testEnv, uniqueSuffix } from '../support/stack';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

let temporal: TestWorkflowEnvironment;
let config: Config;
let worker: ChildProcess;
let output = '';
let httpPort: number;
let sdkMetricsPort: number;

// dist/ is compiled once per run by the jest global setup.
beforeAll(async () => {
  temporal = await startTemporal();
  const suffix = uniqueSuffix();
  [httpPort, sdkMetricsPort] = [await freePort(), await freePort()];
  const env = {
    ...testEnv(suffix),
    NODE_ENV: 'production',
    LOG_LEVEL: 'info',
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_NAMESPACE: 'default',
    WORKER_HTTP_PORT: String(httpPort),
    TEMPORAL_METRICS_BIND_ADDRESS: `127.0.0.1:${sdkMetricsPort}`,
  };
  config = testConfig(suffix, env);
  worker = spawn(process.execPath, [join(DIST, 'src', 'worker', 'main.js')], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  worker.stdout!.on('data', (chunk) => (output += chunk));
  worker.stderr!.on('data', (chunk) => (output += chunk));
  await eventually(async () => {
    const res = await request(`http://127.0.0.1:${httpPort}`, 'GET', '/readyz');
    return res.status === 200 ? res : undefined;
  }, 60_000, `the worker to be ready (output so far:\n${output})`);
});

afterAll(async () => {
  if (worker && worker.exitCode === null) {
    worker.kill('SIGKILL');
    await once(worker, 'exit');
  }
  await temporal?.teardown();
  if (config) {
    await deleteTopology(config).catch(() => undefined);
    await dropTestDatabase(config);
  }
});

it('serves readiness, onboards a message, exports our metrics and the SDK’s, and drains on SIGTERM', async () => {
  const base = `http://127.0.0.1:${httpPort}`;
  const ready = await request(base, 'GET', '/readyz');
  expect(Object.keys(ready.body.dependencies).sort()).toEqual(['postgres', 'rabbitmq', 'temporal', 'temporal_worker']);
  expect((await request(base, 'GET', '/healthz')).body).toEqual({ status: 'ok' });

  const message = await signupMessage({ request_id: `worker-process-${uniqueSuffix()}` });
  await publishRaw(config.amqp.url, config.amqp.exchange, config.amqp.routingKey, Buffer.from(JSON.stringify(message)), message.user_id);

  const ours = await eventually(async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    return /^onboarding_bridge_acks_total\{process="worker"\} 1$/m.test(text) ? text : undefined;
  }, 30_000, 'the worker to ack the message');
  expect(ours).toMatch(/^onboarding_end_to_end_seconds_count\{process="worker"\} 1$/m);
  expect(ours).toMatch(/^onboarding_workflow_outcomes_total\{outcome="completed",failure_type="",process="worker"\} 1$/m);
  expect(ours).toMatch(/^onboarding_dlq_messages\{process="worker"\} 0$/m);

  const sdk = await (await fetch(`http://127.0.0.1:${sdkMetricsPort}/metrics`)).text();
  expect(sdk).toMatch(/^temporal_workflow_task_execution_latency\w*\{/m);
  expect(sdk).toMatch(/^temporal_activity_execution_latency\w*\{/m);
  expect(sdk).toContain(config.temporal.taskQueue);

  // JSON logs, one request id from the message to the activities.
  const traced = output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line))
    .filter((line) => line.request_id === message.request_id);
  expect(traced.map((l) => l.activity ?? l.msg)).toEqual(
    expect.arrayContaining(['validateSignup', 'persistUser', 'markState', 'onboarding completed']),
  );
  expect(output).not.toContain(message.email);
  expect(output).not.toContain(message.password_hash);

  worker.kill('SIGTERM');
  const [code] = await once(worker, 'exit');
  expect(code).toBe(0);
});
