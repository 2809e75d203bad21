/**
 * One lever trial: a fresh Temporal dev server, a backlog queued while no worker runs, then the
 * worker (the service's own, `dist/src/worker/main.js`, with bench/levers/preload.js applying the
 * lever) drains it. What is measured is CPU time, not wall time, so a trial means something on
 * a machine that others share: each process tree's user+sys from /proc, divided by the runs.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { Pool } from 'pg';
import { hashPassword } from '../../src/api/password';
import { type Config, type Env, loadConfig } from '../../src/config';
import { createPool, ensureDatabase, migrate } from '../../src/db/postgres';
import { devServerArgs, ensureTemporalCli } from '../../src/local-stack/temporal-cli';
import { createLogger } from '../../src/logger';
import { onboardingWorkflowId } from '../../src/temporal/onboarding-runs';
import { freePort } from '../../test/harness/free-port';
import { ManagedProcess } from '../../test/harness/managed-process';
import { WORKER_ENVIRONMENT } from '../../src/worker/node-options';
import { eventually, sleep } from '../../test/harness/wait';
import { dropRunResources, queueConsumerCount } from '../../test/harness/run-resources';
import { queueBacklog, waitUntilCompleted } from '../backlog';
import { runEnv } from '../../test/harness/env';
import { cpuSnapshot, sampleRss, threadCpuSeconds } from '../proc-stats';
import type { LeverSettings } from './preload';

const run = promisify(execFile);
const DIST = join(__dirname, '..', '..');

export interface Variant {
  name: string;
  /** What the lever is, for the table. */
  what: string;
  levers?: LeverSettings;
  /** Environment of the worker on top of the trial's (e.g. LOG_LEVEL). */
  workerEnv?: Env;
  /** Node options for the worker process (heap sizes …). */
  nodeArgs?: string[];
  /** Extra `temporal server start-dev` arguments. */
  serverArgs?: string[];
  /** The dev server without --db-filename: SQLite in memory (a bound: nothing survives a restart). */
  serverInMemory?: boolean;
  /** A reshaped workflow (a module under bench/levers/workflows/, by name), bundled for the trial. */
  workflow?: string;
}

export interface TrialOptions {
  backlog: number;
  /** Where logs, profiles and counts go. */
  dir: string;
  /** Count activations, requests to the workflow thread and workflow promises (adds a little CPU of its own). */
  count?: boolean;
  /** `node --cpu-prof` for the worker, `perf record` for the server. */
  profile?: boolean;
}

export interface TrialResult {
  variant: string;
  backlog: number;
  completed: number;
  /** Wall seconds from starting the worker to the last row: shown, not judged (the machine is shared). */
  seconds: number;
  worker_cpu_ms_per_run: number;
  /** The worker's CPU until it consumed (start-up), in ms, included in the per-run figure above. */
  worker_startup_cpu_ms: number;
  server_cpu_ms_per_run: number;
  worker_peak_rss_mb: number;
  /** Counters of the SDK's own metrics (the Rust core's Prometheus endpoint), per run. */
  sdk_per_run: Record<string, number>;
  /** The worker's CPU per run by thread name (main, the workflow thread, tokio (the SDK's Rust core), libuv, V8 …). */
  worker_threads_ms_per_run: Record<string, number>;
  /** With `count`: per run. */
  counts_per_run?: Record<string, number>;
  /** Event types of one run's history, in order. */
  history: string[];
  profiles?: { worker_cpuprofiles: string[]; server_perf_data?: string };
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/**
 * CPU milliseconds of one argon2id hash with the API's parameters, in this process: a fixed
 * piece of work to tell a slower host (or a busier one) from a costlier run. The issue's
 * figures were taken where a hash cost about 22 ms (2 cores ÷ 91.4 hashes/s).
 */
export async function hashCpuMs(count = 10): Promise<number> {
  await hashPassword('warm-up');
  const before = process.cpuUsage();
  for (let i = 0; i < count; i++) await hashPassword(`calibration-${i}`);
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000 / count;
}

/** A database and queues of its own for a series of trials, removed by `close`. */
export interface TrialBed {
  env: Env;
  config: Config;
  pool: Pool;
  close(): Promise<void>;
}

export async function openTrialBed(suffix: string): Promise<TrialBed> {
  // Onboarding alone, as the figures: the baseline starts no verification run (the reshaped workflows never do).
  const env: Env = { ...process.env, ...runEnv('bench', suffix), ONBOARDING_STARTS_VERIFICATION: 'false' };
  const config = loadConfig(env);
  await ensureDatabase(config.postgres.url);
  const migratePool = createPool(config.postgres.url, 1, createLogger({ name: 'bench', level: 'warn' }));
  await migrate(migratePool);
  await migratePool.end();
  const pool = new Pool({ connectionString: config.postgres.url, max: 2 });
  return {
    env,
    config,
    pool,
    close: async () => {
      await pool.end().catch(() => undefined);
      await dropRunResources(config);
    },
  };
}

function withoutDbFile(args: string[], inMemory = false): string[] {
  const at = args.indexOf('--db-filename');
  return inMemory && at >= 0 ? [...args.slice(0, at), ...args.slice(at + 2)] : args;
}

/** Sums each counter (`*_total`, `*_count`) of a Prometheus text across its labels. */
export function promCounters(text: string): Record<string, number> {
  const sums: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*?(?:_total|_count))(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m) sums[m[1]] = (sums[m[1]] ?? 0) + Number(m[3]);
  }
  return sums;
}

