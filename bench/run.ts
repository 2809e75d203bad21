/**
 * `npm run bench`: what the onboarding service sustains on this machine, next to the machine's
 * own limits, all measured in one run:
 * - the hash ceiling (argon2id hashes/s with every core busy), before and after;
 * - the service end to end through Temporal, closed loop at several client counts, on the
 *   Temporal dev server and on a Temporal cluster (Postgres) side by side, and open loop at
 *   fractions of the hash ceiling (on the first of them);
 * - a direct baseline: the same API and queue, with a plain consumer writing to Postgres instead
 *   of the bridge and Temporal;
 * - a backlog drain through each (through Temporal on each Temporal server).
 * Writes bench/results/<time>.json and .md, prints the table, and exits 1 if any accepted
 * signup was lost or a process crashed. Targets not met are reported, not fatal.
 * `npm run bench -- --help` lists the options.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { Pool } from 'pg';
import { queueBacklog, waitUntilCompleted } from './backlog';
import type { Config } from '../src/config';
import type { HashCeiling } from './hash-ceiling';
import { writeCharts } from './charts';
import { closedLoop, paced } from './load';
import { measureOverload, type OverloadResult } from './overload';
import { measurePhase, type PhaseContext, type PhaseResult } from './phase';
import { cpuSnapshot, sampleRss } from './proc-stats';
import { type BenchResult, type DrainResult, evaluateTargets, renderMarkdown } from './report';
import { type BenchStack, externalStack, ownStack, type TemporalMode, workerRedeliveries } from './stack';
import { parseCommandLine, runCommand, UsageError } from '../test/harness/command-line';

interface Options {
  url?: string;
  temporal: TemporalMode[];
  levels: number[];
  seconds: number;
  paced: number[];
  pacedHash: number[];
  pacedClients: number;
  backlog: number;
  hashSeconds: number;
  settleSeconds: number;
  out: string;
}

const ROOT = resolve(__dirname, '..', '..');

const USAGE = `
usage: npm run bench -- [options]
What the service sustains on this machine, next to the machine's own limits (see bench/README.md).
  --url URL               measure a stack someone else runs (npm start) instead of starting one
  --temporal M,M          the Temporal servers to run the service on, in turn: dev, cluster (dev,cluster)
  --levels N,N            closed-loop client counts (10,50,200)
  --seconds N             load per phase, about (20)
  --paced F,F             open-loop rates as fractions of the end-to-end capacity measured (0.5,0.8)
  --paced-hash F,F        open-loop rates as fractions of the hash ceiling (0.7)
  --paced-clients N       open-loop clients (50)
  --backlog N             messages in each backlog drain; 0 skips the drains (10000)
  --hash-seconds N        each hash-ceiling measurement (10)
  --settle-seconds N      longest wait for a phase's signups to complete (300)
  --out DIR               where the results go (bench/results)
  -h, --help              this text
`;

function parseOptions(argv: string[]): Options {
  const names = ['url', 'temporal', 'levels', 'seconds', 'paced', 'paced-hash', 'paced-clients', 'backlog', 'hash-seconds', 'settle-seconds', 'out'];
  const line = parseCommandLine(USAGE, Object.fromEntries(names.map((name) => [name, { type: 'string' as const }])), argv);
  const out = line.string('out');
  return {
    url: line.string('url'),
    temporal: temporalModes(line.string('temporal') ?? 'dev,cluster'),
    levels: line.numbers('levels', [10, 50, 200]),
    seconds: line.number('seconds', 20),
    paced: line.numbers('paced', [0.5, 0.8]),
    pacedHash: line.numbers('paced-hash', [0.7]),
    pacedClients: line.number('paced-clients', 50),
    backlog: line.number('backlog', 10_000),
    hashSeconds: line.number('hash-seconds', 10),
    settleSeconds: line.number('settle-seconds', 300),
    out: out === undefined ? join(ROOT, 'bench', 'results') : resolve(out),
  };
}

function temporalModes(text: string): TemporalMode[] {
  const modes = text.split(',').filter(Boolean);
  for (const mode of modes) if (mode !== 'dev' && mode !== 'cluster') throw new UsageError(`--temporal takes dev and cluster, not '${mode}'`);
  if (modes.length === 0 || new Set(modes).size !== modes.length) throw new UsageError(`--temporal needs dev, cluster or both, once each, not '${text}'`);
  return modes as TemporalMode[];
}

const log = (line: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

/** In a process of its own, with a thread per busy lane, so nothing else shares its pool. */
function hashCeiling(seconds: number): HashCeiling {
  const lanes = availableParallelism() * 2;
  const out = execFileSync(process.execPath, [join(__dirname, 'hash-ceiling.js'), '--seconds', String(seconds)], {
    env: { ...process.env, UV_THREADPOOL_SIZE: String(Math.max(4, lanes)) },
  });
  return JSON.parse(out.toString()) as HashCeiling;
}

