/**
 * Where a process spends its CPU, per onboarding run: the functions with the most self time in a
 * V8 CPU profile (`node --cpu-prof`, one file per thread) or in `perf report` of the Temporal
 * server (a Go binary with its symbols). Used by `npm run bench:profile` (bench/levers/profile.ts).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

export interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }>;
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface SelfTime {
  /** function (file:line), or a V8 pseudo-frame such as (garbage collector). */
  name: string;
  self_ms: number;
  share: number;
}

const shortUrl = (url: string) => {
  if (!url) return '';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  const dist = url.indexOf('/dist/');
  return dist >= 0 ? url.slice(dist + 1) : basename(url);
};

/** Self time per function (summed over its nodes), most first; `(idle)` left out of the shares. */
export function profileSelfTimes(profile: CpuProfile): { busy_ms: number; functions: SelfTime[] } {
  const nameOf = new Map<number, string>();
  for (const n of profile.nodes) {
    const { functionName, url, lineNumber } = n.callFrame;
    const where = url ? ` (${shortUrl(url)}:${lineNumber + 1})` : '';
    nameOf.set(n.id, `${functionName || '(anonymous)'}${where}`);
  }
  const selfUs = new Map<string, number>();
  // A sample's time is the delta to the next sample; the last sample has none.
  for (let i = 0; i < profile.samples.length - 1; i++) {
    const name = nameOf.get(profile.samples[i]) ?? '(unknown)';
    selfUs.set(name, (selfUs.get(name) ?? 0) + profile.timeDeltas[i + 1]);
  }
  selfUs.delete('(idle)');
  const busyUs = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const functions = [...selfUs.entries()]
    .map(([name, us]) => ({ name, self_ms: us / 1000, share: busyUs > 0 ? us / busyUs : 0 }))
    .sort((a, b) => b.self_ms - a.self_ms);
  return { busy_ms: busyUs / 1000, functions };
}

export function readCpuProfile(file: string): CpuProfile {
  return JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
}

/** Parses `perf report --no-children --sort sym --stdio` lines: "  12.34%  [.] symbol". */
export function parsePerfReport(text: string): Array<{ name: string; share: number }> {
  const out: Array<{ name: string; share: number }> = [];
  for (const line of text.split('\n')) {
    const m = /^\s*([\d.]+)%\s+\[[.k]\]\s+(.+?)\s*$/.exec(line);
    if (m) out.push({ name: m[2], share: Number(m[1]) / 100 });
  }
  return out;
}

/** Self-time shares of a perf.data file, by symbol. */
export function perfSelfShares(dataFile: string): Array<{ name: string; share: number }> {
  const text = execFileSync('perf', ['report', '-i', dataFile, '--no-children', '--sort', 'sym', '--stdio', '-g', 'none', '--percent-limit', '0.3'], {
    maxBuffer: 1 << 26,
    stdio: ['ignore', 'pipe', 'ignore'],
  }).toString();
  return parsePerfReport(text);
}

/** A Markdown table of the top `n`, in ms per run (the process's CPU per run times each share). */
export function topTable(rows: Array<{ name: string; share: number }>, cpuMsPerRun: number, n = 10): string {
  const lines = ['| function | self ms/run | share |', '| --- | ---: | ---: |'];
  for (const r of rows.slice(0, n)) {
    lines.push(`| \`${r.name.replace(/\|/g, '\\|').slice(0, 140)}\` | ${(r.share * cpuMsPerRun).toFixed(2)} | ${(r.share * 100).toFixed(1)} % |`);
  }
  return lines.join('\n');
}
