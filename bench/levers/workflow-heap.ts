/**
 * `node --max-old-space-size=96 --max-semi-space-size=4 dist/bench/levers/workflow-heap.js
 *  [--runs 100] [--tracing on|off] [--bundle <path>] [--snapshot <file>]`: the heap of the
 * worker's workflow thread with `--runs` verification runs in its workflow cache, with tracing
 * off or on; `--bundle` tries another workflow bundle, `--snapshot` writes the thread's heap
 * snapshot (for what holds the memory). Needs TEMPORAL_CLI (the dev server is its own).
 *
 * The worker is the service's (createOnboardingWorker's bundle, cache size and sinks) on a
 * Temporal dev server from the cached CLI; with tracing on, spans go over OTLP/HTTP to a local
 * receiver that answers 200 (bench/otlp-receiver.ts). Its activities are stand-ins that answer
 * at once (the workflow code and the sandbox are the real ones; what activities do happens on
 * the main thread): each onboardUser run starts a verifyEmail child that then waits for a day,
 * so every child stays in the cache, as the runs of a backlog do. The workflow thread's heap
 * is read after a full GC through the inspector (Runtime.getHeapUsage): what the cached runs
 * hold, not garbage. Prints one JSON line. A worker whose workflow thread runs out of heap
 * fails; the line says so.
 */
import { Session } from 'node:inspector';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { getHeapStatistics } from 'node:v8';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { startOtlpReceiver } from '../otlp-receiver';
import { startTracing } from '../../src/telemetry/tracing';
import { PREBUILT_TRACED_WORKFLOW_BUNDLE, PREBUILT_WORKFLOW_BUNDLE, WORKFLOW_CACHE_SIZE } from '../../src/worker/onboarding-worker';
import { OnboardingStateKey, VerificationStateKey } from '../../workflows/search-attributes';

const HOUR_MS = 3_600_000;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : process.argv[i + 1];
}

/** Stand-ins for the activities, answering as a fresh user's would. */
const activities = {
  async validateSignup(): Promise<void> {},
  async persistUser(): Promise<{ created: boolean; erased: boolean }> {
    return { created: true, erased: false };
  },
  async markState(): Promise<void> {},
  async beginVerification() {
    return { verification_state: 'PENDING', reminderAfterMs: 24 * HOUR_MS, expiresAfterMs: 48 * HOUR_MS, recheckEveryMs: 24 * HOUR_MS, mailRetryMaxIntervalMs: 60_000 };
  },
  async sendVerificationMail() {
    return { sent: true, verification_state: 'PENDING' };
  },
  async readVerificationState() {
    return 'PENDING';
  },
  async finishVerification() {
    return 'VERIFIED';
  },
};

/** The used heap of each worker thread (the workflow thread is the SDK's only one), after a full GC there. */
async function workerThreadHeaps(snapshotPath?: string): Promise<number[]> {
  const session = new Session();
  session.connect();
  const post = <T>(method: string, params?: object) =>
    new Promise<T>((resolve, reject) => session.post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res as T))));
  const sessions: string[] = [];
  session.on('NodeWorker.attachedToWorker', (msg) => sessions.push(msg.params.sessionId));
  await post('NodeWorker.enable', { waitForDebuggerOnStart: false });
  await new Promise((resolve) => setTimeout(resolve, 200));
  let nextId = 1;
  const pending = new Map<number, (result: unknown) => void>();
  session.on('NodeWorker.receivedMessageFromWorker', (msg) => {
    const reply = JSON.parse(msg.params.message);
    pending.get(reply.id)?.(reply.result);
    pending.delete(reply.id);
  });
  const chunks: string[] = [];
  session.on('NodeWorker.receivedMessageFromWorker', (msg) => {
    const event = JSON.parse(msg.params.message);
    if (event.method === 'HeapProfiler.addHeapSnapshotChunk') chunks.push(event.params.chunk);
  });
  const inWorker = <T>(sessionId: string, method: string) => {
    const id = nextId++;
    return new Promise<T>((resolve) => {
      pending.set(id, resolve as (r: unknown) => void);
      void post('NodeWorker.sendMessageToWorker', { sessionId, message: JSON.stringify({ id, method, params: {} }) });
    });
  };
  const heaps: number[] = [];
  for (const sessionId of sessions) {
    await inWorker(sessionId, 'HeapProfiler.enable');
    await inWorker(sessionId, 'HeapProfiler.collectGarbage');
    heaps.push((await inWorker<{ usedSize: number }>(sessionId, 'Runtime.getHeapUsage')).usedSize);
    if (snapshotPath) {
      await inWorker(sessionId, 'HeapProfiler.takeHeapSnapshot');
      writeFileSync(snapshotPath, chunks.join(''));
    }
  }
  await post('NodeWorker.disable');
  session.disconnect();
  return heaps;
}