/** Queues `count` signups with the consumer stopped, then times how fast `which` drains them. */
async function drain(ctx: PhaseContext, which: 'worker' | 'direct', count: number): Promise<DrainResult> {
  const { stack, pool } = ctx;
  await stack.useConsumer('none');
  const ids = await queueBacklog(stack.config, count, `drain-${which}`);
  log(`drain (${which}, Temporal ${stack.temporalMode}): ${count} messages queued`);

  const cpuBefore = cpuSnapshot(stack.roles());
  const rss = sampleRss(() => ({ consumer: stack.consumerPid() }));
  const startToConsuming = await stack.startConsumer(which);
  const consumingAt = Date.now();
  // Until every message is a COMPLETED row, or for four settle periods: what is left is reported lost.
  const done = await waitUntilCompleted(pool, ids, Date.now() + ctx.settleSeconds * 1000 * 4);
  const cpuAfter = cpuSnapshot(stack.roles());
  const peak = rss.stop().consumer ?? 0;
  const { rows } = await pool.query<{ last_ms: number }>(
    'SELECT extract(epoch FROM max(onboarded_at)) * 1000 AS last_ms FROM users WHERE user_id = ANY($1::uuid[])',
    [ids],
  );
  const seconds = (Number(rows[0].last_ms) - consumingAt) / 1000;
  const cpu: Record<string, number> = {};
  for (const [role, after] of Object.entries(cpuAfter)) {
    // The consumer started during the drain: all its CPU, start-up included, is the drain's.
    cpu[role] = (after - (cpuBefore[role] ?? 0)) / count;
  }
  const result: DrainResult = {
    path: which === 'worker' ? 'temporal' : 'direct',
    temporal_server: stack.temporalMode,
    messages: count,
    seconds,
    per_second: count / seconds,
    start_to_consuming_seconds: startToConsuming,
    peak_consumer_rss_mb: peak / 2 ** 20,
    redelivered: which === 'worker' && stack.workerMetricsUrl ? await workerRedeliveries(stack.workerMetricsUrl) : null,
    lost: count - done,
    cpu_seconds_per_signup: cpu,
  };
  log(`drain (${which}, Temporal ${stack.temporalMode}): ${result.per_second.toFixed(1)}/s, peak RSS ${result.peak_consumer_rss_mb.toFixed(0)} MB, ${result.lost} lost`);
  return result;
}

/**
 * The phases on one stack: the closed loop through Temporal; on the run's first stack also the
 * open loop and the direct baseline, which do not depend on the Temporal server; then the
 * backlog drains.
 */
