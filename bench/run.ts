/**
 * `npm run bench`: what the onboarding service sustains on this machine, next to the machine's
 * own limits, all measured in one run:
 * - the hash ceiling (argon2id hashes/s with every core busy), before and after;
 * - the service end to end through Temporal, closed loop at several client counts, on the
 *   Temporal dev server and on a Temporal cluster (Postgres) side by side, and open loop at
 *   fractions of the hash ceiling (on the first of them);
 * - a direct baseline: the same API and queue, with a plain consumer writing to Postgres instead
 *   of the bridge and Temporal;
 * - a backlog drain through each (through Temporal on each Temporal server);
 * - on each Temporal server, the verification flow through the mail accepted by SMTP (a drain
 *   whose worker mails a Mailpit of the benchmark's own), and a closed loop with tracing on next to
 *   the same with tracing off.
 * Writes bench/results/<time>.json and .md, prints the table, and exits 1 if any accepted
 * signup was lost or a process crashed. Targets not met are reported, not fatal.
 * `npm run bench -- --help` lists the options.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { Pool } from 'pg';
import { Progress, queueBacklog, waitUntilCompleted } from './backlog';
import type { Config } from '../src/config';
import { verificationWorkflowId } from '../src/onboarding-policy';
import type { HashCeiling } from './hash-ceiling';
import { writeCharts } from './charts';
import { closedLoop, paced } from './load';
import { measureOverload, type OverloadResult } from './overload';
import { measurePhase, type PhaseContext, type PhaseResult } from './phase';
import { cpuSnapshot, rssBytes, sampleRss } from './proc-stats';
import { startOtlpReceiver, type OtlpReceiver } from './otlp-receiver';
import { type BenchResult, type DrainResult, evaluateTargets, renderMarkdown, type TracingResult, type VerificationResult } from './report';
import { type BenchStack, externalStack, ownStack, type TemporalMode, workerRedeliveries } from './stack';
import { parseCommandLine, runCommand, UsageError } from '../test/harness/command-line';
import { uniqueSuffix } from '../test/harness/env';

interface Options {
  url?: string;
  temporal: TemporalMode[];
  levels: number[];
  seconds: number;
  paced: number[];
  pacedHash: number[];
  pacedClients: number;
  backlog: number;
  tracingClients: number;
  openRunsHoldSeconds: number;
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
  --backlog N             messages in each backlog drain, the verification drain too; 0 skips the drains (10000)
  --tracing-clients N     closed-loop clients of the phases with tracing off and on; 0 skips them (50)
  --open-runs-hold N      seconds the worker's memory is watched with the verification runs open (10)
  --hash-seconds N        each hash-ceiling measurement (10)
  --settle-seconds N      longest wait for a phase's signups to complete; a drain's wait without progress (300)
  --out DIR               where the results go (bench/results)
  -h, --help              this text
`;

function parseOptions(argv: string[]): Options {
  const names = ['url', 'temporal', 'levels', 'seconds', 'paced', 'paced-hash', 'paced-clients', 'backlog', 'tracing-clients', 'open-runs-hold', 'hash-seconds', 'settle-seconds', 'out'];
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
    tracingClients: line.number('tracing-clients', 50),
    openRunsHoldSeconds: line.number('open-runs-hold', 10),
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

/**
 * Queues `count` signups with the consumer stopped, then times how fast `which` drains them. The
 * worker drains on a task queue of its own (`worker-drain`), so no run left by an earlier phase
 * wakes in the drain, and starts no verification run (ONBOARDING_STARTS_VERIFICATION=false): this
 * is the onboarding run alone, from the message to the row.
 */
