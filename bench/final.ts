/**
 * `npm run bench:final`: issue 14's judgement in one command, for a quiet machine. Three short
 * runs of `npm run bench` (20 s phases, a 2,000 backlog; on the dev server only unless
 * --temporal says otherwise: the issue's targets are the dev server's) and one full run (the
 * defaults: both Temporal servers, a 10,000 backlog), each saved under bench/results/ as dated
 * files with its charts; then the targets table, each figure the median of the three short runs
 * (the memory figures from the full run), judged on the dev server. The targets the issue set in
 * milliseconds are judged as multiples of each run's own hash (ISSUE_HASH_MS), since a faster
 * host reads fewer milliseconds for the same work.
 *
 *   npm run bench:final [-- --short-runs 3 --temporal dev --levels 10,50,200 --full-temporal dev,cluster --skip-full]
 *   npm run bench:final -- --full-from bench/results/<time>.json   (a full run already made, of the same code)
 *   npm run bench:final -- --short-from <a>.json,<b>.json,<c>.json --full-from <d>.json   (judge runs already made, run nothing)
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { PhaseResult } from './phase';
import { type BenchResult, verificationAdds, VERIFICATION_ADDS_AT_MOST, WORKER_RSS_TARGET_MB } from './report';
import type { TemporalMode } from './stack';

const ROOT = resolve(__dirname, '..', '..');
const RESULTS = join(ROOT, 'bench', 'results');
const log = (line: string) => process.stderr.write(`[final ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

const median = (xs: number[]): number => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** A bench result and the name of its file, which the judgement names. */
interface JudgedRun {
  file: string;
  result: BenchResult;
}

/** Runs `npm run bench`'s script with `args`, keeps its dated files in bench/results/, returns its result. */
function benchRun(args: string[]): JudgedRun {
  const out = mkdtempSync(join(tmpdir(), 'onboarding-final-'));
  log(`npm run bench -- ${args.join(' ')}`);
  try {
    execFileSync(process.execPath, [join(__dirname, 'run.js'), ...args, '--out', out], { stdio: ['ignore', 'inherit', 'inherit'] });
  } catch (err) {
    // Exit 1 is a lost signup or a crashed process: the run still wrote its result, which says
    // so; the judgement goes on, and the result files keep the fault on record.
    if ((err as { status?: number }).status !== 1) throw err;
    log('that run exited 1 (a loss or a process crash): see its result');
  }
  const written = readdirSync(out);
  for (const f of written) copyFileSync(join(out, f), join(RESULTS, f));
  // A run writes one dated set: <time>.json, <time>.md and its charts.
  const json = written.find((f) => f.endsWith('.json'));
  if (!json) throw new Error(`npm run bench wrote no result in ${out}`);
  return { file: json, result: JSON.parse(readFileSync(join(out, json), 'utf8')) as BenchResult };
}

/** A result written before, by `npm run bench`. */
function readRun(path: string): JudgedRun {
  return { file: basename(path), result: JSON.parse(readFileSync(resolve(path), 'utf8')) as BenchResult };
}

/**
 * One argon2id hash's CPU on the issue's host (2 cores ÷ 91.4 hashes/s), in ms: the unit its
 * millisecond targets were set in. A faster host reads fewer ms for the same work, so those
 * targets are judged as multiples of the run's own hash: 10 ms is 0.45 hash, 20 ms 0.91, 3 ms 0.14.
 */
export const ISSUE_HASH_MS = 22;
const inIssueHashes = (ms: number) => ms / ISSUE_HASH_MS;