async function measureStack(
  ctx: PhaseContext,
  opts: Options,
  run: { id: string; ceiling: HashCeiling; first: boolean },
  out: { phases: PhaseResult[]; drains: DrainResult[]; overload: OverloadResult[]; notes: string[] },
): Promise<void> {
  const { stack } = ctx;
  const tag = `temporal-${stack.temporalMode}`;
  if (stack.owned) await stack.startConsumer('worker');
  // About `seconds` of load each: the API accepts at most the hash ceiling.
  const amount = (seconds: number) => Math.round(seconds * 0.8 * run.ceiling.hashes_per_second);
  const closed = async (clients: number, path: string) =>
    measurePhase(ctx, { name: `${path} closed ${clients}`, mode: 'closed', clients }, () =>
      closedLoop({ url: stack.apiUrl, connections: clients, amount: amount(opts.seconds), emailPrefix: `bench-${run.id}-${path}-c${clients}` }),
    );
  // Warm-up (not reported): JIT, connection pools, the workflow cache.
  await measurePhase(ctx, { name: `${tag} warm-up`, mode: 'closed', clients: 10 }, () =>
    closedLoop({ url: stack.apiUrl, connections: 10, amount: amount(5), emailPrefix: `bench-${run.id}-${tag}-warmup` }),
  );
  const measured: PhaseResult[] = [];
  for (const clients of opts.levels) measured.push(await closed(clients, tag));
  out.phases.push(...measured);
  if (run.first) {
    // Open loop at rates the service sustains (fractions of the best end-to-end rate just
    // measured), and at fractions of the hash ceiling, the issue's throughput target.
    const capacity = Math.max(0, ...measured.map((p) => p.end_to_end_per_second));
    const pacedRuns = [
      ...(capacity > 0 ? opts.paced.map((fraction) => ({ fraction, basis: 'end_to_end_capacity' as const, perSecond: fraction * capacity })) : []),
      ...opts.pacedHash.map((fraction) => ({ fraction, basis: 'hash_ceiling' as const, perSecond: fraction * run.ceiling.hashes_per_second })),
    ];
    if (capacity === 0 && opts.paced.length > 0) out.notes.push('--paced needs a closed-loop level to measure the end-to-end capacity; skipped.');
    for (const offered of pacedRuns) {
      out.phases.push(
        await measurePhase(ctx, { name: `${tag} paced ${offered.perSecond.toFixed(1)}/s`, mode: 'paced', clients: opts.pacedClients, offered }, () =>
          paced({ url: stack.apiUrl, clients: opts.pacedClients, rate: offered.perSecond, seconds: opts.seconds, emailPrefix: `bench-${run.id}-paced-${offered.basis}-${offered.fraction}` }),
        ),
      );
    }
    // Past the hash cap (bench/overload.ts): the API's tail for what it answers, and what it sheds.
    out.overload.push(...(await measureOverload(ctx, { hashCeiling: run.ceiling.hashes_per_second, seconds: opts.seconds, emailPrefix: `bench-${run.id}-overload` })));
  }
  if (!stack.owned) {
    out.notes.push('With --url the direct baseline and the backlog drain are skipped: both replace the stack\'s worker, which the benchmark only does to a stack it started.');
    return;
  }
  if (run.first) {
    await stack.useConsumer('direct');
    for (const clients of opts.levels) out.phases.push(await closed(clients, 'direct'));
  }
  if (opts.backlog > 0) {
    out.drains.push(await drain(ctx, 'worker', opts.backlog));
    if (run.first) out.drains.push(await drain(ctx, 'direct', opts.backlog));
  }
}

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  const startedAt = new Date();
  const runId = `${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const logDir = mkdtempSync(join(tmpdir(), 'onboarding-bench-'));
  log(`run ${runId}; process logs in ${logDir}`);

  log(`hash ceiling (${opts.hashSeconds} s, every core busy) ...`);
  const ceilingBefore = hashCeiling(opts.hashSeconds);
  log(`hash ceiling: ${ceilingBefore.hashes_per_second.toFixed(1)}/s`);

  // One stack per Temporal server, in turn, so no two share the cores while measured.
  const modes: Array<TemporalMode | 'external'> = opts.url ? ['external'] : opts.temporal;
  const measured = { phases: [] as PhaseResult[], drains: [] as DrainResult[], overload: [] as OverloadResult[], notes: [] as string[] };
  const { phases, drains, overload, notes } = measured;
  if (opts.url) notes.push('With --url the stack\'s own Temporal server is measured; --temporal does not apply.');
  if (modes.length > 1) notes.push(`The open loop and the direct baseline ran on the ${modes[0] === 'dev' ? 'dev server' : 'cluster'} stack only.`);
  const crashes: string[] = [];
  let config: Config | undefined;
  let ceilingAfter: HashCeiling | null = null;
  let result: BenchResult | undefined;
  try {
    for (const [i, mode] of modes.entries()) {
      const stack: BenchStack =
        mode === 'external'
          ? externalStack(opts.url as string, log)
          : await ownStack({ suffix: `${runId}_${mode}`, logDir: join(logDir, mode), temporal: mode }, log);
      config ??= stack.config;
      const pool = new Pool({ connectionString: stack.config.postgres.url, max: 4 });
      try {
        await measureStack({ stack, pool, settleSeconds: opts.settleSeconds, log }, opts, { id: runId, ceiling: ceilingBefore, first: i === 0 }, measured);
      } finally {
        await pool.end().catch(() => undefined);
        crashes.push(...stack.crashes());
        await stack.stop();
      }
    }
  } finally {
    if (!opts.url) {
      log('hash ceiling again, with the stack stopped ...');
      ceilingAfter = hashCeiling(opts.hashSeconds);
    }
    const partial = {
      started_at: startedAt.toISOString(),
      finished_at: new Date().toISOString(),
      machine: { cores: availableParallelism(), memory_gib: Math.round(totalmem() / 2 ** 30), cpu: cpus()[0]?.model.trim() ?? 'unknown', node: process.version },
      settings: {
        stack: opts.url ? `external (${opts.url})` : 'own',
        temporal: modes.join(','),
        seconds_per_phase: opts.seconds,
        ...(config
          ? { prefetch: config.amqp.prefetch, pg_pool_max: config.postgres.poolMax, max_attempts: config.onboarding.maxAttempts, log_level: config.logLevel }
          : {}),
      },
      hash_ceiling: {
        before: ceilingBefore,
        after: ceilingAfter,
        // The higher of the two readings: the ratios are never flattered by a slow reading.
        hashes_per_second: Math.max(ceilingBefore.hashes_per_second, ceilingAfter?.hashes_per_second ?? 0),
      },
      phases,
      drains,
      overload,
      process_crashes: crashes,
      notes,
    };
    result = { ...partial, targets: evaluateTargets(partial) };
    mkdirSync(opts.out, { recursive: true });
    const stamp = startedAt.toISOString().replace(/[:.]/g, '-').slice(0, 19);
    const markdown = renderMarkdown(result);
    writeFileSync(join(opts.out, `${stamp}.json`), `${JSON.stringify(result, null, 2)}\n`);
    writeFileSync(join(opts.out, `${stamp}.md`), markdown);
    // The pictures beside the tables (bench/charts.ts): CPU per signup by component, latency against load.
    await writeCharts(result, opts.out, stamp);
    process.stdout.write(`\n${markdown}\n`);
    log(`results in ${join(opts.out, `${stamp}.{json,md}`)}`);
  }
  const lost = result.targets.find((t) => t.target === 'zero loss');
  const ok = lost?.pass === true && result.process_crashes.length === 0;
  if (ok) rmSync(logDir, { recursive: true, force: true });
  else {
    for (const mode of modes) log(`kept the process logs in ${join(logDir, mode)}; last lines of the worker:\n${tail(join(logDir, mode, 'worker.log'))}`);
  }
  return ok ? 0 : 1;
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '(none)';
  }
}

runCommand('bench', main, log);