async function drain(ctx: PhaseContext, which: 'worker' | 'direct', count: number): Promise<DrainResult> {
  const { stack, pool } = ctx;
  await stack.useConsumer('none');
  const { ids } = await queueBacklog(stack.config, count, `drain-${which}`);
  log(`drain (${which}, Temporal ${stack.temporalMode}): ${count} messages queued`);

  const cpuBefore = cpuSnapshot(stack.roles());
  const rss = sampleRss(() => ({ consumer: stack.consumerPid() }));
  const startToConsuming = await stack.startConsumer(which === 'worker' ? 'worker-drain' : 'direct');
  const consumingAt = Date.now();
  // Until every message is a COMPLETED row, or none has become one for a settle period: what is
  // left then is reported lost.
  const done = await waitUntilCompleted(pool, ids, ctx.settleSeconds * 1000);
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
  // The check that this drain measured onboarding alone: its worker started no verification run.
  const open = which === 'worker' && stack.workerMetricsUrl ? await stack.openVerificationRuns(stack.taskQueueOf('worker-drain'), new Set(ids.map(verificationWorkflowId))) : null;
  const verificationRuns = open && open.ours + open.others;
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
    verification_runs: verificationRuns,
  };
  log(`drain (${which}, Temporal ${stack.temporalMode}): ${result.per_second.toFixed(1)}/s, peak RSS ${result.peak_consumer_rss_mb.toFixed(0)} MB, ${result.lost} lost`);
  return result;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The verification flow through the mail accepted by SMTP: `count` signups queued, then drained by
 * a worker whose mail goes to the stack's own Mailpit, on a task queue of its own. Done when every
 * signup is a COMPLETED row and Mailpit holds a mail for each; every component's CPU over that
 * span, Mailpit's included. Then the verification runs stay open, waiting on their timers, while
 * the worker's memory is watched for `holdSeconds` more.
 */
async function verificationDrain(ctx: PhaseContext, count: number, holdSeconds: number, onboardingOnly: DrainResult | undefined): Promise<VerificationResult> {
  const { stack, pool } = ctx;
  await stack.useConsumer('none');
  const { ids, emails } = await queueBacklog(stack.config, count, 'drain-verification');
  log(`verification drain (Temporal ${stack.temporalMode}): ${count} messages queued`);
  // As in the onboarding-only drain: from before the worker starts, its start-up included; and
  // Mailpit, a role of the phases only while the mail worker consumes, from here too.
  const cpuBefore = cpuSnapshot({ ...stack.roles(), mailpit: stack.mailpitPid() });
  const rss = sampleRss(() => ({ worker: stack.consumerPid() }));
  const started = Date.now();
  const startToConsuming = await stack.startConsumer('worker-mail');
  const consumingAt = Date.now();
  const rows = await waitUntilCompleted(pool, ids, ctx.settleSeconds * 1000);
  // Done when every signup's address has a mail, counted by recipient: a total can be reached with
  // a second mail to one address and none to another.
  // Only this drain's addresses count: the mail worker also onboards (and mails) any signup an
  // earlier phase left in the queue, which is reported apart as other_mails.
  let mails = 0;
  let usersMailed = 0;
  let otherMails = 0;
  const mailing = new Progress(ctx.settleSeconds * 1000);
  for (;;) {
    const recipients = await stack.mailRecipients();
    const ours = recipients.filter((address) => emails.has(address));
    mails = ours.length;
    usersMailed = new Set(ours).size;
    otherMails = recipients.length - ours.length;
    if (usersMailed >= count || mailing.stalled(usersMailed)) break;
    await sleep(500);
  }
  const mailedAt = Date.now();
  const cpuAfter = cpuSnapshot(stack.roles());
  const cpu: Record<string, number> = {};
  for (const [role, after] of Object.entries(cpuAfter)) cpu[role] = (after - (cpuBefore[role] ?? 0)) / count;

  // The runs wait now (reminder and expiry timers, the periodic recheck): the worker's memory with
  // all of them open, and Temporal's own count of them (its visibility may trail a moment).
  await sleep(holdSeconds * 1000);
  const taskQueue = stack.taskQueueOf('worker-mail');
  const ourRuns = new Set(ids.map(verificationWorkflowId));
  let open = { ours: 0, others: 0 };
  const countDeadline = Date.now() + 30_000;
  for (;;) {
    open = await stack.openVerificationRuns(taskQueue, ourRuns);
    if (open.ours >= rows || Date.now() > countDeadline) break;
    await sleep(500);
  }
  const pid = stack.consumerPid();
  const rssNow = pid === undefined ? 0 : rssBytes(pid);
  const peak = rss.stop().worker ?? 0;
  const seconds = (mailedAt - consumingAt) / 1000;
  const result: VerificationResult = {
    temporal_server: stack.temporalMode,
    messages: count,
    mails,
    users_mailed: usersMailed,
    duplicate_mails: Math.max(0, mails - usersMailed),
    other_mails: otherMails,
    seconds,
    per_second: mails / Math.max(seconds, 0.001),
    start_to_consuming_seconds: startToConsuming,
    lost: count - Math.min(rows, usersMailed),
    cpu_seconds_per_signup: cpu,
    onboarding_only_cpu_seconds_per_signup: onboardingOnly?.cpu_seconds_per_signup ?? null,
    open_runs: open.ours,
    other_open_runs: open.others,
    hold_seconds: holdSeconds,
    peak_worker_rss_mb: peak / 2 ** 20,
    worker_rss_with_runs_open_mb: rssNow / 2 ** 20,
  };
  log(
    `verification drain (Temporal ${stack.temporalMode}): ${mails} mails in ${seconds.toFixed(1)} s (${((Date.now() - started) / 1000).toFixed(0)} s with the hold), ` +
      `${usersMailed} users mailed, ${result.duplicate_mails} duplicate mails, ${otherMails} mails to earlier phases' signups, ${open.ours} runs open (${open.others} of earlier phases), worker peak RSS ${result.peak_worker_rss_mb.toFixed(0)} MB, ${result.lost} lost`,
  );
  return result;
}

