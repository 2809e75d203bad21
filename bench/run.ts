/**
 * `npm run bench`: what the onboarding service sustains on this machine, next to the machine's
 * own limits, all measured in one run:
 * - the hash ceiling (argon2id hashes/s with every core busy), before and after;
 * - the service end to end through Temporal, closed loop at several client counts and open loop
 *   at fractions of the hash ceiling;
 * - a direct baseline: the same API and queue, with a plain consumer writing to Postgres instead
 *   of the bridge and Temporal;
 * - a backlog drain through each.
 * Writes bench/results/<time>.json and .md (and latest.*), prints the table, and exits 1 if any
 * accepted signup was lost or a process crashed. Targets not met are reported, not fatal.
 *
 *   npm run bench -- [--url http://127.0.0.1:5000] [--levels 10,50,200] [--seconds 20]
 *                    [--paced 0.5,0.8] [--paced-hash 0.7] [--paced-clients 50] [--backlog 10000] [--hash-seconds 10]
 * --paced: open-loop rates as fractions of the end-to-end capacity the closed loop measured;
 * --paced-hash: as fractions of the hash ceiling.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { Pool } from 'pg';
import { hashPassword } from '../src/api/password';
import { SIGNUP_MESSAGE_VERSION, type SignupMessage } from '../src/contract';
import { createLogger } from '../src/logger';
import { createSignupPublisher } from '../src/messaging/signup-publisher';
import type { HashCeiling } from './hash-ceiling';
import { closedLoop, paced } from './load';
import { measureOverload, type OverloadResult } from './overload';
import { measurePhase, type PhaseContext, type PhaseResult } from './phase';
import { cpuSnapshot, sampleRss } from './proc-stats';
import { type BenchResult, type DrainResult, evaluateTargets, renderMarkdown } from './report';
import { type BenchStack, externalStack, ownStack, workerRedeliveries } from './stack';

interface Options {
  url?: string;
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

function parseOptions(argv: string[]): Options {
  const opts: Options = {
    levels: [10, 50, 200],
    seconds: 20,
    paced: [0.5, 0.8],
    pacedHash: [0.7],
    pacedClients: 50,
    backlog: 10_000,
    hashSeconds: 10,
    settleSeconds: 300,
    out: join(ROOT, 'bench', 'results'),
  };
  const list = (v: string) => v.split(',').filter(Boolean).map(Number);
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(argv[i]);
    if (!m) throw new Error(`unexpected argument ${argv[i]}`);
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new Error(`--${m[1]} needs a value`);
    switch (m[1]) {
      case 'url': opts.url = value; break;
      case 'levels': opts.levels = list(value); break;
      case 'paced': opts.paced = list(value); break;
      case 'paced-hash': opts.pacedHash = list(value); break;
      case 'seconds': opts.seconds = Number(value); break;
      case 'paced-clients': opts.pacedClients = Number(value); break;
      case 'backlog': opts.backlog = Number(value); break;
      case 'hash-seconds': opts.hashSeconds = Number(value); break;
      case 'settle-seconds': opts.settleSeconds = Number(value); break;
      case 'out': opts.out = resolve(value); break;
      default: throw new Error(`unknown option --${m[1]}`);
    }
  }
  for (const [k, v] of Object.entries(opts)) {
    if ([v].flat().some((x) => typeof x === 'number' && !(Number.isFinite(x) && x >= 0))) throw new Error(`--${k} needs non-negative numbers`);
  }
  return opts;
}

const log = (line: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

/** In a process of its own, with a thread per busy lane, so nothing else shares its pool. */
function hashCeiling(seconds: number): HashCeiling {
  const lanes = availableParallelism() * 2;
  const out = execFileSync(process.execPath, [join(__dirname, 'hash-ceiling.js'), String(seconds)], {
    env: { ...process.env, UV_THREADPOOL_SIZE: String(Math.max(4, lanes)) },
  });
  return JSON.parse(out.toString()) as HashCeiling;
}

