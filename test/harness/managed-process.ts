/**
 * Child processes that a harness (the chaos run, the benchmark) starts, stops and kills on
 * purpose, with their output in a log file. Any exit the harness did not ask for is a crash.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import type { Env } from '../../src/config';
import { ensureMailpit, mailpitArgs } from '../../src/local-stack/mailpit';
import { devServerArgs, ensureTemporalCli } from '../../src/local-stack/temporal-cli';
import { WORKER_ENVIRONMENT, WORKER_NODE_OPTIONS } from '../../src/worker/node-options';
import { DIST } from './dist';

export class ManagedProcess {
  child!: ChildProcess;
  intentional = false;
  crashes: string[] = [];
  /** Times started: every start after the first is a restart. */
  starts = 0;
  constructor(
    readonly name: string,
    private readonly command: string,
    private readonly args: string[],
    private readonly env: NodeJS.ProcessEnv,
    readonly logFile: string,
  ) {}

  get pid(): number | undefined {
    return this.running ? this.child.pid : undefined;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  start(): this {
    this.intentional = false;
    this.starts++;
    const out = createWriteStream(this.logFile, { flags: 'a' });
    this.child = spawn(this.command, this.args, { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout?.pipe(out);
    this.child.stderr?.pipe(out);
    this.child.on('exit', (code, signal) => {
      if (!this.intentional) this.crashes.push(`${this.name} exited on its own (${signal ?? code})`);
    });
    return this;
  }

  /** Sends `signal` and leaves the process be: SIGSTOP freezes it (it answers nothing), SIGCONT thaws it. */
  signal(signal: NodeJS.Signals): void {
    if (!this.running) throw new Error(`${this.name} is not running`);
    this.child.kill(signal);
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 20_000): Promise<void> {
    this.intentional = true;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill(signal);
    });
  }
}

/** A Temporal dev server of the run's own, keeping its runs in `dir` across restarts; logs to dir/temporal.log. */
export function temporalDevServer(port: number, dir: string, log: (line: string) => void): ManagedProcess {
  const args = devServerArgs({ port, dbFile: join(dir, 'temporal.db'), logLevel: 'error' });
  return new ManagedProcess('temporal', ensureTemporalCli(log), args, process.env, join(dir, 'temporal.log'));
}

/**
 * A Mailpit of the run's own, keeping every message (no pruning at Mailpit's default of 500) in
 * `dataDir` across restarts; logs to logDir/mailpit.log.
 */
export function mailpitServer(ports: { smtp: number; http: number }, dataDir: string, logDir: string, log: (line: string) => void): ManagedProcess {
  const args = mailpitArgs({ smtpPort: ports.smtp, httpPort: ports.http, dbFile: join(dataDir, 'mailpit.db'), maxMessages: 0 });
  return new ManagedProcess('mailpit', ensureMailpit(log), args, process.env, join(logDir, 'mailpit.log'));
}

/** A compiled entry point (`script` relative to dist/, e.g. src/api/main.js) run by this Node; logs to dir/<name>.log. */
export function distProcess(name: string, script: string, env: Env, dir: string, nodeOptions: readonly string[] = []): ManagedProcess {
  return new ManagedProcess(name, process.execPath, [...nodeOptions, join(DIST, script)], env, join(dir, `${name}.log`));
}

/**
 * The compiled worker as production starts it: its heap limits and malloc arenas
 * (src/worker/node-options.ts) over `env`, so no harness can start it without one of them.
 */
export function productionWorkerProcess(name: string, env: Env, dir: string): ManagedProcess {
  return distProcess(name, 'src/worker/main.js', { ...env, ...WORKER_ENVIRONMENT }, dir, WORKER_NODE_OPTIONS);
}