const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;

async function main(): Promise<void> {
  const runs = Number(arg('runs', '100'));
  const traced = arg('tracing', 'off') === 'on';
  const bundle = arg('bundle', traced ? PREBUILT_TRACED_WORKFLOW_BUNDLE : PREBUILT_WORKFLOW_BUNDLE);
  const cli = process.env.TEMPORAL_CLI;
  if (!cli) throw new Error('TEMPORAL_CLI: the path of the Temporal CLI');

  const receiver = traced ? await startOtlpReceiver() : undefined;
  const tracing = receiver ? startTracing({ tracing: { otlpTracesUrl: `${receiver.endpoint}/v1/traces`, serviceName: undefined } }, { defaultServiceName: 'workflow-heap' }) : undefined;
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const env = await TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'existing-path', path: cli }, searchAttributes: [OnboardingStateKey, VerificationStateKey], log: { format: 'pretty', level: 'error' } },
  });
  const taskQueue = `workflow-heap-${randomUUID()}`;
  let failure: string | undefined;
  try {
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: { codePath: bundle },
      activities,
      maxCachedWorkflows: WORKFLOW_CACHE_SIZE,
      ...(tracing && { interceptors: { activity: tracing.activityInterceptors }, sinks: tracing.workflowSinks }),
    });
    const running = worker.run().catch((err: Error) => {
      failure = `${(err as { code?: string }).code ?? ''} ${err.message}`.trim();
    });
    const heapsBefore = await workerThreadHeaps();
    const ids: string[] = [];
    for (let i = 0; i < runs; i++) {
      const userId = randomUUID();
      ids.push(userId);
      await env.client.workflow.start('onboardUser', {
        taskQueue,
        workflowId: `onboard-user-${userId}`,
        args: [{ signup: { user_id: userId, request_id: randomUUID() }, maxAttempts: 3 }],
      });
      if (failure) break;
    }
    for (const userId of ids) {
      if (failure) break;
      await env.client.workflow.getHandle(`onboard-user-${userId}`).result();
    }
    // Each child has had its first task (the mail sent, the long wait begun) once it queried its state once.
    const waitUntil = Date.now() + 120_000;
    while (!failure && Date.now() < waitUntil) {
      const open = await env.client.workflow.count(`TaskQueue = '${taskQueue}' AND WorkflowType = 'verifyEmail' AND ExecutionStatus = 'Running'`);
      if (open.count >= ids.length) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const snapshot = process.argv.includes('--snapshot') ? arg('snapshot', '') : undefined;
    const heapsAfter = failure ? [] : await workerThreadHeaps(snapshot);
    if (tracing) await tracing.flush();
    process.stdout.write(
      `${JSON.stringify({
        tracing: traced,
        bundle,
        runs,
        cache: WORKFLOW_CACHE_SIZE,
        heap_limit_mb: mb(getHeapStatistics().heap_size_limit),
        workflow_thread_used_mb_before: heapsBefore.map(mb),
        workflow_thread_used_mb_after: heapsAfter.map(mb),
        main_thread_used_mb: mb(process.memoryUsage().heapUsed),
        rss_mb: mb(process.memoryUsage().rss),
        otlp_requests: receiver?.counts().requests,
        failure,
      })}\n`,
    );
    worker.shutdown();
    await running;
  } finally {
    await env.teardown();
    await tracing?.shutdown();
    await receiver?.close();
  }
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`workflow-heap failed: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
