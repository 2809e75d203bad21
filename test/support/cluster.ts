/**
 * A real Temporal cluster for a test file (src/local-stack/temporal-cluster.ts): the Temporal
 * server on the machine's Postgres, in two databases of its own that are dropped afterwards,
 * on free ports, with the Web UI server when asked.
 */
import { randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { ensureGoTool } from '../../src/local-stack/go-tools';
import {
  type ClusterPorts,
  runSqlTool,
  startTemporalCluster,
  TEMPORAL_SQL_TOOL,
  type TemporalCluster,
} from '../../src/local-stack/temporal-cluster';
import { freePort } from '../harness/free-port';
import { testEnv, uniqueSuffix } from './stack';

export interface TestCluster extends TemporalCluster {
  /** Stops the cluster, drops its databases and removes its run folder. */
  dispose(): Promise<void>;
}

/**
 * A loopback port free now, below 32768: Temporal records each service's membership port in a
 * SMALLINT column (cluster_membership.rpc_port), and the OS hands out ephemeral ports above it.
 */
async function freeLowPort(): Promise<number> {
  for (;;) {
    const port = 10_000 + randomInt(22_000);
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

async function freeClusterPorts(): Promise<ClusterPorts> {
  const names: Array<keyof ClusterPorts> = [
    'frontend', 'frontendHttp', 'frontendMembership', 'history', 'historyMembership',
    'matching', 'matchingMembership', 'worker', 'workerMembership',
  ];
  const ports = {} as ClusterPorts;
  for (const name of names) ports[name] = name.endsWith('Membership') ? await freeLowPort() : await freePort();
  return ports;
}

export async function startTestCluster(opts: { uiPort?: number } = {}): Promise<TestCluster> {
  const suffix = uniqueSuffix();
  // The Postgres server every test uses; the cluster's databases are its own.
  const postgresUrl = testEnv(suffix).DATABASE_URL as string;
  const databases = { temporal: `temporal_test_${suffix}`, visibility: `temporal_visibility_test_${suffix}` };
  const runDir = mkdtempSync(join(tmpdir(), 'temporal-cluster-test-'));
  const removeData = () => {
    const sqlTool = ensureGoTool(TEMPORAL_SQL_TOOL);
    for (const database of Object.values(databases)) runSqlTool(sqlTool, postgresUrl, database, ['drop-database', '--force']);
    rmSync(runDir, { recursive: true, force: true });
  };
  let cluster: TemporalCluster;
  try {
    cluster = await startTemporalCluster({
      postgresUrl,
      databases,
      ports: await freeClusterPorts(),
      namespace: 'default',
      runDir,
      uiPort: opts.uiPort,
      log: () => undefined,
    });
  } catch (err) {
    // It stopped what it started; its log is in the message.
    removeData();
    throw err;
  }
  return {
    ...cluster,
    async dispose() {
      await cluster.stop();
      removeData();
    },
  };
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
