/**
 * A real Temporal cluster on this machine, as production runs it, beside the CLI's dev server:
 * the Temporal server (frontend, history, matching and worker services) on Postgres, its schema
 * set up by Temporal's SQL tool from the module's own schema files, and the Web UI server. Each
 * binary is built once from the official module (src/local-stack/go-tools.ts). Used by
 * `TEMPORAL_MODE=cluster npm start` and the cluster tests; docker-compose.yml runs the same
 * pieces from Temporal's images.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { ensureSearchAttributes } from '../temporal/search-attributes';
import { stopChild } from './child-process';
import { ensureGoTool, type GoTool, onPath } from './go-tools';

const SERVER_VERSION = 'v1.29.1';

export const TEMPORAL_SERVER: GoTool = {
  name: 'temporal-server',
  module: 'go.temporal.io/server/cmd/server',
  version: SERVER_VERSION,
  binary: 'server',
  overrideVar: 'TEMPORAL_SERVER_BIN',
};

export const TEMPORAL_SQL_TOOL: GoTool = {
  name: 'temporal-sql-tool',
  module: 'go.temporal.io/server/cmd/tools/sql',
  version: SERVER_VERSION,
  binary: 'sql',
  overrideVar: 'TEMPORAL_SQL_TOOL_BIN',
};

export const TEMPORAL_UI_SERVER: GoTool = {
  name: 'temporal-ui-server',
  module: 'github.com/temporalio/ui-server/v2/cmd/server',
  version: 'v2.42.1',
  binary: 'server',
  overrideVar: 'TEMPORAL_UI_SERVER_BIN',
};

/** Each service's gRPC and membership (ringpop) port. Membership ports must be below 32768: the server stores them in a SMALLINT column. */
export interface ClusterPorts {
  frontend: number;
  frontendHttp: number;
  frontendMembership: number;
  history: number;
  historyMembership: number;
  matching: number;
  matchingMembership: number;
  worker: number;
  workerMembership: number;
}

/** The module's development layout (frontend 7233), which `npm start` uses in cluster mode. */
export const DEFAULT_CLUSTER_PORTS: ClusterPorts = {
  frontend: 7233,
  frontendHttp: 7243,
  frontendMembership: 6933,
  history: 7234,
  historyMembership: 6934,
  matching: 7235,
  matchingMembership: 6935,
  worker: 7239,
  workerMembership: 6939,
};

export interface ClusterOptions {
  /** Any URL of the Postgres server to use (user, password, host, port); its database is ignored. */
  postgresUrl: string;
  /** The two databases of the cluster's own, created if missing. */
  databases: { temporal: string; visibility: string };
  ports: ClusterPorts;
  /** Registered once the cluster answers, with our search attributes. */
  namespace: string;
  /** Where the rendered configuration and the logs go. */
  runDir: string;
  /** The Web UI's port; without it no UI server is started. */
  uiPort?: number;
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  log?: (line: string) => void;
}

export interface TemporalCluster {
  /** host:port of the frontend, for TEMPORAL_ADDRESS. */
  address: string;
  namespace: string;
  uiUrl?: string;
  /** The server and, with a UI port, the UI server. */
  processes: ChildProcess[];
  /** SIGTERM to each process, SIGKILL after the grace period; resolves once all have exited. */
  stop(graceMs?: number): Promise<void>;
}

const READY_TIMEOUT_MS = 120_000;
// Long enough to inspect a run after `npm start` was stopped for the weekend.
const RETENTION = '7 days';
const GRPC_ALREADY_EXISTS = 6;

/**
 * temporal-cluster.yaml beside this module's source: found by walking up from here, since this
 * runs from src/ under ts-jest and from dist/src/ once compiled (tsc copies no YAML).
 */
function configTemplatePath(): string {
  const relative = join('src', 'local-stack', 'temporal-cluster.yaml');
  for (let dir = __dirname; ; dir = dirname(dir)) {
    if (existsSync(join(dir, relative))) return join(dir, relative);
    if (dirname(dir) === dir) throw new Error(`${relative} not found above ${__dirname}`);
  }
}

/**
 * The server's configuration: temporal-cluster.yaml with each ${NAME} replaced. Strings are
 * written as JSON strings, which YAML reads as double-quoted scalars. A name without a value,
 * or a value without a name, is an error rather than a silently broken file.
 */
