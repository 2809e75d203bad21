/**
 * The API's and the backfill's side of the verifyEmail runs: wake the user's run (signal it, or
 * start one if none is open) and start runs. Names and ids come from src/onboarding-policy.ts; no
 * workflow code is imported.
 */
import { type Client, WorkflowExecutionAlreadyStartedError, WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/client';
import { VerificationSignal, VERIFY_EMAIL_WORKFLOW, verificationWorkflowId } from '../onboarding-policy';
import type { VerifyEmailInput } from '../../workflows/verify-email';

export type VerificationWakeReason = keyof typeof VerificationSignal;

export interface VerificationRuns {
  /**
   * Signals the user's open run; with none open, starts one that receives the signal first. The
   * run reads the row and acts on it: mails a PENDING user, announces VERIFIED or EXPIRED.
   */
  wake(userId: string, reason: VerificationWakeReason, opts?: { reopenExpired?: boolean }): Promise<void>;
  /** Starts a run unless one is open. */
  start(userId: string, opts: { announce: boolean }): Promise<'started' | 'already-open'>;
}

export function createVerificationRuns(client: Client, opts: { taskQueue: string; timeoutMs?: number }): VerificationRuns {
  const timeoutMs = opts.timeoutMs ?? 2_000;
  // A deadline, so an unreachable Temporal fails the call instead of holding the request.
  const withDeadline = <T>(call: () => Promise<T>) => client.connection.withDeadline(Date.now() + timeoutMs, call);
  return {
    async wake(userId, reason, { reopenExpired = false } = {}) {
      const args: [VerifyEmailInput] = [{ user_id: userId, announce: false, reopenExpired }];
      await withDeadline(() =>
        client.workflow.signalWithStart(VERIFY_EMAIL_WORKFLOW, {
          taskQueue: opts.taskQueue,
          workflowId: verificationWorkflowId(userId),
          args,
          signal: VerificationSignal[reason],
          signalArgs: [],
          workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
        }),
      );
    },
    async start(userId, { announce }) {
      const args: [VerifyEmailInput] = [{ user_id: userId, announce }];
      try {
        await withDeadline(() =>
          client.workflow.start(VERIFY_EMAIL_WORKFLOW, {
            taskQueue: opts.taskQueue,
            workflowId: verificationWorkflowId(userId),
            args,
            workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
            workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
          }),
        );
        return 'started';
      } catch (err) {
        if (err instanceof WorkflowExecutionAlreadyStartedError) return 'already-open';
        throw err;
      }
    },
  };
}
