/**
 * The least a run can be, for `npm run bench:floor`: no input, no codec, no search attributes,
 * no markers of the service's own. What the SDK and the server spend on these is their fixed
 * cost per run, below which no change to the service's workflow can go.
 */
import { proxyLocalActivities } from '@temporalio/workflow';

const { nothing } = proxyLocalActivities<{ nothing(): Promise<void> }>({ startToCloseTimeout: '10s' });

/** Started, one workflow task, completed. */
export async function emptyRun(): Promise<void> {}

/** The service's shape at its least: one local activity (the service's persistUser) in one workflow task. */
export async function oneLocalActivityRun(): Promise<void> {
  await nothing();
}
