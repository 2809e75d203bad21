/** A worker for workflow tests: the real workflows/, scripted activities, on a task queue of the test's own. */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';

export interface TestWorker {
  worker: Worker;
  stop(): Promise<void>;
}

export async function startWorkflowWorker(
  env: TestWorkflowEnvironment,
  taskQueue: string,
  activities: object,
  workflowBundle?: WorkflowBundleWithSourceMap,
): Promise<TestWorker> {
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    ...(workflowBundle ? { workflowBundle } : { workflowsPath: require.resolve('../../workflows') }),
    activities,
    shutdownGraceTime: '1s',
    shutdownForceTime: '5s',
  });
  const running = worker.run();
  return {
    worker,
    async stop() {
      worker.shutdown();
      await running;
    },
  };
}
