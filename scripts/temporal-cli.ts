/**
 * Finds the Temporal CLI, building it once into a cache outside the checkout if needed.
 * Order: $TEMPORAL_CLI, a `temporal` on PATH, the cache, then `go install`.
 * Run directly (`npm run temporal:cli`), it prints the binary's path.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { OnboardingStateKey } from '../workflows/search-attributes';

export const TEMPORAL_CLI_VERSION = 'v1.5.1';
// Later tags carry a `replace` directive and cannot be go-installed.
const MODULE = `github.com/temporalio/cli/cmd/temporal@${TEMPORAL_CLI_VERSION}`;

export function cachedTemporalCliPath(env: NodeJS.ProcessEnv = process.env): string {
  const cacheRoot = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(cacheRoot, 'onboarding-service', `temporal-cli-${TEMPORAL_CLI_VERSION}`, 'temporal');
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string, env: NodeJS.ProcessEnv): string | null {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir && isExecutable(join(dir, name))) return join(dir, name);
  }
  return null;
}

/** The CLI to use, or null if it has to be built. */
export function findTemporalCli(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.TEMPORAL_CLI) {
    if (!isExecutable(env.TEMPORAL_CLI)) throw new Error(`TEMPORAL_CLI=${env.TEMPORAL_CLI} is not an executable file`);
    return env.TEMPORAL_CLI;
  }
  const cached = cachedTemporalCliPath(env);
  return onPath('temporal', env) ?? (isExecutable(cached) ? cached : null);
}

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
    '--search-attribute', `${OnboardingStateKey.name}=Keyword`,
    '--log-level', o.logLevel ?? 'warn',
    // SQLite's write-ahead log, synced at checkpoints rather than at every commit. Measured with
    // npm run bench: the Temporal server's CPU per onboarding run falls from ~42 to ~24 ms and a
    // backlog drains ~1.8x faster. A crash of the server process loses nothing; an OS crash or
    // power cut may lose its last commits, which the bridge's redelivery makes good (README).
    '--sqlite-pragma', 'journal_mode=wal',
    '--sqlite-pragma', 'synchronous=normal',
  ];
}

export function ensureTemporalCli(log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): string {
  const found = findTemporalCli();
  if (found) return found;
  const target = cachedTemporalCliPath();
  if (!onPath('go', process.env)) {
    throw new Error(
      `Temporal CLI not found (no TEMPORAL_CLI, no temporal on PATH, nothing at ${target}) and Go is not installed to build it. ` +
        'Install Go, or set TEMPORAL_CLI to a temporal binary.',
    );
  }
  log(`Building the Temporal CLI ${TEMPORAL_CLI_VERSION} with go install (once; cached at ${target}) ...`);
  mkdirSync(dirname(target), { recursive: true });
  // Build beside the target and rename, so a concurrent or interrupted build never leaves half a binary.
  const staging = mkdtempSync(join(dirname(target), '.build-'));
  try {
    const result = spawnSync('go', ['install', MODULE], {
      env: { ...process.env, GOBIN: staging, GOFLAGS: '-mod=mod' },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    if (result.status !== 0) throw new Error(`go install ${MODULE} failed (exit ${result.status})`);
    renameSync(join(staging, 'temporal'), target);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  if (!existsSync(target)) throw new Error(`go install did not produce ${target}`);
  log(`Temporal CLI ready: ${target}`);
  return target;
}

if (require.main === module) {
  try {
    process.stdout.write(`${ensureTemporalCli()}\n`);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  }
}