export function renderClusterConfig(o: Pick<ClusterOptions, 'postgresUrl' | 'databases' | 'ports' | 'logLevel'>): string {
  const templatePath = configTemplatePath();
  const template = readFileSync(templatePath, 'utf8');
  const pg = new URL(o.postgresUrl);
  const values: Record<string, string | number> = {
    LOG_LEVEL: JSON.stringify(o.logLevel ?? 'warn'),
    POSTGRES_ADDRESS: JSON.stringify(`${pg.hostname}:${pg.port || 5432}`),
    POSTGRES_USER: JSON.stringify(decodeURIComponent(pg.username)),
    POSTGRES_PASSWORD: JSON.stringify(decodeURIComponent(pg.password)),
    TEMPORAL_DATABASE: JSON.stringify(o.databases.temporal),
    VISIBILITY_DATABASE: JSON.stringify(o.databases.visibility),
    FRONTEND_PORT: o.ports.frontend,
    FRONTEND_HTTP_PORT: o.ports.frontendHttp,
    FRONTEND_MEMBERSHIP_PORT: o.ports.frontendMembership,
    HISTORY_PORT: o.ports.history,
    HISTORY_MEMBERSHIP_PORT: o.ports.historyMembership,
    MATCHING_PORT: o.ports.matching,
    MATCHING_MEMBERSHIP_PORT: o.ports.matchingMembership,
    WORKER_PORT: o.ports.worker,
    WORKER_MEMBERSHIP_PORT: o.ports.workerMembership,
  };
  const unused = new Set(Object.keys(values));
  const rendered = template.replace(/\$\{([A-Z_]+)\}/g, (_, name: string) => {
    if (!(name in values)) throw new Error(`${templatePath}: no value for \${${name}}`);
    unused.delete(name);
    return String(values[name]);
  });
  if (unused.size > 0) throw new Error(`${templatePath} does not use ${[...unused].join(', ')}`);
  return rendered;
}

/** The UI server's configuration. JSON is YAML, so no YAML writer is needed at run time. */
export function renderUiConfig(o: { frontendAddress: string; uiPort: number; namespace: string }): string {
  return JSON.stringify(
    {
      temporalGrpcAddress: o.frontendAddress,
      host: '127.0.0.1',
      port: o.uiPort,
      enableUi: true,
      defaultNamespace: o.namespace,
      notifyOnNewVersion: false,
      // Plain http on loopback: the CSRF cookie must not require https.
      cors: { cookieInsecure: true, allowOrigins: [`http://127.0.0.1:${o.uiPort}`, `http://localhost:${o.uiPort}`] },
      hideLogs: true,
    },
    null,
    2,
  );
}

/**
 * The folder of the go.temporal.io/server module in Go's module cache (downloaded if missing):
 * its schema/ files are the ones the SQL tool of the same version was written for.
 */
