/**
 * Go programs the local stack runs (the Temporal CLI today), built once with `go install` into a
 * cache outside the checkout and reused by `npm start`, the tests, the chaos run and the
 * benchmark. An environment variable naming a binary always wins.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';

export interface GoTool {
  /** A name for messages and the cache folder, e.g. `temporal-cli`. */
  name: string;
  /** The package path to `go install`. */
  module: string;
  version: string;
  /** The binary `go install` writes (its package's last path element). */
  binary: string;
  /** The environment variable that names a binary to use instead. */
  overrideVar: string;
  /** Also accept a binary of this name on PATH. */
  pathName?: string;
}

export function cachedToolPath(tool: GoTool, env: NodeJS.ProcessEnv = process.env): string {
  const cacheRoot = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  // One folder per tool and version: two tools may build binaries of the same name (`server`).
  return join(cacheRoot, 'onboarding-service', `${tool.name}-${tool.version}`, tool.binary);
}

export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function onPath(name: string, env: NodeJS.ProcessEnv = process.env): string | null {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir && isExecutable(join(dir, name))) return join(dir, name);
  }
  return null;
}

/** The binary to use, or null if it has to be built. */
export function findGoTool(tool: GoTool, env: NodeJS.ProcessEnv = process.env): string | null {
  const override = env[tool.overrideVar];
  if (override) {
    if (!isExecutable(override)) throw new Error(`${tool.overrideVar}=${override} is not an executable file`);
    return override;
  }
  const cached = cachedToolPath(tool, env);
  return (tool.pathName ? onPath(tool.pathName, env) : null) ?? (isExecutable(cached) ? cached : null);
}

/** Finds the tool, or builds it with `go install` into the cache (once) and returns its path. */
export function ensureGoTool(tool: GoTool, log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): string {
  const found = findGoTool(tool);
  if (found) return found;
  const target = cachedToolPath(tool);
  if (!onPath('go')) {
    throw new Error(
      `${tool.name} not found (no ${tool.overrideVar}, nothing at ${target}) and Go is not installed to build it. ` +
        `Install Go, or set ${tool.overrideVar} to a ${tool.name} binary.`,
    );
  }
  const spec = `${tool.module}@${tool.version}`;
  log(`Building ${tool.name} ${tool.version} with go install (once; cached at ${target}) ...`);
  mkdirSync(dirname(target), { recursive: true });
  // Build beside the target and rename, so a concurrent or interrupted build never leaves half a binary.
  const staging = mkdtempSync(join(dirname(target), '.build-'));
  try {
    const result = spawnSync('go', ['install', spec], {
      env: { ...process.env, GOBIN: staging, GOFLAGS: '-mod=mod' },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    if (result.status !== 0) throw new Error(`go install ${spec} failed (exit ${result.status})`);
    renameSync(join(staging, tool.binary), target);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  if (!existsSync(target)) throw new Error(`go install did not produce ${target}`);
  log(`${tool.name} ready: ${target}`);
  return target;
}
