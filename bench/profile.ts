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

/**
 * The share of busy samples whose stack passes through each named part (the first match from
 * the leaf up wins, so the rows add up): e.g. logging, the payload codec, the Temporal client.
 */
export function stackShares(profile: CpuProfile, parts: ReadonlyArray<[name: string, test: (url: string, fn: string) => boolean]>): Array<{ name: string; share: number }> {
  const parent = new Map<number, number>();
  for (const n of profile.nodes as Array<CpuProfile['nodes'][number] & { children?: number[] }>) for (const c of n.children ?? []) parent.set(c, n.id);
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const partOf = new Map<number, string>();
  const classify = (id: number): string => {
    const known = partOf.get(id);
    if (known) return known;
    const { url, functionName } = byId.get(id)?.callFrame ?? { url: '', functionName: '' };
    const hit = parts.find(([, test]) => test(url, functionName));
    const p = parent.get(id);
    const part = hit ? hit[0] : p === undefined ? 'other' : classify(p);
    partOf.set(id, part);
    return part;
  };
  const us = new Map<string, number>();
  let busy = 0;
  for (let i = 0; i < profile.samples.length - 1; i++) {
    const node = byId.get(profile.samples[i]);
    if (node?.callFrame.functionName === '(idle)') continue;
    const part = classify(profile.samples[i]);
    us.set(part, (us.get(part) ?? 0) + profile.timeDeltas[i + 1]);
    busy += profile.timeDeltas[i + 1];
  }
  return [...us.entries()].map(([name, t]) => ({ name, share: busy > 0 ? t / busy : 0 })).sort((a, b) => b.share - a.share);
}

/** The worker's main thread, by part of the code a sample is in (the innermost part named wins). */
export const WORKER_PARTS: ReadonlyArray<[string, (url: string, fn: string) => boolean]> = [
  ['logging (pino)', (url) => /\/(pino|pino-std-serializers|sonic-boom|fast-redact|thread-stream)\//.test(url) || /dist\/src\/logger\.js/.test(url)],
  ['payload codec (AES-GCM + protobuf)', (url) => /payload-encryption\.js/.test(url)],
  ['zod', (url) => /\/zod\//.test(url)],
  ['pg', (url) => /\/(pg|pg-protocol|pg-pool|pg-types)\//.test(url)],
  ['amqplib', (url) => /\/amqplib\//.test(url)],
  ['protobufjs', (url) => /\/protobufjs\//.test(url)],
  ['Temporal worker (JS)', (url) => /@temporalio\/worker\//.test(url)],
  ['Temporal client (JS)', (url) => /@temporalio\/client\//.test(url)],
  ['Temporal common / core bridge (JS + native calls)', (url) => /@temporalio\/(common|core-bridge)\//.test(url)],
  ['rxjs (the SDK worker\'s streams)', (url) => /\/rxjs\//.test(url)],
  ['garbage collector', (_url, fn) => fn === '(garbage collector)'],
  ['module loading (start-up)', (url, fn) => fn === 'wrapSafe' || fn === 'compileForInternalLoader' || /node:internal\/modules/.test(url)],
  ['service code (activities, bridge, stores)', (url) => /\/dist\/(src|activities)\//.test(url)],
];