export function temporalServerModuleDir(): string {
  if (!onPath('go')) {
    throw new Error(`the Temporal schema files come from the go.temporal.io/server@${SERVER_VERSION} module: install Go to fetch it`);
  }
  // Outside any Go module, so no go.mod nearby changes what is resolved.
  const out = execFileSync('go', ['mod', 'download', '-json', `go.temporal.io/server@${SERVER_VERSION}`], {
    cwd: tmpdir(),
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const { Dir } = JSON.parse(out) as { Dir?: string };
  if (!Dir || !existsSync(join(Dir, 'schema'))) throw new Error(`go mod download gave no schema folder for go.temporal.io/server@${SERVER_VERSION}`);
  return Dir;
}

/** Runs one command of Temporal's SQL tool (`create-database`, `update-schema`, …) on one database. */
export function runSqlTool(sqlTool: string, postgresUrl: string, database: string, command: string[]): void {
  const pg = new URL(postgresUrl);
  const connection = [
    '--plugin', 'postgres12',
    '--endpoint', pg.hostname,
    '--port', pg.port || '5432',
    '--user', decodeURIComponent(pg.username),
    '--database', database,
  ];
  // The password through the environment, not the command line that `ps` shows.
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, SQL_PASSWORD: decodeURIComponent(pg.password) };
  try {
    execFileSync(sqlTool, [...connection, ...command], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const output = `${(err as { stdout?: Buffer }).stdout ?? ''}${(err as { stderr?: Buffer }).stderr ?? ''}`;
    throw new Error(`temporal-sql-tool ${command[0]} on ${database} failed:\n${lastLines(output, 15)}`);
  }
}

/**
 * Creates the database if missing and brings its schema to the module's latest version, as
 * Temporal's own setup scripts do. Every step is idempotent: create-database ignores an
 * existing database, setup-schema -v 0.0 only creates the version tables, and update-schema
 * applies only the versions above the recorded one.
 */
export function setupSchema(o: { sqlTool: string; postgresUrl: string; database: string; versionedDir: string }): void {
  for (const command of [['create-database'], ['setup-schema', '-v', '0.0'], ['update-schema', '-d', o.versionedDir]]) {
    runSqlTool(o.sqlTool, o.postgresUrl, o.database, command);
  }
}

function lastLines(text: string, n: number): string {
  return text.trimEnd().split('\n').slice(-n).join('\n');
}

function startProcess(binary: string, args: string[], logFile: string): ChildProcess {
  const fd = openSync(logFile, 'a');
  try {
    // Own process group: Ctrl-C in `npm start` reaches only its script, which stops the
    // cluster after the API and the worker have drained.
    return spawn(binary, args, { stdio: ['ignore', fd, fd], detached: true, env: { PATH: process.env.PATH, HOME: process.env.HOME } });
  } finally {
    closeSync(fd);
  }
}

/** Retries `attempt` until it resolves, failing with `what` and the server log if `child` exits or time runs out. */
async function until<T>(what: string, child: ChildProcess, logFile: string, attempt: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      const log = () => lastLines(existsSync(logFile) ? readFileSync(logFile, 'utf8') : '', 20);
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`${what}: the process exited (${child.signalCode ?? child.exitCode}); ${logFile}:\n${log()}`);
      }
      if (Date.now() > deadline) throw new Error(`${what}: not within ${READY_TIMEOUT_MS / 1000} s (${(err as Error).message}); ${logFile}:\n${log()}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** The namespace, registered (or already there) and answering, with our search attributes. */
async function prepareNamespace(connection: Connection, namespace: string): Promise<void> {
  try {
    await connection.workflowService.registerNamespace({
      namespace,
      workflowExecutionRetentionPeriod: msToTs(RETENTION),
    });
  } catch (err) {
    if ((err as { code?: number }).code !== GRPC_ALREADY_EXISTS) throw err;
  }
  await connection.workflowService.describeNamespace({ namespace });
  await ensureSearchAttributes(connection, namespace);
}

/**
 * Sets up the schema, starts the server and, with a UI port, the UI server, and resolves once
 * the namespace answers with our search attributes and the UI serves its page. Whatever it
 * started is stopped again if it fails.
 */
export async function startTemporalCluster(o: ClusterOptions): Promise<TemporalCluster> {
  const log = o.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const server = ensureGoTool(TEMPORAL_SERVER, log);
  const sqlTool = ensureGoTool(TEMPORAL_SQL_TOOL, log);
  const uiServer = o.uiPort !== undefined ? ensureGoTool(TEMPORAL_UI_SERVER, log) : undefined;

  log(`setting up Temporal's schema in ${o.databases.temporal} and ${o.databases.visibility} ...`);
  const schema = join(temporalServerModuleDir(), 'schema', 'postgresql', 'v12');
  setupSchema({ sqlTool, postgresUrl: o.postgresUrl, database: o.databases.temporal, versionedDir: join(schema, 'temporal', 'versioned') });
  setupSchema({ sqlTool, postgresUrl: o.postgresUrl, database: o.databases.visibility, versionedDir: join(schema, 'visibility', 'versioned') });

  // `--env cluster` reads <root>/<config>/cluster.yaml, one folder per program.
  mkdirSync(join(o.runDir, 'server'), { recursive: true });
  writeFileSync(join(o.runDir, 'server', 'cluster.yaml'), renderClusterConfig(o));
  const address = `127.0.0.1:${o.ports.frontend}`;
  const serverLog = join(o.runDir, 'server.log');
  const processes: ChildProcess[] = [];
  const stop = async (graceMs = 10_000) => {
    // The UI first: it only talks to the server.
    for (const child of [...processes].reverse()) await stopChild(child, graceMs);
  };

  try {
    log(`starting the Temporal server (log: ${serverLog}) ...`);
    const serverProcess = startProcess(server, ['--root', o.runDir, '--config', 'server', '--env', 'cluster', '--allow-no-auth', 'start'], serverLog);
    processes.push(serverProcess);
    const connection = await until('Temporal frontend', serverProcess, serverLog, () => Connection.connect({ address, connectTimeout: 2_000 }));
    try {
      await until(`namespace ${o.namespace}`, serverProcess, serverLog, () => prepareNamespace(connection, o.namespace));
    } finally {
      await connection.close();
    }

    let uiUrl: string | undefined;
    if (uiServer && o.uiPort !== undefined) {
      mkdirSync(join(o.runDir, 'ui'), { recursive: true });
      writeFileSync(join(o.runDir, 'ui', 'cluster.yaml'), renderUiConfig({ frontendAddress: address, uiPort: o.uiPort, namespace: o.namespace }));
      const uiLog = join(o.runDir, 'ui.log');
      const uiProcess = startProcess(uiServer, ['--root', o.runDir, '--config', 'ui', '--env', 'cluster', 'start'], uiLog);
      processes.push(uiProcess);
      uiUrl = `http://127.0.0.1:${o.uiPort}`;
      const url = uiUrl;
      await until('Temporal Web UI', uiProcess, uiLog, async () => {
        const res = await fetch(url);
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
      });
    }
    return { address, namespace: o.namespace, uiUrl, processes, stop };
  } catch (err) {
    await stop(5_000);
    throw err;
  }
}
