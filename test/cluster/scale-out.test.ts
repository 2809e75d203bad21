/**
 * Scale-out on a real Temporal cluster: two API processes and two worker processes, the compiled
 * entry points as production runs them, on one queue, one task queue and one database, migrated
 * once beforehand by `npm run migrate` (compose's migration job). Signups sent to both APIs end
 * as exactly as many users, each onboarded by one workflow run that COMPLETED, with no run
 * started twice and nothing in the DLQ; both bridges took deliveries and both workers ran
 * workflow tasks. Why against the cluster: see test/cluster/pipeline.test.ts.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import type { Pool } from 'pg';
import { type Config, type Env, loadConfig } from '../../src/config';
import { createTemporalClient } from '../../src/temporal/client';
import { type TestCluster, startTestCluster } from '../support/cluster';
import { signupBody } from '../support/fixtures';
import { request } from '../support/pipeline';
import { DIST, runScript } from '../support/processes';
import { messageCount } from '../harness/queues';
import { createTestDatabase, deleteTopology, dropTestDatabase, eventually, testEnv, uniqueSuffix } from '../support/stack';
import { freePort } from '../harness/free-port';
import { ManagedProcess } from '../harness/managed-process';

const SIGNUPS = 40;
const CONCURRENT_REQUESTS = 8;

let cluster: TestCluster;
let config: Config;
let pool: Pool;
let logDir: string;
const apis: Array<{ process: ManagedProcess; base: string }> = [];
const workers: Array<{ process: ManagedProcess; base: string }> = [];

function startEntryPoint(name: string, script: string, env: Env): ManagedProcess {
  const childEnv = { PATH: process.env.PATH, HOME: process.env.HOME, ...env };
  return new ManagedProcess(name, process.execPath, [join(DIST, 'src', script)], childEnv, join(logDir, `${name}.log`)).start();
}

async function metric(base: string, line: RegExp): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  return Number(line.exec(text)?.[1] ?? 0);
}

beforeAll(async () => {
  cluster = await startTestCluster();
  logDir = mkdtempSync(join(tmpdir(), 'scale-out-'));
  const env: Env = { ...testEnv(uniqueSuffix()), TEMPORAL_ADDRESS: cluster.address, TEMPORAL_NAMESPACE: cluster.namespace, LOG_LEVEL: 'warn' };
  config = loadConfig(env);
  const migrated = await runScript('scripts/migrate.js', [], env);
  expect(migrated).toMatchObject({ code: 0 });
  pool = await createTestDatabase(config);
  for (const i of [1, 2]) {
    const [http, sdkMetrics] = [await freePort(), await freePort()];
    workers.push({
      process: startEntryPoint(`worker-${i}`, 'worker/main.js', { ...env, WORKER_HTTP_PORT: String(http), TEMPORAL_METRICS_BIND_ADDRESS: `127.0.0.1:${sdkMetrics}` }),
      base: `http://127.0.0.1:${http}`,
    });
    const port = await freePort();
    apis.push({ process: startEntryPoint(`api-${i}`, 'api/main.js', { ...env, PORT: String(port) }), base: `http://127.0.0.1:${port}` });
  }
  for (const { process: proc, base } of [...workers, ...apis]) {
    // Generous: the machine is shared, and a failure says why with the process's last lines.
    await eventually(async () => proc.running && (await request(base, 'GET', '/readyz')).status === 200, 180_000, `${proc.name} to be ready`).catch(
      (err: Error) => {
        throw new Error(`${err.message} (${proc.crashes.join('; ') || 'still running'}):\n${readFileSync(proc.logFile, 'utf8').slice(-3000)}`);
      },
    );
  }
});

afterAll(async () => {
  await Promise.all([...apis, ...workers].map(({ process: proc }) => proc.stop()));
  if (config) {
    await deleteTopology(config).catch(() => undefined);
    await dropTestDatabase(config, pool);
  }
  await cluster?.dispose();
  if (logDir) rmSync(logDir, { recursive: true, force: true });
});

it('onboards every signup sent to two APIs exactly once, with two workers sharing the work', async () => {
  const accepted: string[] = [];
  for (let next = 0; next < SIGNUPS; next += CONCURRENT_REQUESTS) {
    const batch = Array.from({ length: Math.min(CONCURRENT_REQUESTS, SIGNUPS - next) }, (_, i) =>
      request(apis[(next + i) % apis.length].base, 'POST', '/signup', signupBody()),
    );
    for (const res of await Promise.all(batch)) {
      expect(res.status).toBe(202);
      accepted.push(res.body.user_id as string);
    }
  }

  // One user row per accepted signup.
  await eventually(async () => {
    const { rows } = await pool.query('SELECT count(*)::int AS n FROM users WHERE user_id = ANY($1)', [accepted]);
    return rows[0].n === SIGNUPS ? true : undefined;
  }, 120_000, `${SIGNUPS} user rows`);

  // One onboarding run per signup, COMPLETED: the cluster's visibility store lists every run of
  // the task queue (each user's verification run, which waits for a person, is left out).
  const connection = await Connection.connect(config.temporal.connection);
  try {
    const { client } = createTemporalClient(connection, config);
    const runs = await eventually(async () => {
      const listed = [];
      for await (const run of client.workflow.list({ query: `TaskQueue = "${config.temporal.taskQueue}" AND WorkflowType = "onboardUser"` })) listed.push(run);
      return listed.length >= SIGNUPS && listed.every((run) => run.status.name === 'COMPLETED') ? listed : undefined;
    }, 60_000, 'every run to be listed as completed');
    expect(runs.map((run) => run.workflowId).sort()).toEqual(accepted.map((id) => `onboard-user-${id}`).sort());

    // Both workers ran workflow tasks: the identities that completed them.
    const identities = new Set<string>();
    for (const run of runs) {
      const history = await client.workflow.getHandle(run.workflowId, run.runId).fetchHistory();
      for (const event of history.events ?? []) {
        const identity = event.workflowTaskCompletedEventAttributes?.identity;
        if (identity) identities.add(identity);
      }
    }
    const workerPids = workers.map(({ process: proc }) => proc.pid);
    expect([...identities].map((identity) => Number(identity.split('@')[0])).sort()).toEqual(workerPids.sort());
  } finally {
    await connection.close();
  }

  // Each message was acked once, and each run's completion seen once, across the two bridges.
  const acks = await Promise.all(workers.map(({ base }) => metric(base, /^onboarding_bridge_acks_total\{process="worker"\} (\d+)$/m)));
  const completed = await Promise.all(
    workers.map(({ base }) => metric(base, /^onboarding_workflow_outcomes_total\{[^}]*outcome="completed"[^}]*\} (\d+)$/m)),
  );
  expect(acks.every((n) => n > 0)).toBe(true);
  expect(acks[0] + acks[1]).toBe(SIGNUPS);
  expect(completed[0] + completed[1]).toBe(SIGNUPS);
  expect(await messageCount(config.amqp.url, config.amqp.deadLetterQueue)).toBe(0);
  for (const { process: proc } of [...apis, ...workers]) expect(proc.crashes).toEqual([]);
});