/**
 * The same closed loop with tracing off and then on (the API and the worker exporting every span
 * to the benchmark's OTLP receiver), one after the other on the same stack. Both wait
 * `tailSeconds` after settling, still measured, so the last batches of spans (sent every 5 s) are
 * counted and the two phases stay alike.
 */
async function tracingPair(
  ctx: PhaseContext,
  receiver: OtlpReceiver,
  closed: (clients: number, path: string, tailSeconds: number) => Promise<PhaseResult>,
  clients: number,
): Promise<TracingResult> {
  const { stack } = ctx;
  const tag = `temporal-${stack.temporalMode}`;
  const tailSeconds = 6;
  await stack.useApi('plain');
  await stack.useConsumer('worker');
  const off = await closed(clients, `${tag}-tracing-off`, tailSeconds);
  await stack.useApi('traced');
  await stack.useConsumer('worker-traced');
  const before = receiver.counts();
  const on = await closed(clients, `${tag}-tracing-on`, tailSeconds);
  const after = receiver.counts();
  await stack.useApi('plain');
  await stack.useConsumer('worker');
  const otlp = { requests: after.requests - before.requests, bytes: after.bytes - before.bytes, rejected: after.rejected - before.rejected };
  log(`tracing (Temporal ${stack.temporalMode}): ${otlp.requests} OTLP exports, ${(otlp.bytes / 1024).toFixed(0)} KiB`);
  return { temporal_server: stack.temporalMode, clients, tail_seconds: tailSeconds, off, on, otlp };
}

/**
 * The phases on one stack: the closed loop through Temporal; on the run's first stack also the
 * open loop and the direct baseline, which do not depend on the Temporal server; then the
 * backlog drains.
 */