export interface Figures {
  /** One hash's CPU on this host, from the hash ceiling before the run: the unit of the *_hashes figures. */
  hash_ms: number;
  worker_ms_per_run: number;
  server_ms_per_run: number;
  /** The same figures as multiples of this run's own hash, the way the targets are judged. */
  worker_hashes_per_run: number;
  server_hashes_per_run: number;
  api_hashes_beyond_hash: number;
  e2e_over_direct_50: number;
  http_p99_at_0_8: number;
  api_ms_beyond_hash: number;
  /**
   * The API's event loop (its main thread) per accepted signup, at 10 clients (nothing shed) and
   * at 50 (most requests shed with 503: their cost is in it too), and the requests the 50 clients
   * sent per signup accepted. The main thread is the part of "beyond the hash" that can be
   * measured apart (PhaseResult.api_threads_ms_per_signup).
   */
  api_main_thread_ms_10: number;
  api_main_thread_ms_50: number;
  requests_per_accepted_50: number;
  worker_peak_rss_mb: number;
  /** What the verification flow, through the mail, adds to the worker's and the server's onboarding figures, as multiples of them. */
  verification_adds_worker: number;
  verification_adds_server: number;
  /** The verification drain's messages, and the worker's peak RSS with that many verification runs open. */
  open_verification_runs: number;
  worker_rss_open_runs_mb: number;
  /** Service CPU ms per signup (API, worker, server, RabbitMQ, Postgres) with tracing off and on. */
  tracing_off_ms: number;
  tracing_on_ms: number;
}

const SERVICE = ['api', 'worker', 'temporal', 'rabbitmq', 'postgres'];
const serviceMs = (cpu: Record<string, number> | undefined) => (cpu ? SERVICE.reduce((s, role) => s + (cpu[role] ?? 0), 0) * 1000 : NaN);

/**
 * The issues' figures from one bench result, on one Temporal server (the dev server: the
 * issue's targets are its). Results from before the cluster have no server on their phases; they
 * count as the dev server's.
 */
export function figures(r: BenchResult, server: TemporalMode = 'dev'): Figures {
  const on = <T extends { temporal_server?: string }>(x: T) => (x.temporal_server ?? 'dev') === server;
  const drain = r.drains.find((d) => d.path === 'temporal' && on(d));
  const closed = (path: string, clients: number) =>
    // The direct baseline runs on the first stack only, whichever server that was.
    r.phases.find((p) => p.path === path && p.mode === 'closed' && p.clients === clients && (path === 'direct' || on(p)));
  const t50 = closed('temporal', 50);
  const t10 = closed('temporal', 10);
  const d50 = closed('direct', 50);
  const paced = r.phases.filter((p) => p.mode === 'paced' && p.offered_basis === 'end_to_end_capacity' && on(p));
  const verification = (r.verification ?? []).find(on);
  const adds = verification ? verificationAdds(verification) : null;
  const tracing = (r.tracing ?? []).find(on);
  const at08 = paced.reduce<PhaseResult | undefined>((b, p) => (!b || Math.abs((p.offered_fraction ?? 0) - 0.8) < Math.abs((b.offered_fraction ?? 0) - 0.8) ? p : b), undefined);
  // One hash's CPU from the ceiling: the cores it kept busy over the hashes it made per second.
  const hc = r.hash_ceiling.before;
  const hashMs = (1000 * hc.cores_busy) / hc.hashes_per_second;
  const workerMs = (drain?.cpu_seconds_per_signup.worker ?? NaN) * 1000;
  const serverMs = (drain?.cpu_seconds_per_signup.temporal ?? NaN) * 1000;
  const apiBeyondHashMs = t50 ? t50.cpu_seconds_per_signup.api * 1000 - hashMs : NaN;
  return {
    hash_ms: hashMs,
    worker_ms_per_run: workerMs,
    server_ms_per_run: serverMs,
    worker_hashes_per_run: workerMs / hashMs,
    server_hashes_per_run: serverMs / hashMs,
    api_hashes_beyond_hash: apiBeyondHashMs / hashMs,
    e2e_over_direct_50: t50 && d50 ? t50.end_to_end_per_second / d50.end_to_end_per_second : NaN,
    http_p99_at_0_8: at08?.http_ms.p99 ?? NaN,
    api_ms_beyond_hash: apiBeyondHashMs,
    api_main_thread_ms_10: t10?.api_threads_ms_per_signup?.main ?? NaN,
    api_main_thread_ms_50: t50?.api_threads_ms_per_signup?.main ?? NaN,
    requests_per_accepted_50: t50 && t50.accepted > 0 ? t50.sent / t50.accepted : NaN,
    worker_peak_rss_mb: drain?.peak_consumer_rss_mb ?? NaN,
    verification_adds_worker: adds?.worker.ratio ?? NaN,
    verification_adds_server: adds?.temporal.ratio ?? NaN,
    open_verification_runs: verification?.messages ?? NaN,
    worker_rss_open_runs_mb: verification?.peak_worker_rss_mb ?? NaN,
    tracing_off_ms: serviceMs(tracing?.off.cpu_seconds_per_signup),
    tracing_on_ms: serviceMs(tracing?.on.cpu_seconds_per_signup),
  };
}

