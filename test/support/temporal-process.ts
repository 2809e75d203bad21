/**
 * A Temporal dev server as a child process of the test's own, so the test can freeze it
 * (SIGSTOP: every call hangs, as with a server that stopped answering), thaw it, or stop and
 * start it again on the same port and SQLite file (its runs survive).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { freeLowPort } from '../harness/free-port';
import { temporalDevServer } from '../harness/managed-process';
import { eventually } from '../harness/wait';

export interface TemporalProcess {
  address: string;
  /** A test environment on this server, for startPipeline's `temporal` option. */
  environment(): Promise<TestWorkflowEnvironment>;
  freeze(): void;
  thaw(): void;
  /** Stops the server (SIGTERM); start() brings it back with its runs. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops it for good and removes its files. */
  remove(): Promise<void>;
}

export async function startTemporalProcess(): Promise<TemporalProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'temporal-process-'));
  const port = await freeLowPort();
  const address = `127.0.0.1:${port}`;
  const server = temporalDevServer(port, dir, () => undefined);
  let frozen = false;

  async function start(): Promise<void> {
    server.start();
    try {
      await eventually(async () => {
        const c = await Connection.connect({ address, connectTimeout: 1_000 });
        try {
          await c.workflowService.getSystemInfo({});
          return true;
        } finally {
          await c.close();
        }
      }, 60_000, 'the Temporal dev server');
    } catch (err) {
      // Say why: a server that could not bind its port exits at once and says so in its log.
      let tail: string;
      try {
        tail = readFileSync(server.logFile, 'utf8').trim().split('\n').slice(-5).join('\n');
      } catch (readErr) {
        tail = `(no log: ${(readErr as Error).message})`;
      }
      throw new Error(`${(err as Error).message} (${server.running ? 'still running' : `exited: ${server.crashes.at(-1) ?? 'on its own'}`}; its log ends:\n${tail})`);
    }
  }

  function signal(sig: NodeJS.Signals): void {
    const pid = server.pid;
    if (pid === undefined) throw new Error('the Temporal dev server is not running');
    process.kill(pid, sig);
  }

  await start();
  return {
    address,
    environment: () => TestWorkflowEnvironment.createFromExistingServer({ address }),
    freeze() {
      signal('SIGSTOP');
      frozen = true;
    },
    thaw() {
      if (!frozen) return;
      signal('SIGCONT');
      frozen = false;
    },
    async stop() {
      await server.stop('SIGTERM', 15_000);
    },
    start,
    async remove() {
      if (frozen && server.pid !== undefined) process.kill(server.pid, 'SIGCONT');
      await server.stop('SIGKILL', 5_000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
