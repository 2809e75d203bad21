/**
 * `npm run bench:floor`: what a Temporal run costs the TypeScript SDK's worker and the dev server
 * when the run does nothing, beside the service's own run in the same series. Issue 14 asks for
 * a minimal reproduction where the remaining cost is inside the SDK or the server: this is it.
 * A run of `emptyRun` or `oneLocalActivityRun` (bench/levers/workflows/floor.ts) has no input,
 * no codec, no search attributes, no RabbitMQ or Postgres, so its cost is the SDK's and the
 * server's fixed cost per run; if that alone is above a target, no change to the service meets it.
 *
 *   npm run bench:floor -- [--runs 2000] [--rounds 2] [--concurrency 50] [--no-service]
 *
 * Each trial has a fresh dev server (the service's arguments, as the lever harness's trials).
 * CPU is read from /proc, as everywhere in bench/, so it means something on a shared machine;
 * start-up and a warm-up of 200 runs (fewer if --runs is smaller) are left out of the floor's figures. Writes
 * bench/results/levers/floor-<time>.{json,md}.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { stopChild } from '../../src/local-stack/child-process';
import { WORKER_ENVIRONMENT, WORKER_NODE_OPTIONS } from '../../src/worker/node-options';
import { cpuSnapshot, threadCpuSeconds } from '../proc-stats';
import type { FloorWorkflow, FromFloorWorker, ToFloorWorker } from './floor-worker';
import { devServer, hashCpuMs, historyEventTypes, median, openTrialBed, runTrial, startDevServer, type Variant } from './trial';
import { VARIANTS } from './variants';

const ROOT = resolve(__dirname, '..', '..', '..');
const log = (line: string) => process.stderr.write(`[floor ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const WARM_UP_RUNS = 200;

export interface FloorResult {
  /** `emptyRun`, `oneLocalActivityRun`, or `service`: the lever harness's trial of the unchanged service, its worker with the production heap flags. */
  kind: FloorWorkflow | 'service';
  runs: number;
  worker_cpu_ms_per_run: number;
  server_cpu_ms_per_run: number;
  worker_threads_ms_per_run: Record<string, number>;
  history: string[];
}

function nextMessage(child: ChildProcess): Promise<FromFloorWorker> {
  return new Promise((resolveMessage, reject) => {
    const onExit = (code: number | null) => reject(new Error(`the floor worker exited (${code}) before answering`));
    child.once('exit', onExit);
    child.once('message', (m: FromFloorWorker) => {
      child.off('exit', onExit);
      if ('failed' in m) reject(new Error(`the floor worker failed: ${m.failed}`));
      else resolveMessage(m);
    });
  });
}

async function drive(child: ChildProcess, go: ToFloorWorker['go']): Promise<void> {
  const answer = nextMessage(child);
  child.send({ go } satisfies ToFloorWorker);
  const m = await answer;
  if (!('done' in m) || m.done.runs !== go.runs) throw new Error(`the floor worker answered ${JSON.stringify(m)}`);
}