/** A target the issue set in ms on its host: reported in ms, judged in hashes (ISSUE_HASH_MS). */
// Shown to 3 decimals: 0.4549 against 0.4545 (10 ÷ 22) must not read "0.45, ≤ 0.45, not met".
const inHashes = (ms: number): [string, (x: number) => boolean] => [`≤ ${inIssueHashes(ms).toFixed(3)} (${ms} ms on the issue's host)`, (x) => x <= inIssueHashes(ms)];
const MS_ON_ISSUE_HOST = (ms: number) => `≤ ${ms} on the issue's host: judged in hashes`;

// [figure, label, target in words, judgement, digits]; a figure without a target is reported only.
const TARGETS: Array<[keyof Figures, string, string, ((x: number) => boolean) | null, number]> = [
  ['hash_ms', "one argon2id hash's CPU on this host, ms (the issue's: ≈ 22)", '– (the unit)', null, 1],
  ['worker_ms_per_run', 'worker CPU per onboarding run (drain), ms', MS_ON_ISSUE_HOST(10), null, 1],
  ['worker_hashes_per_run', 'worker CPU per onboarding run (drain), hashes', ...inHashes(10), 2],
  ['server_ms_per_run', 'Temporal server CPU per run (drain), ms', MS_ON_ISSUE_HOST(20), null, 1],
  ['server_hashes_per_run', 'Temporal server CPU per run (drain), hashes', ...inHashes(20), 2],
  ['e2e_over_direct_50', 'end to end ÷ direct baseline, 50 clients', '≥ 0.55', (x) => x >= 0.55, 2],
  ['http_p99_at_0_8', 'HTTP p99 at 0.8 × end-to-end capacity, ms', '≤ 100', (x) => x <= 100, 0],
  ['api_ms_beyond_hash', 'API CPU per signup beyond the hash, ms', MS_ON_ISSUE_HOST(3), null, 1],
  ['api_hashes_beyond_hash', 'API CPU per signup beyond the hash, hashes', ...inHashes(3), 2],
  ['api_main_thread_ms_10', "API's event loop (main thread) CPU per signup, 10 clients (none shed), ms", '– (reported)', null, 1],
  ['api_main_thread_ms_50', "API's event loop (main thread) CPU per signup, 50 clients, ms", '– (reported)', null, 1],
  ['requests_per_accepted_50', 'requests sent per signup accepted, 50 clients (the rest shed with 503)', '– (reported)', null, 2],
  ['verification_adds_worker', "verification flow through the mail, added to the worker's figure, ×", `≤ ${VERIFICATION_ADDS_AT_MOST}`, (x) => x <= VERIFICATION_ADDS_AT_MOST, 2],
  ['verification_adds_server', "verification flow through the mail, added to the server's figure, ×", `≤ ${VERIFICATION_ADDS_AT_MOST}`, (x) => x <= VERIFICATION_ADDS_AT_MOST, 2],
  ['tracing_off_ms', 'service CPU per signup, 50 clients, tracing off, ms', '– (reported)', null, 1],
  ['tracing_on_ms', 'service CPU per signup, 50 clients, tracing on, ms', '– (reported)', null, 1],
];

