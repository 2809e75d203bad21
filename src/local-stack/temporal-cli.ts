/** The Temporal CLI, whose `server start-dev` is the local Temporal server of `npm start` and the tests. */
import { ONBOARDING_STATE_SEARCH_ATTRIBUTE, VERIFICATION_STATE_SEARCH_ATTRIBUTE } from '../onboarding-policy';
import { cachedToolPath, ensureGoTool, findGoTool, type GoTool } from './go-tools';

export const TEMPORAL_CLI: GoTool = {
  name: 'temporal-cli',
  // Later tags carry a `replace` directive and cannot be go-installed.
  module: 'github.com/temporalio/cli/cmd/temporal',
  version: 'v1.5.1',
  binary: 'temporal',
  overrideVar: 'TEMPORAL_CLI',
  pathName: 'temporal',
};

export const cachedTemporalCliPath = (env: NodeJS.ProcessEnv = process.env) => cachedToolPath(TEMPORAL_CLI, env);
/** $TEMPORAL_CLI, a `temporal` on PATH, or the cached build; null if it has to be built. */
export const findTemporalCli = (env: NodeJS.ProcessEnv = process.env) => findGoTool(TEMPORAL_CLI, env);
export const ensureTemporalCli = (log?: (line: string) => void) => ensureGoTool(TEMPORAL_CLI, log);

export interface DevServerOptions {
  port: number;
  /** The SQLite file that keeps runs across restarts. */
  dbFile: string;
  /** The Web UI's port; without it the server runs headless. */
  uiPort?: number;
  ip?: string;
  namespace?: string;
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
}

/** `temporal server start-dev` arguments, the same for `npm start`, the chaos run and the benchmark. */
export function devServerArgs(o: DevServerOptions): string[] {
  return [
    'server', 'start-dev',
    '--ip', o.ip ?? '127.0.0.1',
    '--port', String(o.port),
    ...(o.uiPort !== undefined ? ['--ui-port', String(o.uiPort)] : ['--headless']),
    '--db-filename', o.dbFile,
    ...(o.namespace ? ['--namespace', o.namespace] : []),
    '--search-attribute', `${ONBOARDING_STATE_SEARCH_ATTRIBUTE}=Keyword`,
    '--search-attribute', `${VERIFICATION_STATE_SEARCH_ATTRIBUTE}=Keyword`,
    '--log-level', o.logLevel ?? 'warn',
    // SQLite's write-ahead log, synced at checkpoints rather than at every commit: the server's
    // CPU per run and the backlog drain rate are in bench/README.md. A crash of the server
    // process loses nothing; an OS crash or power cut may lose its last commits, which the
    // bridge's redelivery makes good (docs/reliability.md).
    '--sqlite-pragma', 'journal_mode=wal',
    '--sqlite-pragma', 'synchronous=normal',
  ];
}
