/**
 * Erasure's side of Temporal: every run of a user's workflows (onboardUser and its verifyEmail
 * child, each possibly run more than once under its id) is terminated if still going, then
 * deleted with its history and its visibility record.
 */
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import { verificationWorkflowId } from '../onboarding-policy';
import { onboardingWorkflowId } from './onboarding-runs';

const GRPC_NOT_FOUND = 5;

/** The workflow ids a user's runs have; the one place erasure learns them. */
export function userWorkflowIds(userId: string): string[] {
  return [onboardingWorkflowId(userId), verificationWorkflowId(userId)];
}

const isNotFound = (err: unknown) => err instanceof WorkflowNotFoundError || (err as { code?: number } | null)?.code === GRPC_NOT_FOUND;

/**
 * Terminates and deletes every run of the user's workflows; returns how many runs it deleted. The
 * runs are found both by visibility (every run under the id, closed ones included) and by
 * describing the id (the latest run, which visibility may not list yet). Idempotent: a run already
 * gone counts as deleted. The termination reason holds no data: the history is deleted after it.
 */
export async function terminateAndDeleteUserRuns(client: Client, userId: string): Promise<number> {
  const namespace = client.options.namespace;
  let deleted = 0;
  for (const workflowId of userWorkflowIds(userId)) {
    const runIds = new Set<string>();
    for await (const run of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) runIds.add(run.runId);
    try {
      const latest = await client.workflow.getHandle(workflowId).describe();
      runIds.add(latest.runId);
      if (latest.status.name === 'RUNNING') await client.workflow.getHandle(workflowId, latest.runId).terminate('erased');
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    for (const runId of runIds) {
      try {
        await client.workflowService.deleteWorkflowExecution({ namespace, workflowExecution: { workflowId, runId } });
        deleted++;
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
  }
  return deleted;
}
