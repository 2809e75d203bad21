/**
 * `npm run bench:final`: issue 14's judgement in one command, for a quiet machine. Three short
 * runs of `npm run bench` (20 s phases, a 2,000 backlog) and one full run (the defaults, a
 * 10,000 backlog), each saved under bench/results/ as dated files with its charts; then the
 * targets table, each figure the median of the three short runs (peak RSS from the full run).
 *
 *   npm run bench:final [-- --short-runs 3 --skip-full]
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { PhaseResult } from './phase';
import type { BenchResult } from './report';

const ROOT = resolve(__dirname, '..', '..');
const RESULTS = join(ROOT, 'bench', 'results');
const log = (line: string) => process.stderr.write(`[final ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

const median = (xs: number[]): number => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Runs `npm run bench`'s script with `args`, keeps its dated files in bench/results/, returns its result. */
function benchRun(args: string[]): BenchResult {
  const out = mkdtempSync(join(tmpdir(), 'onboarding-final-'));
  log(`npm run bench -- ${args.join(' ')}`);
  execFileSync(process.execPath, [join(__dirname, 'run.js'), ...args, '--out', out], { stdio: ['ignore', 'inherit', 'inherit'] });
  for (const f of readdirSync(out)) copyFileSync(join(out, f), join(RESULTS, f));
  return JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')) as BenchResult;
}

export interface Figures {
  worker_ms_per_run: number;
  server_ms_per_run: number;
  e2e_over_direct_50: number;
  http_p99_at_0_8: number;
  api_ms_beyond_hash: number;
  worker_peak_rss_mb: number;
}

/** The figures from one bench result. */
export function figures(r: BenchResult): Figures {
  const drain = r.drains.find((d) => d.path === 'temporal');
  const closed = (path: string, clients: number) => r.phases.find((p) => p.path === path && p.mode === 'closed' && p.clients === clients);
  const t50 = closed('temporal', 50);
  const d50 = closed('direct', 50);
  const paced = r.phases.filter((p) => p.mode === 'paced' && p.offered_basis === 'end_to_end_capacity');
  const at08 = paced.reduce<PhaseResult | undefined>((b, p) => (!b || Math.abs((p.offered_fraction ?? 0) - 0.8) < Math.abs((b.offered_fraction ?? 0) - 0.8) ? p : b), undefined);
  // One hash's CPU from the ceiling: the cores it kept busy over the hashes it made per second.
  const hc = r.hash_ceiling.before;
  const hashMs = (1000 * hc.cores_busy) / hc.hashes_per_second;
  return {
    worker_ms_per_run: (drain?.cpu_seconds_per_signup.worker ?? NaN) * 1000,
    server_ms_per_run: (drain?.cpu_seconds_per_signup.temporal ?? NaN) * 1000,
    e2e_over_direct_50: t50 && d50 ? t50.end_to_end_per_second / d50.end_to_end_per_second : NaN,
    http_p99_at_0_8: at08?.http_ms.p99 ?? NaN,
    api_ms_beyond_hash: t50 ? t50.cpu_seconds_per_signup.api * 1000 - hashMs : NaN,
    worker_peak_rss_mb: drain?.peak_consumer_rss_mb ?? NaN,
  };
}

const TARGETS: Array<[keyof Figures, string, (x: number) => boolean, number]> = [
  ['worker_ms_per_run', 'worker CPU per onboarding run (drain), ms', (x) => x <= 10, 1],
  ['server_ms_per_run', 'Temporal server CPU per run (drain), ms', (x) => x <= 20, 1],
  ['e2e_over_direct_50', 'end to end ÷ direct baseline, 50 clients', (x) => x >= 0.55, 2],
  ['http_p99_at_0_8', 'HTTP p99 at 0.8 × end-to-end capacity, ms', (x) => x <= 100, 0],
  ['api_ms_beyond_hash', 'API CPU per signup beyond the hash, ms', (x) => x <= 3, 1],
];

export function renderFinal(short: Figures[], full: Figures | undefined): string {
  const lines = ['| figure | short runs | median | target |', '| --- | --- | ---: | --- |'];
  for (const [key, label, pass, digits] of TARGETS) {
    const m = median(short.map((f) => f[key]));
    lines.push(`| ${label} | ${short.map((f) => f[key].toFixed(digits)).join(', ')} | ${m.toFixed(digits)} | ${pass(m) ? 'met' : '**not met**'} |`);
  }
  if (full) {
    const rss = full.worker_peak_rss_mb;
    lines.push(`| worker peak RSS, 10,000 backlog (full run), MB | – | ${rss.toFixed(0)} | ${rss <= 250 ? 'met' : '**not met**'} |`);
  }
  return `${lines.join('\n')}\n`;
}

function main(): void {
  const { values } = parseArgs({ options: { 'short-runs': { type: 'string', default: '3' }, 'skip-full': { type: 'boolean', default: false } } });
  const short: Figures[] = [];
  for (let i = 0; i < Number(values['short-runs']); i++) short.push(figures(benchRun(['--seconds', '20', '--backlog', '2000'])));
  const full = values['skip-full'] ? undefined : figures(benchRun([]));
  const table = renderFinal(short, full);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  writeFileSync(join(RESULTS, `final-${stamp}.md`), table);
  process.stdout.write(`\n${table}`);
}

if (require.main === module) main();