/** The event types of one run's history, through the Temporal CLI. */
export async function historyEventTypes(cli: string, address: string, workflowId: string): Promise<string[]> {
  const { stdout } = await run(cli, ['workflow', 'show', '--workflow-id', workflowId, '--address', address, '--output', 'json'], { maxBuffer: 1 << 24 });
  const parsed = JSON.parse(stdout) as { events: Array<{ eventType: string }> };
  return parsed.events.map((e) => e.eventType.replace(/^EVENT_TYPE_/, ''));
}

function readCounts(countFile: string): Record<string, number> {
  const dir = join(countFile, '..');
  const base = countFile.split('/').pop() as string;
  const sums: Record<string, number> = {};
  for (const f of readdirSync(dir).filter((name) => name.startsWith(`${base}.`))) {
    for (const [k, v] of Object.entries(JSON.parse(readFileSync(join(dir, f), 'utf8')) as Record<string, number>)) sums[k] = (sums[k] ?? 0) + v;
  }
  return sums;
}

/** A dev server for one trial (not started): a fresh SQLite file in `dir`, the variant's options. */
export async function devServer(dir: string, variant: Pick<Variant, 'serverArgs' | 'serverInMemory'>, log: (line: string) => void) {
  const port = await freePort();
  const cli = ensureTemporalCli(log);
  const args = [...withoutDbFile(devServerArgs({ port, dbFile: join(dir, 'temporal.db'), logLevel: 'error' }), variant.serverInMemory), ...(variant.serverArgs ?? [])];
  return { temporal: new ManagedProcess('temporal', cli, args, process.env, join(dir, 'temporal.log')), address: `127.0.0.1:${port}`, cli };
}

export async function startDevServer(temporal: ManagedProcess, address: string): Promise<void> {
  temporal.start();
  await eventually(async () => {
    const c = await Connection.connect({ address, connectTimeout: 1_000 });
    await c.close();
    return true;
  }, 60_000, 'the Temporal dev server');
}

