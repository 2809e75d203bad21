/**
 * A real Temporal cluster of a run's own (a test file, the benchmark), from
 * src/local-stack/temporal-cluster.ts: the Temporal server on the machine's Postgres, in two
 * databases of its own that are dropped afterwards, on free ports, with the Web UI server when
 * asked.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureGoTool } from '../../src/local-stack/go-tools';
import {
  type ClusterPorts,
  runSqlTool,
  startTemporalCluster,
  TEMPORAL_SQL_TOOL,
  type TemporalCluster,
} from '../../src/local-stack/temporal-cluster';
import type { RunKind } from './env';
import { freeLowPort, freePort } from './free-port';

export interface RunCluster extends TemporalCluster {
  /** The cluster's two databases on the machine's Postgres. */
  databases: { temporal: string; visibility: string };
  /** Stops the cluster, drops its databases and removes its run folder (unless the caller gave it). */
  dispose(): Promise<void>;
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

export async function startRunCluster(opts: {
  kind: RunKind;
  suffix: string;
  /** The Postgres server the run uses; the cluster's databases are its own. */
  postgresUrl: string;
  namespace?: string;
  uiPort?: number;
  /** Where the configuration and the server's log go; kept after dispose. Without it, a temporary folder removed on dispose. */
  runDir?: string;
  log?: (line: string) => void;
}): Promise<RunCluster> {
  const databases = { temporal: `temporal_${opts.kind}_${opts.suffix}`, visibility: `temporal_visibility_${opts.kind}_${opts.suffix}` };
  const runDir = opts.runDir ?? mkdtempSync(join(tmpdir(), `temporal-cluster-${opts.kind}-`));
  if (opts.runDir) mkdirSync(opts.runDir, { recursive: true });
  const removeData = () => {
    const sqlTool = ensureGoTool(TEMPORAL_SQL_TOOL);
    for (const database of Object.values(databases)) runSqlTool(sqlTool, opts.postgresUrl, database, ['drop-database', '--force']);
    if (!opts.runDir) rmSync(runDir, { recursive: true, force: true });
  };
  let cluster: TemporalCluster;
  try {
    cluster = await startTemporalCluster({
      postgresUrl: opts.postgresUrl,
      databases,
      ports: await freeClusterPorts(),
      namespace: opts.namespace ?? 'default',
      runDir,
      uiPort: opts.uiPort,
      log: opts.log ?? (() => undefined),
    });
  } catch (err) {
    // It stopped what it started; its log is in the message.
    removeData();
    throw err;
  }
  return {
    ...cluster,
    databases,
    async dispose() {
      await cluster.stop();
      removeData();
    },
  };
}
