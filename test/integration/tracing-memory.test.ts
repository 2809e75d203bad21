/**
 * The worker with tracing on, under the production heap limits (WORKER_NODE_OPTIONS), takes a
 * burst of signups larger than its workflow cache without running out of heap. Each signup's
 * verification run waits for a click, so the cache fills with waiting runs and evicts, as under
 * a backlog. Before the shared tracing storage (workflows/tracing-context-storage.ts) the
 * workflow thread's memory grew with the square of the cached runs and this worker exited with
 * ERR_WORKER_OUT_OF_MEMORY (docs/tracing.md, "Memory").
 *
 * Real Postgres, RabbitMQ, a Temporal dev server and Mailpit; the compiled worker entry point
 * exports its spans to a local OTLP/HTTP receiver that answers 200.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Pool } from 'pg';
import { startOtlpReceiver, type OtlpReceiver } from '../../bench/otlp-receiver';
import { type Env, loadConfig } from '../../src/config';
import { createSignupPublisher } from '../../src/messaging/signup-publisher';
import { WORKFLOW_CACHE_SIZE } from '../../src/worker/onboarding-worker';
import { runEnv, uniqueSuffix } from '../harness/env';
import { freePort } from '../harness/free-port';
import { type ManagedProcess, productionWorkerProcess } from '../harness/managed-process';
import { dropRunResources } from '../harness/run-resources';
import { eventually } from '../harness/wait';
import { signupMessage } from '../support/fixtures';
import { TestMailpit } from '../support/mailpit';
import { request } from '../support/pipeline';
import { silentLogger, startTemporal } from '../support/stack';

// Three times the cache: the bridge's prefetch (50) keeps 50 runs going at once, as 50 clients would.
const BURST = 3 * WORKFLOW_CACHE_SIZE;

describe('the worker with tracing on and the production heap limits', () => {
  let receiver: OtlpReceiver;
  let temporal: TestWorkflowEnvironment;
  let mailpit: TestMailpit;
  let dir: string;
  let env: Env;
  let worker: ManagedProcess;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    temporal = await startTemporal();
    mailpit = await TestMailpit.start();
    dir = mkdtempSync(join(tmpdir(), 'tracing-memory-'));
    env = runEnv('test', uniqueSuffix(), {
      WORKER_HTTP_PORT: String(await freePort()),
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_METRICS_BIND_ADDRESS: `127.0.0.1:${await freePort()}`,
      SMTP_URL: mailpit.smtpUrl,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    });
    worker = productionWorkerProcess('worker', { ...env, PATH: process.env.PATH, HOME: process.env.HOME }, dir).start();
    await eventually(async () => (await request(`http://127.0.0.1:${env.WORKER_HTTP_PORT}`, 'GET', '/readyz')).status === 200, 60_000, 'the worker to be ready');
  });
  afterAll(async () => {
    await worker?.stop();
    await temporal?.teardown();
    await mailpit?.stop();
    if (env) await dropRunResources(loadConfig(env));
    await receiver?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it(`onboards a burst of ${BURST} signups (cache ${WORKFLOW_CACHE_SIZE}) without exiting, and exports their spans`, async () => {
    const config = loadConfig(env);
    const publisher = await createSignupPublisher({ topology: config.amqp, url: config.amqp.url, logger: silentLogger });
    const pool = new Pool({ connectionString: config.postgres.url, max: 1 });
    try {
      const messages = await Promise.all(Array.from({ length: BURST }, () => signupMessage()));
      for (const m of messages) await publisher.publishSignup(m);
      const completed = async () =>
        Number((await pool.query<{ n: string }>(`SELECT count(*) AS n FROM users WHERE onboarding_state = 'COMPLETED'`)).rows[0].n);
      // Ends early if the worker exits: that is the failure this test is for.
      const outcome = await eventually(
        async () => (!worker.running ? 'the worker exited' : (await completed()) === BURST ? 'all onboarded' : undefined),
        400_000,
        `${BURST} users to be onboarded`,
      );
      if (outcome !== 'all onboarded') throw new Error(`${outcome}; its log ends:\n${readFileSync(worker.logFile, 'utf8').slice(-3000)}`);
      // Every verification run has sent its mail: each run has been in the cache.
      await eventually(async () => (await mailpit.messageCount()) >= BURST, 120_000, 'a verification mail per user');
      expect(worker.running).toBe(true);
      expect(worker.crashes).toEqual([]);
      expect(readFileSync(worker.logFile, 'utf8')).not.toMatch(/ERR_WORKER_OUT_OF_MEMORY|heap out of memory/);
      await eventually(async () => receiver.counts().requests > 0, 30_000, 'the worker to export spans');
      expect(receiver.counts().rejected).toBe(0);
    } finally {
      await publisher.close();
      await pool.end();
    }
  }, 600_000);
});