export async function runTrial(bed: TrialBed, variant: Variant, opts: TrialOptions, log: (line: string) => void): Promise<TrialResult> {
  const tag = `${variant.name}-${randomBytes(3).toString('hex')}`;
  const dir = join(opts.dir, tag);
  mkdirSync(dir, { recursive: true });
  const { temporal, address, cli } = await devServer(dir, variant, log);
  const countFile = join(dir, 'counts');
  const cpuProfDir = join(dir, 'cpuprofile');
  const levers: LeverSettings = { ...variant.levers, ...(opts.count ? { countFile } : {}) };
  if (variant.workflow) {
    const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve(`./workflows/${variant.workflow}`), logger: new DefaultLogger('WARN') });
    writeFileSync(join(dir, 'workflow-bundle.js'), code);
    levers.workerOptions = { ...levers.workerOptions, workflowBundle: { codePath: join(dir, 'workflow-bundle.js') } };
  }
  // Node refuses --cpu-prof in NODE_OPTIONS; as arguments, worker threads inherit them too.
  const nodeArgs = [
    ...(variant.nodeArgs ?? []),
    '--require',
    join(DIST, 'bench', 'levers', 'preload.js'),
    ...(opts.profile ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`] : []),
  ];
  // Taken once the dev server runs: it picks free ports of its own at start.
  let workerPort = 0;
  let sdkMetricsPort = 0;
  const newWorker = () => new ManagedProcess(
    'worker',
    process.execPath,
    [...nodeArgs, join(DIST, 'src', 'worker', 'main.js')],
    {
      ...bed.env,
      // The production worker's malloc setting under every variant, so that a trial's baseline is
      // the worker as it runs; the heap flags stay the variants' own (they were levers here).
      ...WORKER_ENVIRONMENT,
      TEMPORAL_ADDRESS: address,
      WORKER_HTTP_PORT: String(workerPort),
      TEMPORAL_METRICS_BIND_ADDRESS: `127.0.0.1:${sdkMetricsPort}`,
      BENCH_LEVERS: JSON.stringify(levers),
      ...variant.workerEnv,
    },
    join(dir, 'worker.log'),
  );
  let perf: ManagedProcess | undefined;
  let workerProcess: ManagedProcess | undefined;
  try {
    await startDevServer(temporal, address);
    [workerPort, sdkMetricsPort] = await Promise.all([freePort(), freePort()]);
    const worker = (workerProcess = newWorker());
    const { ids } = await queueBacklog(bed.config, opts.backlog, `levers-${variant.name}`);
    const temporalPid = temporal.pid as number;
    if (opts.profile) {
      perf = new ManagedProcess('perf', 'perf', ['record', '-e', 'cpu-clock', '-F', '499', '-g', '-p', String(temporalPid), '-o', join(dir, 'temporal.perf.data')], process.env, join(dir, 'perf.log'));
      perf.start();
    }
    const before = cpuSnapshot({ temporal: temporalPid });
    const rss = sampleRss(() => ({ worker: worker.pid }));
    const startedAt = Date.now();
    worker.start();
    // Not waitFor: a worker that exits at start must end the trial at once, with its reason.
    while ((await queueConsumerCount(bed.config)) < 1) {
      if (!worker.running) throw new Error(`the worker exited at start; see ${worker.logFile}`);
      if (Date.now() - startedAt > 120_000) throw new Error('the worker did not consume within 120 s');
      await sleep(100);
    }
    const startup = cpuSnapshot({ worker: worker.pid });
    const completed = await waitUntilCompleted(bed.pool, ids, 5 * 60_000);
    const seconds = (Date.now() - startedAt) / 1000;
    const after = cpuSnapshot({ worker: worker.pid, temporal: temporalPid });
    const peak = rss.stop().worker ?? 0;
    const threads = threadCpuSeconds(worker.pid as number);
    if (perf) await perf.stop('SIGINT', 60_000);
    const sdk = promCounters(await (await fetch(`http://127.0.0.1:${sdkMetricsPort}/metrics`)).text());
    const history = await historyEventTypes(cli, address, onboardingWorkflowId(ids[ids.length - 1]));
    await worker.stop('SIGTERM', 60_000);
    const perRun = (x: number) => x / completed;
    const result: TrialResult = {
      variant: variant.name,
      backlog: opts.backlog,
      completed,
      seconds,
      worker_cpu_ms_per_run: perRun(after.worker * 1000),
      worker_startup_cpu_ms: startup.worker * 1000,
      server_cpu_ms_per_run: perRun((after.temporal - before.temporal) * 1000),
      worker_peak_rss_mb: peak / 2 ** 20,
      worker_threads_ms_per_run: Object.fromEntries(Object.entries(threads).map(([k, v]) => [k, perRun(v * 1000)])),
      sdk_per_run: Object.fromEntries(Object.entries(sdk).map(([k, v]) => [k, perRun(v)])),
      ...(opts.count ? { counts_per_run: Object.fromEntries(Object.entries(readCounts(countFile)).map(([k, v]) => [k, perRun(v)])) } : {}),
      history,
      ...(opts.profile
        ? {
            profiles: {
              worker_cpuprofiles: readdirSync(cpuProfDir).map((f) => join(cpuProfDir, f)),
              server_perf_data: join(dir, 'temporal.perf.data'),
            },
          }
        : {}),
    };
    log(
      `${variant.name}: worker ${result.worker_cpu_ms_per_run.toFixed(1)} ms/run (start-up ${result.worker_startup_cpu_ms.toFixed(0)} ms), ` +
        `server ${result.server_cpu_ms_per_run.toFixed(1)} ms/run, ${completed}/${opts.backlog} in ${seconds.toFixed(0)} s, peak RSS ${result.worker_peak_rss_mb.toFixed(0)} MB, ${history.length} events`,
    );
    return result;
  } finally {
    await perf?.stop('SIGINT', 60_000);
    await workerProcess?.stop('SIGTERM', 60_000);
    await temporal.stop('SIGTERM', 10_000);
    // The dev server's database is 100-500 MB after a drain; the logs and profiles stay.
    for (const f of readdirSync(dir).filter((name) => name.startsWith('temporal.db'))) rmSync(join(dir, f), { force: true });
  }
}
