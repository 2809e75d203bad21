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
import { encryptedDataConverter } from '../temporal/payload-encryption';

/** Where `npm run build` writes the workflow bundle: dist/workflow-bundle.js, beside the code it was built from. */
export const PREBUILT_WORKFLOW_BUNDLE = join(__dirname, '..', '..', 'workflow-bundle.js');

export interface OnboardingWorkerDeps {
  config: Config;
  pool: Pool;
  connection: NativeConnection;
  /** Encrypts what activities return and decrypts workflow inputs; the same codec as the clients'. */
  payloadCodec: PayloadCodec;
  /** Activity log lines; without it they go to the SDK's activity logger. */
  logger?: Logger;
  /** A bundle made by `npm run build`; without it, workflows/ is bundled now (tests, ts-node). */
  workflowBundlePath?: string;
  /** What the verification activities send mail and events with, and count them on. */
  mailer: Mailer;
  events: EventPublisher;
  verificationMetrics?: VerificationMetrics;
}

/** The Temporal worker for the onboarding task queue: workflows from workflows/, activities bound to the pool. */
export function createOnboardingWorker(deps: OnboardingWorkerDeps): Promise<Worker> {
  const { config, pool, connection, payloadCodec, logger, workflowBundlePath } = deps;
  return Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    ...(workflowBundlePath ? { workflowBundle: { codePath: workflowBundlePath } } : { workflowsPath: require.resolve('../../workflows') }),
    activities: {
      ...createActivities({ pool, logger }),
      ...createVerificationActivities({ pool, logger, config, mailer: deps.mailer, events: deps.events, metrics: deps.verificationMetrics }),
    },
    dataConverter: encryptedDataConverter(payloadCodec),
  });
}
