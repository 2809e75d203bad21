/**
 * `npm run bench:profile`: where one onboarding run's CPU goes in a backlog drain. One trial
 * (bench/levers/trial.ts) with the worker under `node --cpu-prof` (a profile per JS thread) and
 * the Temporal dev server under `perf record`, then for each the ten functions with the most
 * self time, in ms per run: each thread's share of samples times its CPU per run from /proc.
 * The server also gets its CPU by entry point (gRPC handler or background queue task), inclusive.
 *
 *   npm run bench:profile -- [--variant baseline] [--backlog 2000]
 *
 * Writes bench/results/profile-<variant>-<time>.md and .json.
 */
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { perfSelfShares, profileSelfTimes, readCpuProfile, type SelfTime, stackShares, topTable, WORKER_PARTS } from '../profile';
import { openTrialBed, runTrial } from './trial';
import { VARIANTS } from './variants';

const ROOT = resolve(__dirname, '..', '..', '..');
const log = (line: string) => process.stderr.write(`[profile ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

/** Server entry points whose inclusive share says what the CPU was for. */
const SERVER_ENTRY_POINTS = [
  /\(\*WorkflowHandler\)\.(\w+)$/, // frontend gRPC
  /service\/history\.\(\*Handler\)\.(\w+)$/,
  /service\/matching\.\(\*Handler\)\.(\w+)$/,
  /\((\*\w+QueueTaskExecutor)\)\.(process\w+)$/,
  /\((\*\w+QueueActiveTaskExecutor)\)\.(process\w+)$/,
  /^runtime\.(gcBgMarkWorker)$/,
  /^modernc\.org\/sqlite\.\(\*conn\)\.(prepareV2)$/,
  /^modernc\.org\/sqlite\/lib\.(_sqlite3VdbeExec)$/,
  /^database\/sql\.\(\*DB\)\.(execDC)$/,
];

export function serverEntryShares(dataFile: string): Array<{ name: string; share: number }> {
  const text = execFileSync('perf', ['report', '-i', dataFile, '--children', '--sort', 'sym', '--stdio', '-g', 'none', '--percent-limit', '0.5'], {
    maxBuffer: 1 << 26,
    stdio: ['ignore', 'pipe', 'ignore'],
  }).toString();
  // With --children each line has two percentages: children (inclusive), then self.
  const rows = text
    .split('\n')
    .map((line) => /^\s*([\d.]+)%\s+[\d.]+%\s+\[[.k]\]\s+(.+?)\s*$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ name: m[2], share: Number(m[1]) / 100 }));
  return rows.filter((r) => SERVER_ENTRY_POINTS.some((re) => re.test(r.name)));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      variant: { type: 'string', default: 'baseline' },
      backlog: { type: 'string', default: '2000' },
      out: { type: 'string', default: join(ROOT, 'bench', 'results') },
    },
  });
  const variant = VARIANTS.get(values.variant);
  if (!variant) throw new Error(`unknown variant ${values.variant}`);
  const dir = mkdtempSync(join(tmpdir(), 'onboarding-profile-'));
  const bed = await openTrialBed(`${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`);
  let trial;
  try {
    trial = await runTrial(bed, variant, { backlog: Number(values.backlog), dir, profile: true }, log);
  } finally {
    await bed.close();
  }
  const lines: string[] = [
    `Profile of a drain of ${trial.completed} runs, variant \`${variant.name}\` (${variant.what}), ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC.`,
    '',
    `Worker CPU ${trial.worker_cpu_ms_per_run.toFixed(1)} ms/run (start-up ${trial.worker_startup_cpu_ms.toFixed(0)} ms included), ` +
      `Temporal server ${trial.server_cpu_ms_per_run.toFixed(1)} ms/run, both under the profilers (which cost some CPU of their own).`,
    '',
    '**Worker CPU by thread**, ms per run (from /proc; `js-thread-1` is the workflow thread, `node` are V8\'s and libuv\'s helpers, `tokio-runtime-w` the SDK\'s Rust core):',
    '',
    '| thread | ms/run |',
    '| --- | ---: |',
    ...Object.entries(trial.worker_threads_ms_per_run)
      .sort((a, b) => b[1] - a[1])
      .filter(([, ms]) => ms >= 0.05)
      .map(([name, ms]) => `| ${name} | ${ms.toFixed(2)} |`),
  ];
  const json: Record<string, unknown> = { trial };
  for (const file of trial.profiles?.worker_cpuprofiles ?? []) {
    // CPU.<date>.<time>.<pid>.<node thread id>.<seq>.cpuprofile; thread 0 is the main thread.
    const nodeThread = Number(basename(file).split('.')[4]);
    const thread = nodeThread === 0 ? 'main' : `js-thread-${nodeThread}`;
    const profile = readCpuProfile(file);
    const { functions } = profileSelfTimes(profile);
    const ms = trial.worker_threads_ms_per_run[thread] ?? 0;
    lines.push('', `**Worker, ${thread === 'main' ? 'main thread' : 'workflow thread'}** (${ms.toFixed(2)} ms/run): top ten by self time`, '', topTable(functions, ms));
    if (thread === 'main') {
      const parts = stackShares(profile, WORKER_PARTS);
      lines.push('', '**Worker, main thread by part** (the innermost named part of each sample\'s stack; rows add up)', '', topTable(parts, ms, 20));
      json.worker_main_parts = parts;
    }
    json[`worker_${thread}`] = functions.slice(0, 30) satisfies SelfTime[];
  }
  const perfData = trial.profiles?.server_perf_data;
  if (perfData) {
    const self = perfSelfShares(perfData);
    const entries = serverEntryShares(perfData);
    lines.push(
      '',
      `**Temporal dev server** (${trial.server_cpu_ms_per_run.toFixed(2)} ms/run): top ten by self time (perf, \`[k]\` is the kernel)`,
      '',
      topTable(self, trial.server_cpu_ms_per_run),
      '',
      '**Temporal dev server by entry point**, inclusive (a handler\'s share contains what it calls; rows overlap)',
      '',
      topTable(entries, trial.server_cpu_ms_per_run, 30),
    );
    json.server_self = self.slice(0, 30);
    json.server_entry_points = entries;
  }
  lines.push('', `Events of one run: ${trial.history.join(', ')}.`, '');
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  mkdirSync(values.out, { recursive: true });
  writeFileSync(join(values.out, `profile-${variant.name}-${stamp}.md`), lines.join('\n'));
  writeFileSync(join(values.out, `profile-${variant.name}-${stamp}.json`), `${JSON.stringify(json, null, 2)}\n`);
  process.stdout.write(`${lines.join('\n')}\n`);
  log(`raw profiles in ${dir}`);
}

main().catch((err: Error) => {
  log(`failed: ${err.stack ?? err.message}`);
  process.exit(1);
});