async function measureStack(
  ctx: PhaseContext,
  opts: Options,
  run: { id: string; ceiling: HashCeiling; first: boolean; receiver: OtlpReceiver | undefined },
  out: { phases: PhaseResult[]; drains: DrainResult[]; overload: OverloadResult[]; verification: VerificationResult[]; tracing: TracingResult[]; notes: string[] },
): Promise<void> {
  const { stack } = ctx;
  const tag = `temporal-${stack.temporalMode}`;
  if (stack.owned) await stack.startConsumer('worker');
  // About `seconds` of load each: the API accepts at most the hash ceiling.
  const amount = (seconds: number) => Math.round(seconds * 0.8 * run.ceiling.hashes_per_second);
  const closed = async (clients: number, path: string, tailSeconds?: number) =>
    measurePhase(ctx, { name: `${path} closed ${clients}`, mode: 'closed', clients, tailSeconds }, () =>
      closedLoop({ url: stack.apiUrl, connections: clients, amount: amount(opts.seconds), emailPrefix: `bench-${run.id}-${path}-c${clients}` }),
    );
  // Warm-up (not reported): JIT, connection pools, the workflow cache.
  await measurePhase(ctx, { name: `${tag} warm-up`, mode: 'closed', clients: 10 }, () =>
    closedLoop({ url: stack.apiUrl, connections: 10, amount: amount(5), emailPrefix: `bench-${run.id}-${tag}-warmup` }),
  );
  const measured: PhaseResult[] = [];
  for (const clients of opts.levels) measured.push(await closed(clients, tag));
  out.phases.push(...measured);
  // Tracing's cost (issue 13): needs a stack the run started, to restart its API and worker.
  if (opts.tracingClients > 0 && stack.owned && run.receiver) {
    out.tracing.push(await tracingPair(ctx, run.receiver, closed, opts.tracingClients));
  }
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
    const onboarding = await drain(ctx, 'worker', opts.backlog);
    out.drains.push(onboarding);
    if (run.first) out.drains.push(await drain(ctx, 'direct', opts.backlog));
    out.verification.push(await verificationDrain(ctx, opts.backlog, opts.openRunsHoldSeconds, onboarding));
  }
}

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  const startedAt = new Date();
  const runId = uniqueSuffix();
  const logDir = mkdtempSync(join(tmpdir(), 'onboarding-bench-'));
  log(`run ${runId}; process logs in ${logDir}`);

  log(`hash ceiling (${opts.hashSeconds} s, every core busy) ...`);
  const ceilingBefore = hashCeiling(opts.hashSeconds);
  log(`hash ceiling: ${ceilingBefore.hashes_per_second.toFixed(1)}/s`);

  // One stack per Temporal server, in turn, so no two share the cores while measured.
  const modes: Array<TemporalMode | 'external'> = opts.url ? ['external'] : opts.temporal;
  const measured = {
    phases: [] as PhaseResult[],
    drains: [] as DrainResult[],
    overload: [] as OverloadResult[],
    verification: [] as VerificationResult[],
    tracing: [] as TracingResult[],
    notes: [] as string[],
  };
  const { phases, drains, overload, verification, tracing, notes } = measured;
  // Where the API and the worker send their spans in the phase with tracing on.
  const receiver = !opts.url && opts.tracingClients > 0 ? await startOtlpReceiver() : undefined;
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
          : await ownStack({ suffix: `${runId}_${mode}`, logDir: join(logDir, mode), temporal: mode, otlpEndpoint: receiver?.endpoint }, log);
      config ??= stack.config;
      const pool = new Pool({ connectionString: stack.config.postgres.url, max: 4 });
      try {
        await measureStack({ stack, pool, settleSeconds: opts.settleSeconds, log }, opts, { id: runId, ceiling: ceilingBefore, first: i === 0, receiver }, measured);
      } finally {
        await pool.end().catch(() => undefined);
        crashes.push(...stack.crashes());
        await stack.stop();
      }
    }
  } finally {
    await receiver?.close();
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
      verification,
      tracing,
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
