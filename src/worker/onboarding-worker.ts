import { join } from 'node:path';
import type { PayloadCodec } from '@temporalio/common';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { createActivities } from '../../activities';
import { createVerificationActivities } from '../../activities/verification';
import type { Config } from '../config';
import type { EventPublisher } from '../events/event-publisher';
import type { Mailer } from '../mail/mailer';
import type { VerificationMetrics } from '../metrics';
import type { Tracing } from '../telemetry/tracing';
import { encryptedDataConverter } from '../temporal/payload-encryption';

/**
 * Runs kept in the worker's workflow cache. A run leaves the cache when it completes, so the
 * bridge's prefetch (50) bounds how many are in it while signups drain; runs that wait (timers,
 * a verification child) are evicted beyond this and replayed from history when they wake. The
 * SDK's default is sized from the heap (≈ 2,400 runs here). bench/README.md, "Worker memory".
 */
export const WORKFLOW_CACHE_SIZE = 100;

/** Where `npm run build` writes the workflow bundle: dist/workflow-bundle.js, beside the code it was built from. */
export const PREBUILT_WORKFLOW_BUNDLE = join(__dirname, '..', '..', 'workflow-bundle.js');
/** The same workflows with the tracing interceptors of workflows/interceptors.ts, for a worker with tracing on. */
export const PREBUILT_TRACED_WORKFLOW_BUNDLE = join(__dirname, '..', '..', 'workflow-bundle-traced.js');
/** The workflow interceptor modules of the traced bundle. */
export const TRACING_WORKFLOW_INTERCEPTORS = [require.resolve('../../workflows/interceptors')];
/**
 * Modules the traced bundle preloads: the sandbox evaluates them once per workflow thread, before
 * any run, and shares them between runs (any other module is evaluated once per run). The one
 * AsyncLocalStorage of the tracing context must be shared, or memory grows with the square of the
 * workflow cache (workflows/tracing-context-storage.ts, docs/tracing.md "Memory").
 */
export const TRACING_SHARED_WORKFLOW_MODULES = [require.resolve('../../workflows/tracing-context-storage')];

export interface OnboardingWorkerDeps {
  config: Config;
  pool: Pool;
  connection: NativeConnection;
  /** Encrypts what activities return and decrypts workflow inputs; the same codec as the clients'. */
  payloadCodec: PayloadCodec;
  /** Activity log lines; without it they go to the SDK's activity logger. */
  logger?: Logger;
  /** A bundle made by `npm run build` (the traced one when tracing is on); without it, workflows/ is bundled now (tests, ts-node). */
  workflowBundlePath?: string;
  /** What the verification activities send mail and events with, and count them on. */
  mailer: Mailer;
  events: EventPublisher;
  verificationMetrics?: VerificationMetrics;
  /** Tracing, when on: spans for the workflow and each activity, in the trace of the client that started the run. */
  tracing?: Tracing;
}

/** The Temporal worker for the onboarding task queue: workflows from workflows/, activities bound to the pool. */
export function createOnboardingWorker(deps: OnboardingWorkerDeps): Promise<Worker> {
  const { config, pool, connection, payloadCodec, logger, workflowBundlePath, tracing } = deps;
  return Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    ...(workflowBundlePath ? { workflowBundle: { codePath: workflowBundlePath } } : { workflowsPath: require.resolve('../../workflows') }),
    activities: {
      ...createActivities({ pool, logger, duplicateSignupResponse: config.security.duplicateSignupResponse }),
      ...createVerificationActivities({ pool, logger, config, mailer: deps.mailer, events: deps.events, metrics: deps.verificationMetrics }),
    },
    dataConverter: encryptedDataConverter(payloadCodec),
    maxCachedWorkflows: WORKFLOW_CACHE_SIZE,
    ...(tracing && {
      interceptors: {
        activity: tracing.activityInterceptors,
        // Used only when bundling now; a pre-built traced bundle already holds them.
        ...(workflowBundlePath ? {} : { workflowModules: TRACING_WORKFLOW_INTERCEPTORS }),
      },
      ...(workflowBundlePath ? {} : { bundlerOptions: { preloadModules: TRACING_SHARED_WORKFLOW_MODULES } }),
      sinks: tracing.workflowSinks,
    }),
  });
}

/** The pre-built bundle for a worker with or without tracing. */
export function prebuiltWorkflowBundle(tracing: Tracing | undefined): string {
  return tracing ? PREBUILT_TRACED_WORKFLOW_BUNDLE : PREBUILT_WORKFLOW_BUNDLE;
}