async function floorTrial(kind: FloorWorkflow, bundlePath: string, runs: number, concurrency: number, dir: string): Promise<FloorResult> {
  const trialDir = join(dir, `${kind}-${randomBytes(3).toString('hex')}`);
  mkdirSync(trialDir, { recursive: true });
  const { temporal, address, cli } = await devServer(trialDir, {}, log);
  let child: ChildProcess | undefined;
  try {
    await startDevServer(temporal, address);
    const taskQueue = `floor-${randomBytes(4).toString('hex')}`;
    child = fork(join(__dirname, 'floor-worker.js'), [], {
      // The production worker's heap flags and malloc setting, as every start of the service's worker;
      // the lever harness's preload with no lever, so the workflow thread is named as in its trials.
      execArgv: [...WORKER_NODE_OPTIONS, '--require', join(__dirname, 'preload.js')],
      env: { ...process.env, ...WORKER_ENVIRONMENT, BENCH_LEVERS: '{}', TEMPORAL_ADDRESS: address, FLOOR_TASK_QUEUE: taskQueue, FLOOR_WORKFLOW: kind, FLOOR_BUNDLE: bundlePath },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const ready = await nextMessage(child);
    if (!('ready' in ready)) throw new Error(`the floor worker answered ${JSON.stringify(ready)}`);
    await drive(child, { runs: Math.min(WARM_UP_RUNS, runs), concurrency, idPrefix: `${taskQueue}-warm` });
    const pids = { worker: child.pid, temporal: temporal.pid };
    const threadsBefore = threadCpuSeconds(child.pid as number);
    const before = cpuSnapshot(pids);
    const idPrefix = `${taskQueue}-run`;
    await drive(child, { runs, concurrency, idPrefix });
    const after = cpuSnapshot(pids);
    const threadsAfter = threadCpuSeconds(child.pid as number);
    const perRun = (seconds: number) => (seconds * 1000) / runs;
    const result: FloorResult = {
      kind,
      runs,
      worker_cpu_ms_per_run: perRun(after.worker - before.worker),
      server_cpu_ms_per_run: perRun(after.temporal - before.temporal),
      worker_threads_ms_per_run: Object.fromEntries(Object.entries(threadsAfter).map(([name, s]) => [name, perRun(s - (threadsBefore[name] ?? 0))])),
      history: await historyEventTypes(cli, address, `${idPrefix}-${runs - 1}`),
    };
    log(`${kind}: worker ${result.worker_cpu_ms_per_run.toFixed(2)} ms/run, server ${result.server_cpu_ms_per_run.toFixed(2)} ms/run, ${result.history.length} events`);
    return result;
  } finally {
    await stopChild(child ?? null, 30_000);
    await temporal.stop('SIGTERM', 10_000);
    for (const f of readdirSync(trialDir).filter((name) => name.startsWith('temporal.db'))) rmSync(join(trialDir, f), { force: true });
  }
}

const fmt = (x: number, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : '–');

export function renderFloor(results: FloorResult[], hashMs: number[]): string {
  const hash = median(hashMs);
  const kinds = [...new Set(results.map((r) => r.kind))];
  const service = results.filter((r) => r.kind === 'service');
  const serviceWorker = median(service.map((r) => r.worker_cpu_ms_per_run));
  const serviceServer = median(service.map((r) => r.server_cpu_ms_per_run));
  const rows = kinds.map((kind) => {
    const of = results.filter((r) => r.kind === kind);
    const worker = median(of.map((r) => r.worker_cpu_ms_per_run));
    const server = median(of.map((r) => r.server_cpu_ms_per_run));
    const trials = (pick: (r: FloorResult) => number) => of.map((r) => fmt(pick(r))).join(', ');
    return `| ${kind} | ${fmt(worker)} (${trials((r) => r.worker_cpu_ms_per_run)}) | ${fmt(worker / hash, 2)} | ${fmt(worker / serviceWorker, 2)} | ${fmt(server)} (${trials((r) => r.server_cpu_ms_per_run)}) | ${fmt(server / hash, 2)} | ${fmt(server / serviceServer, 2)} | ${of[0].history.length} |`;
  });
  const threadNames = [...new Set(results.flatMap((r) => Object.keys(r.worker_threads_ms_per_run)))].sort();
  const threadRows = kinds.map((kind) => {
    const of = results.filter((r) => r.kind === kind);
    return `| ${kind} | ${threadNames.map((t) => fmt(median(of.map((r) => r.worker_threads_ms_per_run[t] ?? 0)), 2)).join(' | ')} |`;
  });
  return [
    '| run | worker CPU ms/run (trials) | in hashes | ÷ service | dev server CPU ms/run (trials) | in hashes | ÷ service | events |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
    '',
    `One argon2id hash: ${hashMs.map((x) => fmt(x)).join(', ')} ms of CPU (median ${fmt(hash)}); the issue's targets in hashes: worker ≤ 0.45, server ≤ 0.91.`,
    '',
    "The worker's CPU per run by thread (median, ms; `js-thread-*` is the workflow thread, `node` V8's and libuv's helpers, `tokio-runtime-w` the SDK's Rust core; the service's figures include its start-up, the floor's do not):",
    '',
    `| run | ${threadNames.join(' | ')} |`,
    `| --- | ${threadNames.map(() => '---:').join(' | ')} |`,
    ...threadRows,
    '',
    ...kinds.map((kind) => `Events of one ${kind} run: ${results.find((r) => r.kind === kind)?.history.join(', ')}`),
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '2000' },
      rounds: { type: 'string', default: '2' },
      concurrency: { type: 'string', default: '50' },
      'no-service': { type: 'boolean', default: false },
      out: { type: 'string', default: join(ROOT, 'bench', 'results', 'levers') },
    },
  });
  const runs = Number(values.runs);
  const rounds = Number(values.rounds);
  const concurrency = Number(values.concurrency);
  const dir = mkdtempSync(join(tmpdir(), 'onboarding-floor-'));
  log(`trials in ${dir}`);
  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('./workflows/floor'), logger: new DefaultLogger('WARN') });
  const bundlePath = join(dir, 'floor-bundle.js');
  writeFileSync(bundlePath, code);
  const bed = values['no-service'] ? undefined : await openTrialBed(`${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`);
  const baseline = VARIANTS.get('baseline');
  if (!baseline) throw new Error('the lever harness has no baseline variant');
  // The service's worker as it runs in production: the lever harness's baseline leaves out the heap flags, which were levers there.
  const service: Variant = { ...baseline, nodeArgs: [...WORKER_NODE_OPTIONS] };
  const results: FloorResult[] = [];
  const hashMs: number[] = [];
  const startedAt = new Date();
  try {
    for (let round = 0; round < rounds; round++) {
      hashMs.push(await hashCpuMs());
      const kinds: Array<FloorWorkflow | 'service'> = ['emptyRun', 'oneLocalActivityRun', ...(bed ? (['service'] as const) : [])];
      // Alternate the order, so that no kind always runs first or last.
      for (const kind of round % 2 === 0 ? kinds : [...kinds].reverse()) {
        if (kind !== 'service') {
          results.push(await floorTrial(kind, bundlePath, runs, concurrency, dir));
          continue;
        }
        const trial = await runTrial(bed as NonNullable<typeof bed>, service, { backlog: runs, dir }, log);
        // The lever harness counts the worker's start-up in its per-run figure; the floor leaves it out.
        results.push({
          kind,
          runs: trial.completed,
          worker_cpu_ms_per_run: trial.worker_cpu_ms_per_run - trial.worker_startup_cpu_ms / trial.completed,
          server_cpu_ms_per_run: trial.server_cpu_ms_per_run,
          worker_threads_ms_per_run: trial.worker_threads_ms_per_run,
          history: trial.history,
        });
      }
    }
  } finally {
    await bed?.close();
  }
  const table = renderFloor(results, hashMs);
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-').slice(0, 19);
  mkdirSync(values.out, { recursive: true });
  writeFileSync(join(values.out, `floor-${stamp}.json`), `${JSON.stringify({ started_at: startedAt.toISOString(), runs, rounds, concurrency, hash_cpu_ms: hashMs, results }, null, 2)}\n`);
  writeFileSync(join(values.out, `floor-${stamp}.md`), table);
  process.stdout.write(`\n${table}`);
}

if (require.main === module) {
  main().catch((err: Error) => {
    log(`failed: ${err.stack ?? err.message}`);
    process.exit(1);
  });
}
