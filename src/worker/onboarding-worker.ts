import { join } from 'node:path';
import type { PayloadCodec } from '@temporalio/common';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { createActivities } from '../../activities';
import type { Config } from '../config';
import type { Tracing } from '../telemetry/tracing';
import { encryptedDataConverter } from '../temporal/payload-encryption';

/** Where `npm run build` writes the workflow bundle: dist/workflow-bundle.js, beside the code it was built from. */
export const PREBUILT_WORKFLOW_BUNDLE = join(__dirname, '..', '..', 'workflow-bundle.js');
/** The same workflows with the tracing interceptors of workflows/interceptors.ts, for a worker with tracing on. */
export const PREBUILT_TRACED_WORKFLOW_BUNDLE = join(__dirname, '..', '..', 'workflow-bundle-traced.js');
/** The workflow interceptor modules of the traced bundle. */
export const TRACING_WORKFLOW_INTERCEPTORS = [require.resolve('../../workflows/interceptors')];

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
  /** Tracing, when on: spans for the workflow and each activity, in the trace of the client that started the run. */
  tracing?: Tracing;
}

/** The Temporal worker for the onboarding task queue: workflows from workflows/, activities bound to the pool. */
export function createOnboardingWorker({ config, pool, connection, payloadCodec, logger, workflowBundlePath, tracing }: OnboardingWorkerDeps): Promise<Worker> {
  return Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    ...(workflowBundlePath ? { workflowBundle: { codePath: workflowBundlePath } } : { workflowsPath: require.resolve('../../workflows') }),
    activities: createActivities({ pool, logger }),
    dataConverter: encryptedDataConverter(payloadCodec),
    ...(tracing && {
      interceptors: {
        activity: tracing.activityInterceptors,
        // Used only when bundling now; a pre-built traced bundle already holds them.
        ...(workflowBundlePath ? {} : { workflowModules: TRACING_WORKFLOW_INTERCEPTORS }),
      },
      sinks: tracing.workflowSinks,
    }),
  });
}

/** The pre-built bundle for a worker with or without tracing. */
export function prebuiltWorkflowBundle(tracing: Tracing | undefined): string {
  return tracing ? PREBUILT_TRACED_WORKFLOW_BUNDLE : PREBUILT_WORKFLOW_BUNDLE;
}