/** Queues `count` signups with the consumer stopped, then times how fast `which` drains them. */
async function drain(ctx: PhaseContext, which: 'worker' | 'direct', count: number): Promise<DrainResult> {
  const { stack, pool } = ctx;
  await stack.useConsumer('none');
  // One real hash for all: the drain measures the consumer side, and 10,000 hashes would take minutes.
  const passwordHash = await hashPassword(randomBytes(12).toString('base64url'));
  const publisher = await createSignupPublisher({ topology: stack.config.amqp, url: stack.config.amqp.url, logger: createLogger({ name: 'bench', level: 'warn' }) });
  const ids: string[] = [];
  const prefix = `drain-${which}-${randomBytes(3).toString('hex')}`;
  for (let start = 0; start < count; start += 500) {
    const batch = Array.from({ length: Math.min(500, count - start) }, (_, k): SignupMessage => {
      const n = start + k;
      const userId = randomUUID();
      ids.push(userId);
      return {
        version: SIGNUP_MESSAGE_VERSION,
        user_id: userId,
        email: `${prefix}-${n}@example.com`,
        first_name: 'Backlog',
        last_name: `User ${n}`,
        password_hash: passwordHash,
        requested_at: new Date().toISOString(),
        request_id: `bench-${prefix}-${n}`,
      };
    });
    await Promise.all(batch.map((m) => publisher.publishSignup(m)));
  }
  await publisher.close();
  log(`drain (${which}): ${count} messages queued`);

  const cpuBefore = cpuSnapshot(stack.roles());
  const rss = sampleRss(() => ({ consumer: stack.consumerPid() }));
  const startToConsuming = await stack.startConsumer(which);
  const consumingAt = Date.now();
  // Until every message is a COMPLETED row, or for four settle periods: what is left is reported lost.
  const deadline = Date.now() + ctx.settleSeconds * 1000 * 4;
  let done = 0;
  for (;;) {
    const { rows } = await pool.query<{ n: string }>(
      "SELECT count(*) AS n FROM users WHERE user_id = ANY($1::uuid[]) AND onboarding_state = 'COMPLETED'",
      [ids],
    );
    done = Number(rows[0].n);
    if (done === count || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 250));
  }
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
    messages: count,
    seconds,
    per_second: count / seconds,
    start_to_consuming_seconds: startToConsuming,
    peak_consumer_rss_mb: peak / 2 ** 20,
    redelivered: which === 'worker' && stack.workerMetricsUrl ? await workerRedeliveries(stack.workerMetricsUrl) : null,
    lost: count - done,
    cpu_seconds_per_signup: cpu,
  };
  log(`drain (${which}): ${result.per_second.toFixed(1)}/s, peak RSS ${result.peak_consumer_rss_mb.toFixed(0)} MB, ${result.lost} lost`);
  return result;
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

  const stack: BenchStack = opts.url ? externalStack(opts.url, log) : await ownStack({ suffix: runId, logDir }, log);
  const pool = new Pool({ connectionString: stack.config.postgres.url, max: 4 });
  const ctx: PhaseContext = { stack, pool, settleSeconds: opts.settleSeconds, log };
  const phases: PhaseResult[] = [];
  const drains: DrainResult[] = [];
  const overload: OverloadResult[] = [];
  const notes: string[] = [];
  let ceilingAfter: HashCeiling | null = null;
  let result: BenchResult | undefined;
  try {
    if (stack.owned) await stack.startConsumer('worker');
    // About `seconds` of load each: the API accepts at most the hash ceiling.
    const amount = (seconds: number) => Math.round(seconds * 0.8 * ceilingBefore.hashes_per_second);
    const closed = async (clients: number, tag: string) =>
      measurePhase(ctx, { name: `${tag} closed ${clients}`, mode: 'closed', clients }, () =>
        closedLoop({ url: stack.apiUrl, connections: clients, amount: amount(opts.seconds), emailPrefix: `bench-${runId}-${tag}-c${clients}` }),
      );
    // Warm-up (not reported): JIT, connection pools, the workflow cache.
    await measurePhase(ctx, { name: 'warm-up', mode: 'closed', clients: 10 }, () =>
      closedLoop({ url: stack.apiUrl, connections: 10, amount: amount(5), emailPrefix: `bench-${runId}-warmup` }),
    );
    for (const clients of opts.levels) phases.push(await closed(clients, 'temporal'));
    // Open loop at rates the service sustains (fractions of the best end-to-end rate just
    // measured), and at fractions of the hash ceiling, the issue's throughput target.
    const capacity = Math.max(0, ...phases.filter((p) => p.mode === 'closed').map((p) => p.end_to_end_per_second));
    const pacedRuns = [
      ...(capacity > 0 ? opts.paced.map((fraction) => ({ fraction, basis: 'end_to_end_capacity' as const, perSecond: fraction * capacity })) : []),
      ...opts.pacedHash.map((fraction) => ({ fraction, basis: 'hash_ceiling' as const, perSecond: fraction * ceilingBefore.hashes_per_second })),
    ];
    if (capacity === 0 && opts.paced.length > 0) notes.push('--paced needs a closed-loop level to measure the end-to-end capacity; skipped.');
    for (const offered of pacedRuns) {
      phases.push(
        await measurePhase(ctx, { name: `temporal paced ${offered.perSecond.toFixed(1)}/s`, mode: 'paced', clients: opts.pacedClients, offered }, () =>
          paced({ url: stack.apiUrl, clients: opts.pacedClients, rate: offered.perSecond, seconds: opts.seconds, emailPrefix: `bench-${runId}-paced-${offered.basis}-${offered.fraction}` }),
        ),
      );
    }
    overload.push(...(await measureOverload(ctx, { hashCeiling: ceilingBefore.hashes_per_second, seconds: opts.seconds, emailPrefix: `bench-${runId}-overload` })));
    if (stack.owned) {
      await stack.useConsumer('direct');
      for (const clients of opts.levels) phases.push(await closed(clients, 'direct'));
      if (opts.backlog > 0) {
        drains.push(await drain(ctx, 'worker', opts.backlog));
        drains.push(await drain(ctx, 'direct', opts.backlog));
      }
    } else {
      notes.push('With --url the direct baseline and the backlog drain are skipped: both replace the stack\'s worker, which the benchmark only does to a stack it started.');
    }
  } finally {
    await pool.end().catch(() => undefined);
    const crashes = stack.crashes();
    await stack.stop();
    if (stack.owned) {
      log('hash ceiling again, with the stack stopped ...');
      ceilingAfter = hashCeiling(opts.hashSeconds);
    }
    const partial = {
      started_at: startedAt.toISOString(),
      finished_at: new Date().toISOString(),
      machine: { cores: availableParallelism(), memory_gib: Math.round(totalmem() / 2 ** 30), cpu: cpus()[0]?.model.trim() ?? 'unknown', node: process.version },
      settings: {
        stack: opts.url ? `external (${opts.url})` : 'own',
        seconds_per_phase: opts.seconds,
        prefetch: stack.config.amqp.prefetch,
        pg_pool_max: stack.config.postgres.poolMax,
        max_attempts: stack.config.onboarding.maxAttempts,
        log_level: stack.config.logLevel,
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
    copyFileSync(join(opts.out, `${stamp}.json`), join(opts.out, 'latest.json'));
    copyFileSync(join(opts.out, `${stamp}.md`), join(opts.out, 'latest.md'));
    process.stdout.write(`\n${markdown}\n`);
    log(`results in ${join(opts.out, `${stamp}.{json,md}`)}`);
  }
  const lost = result.targets.find((t) => t.target === 'zero loss');
  const ok = lost?.pass === true && result.process_crashes.length === 0;
  if (ok) rmSync(logDir, { recursive: true, force: true });
  else log(`kept the process logs in ${logDir}; last lines of the worker:\n${tail(join(logDir, 'worker.log'))}`);
  return ok ? 0 : 1;
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '(none)';
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    log(`failed: ${err.stack ?? err.message}`);
    process.exit(1);
  },
);