const fixed = (x: number, digits: number) => (Number.isFinite(x) ? x.toFixed(digits) : '–');
const verdict = (x: number, pass: ((x: number) => boolean) | null) => (pass === null ? '' : !Number.isFinite(x) ? 'not measured' : pass(x) ? 'met' : '**not met**');

/** The targets table: the short runs' medians, then the full run's memory figures. */
export function renderFinal(short: Figures[], full: Figures | undefined): string {
  const lines = ['| figure (dev server) | short runs | median | target | |', '| --- | --- | ---: | --- | --- |'];
  for (const [key, label, target, pass, digits] of TARGETS) {
    const m = median(short.map((f) => f[key]));
    lines.push(`| ${label} | ${short.map((f) => fixed(f[key], digits)).join(', ')} | ${fixed(m, digits)} | ${target} | ${verdict(m, pass)} |`);
  }
  if (full) {
    const rss = full.worker_peak_rss_mb;
    lines.push(`| worker peak RSS, 10,000 backlog (full run), MB | – | ${fixed(rss, 0)} | ≤ ${WORKER_RSS_TARGET_MB} | ${verdict(rss, (x) => x <= WORKER_RSS_TARGET_MB)} |`);
    const open = full.worker_rss_open_runs_mb;
    lines.push(
      `| worker peak RSS with ${fixed(full.open_verification_runs, 0)} verification runs open (full run), MB | – | ${fixed(open, 0)} | ≤ ${WORKER_RSS_TARGET_MB} | ` +
        `${verdict(open, (x) => x <= WORKER_RSS_TARGET_MB)} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}

function main(): void {
  const { values } = parseArgs({
    options: {
      'short-runs': { type: 'string', default: '3' },
      temporal: { type: 'string', default: 'dev' },
      // The closed-loop levels of the short runs: the targets read only the 50-client phase.
      levels: { type: 'string', default: '10,50,200' },
      // The full run's servers: both by default; `dev` when time allows only the one the targets judge.
      'full-temporal': { type: 'string', default: 'dev,cluster' },
      'skip-full': { type: 'boolean', default: false },
      // A full run made before (`npm run bench`, same code, same host): judged instead of a new one.
      'full-from': { type: 'string' },
      // Short runs made before, comma-separated: judged instead of new ones (with --full-from, nothing runs).
      'short-from': { type: 'string' },
    },
  });
  const shortArgs = ['--seconds', '20', '--backlog', '2000', '--temporal', values.temporal as string, '--levels', values.levels as string];
  const fullFrom = values['full-from'];
  if (fullFrom && values['skip-full']) throw new Error('--full-from and --skip-full: choose one');
  // Read before the short runs, so that a wrong path fails now and not after them.
  const fullBefore = fullFrom ? readRun(fullFrom) : undefined;
  const shortFrom = values['short-from'];
  // One after another: each run has the machine to itself.
  const shortRuns = shortFrom ? shortFrom.split(',').map(readRun) : Array.from({ length: Number(values['short-runs']) }, () => benchRun(shortArgs));
  // The full run (the bench's defaults: both Temporal servers, for the side-by-side table).
  const fullRun = values['skip-full'] ? undefined : (fullBefore ?? benchRun(['--temporal', values['full-temporal'] as string]));
  const judged = [...shortRuns, ...(fullRun ? [fullRun] : [])].map((run) => run.file);
  const table =
    `Judged from ${judged.join(', ')} (the short runs${fullRun ? ', then the full run' : ''}).\n\n` +
    renderFinal(
      shortRuns.map((run) => figures(run.result)),
      fullRun && figures(fullRun.result),
    );
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  writeFileSync(join(RESULTS, `final-${stamp}.md`), table);
  process.stdout.write(`\n${table}`);
}

if (require.main === module) main();
