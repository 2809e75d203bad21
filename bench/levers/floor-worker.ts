/**
 * The child process of `npm run bench:floor`: a Temporal worker and a client on one native
 * connection, as the service's worker process runs its worker and its bridge, with none of the
 * service around them (no RabbitMQ, Postgres, codec or logging). On the parent's `go` it starts
 * `runs` runs, `concurrency` at a time, and waits for each one's result, as the bridge does.
 */
import { Client } from '@temporalio/client';
import { NativeConnection, Runtime, DefaultLogger, Worker } from '@temporalio/worker';
import { WORKFLOW_CACHE_SIZE } from '../../src/worker/onboarding-worker';

export type FloorWorkflow = 'emptyRun' | 'oneLocalActivityRun';

export type ToFloorWorker = { go: { runs: number; concurrency: number; idPrefix: string } };
export type FromFloorWorker = { ready: true } | { done: { runs: number } } | { failed: string };

const send = (message: FromFloorWorker) => process.send?.(message);

async function main(): Promise<void> {
  const address = process.env.TEMPORAL_ADDRESS as string;
  const taskQueue = process.env.FLOOR_TASK_QUEUE as string;
  const workflow = process.env.FLOOR_WORKFLOW as FloorWorkflow;
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const connection = await NativeConnection.connect({ address });
  const worker = await Worker.create({
    connection,
    taskQueue,
    workflowBundle: { codePath: process.env.FLOOR_BUNDLE as string },
    activities: { nothing: async () => undefined },
    // The service's own cap; everything else at the SDK's defaults, as in the service.
    maxCachedWorkflows: WORKFLOW_CACHE_SIZE,
  });
  const client = new Client({ connection });
  const running = worker.run();
  process.on('message', async (message: ToFloorWorker) => {
    try {
      const { runs, concurrency, idPrefix } = message.go;
      let next = 0;
      const lane = async () => {
        while (next < runs) {
          const n = next++;
          const handle = await client.workflow.start(workflow, { taskQueue, workflowId: `${idPrefix}-${n}` });
          await handle.result();
        }
      };
      await Promise.all(Array.from({ length: concurrency }, lane));
      send({ done: { runs } });
    } catch (err) {
      send({ failed: (err as Error).stack ?? String(err) });
    }
  });
  process.on('SIGTERM', () => worker.shutdown());
  send({ ready: true });
  await running;
  await connection.close();
}

main().catch((err: Error) => {
  send({ failed: err.stack ?? err.message });
  process.exit(1);
});
