/**
 * A real Temporal cluster for a test file (test/harness/temporal-cluster.ts): the Temporal
 * server on the machine's Postgres, in two databases of its own that are dropped afterwards,
 * on free ports, with the Web UI server when asked.
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { type RunCluster, startRunCluster } from '../harness/temporal-cluster';
import { testEnv, uniqueSuffix } from './stack';

export type TestCluster = RunCluster;

export function startTestCluster(opts: { uiPort?: number } = {}): Promise<TestCluster> {
  const suffix = uniqueSuffix();
  // The Postgres server every test uses; the cluster's databases are its own.
  return startRunCluster({ kind: 'test', suffix, postgresUrl: testEnv(suffix).DATABASE_URL as string, uiPort: opts.uiPort });
}

/**
 * A TestWorkflowEnvironment on a cluster of its own, for startPipeline and the tests that call
 * startTemporal(): its teardown closes the connections, then disposes of the cluster.
 */
export async function clusterTestEnvironment(opts: { uiPort?: number } = {}): Promise<TestWorkflowEnvironment> {
  const cluster = await startTestCluster(opts);
  const env = await TestWorkflowEnvironment.createFromExistingServer({ address: cluster.address, namespace: cluster.namespace }).catch(
    async (err: Error) => {
      await cluster.dispose();
      throw err;
    },
  );
  const closeConnections = env.teardown.bind(env);
  env.teardown = async () => {
    await closeConnections();
    await cluster.dispose();
  };
  return env;
}
