import {
  type Client,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
} from '@temporalio/client';
import { ApplicationFailure, TemporalFailure, TimeoutFailure } from '@temporalio/common';
import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/client';
import type { SignupMessage } from '../contract';
import { FailureType } from '../onboarding-policy';
// Type-only: the workflow's code runs in the worker, never in this process.
import type { onboardUser, OnboardUserInput, OnboardUserResult } from '../../workflows/onboard-user';

/** The workflow type, i.e. the name of the function workflows/ exports; the one place it is spelled. */
export const ONBOARD_USER_WORKFLOW = 'onboardUser';

/** One workflow id per signup: a redelivered message finds the run its first delivery started. */
export function onboardingWorkflowId(userId: string): string {
  return `onboard-user-${userId}`;
}

export interface OnboardingRunOptions {
  taskQueue: string;
  maxAttempts: number;
  runTimeoutMs: number;
  /** False: the run ends at the row and starts no verification run. */
  startsVerification: boolean;
}

/** A FailureType this service throws or maps, or the name of an error it did not expect. */
export type RunFailureType = FailureType | (string & {});

export type OnboardingOutcome =
  | { ok: true; result: OnboardUserResult }
  | { ok: false; reason: string; failureType: RunFailureType };

/**
 * Starts the onboarding run for a signup, or attaches to the one already started for it, and
 * waits for its end. A completed run is never started again; a failed one may be (DLQ replay).
 * Throws only for transport problems, which the caller retries.
 */
export async function runOnboarding(
  client: Client,
  signup: SignupMessage,
  opts: OnboardingRunOptions,
): Promise<OnboardingOutcome> {
  const workflowId = onboardingWorkflowId(signup.user_id);
  // The choice travels in the run's input, so a replay decides as the first execution did.
  const input: OnboardUserInput = { signup, maxAttempts: opts.maxAttempts, ...(opts.startsVerification ? {} : { startVerification: false }) };
  try {
    try {
      const handle = await client.workflow.start<typeof onboardUser>(ONBOARD_USER_WORKFLOW, {
        taskQueue: opts.taskQueue,
        workflowId,
        args: [input],
        workflowRunTimeout: opts.runTimeoutMs,
        workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
      });
      return { ok: true, result: await handle.result() };
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      // It already completed: its result is the outcome of this delivery too.
      return { ok: true, result: await client.workflow.getHandle<typeof onboardUser>(workflowId).result() };
    }
  } catch (err) {
    if (err instanceof WorkflowFailedError) {
      return { ok: false, reason: failureReason(err), failureType: failureType(err) };
    }
    throw err;
  }
}

/** The innermost failure's message, e.g. "DuplicateEmail: email already registered". */
export function failureReason(err: unknown): string {
  const root = rootFailure(err);
  if (root instanceof TimeoutFailure) return `timed out (${root.timeoutType ?? 'unknown'})`;
  if (root instanceof ApplicationFailure && root.type) return `${root.type}: ${root.message}`;
  return root instanceof Error ? root.message : String(root);
}

/** The run's failure as a FailureType where it is one; otherwise the unexpected error's name. */
export function failureType(err: unknown): RunFailureType {
  const root = rootFailure(err);
  if (root instanceof ApplicationFailure && root.type) return root.type;
  if (root instanceof TimeoutFailure) return FailureType.Timeout;
  return root instanceof Error ? root.name : 'Unknown';
}

function rootFailure(err: unknown): unknown {
  let current = err;
  while (current instanceof Error && (current as TemporalFailure).cause instanceof Error) {
    current = (current as TemporalFailure).cause;
  }
  return current;
}

export type RunProgress =
  | { state: 'PROCESSING' }
  | { state: 'COMPLETED' }
  | { state: 'FAILED'; reason: string };

/**
 * onboardingProgress under a deadline. Without one, an unreachable Temporal is retried by the
 * client for about 20 s; with it, the lookup fails with DEADLINE_EXCEEDED once `timeoutMs` is up,
 * and nothing of it goes on in the background.
 */
export function onboardingProgressWithin(client: Client, userId: string, timeoutMs: number): Promise<RunProgress | null> {
  return client.connection.withDeadline(Date.now() + timeoutMs, () => onboardingProgress(client, userId));
}

/** What Temporal knows of a signup's run, or null when there is none (yet). */
export async function onboardingProgress(client: Client, userId: string): Promise<RunProgress | null> {
  const handle = client.workflow.getHandle(onboardingWorkflowId(userId));
  let status: string;
  try {
    status = (await handle.describe()).status.name;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return null;
    throw err;
  }
  if (status === 'RUNNING') return { state: 'PROCESSING' };
  if (status === 'COMPLETED') return { state: 'COMPLETED' };
  try {
    await handle.result();
    return { state: 'COMPLETED' };
  } catch (err) {
    return { state: 'FAILED', reason: failureReason(err) };
  }
}
