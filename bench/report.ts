/** The benchmark's result, its targets, and the Markdown table made from it. */
import type { HashCeiling } from './hash-ceiling';
import type { OtlpCounts } from './otlp-receiver';
import { type OverloadResult, overloadTarget, renderOverload } from './overload';
import type { PhaseResult } from './phase';
import type { TemporalMode } from './stack';

export interface DrainResult {
  path: 'temporal' | 'direct';
  /** The Temporal server of the stack drained on (idle for the direct consumer). */
  temporal_server: TemporalMode | 'external';
  messages: number;
  /** From the consumer's first subscription to the last row COMPLETED. */
  seconds: number;
  per_second: number;
  /** Process start to consuming: what a pre-bundled workflow shortens. */
  start_to_consuming_seconds: number;
  peak_consumer_rss_mb: number;
  /** Deliveries RabbitMQ marked redelivered while draining (the worker's own counter); none for the direct consumer. */
  redelivered: number | null;
  lost: number;
  cpu_seconds_per_signup: Record<string, number>;
  /** verifyEmail runs open on the drain's task queue at its end: 0, since the drain is onboarding only; null for the direct consumer or a stack the benchmark did not start. */
  verification_runs?: number | null;
}

/**
 * The verification flow through the mail accepted by SMTP (issues 11 and 14): a backlog drained by
 * a worker whose mail goes to the benchmark's Mailpit, until every signup is a COMPLETED row and
 * has its mail; then the verification runs stay open on their timers.
 */
export interface VerificationResult {
  /** The Temporal server of the stack drained on. */
  temporal_server: TemporalMode | 'external';
  messages: number;
  /** Mails Mailpit accepted during the drain: one verification mail per signup, unless some went twice. */
  mails: number;
  /** Distinct addresses among them: the signups that got their mail. */
  users_mailed: number;
  /** Mails to addresses of no signup of this drain: signups an earlier phase left queued, onboarded by the mail worker. */
  other_mails?: number;
  /** Mails beyond one per address: at-least-once mail (docs/verification.md); expected 0 without a crash. */
  duplicate_mails: number;
  /** From the worker consuming to the last mail in Mailpit. */
  seconds: number;
  per_second: number;
  start_to_consuming_seconds: number;
  /** Signups left without a COMPLETED row or without a mail. */
  lost: number;
  /** Over the whole flow, through the mail; `mailpit` is the SMTP server's own CPU. */
  cpu_seconds_per_signup: Record<string, number>;
  /** The onboarding-only drain on the same stack (no verification run), for what the flow adds; null without it. */
  onboarding_only_cpu_seconds_per_signup: Record<string, number> | null;
  /** This drain's verifyEmail runs open at the end, by Temporal's visibility: waiting on their timers. */
  open_runs: number;
  /** Other verifyEmail runs open on the worker's task queue: signups an earlier phase left in the queue, onboarded by this worker. */
  other_open_runs?: number;
  /** How long the worker's memory was watched with the runs open, after the last mail. */
  hold_seconds: number;
  /** The worker's peak over the drain and the hold. */
  peak_worker_rss_mb: number;
  /** The worker's RSS at the end of the hold, with `open_runs` (and `other_open_runs`) runs open. */
  worker_rss_with_runs_open_mb: number;
}

/**
 * Tracing's cost (issue 13): the same closed loop with tracing off and then on, on one stack; on,
 * the API and the worker export every span over OTLP/HTTP to the benchmark's own receiver.
 */
export interface TracingResult {
  temporal_server: TemporalMode | 'external';
  clients: number;
  /** Seconds each of the two phases went on being measured after settling (the last batches of spans). */
  tail_seconds: number;
  off: PhaseResult;
  on: PhaseResult;
  otlp: OtlpCounts;
}

/** What the verification flow adds per signup to one component: ms, and as a multiple of its onboarding-only figure. */
export interface Addition {
  ms: number;
  ratio: number;
}

/** The verification flow's CPU less the onboarding-only drain's, for the worker and the Temporal server; null without the drain. */
export function verificationAdds(v: VerificationResult): { worker: Addition; temporal: Addition } | null {
  const base = v.onboarding_only_cpu_seconds_per_signup;
  if (!base) return null;
  const add = (role: string): Addition => {
    const ms = ((v.cpu_seconds_per_signup[role] ?? NaN) - (base[role] ?? NaN)) * 1000;
    return { ms, ratio: ms / ((base[role] ?? NaN) * 1000) };
  };
  return { worker: add('worker'), temporal: add('temporal') };
}

/** The issue's bound: the flow adds at most half again to the worker's and to the server's onboarding figures. */
export const VERIFICATION_ADDS_AT_MOST = 0.5;
/** Issue 14's worker memory target, which open verification runs must stay under too. */
export const WORKER_RSS_TARGET_MB = 250;

export interface Target {
  target: string;
  measured: string;
  pass: boolean;
}

export interface BenchResult {
  started_at: string;
  finished_at: string;
  machine: { cores: number; memory_gib: number; cpu: string; node: string };
  settings: Record<string, string | number | boolean>;
  hash_ceiling: { before: HashCeiling; after: HashCeiling | null; hashes_per_second: number };
  phases: PhaseResult[];
  drains: DrainResult[];
  /** Load past the hash ceiling (bench/overload.ts). */
  overload: OverloadResult[];
  /** The verification flow through the mail; absent in results from before it was measured. */
  verification?: VerificationResult[];
  /** Tracing off and on; absent in results from before it was measured. */
  tracing?: TracingResult[];
  targets: Target[];
  process_crashes: string[];
  notes: string[];
}

const ms = (x: number) => (Number.isFinite(x) ? String(Math.round(x)) : '–');
const n1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '–');
/** A difference, with its sign: +5.0, −1.2 (a noisy run can show the flow cheaper than onboarding alone). */
const signed = (x: number) => (Number.isFinite(x) ? `${x < 0 ? '−' : '+'}${Math.abs(x).toFixed(1)}` : '–');
const ratio = (x: number | undefined) => (x !== undefined && Number.isFinite(x) ? x.toFixed(2) : '–');
const mb = (x: number | undefined) => (x === undefined ? '–' : String(Math.round(x)));
const cpuMs = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '–' : (x * 1000).toFixed(1));
const serverName = (mode: TemporalMode | 'external') => (mode === 'dev' ? 'dev server' : mode);
// The processes every stack runs, in the order of the CPU columns; the load generator is the benchmark itself.
const SERVICE_ROLES = ['api', 'worker', 'temporal', 'rabbitmq', 'postgres'] as const;
const POSTGRES_NOTE =
  "In cluster mode the Postgres column includes the Temporal server's persistence and visibility writes, " +
  'which the dev server makes in its own SQLite file (so in its Temporal server column).';

/** A paragraph and, under it, a table's head: the first `textColumns` columns left-aligned, the numbers after them right-aligned. */
function tableUnder(intro: string, columns: string[], textColumns = 1): string[] {
  const align = columns.map((_, i) => (i < textColumns ? '---' : '---:'));
  return ['', intro, '', `| ${columns.join(' | ')} |`, `| ${align.join(' | ')} |`];
}

function directFor(result: BenchResult, phase: PhaseResult): PhaseResult | undefined {
  return result.phases.find((p) => p.path === 'direct' && p.mode === phase.mode && p.clients === phase.clients);
}

export function evaluateTargets(result: Omit<BenchResult, 'targets'>): Target[] {
  const ceiling = result.hash_ceiling.hashes_per_second;
  const temporal = result.phases.filter((p) => p.path !== 'direct');
  const targets: Target[] = [];
  // Judged on each Temporal server the run measured.
  for (const server of new Set(temporal.map((p) => p.temporal_server))) {
    const closed = temporal.filter((p) => p.mode === 'closed' && p.temporal_server === server);
    const best = closed.reduce<PhaseResult | undefined>((b, p) => (!b || p.end_to_end_per_second > b.end_to_end_per_second ? p : b), undefined);
    if (!best) continue;
    const r = best.end_to_end_per_second / ceiling;
    targets.push({
      target: `end-to-end sustained ≥ 0.7 × hash ceiling (${serverName(server)})`,
      measured: `${n1(best.end_to_end_per_second)}/s at ${best.clients} clients = ${ratio(r)} × ${n1(ceiling)}/s`,
      pass: r >= 0.7,
    });
  }
  // Latency is judged at a load the service sustains: 50 clients offering 80 % of the end-to-end
  // capacity. Closed-loop latency is queueing (clients ÷ throughput) and is reported, not judged.
  const sustained = temporal.filter((p) => p.mode === 'paced' && p.clients === 50 && p.offered_basis === 'end_to_end_capacity');
  const atTarget = sustained.reduce<PhaseResult | undefined>(
    (b, p) => (!b || Math.abs((p.offered_fraction ?? 0) - 0.8) < Math.abs((b.offered_fraction ?? 0) - 0.8) ? p : b),
    undefined,
  );
  if (atTarget) {
    targets.push({
      target: `POST /signup p99 ≤ 100 ms at 50 clients (open loop, 0.8 × end-to-end capacity, ${serverName(atTarget.temporal_server)})`,
      measured: `p99 ${ms(atTarget.http_ms.p99)} ms at ${n1(atTarget.offered_per_second ?? 0)}/s offered (${ratio(atTarget.offered_fraction)} × capacity)`,
      pass: atTarget.http_ms.p99 <= 100,
    });
  }
  for (const d of result.drains.filter((x) => x.path === 'temporal')) {
    targets.push({
      target: `backlog of ${d.messages} drains, worker RSS ≤ 400 MB, no redelivery (${serverName(d.temporal_server)})`,
      measured: `${n1(d.per_second)}/s, peak RSS ${mb(d.peak_consumer_rss_mb)} MB, ${d.redelivered} redelivered, ${d.lost} lost`,
      pass: d.peak_consumer_rss_mb <= 400 && d.redelivered === 0 && d.lost === 0,
    });
  }
  const overload = overloadTarget(result.overload);
  if (overload) targets.push(overload);
  targets.push(...verificationTargets(result.verification ?? []));
  const tracingPhases = (result.tracing ?? []).flatMap((t) => [t.off, t.on]);
  const verification = result.verification ?? [];
  const lost = [...result.phases, ...result.drains, ...result.overload, ...verification, ...tracingPhases].reduce((s, x) => s + x.lost, 0);
  const measured = result.phases.length + result.drains.length + result.overload.length + verification.length + tracingPhases.length;
  targets.push({ target: 'zero loss', measured: measured > 0 ? `${lost} lost` : 'nothing measured', pass: lost === 0 && measured > 0 });
  return targets;
}

/** Issue 14's two targets for the verification flow, on each Temporal server measured. */
export function verificationTargets(results: VerificationResult[]): Target[] {
  const targets: Target[] = [];
  for (const v of results) {
    const adds = verificationAdds(v);
    if (adds) {
      targets.push({
        target: `the verification flow, through the mail accepted by SMTP, adds ≤ ${VERIFICATION_ADDS_AT_MOST} × the worker's and the server's onboarding figures (${serverName(v.temporal_server)})`,
        measured: `worker ${signed(adds.worker.ms)} ms = ${ratio(adds.worker.ratio)} ×, Temporal server ${signed(adds.temporal.ms)} ms = ${ratio(adds.temporal.ratio)} ×`,
        pass: adds.worker.ratio <= VERIFICATION_ADDS_AT_MOST && adds.temporal.ratio <= VERIFICATION_ADDS_AT_MOST,
      });
    }
    targets.push({
      target: `worker RSS ≤ ${WORKER_RSS_TARGET_MB} MB with ${v.messages} verification runs open (${serverName(v.temporal_server)})`,
      measured: `peak ${mb(v.peak_worker_rss_mb)} MB, ${mb(v.worker_rss_with_runs_open_mb)} MB with ${v.open_runs} runs open${v.other_open_runs ? ` (and ${v.other_open_runs} of signups earlier phases left queued)` : ''}`,
      pass: v.peak_worker_rss_mb <= WORKER_RSS_TARGET_MB && v.open_runs >= v.messages - v.lost,
    });
  }
  return targets;
}

/** The verification drain's table: the whole flow's CPU per signup, the onboarding-only drain's, and the difference. */
export function renderVerification(results: VerificationResult[]): string[] {
  if (results.length === 0) return [];
  const lines = tableUnder(
    '**The verification flow, through the mail accepted by SMTP**: a backlog drained by a worker whose mail goes to a Mailpit ' +
      "of the benchmark's own, until every signup is a COMPLETED row and its verification mail is in Mailpit (counted through " +
      "Mailpit's HTTP API). CPU ms per signup over the whole flow, by process tree; then the onboarding-only drain's figures on " +
      'the same stack (its runs end at the row and start no verification run) and what the flow adds to them. Then the verification runs wait on their ' +
      "timers, and the worker's memory is read with all of them open.",
    [
      'Temporal',
      'signups',
      'mails (duplicates)',
      'mails/s',
      'flow: worker / Temporal server / Postgres / RabbitMQ / Mailpit',
      'onboarding only: worker / Temporal server',
      'adds: worker',
      'adds: Temporal server',
      'open runs',
      'worker RSS MB: peak / with the runs open',
      'lost',
    ],
    1,
  );
  for (const v of results) {
    const c = v.cpu_seconds_per_signup;
    const base = v.onboarding_only_cpu_seconds_per_signup;
    const adds = verificationAdds(v);
    const add = (a: Addition | undefined) => (a ? `${signed(a.ms)} ms = ${ratio(a.ratio)} ×` : '–');
    lines.push(
      `| ${serverName(v.temporal_server)} | ${v.messages} | ${v.mails} (${v.duplicate_mails}) | ${n1(v.per_second)} | ` +
        `${cpuMs(c.worker)} / ${cpuMs(c.temporal)} / ${cpuMs(c.postgres)} / ${cpuMs(c.rabbitmq)} / ${cpuMs(c.mailpit)} | ` +
        `${base ? `${cpuMs(base.worker)} / ${cpuMs(base.temporal)}` : '–'} | ${add(adds?.worker)} | ${add(adds?.temporal)} | ` +
        `${v.open_runs} | ${mb(v.peak_worker_rss_mb)} / ${mb(v.worker_rss_with_runs_open_mb)} | ${v.lost} |`,
    );
  }
  return lines;
}

/** Tracing off next to on: CPU ms per signup by process tree, and what the exporter sent. */
export function renderTracing(results: TracingResult[]): string[] {
  if (results.length === 0) return [];
  const lines = tableUnder(
    '**Tracing off and on** (docs/tracing.md): the same closed loop twice on one stack, first with tracing off, then with the API ' +
      'and the worker exporting every span over OTLP/HTTP to a receiver inside the benchmark, which only counts what arrives (its ' +
      "CPU is in the load generator's). Each phase is measured until a few seconds after its last signup settled, for the last " +
      'batches of spans. CPU ms per signup by process tree.',
    ['Temporal', 'clients', 'tracing', 'accepted/s', 'end-to-end/s', 'API', 'worker', 'Temporal server', 'RabbitMQ', 'Postgres', 'service total', 'OTLP exports', 'KiB per signup'],
    3,
  );
  const total = (cpu: Record<string, number>) => SERVICE_ROLES.reduce((sum, role) => sum + (cpu[role] ?? 0), 0);
  for (const t of results) {
    const row = (label: string, p: PhaseResult, otlp: string, perSignup: string) =>
      `| ${serverName(t.temporal_server)} | ${t.clients} | ${label} | ${n1(p.accepted_per_second)} | ${n1(p.end_to_end_per_second)} | ` +
      `${SERVICE_ROLES.map((role) => cpuMs(p.cpu_seconds_per_signup[role])).join(' | ')} | ${cpuMs(total(p.cpu_seconds_per_signup))} | ${otlp} | ${perSignup} |`;
    lines.push(row('off', t.off, '–', '–'));
    const signups = Math.max(t.on.accepted_by_api, 1);
    lines.push(row('on', t.on, String(t.otlp.requests), n1(t.otlp.bytes / 1024 / signups)));
    const diff = (role: string) => signed(((t.on.cpu_seconds_per_signup[role] ?? NaN) - (t.off.cpu_seconds_per_signup[role] ?? NaN)) * 1000);
    lines.push(
      `| ${serverName(t.temporal_server)} | ${t.clients} | on − off | – | – | ${SERVICE_ROLES.map(diff).join(' | ')} | ` +
        `${signed((total(t.on.cpu_seconds_per_signup) - total(t.off.cpu_seconds_per_signup)) * 1000)} | – | – |`,
    );
  }
  return lines;
}

/**
 * The closed loop and the backlog drain through Temporal with the rows of each Temporal server
 * next to each other, load by load; nothing when the run measured only one.
 */
function sideBySide(result: BenchResult): string[] {
  const closed = result.phases.filter((p) => p.path === 'temporal' && p.mode === 'closed');
  const drains = result.drains.filter((d) => d.path === 'temporal');
  if (new Set([...closed, ...drains].map((x) => x.temporal_server)).size < 2) return [];
  const lines = tableUnder(
    '**The dev server and the cluster side by side**: the closed loop and the backlog drain through Temporal, on the Temporal dev ' +
      "server (SQLite) and on a Temporal cluster (the `server` binary, on the machine's Postgres). signups/s is end-to-end/s in the " +
      'closed loop and drained/s in the drain; then CPU milliseconds per signup by process tree, and the sum of those five. ' +
      POSTGRES_NOTE,
    ['load', 'Temporal', 'signups/s', 'e2e p50 / p99 ms', 'API', 'worker', 'Temporal server', 'RabbitMQ', 'Postgres', 'service total'],
    2,
  );
  const row = (load: string, server: TemporalMode | 'external', perSecond: number, e2e: string, cpu: Record<string, number>) => {
    const total = SERVICE_ROLES.reduce((sum, role) => sum + (cpu[role] ?? 0), 0);
    return `| ${load} | ${serverName(server)} | ${n1(perSecond)} | ${e2e} | ${SERVICE_ROLES.map((role) => cpuMs(cpu[role])).join(' | ')} | ${cpuMs(total)} |`;
  };
  for (const clients of new Set(closed.map((p) => p.clients))) {
    for (const p of closed.filter((x) => x.clients === clients)) {
      lines.push(row(`closed loop, ${clients} clients`, p.temporal_server, p.end_to_end_per_second, `${ms(p.end_to_end_ms.p50)} / ${ms(p.end_to_end_ms.p99)}`, p.cpu_seconds_per_signup));
    }
  }
  for (const d of drains) lines.push(row(`drain of ${d.messages}`, d.temporal_server, d.per_second, '–', d.cpu_seconds_per_signup));
  return lines;
}

/**
 * The API's CPU per accepted signup: its event loop apart from its other threads
 * (PhaseResult.api_threads_ms_per_signup). Requests per signup shows how many answers (mostly
 * 503s past the hash cap) each signup paid for.
 */
export function renderApiThreads(phases: PhaseResult[]): string[] {
  const measured = phases.filter((p) => p.api_threads_ms_per_signup);
  if (measured.length === 0) return [];
  const lines = tableUnder(
    "**The API's CPU by thread**, ms per signup accepted: the main thread is the event loop (HTTP, zod, the password policy, pg, " +
      "amqplib, logging); the other threads are libuv's pool, where argon2id runs, and V8's helpers (GC, compilation), which Node 20 " +
      'names alike. Shed requests (503) are paid for by the signups accepted.',
    ['path', 'Temporal', 'load', 'requests per signup', 'main thread', 'other threads (argon2id, V8 helpers)', 'all'],
    3,
  );
  for (const p of measured) {
    const main = p.api_threads_ms_per_signup?.main ?? 0;
    // The process's own figure: it counts threads that ended during the phase too.
    const total = p.cpu_seconds_per_signup.api * 1000;
    const load = p.mode === 'closed' ? `${p.clients} clients` : `${n1(p.offered_per_second ?? 0)}/s`;
    lines.push(
      `| ${p.path} | ${serverName(p.temporal_server)} | ${load} | ${p.accepted > 0 ? ratio(p.sent / p.accepted) : '–'} | ${n1(main)} | ` +
        `${n1(total - main)} | ${n1(total)} |`,
    );
  }
  return lines;
}

export function renderMarkdown(result: BenchResult): string {
  const ceiling = result.hash_ceiling.hashes_per_second;
  const hc = result.hash_ceiling.before;
  const lines: string[] = [];
  lines.push(
    `Run ${result.started_at.slice(0, 16).replace('T', ' ')} UTC on ${result.machine.cores} cores (${result.machine.cpu}), ` +
      `${result.machine.memory_gib} GiB, Node ${result.machine.node}.`,
    '',
    `**Hash ceiling: ${n1(ceiling)} argon2id hashes/s** (m=${hc.parameters.memory_kib} KiB, t=${hc.parameters.time_cost}, ` +
      `p=${hc.parameters.parallelism}; ${n1(hc.cores_busy)} cores busy; one hash alone ${n1(hc.single_hash_ms)} ms` +
      (result.hash_ceiling.after ? `; ${n1(hc.hashes_per_second)}/s before the run, ${n1(result.hash_ceiling.after.hashes_per_second)}/s after` : '') +
      ').',
    ...sideBySide(result),
    ...tableUnder(
      '**Closed loop**: each client sends its next signup as soon as the last is answered. End to end (e2e) runs from the API accepting a ' +
        'signup (just before its 2xx) to its user row COMPLETED; end-to-end/s counts completions from the start of the load to the last one.',
      ['path', 'Temporal', 'clients', 'accepted/s', 'HTTP p50 / p95 / p99 ms', 'end-to-end/s', 'e2e p50 / p99 ms', 'lost', 'e2e ÷ hash ceiling', 'e2e ÷ direct'],
      2,
    ),
  );
  for (const p of result.phases.filter((x) => x.mode === 'closed')) {
    const direct = p.path === 'direct' ? undefined : directFor(result, p);
    lines.push(
      `| ${p.path} | ${serverName(p.temporal_server)} | ${p.clients} | ${n1(p.accepted_per_second)} | ${ms(p.http_ms.p50)} / ${ms(p.http_ms.p95)} / ${ms(p.http_ms.p99)} | ` +
        `${n1(p.end_to_end_per_second)} | ${ms(p.end_to_end_ms.p50)} / ${ms(p.end_to_end_ms.p99)} | ${p.lost} | ` +
        `${ratio(p.end_to_end_per_second / ceiling)} | ${direct ? ratio(p.end_to_end_per_second / direct.end_to_end_per_second) : '–'} |`,
    );
  }
  const paced = result.phases.filter((x) => x.mode === 'paced');
  if (paced.length > 0) {
    lines.push(
      ...tableUnder(
        '**Open loop**: signups arrive at random (Poisson) at a set rate, spread over the clients; latency counts from when each was due. ' +
          'The rate is a fraction of the end-to-end capacity (the best closed-loop end-to-end rate above on the same Temporal server) or ' +
          'of the hash ceiling. It runs on the first Temporal server of the run only.',
        ['path', 'Temporal', 'clients', 'offered/s', 'accepted/s', 'HTTP p50 / p95 / p99 ms', 'end-to-end/s', 'e2e p50 / p99 ms', 'lost'],
        2,
      ),
    );
    for (const p of paced) {
      const basis = p.offered_basis === 'hash_ceiling' ? 'hash ceiling' : 'e2e capacity';
      lines.push(
        `| ${p.path} | ${serverName(p.temporal_server)} | ${p.clients} | ${n1(p.offered_per_second ?? 0)} (${ratio(p.offered_fraction)} × ${basis}) | ${n1(p.accepted_per_second)} | ` +
          `${ms(p.http_ms.p50)} / ${ms(p.http_ms.p95)} / ${ms(p.http_ms.p99)} | ${n1(p.end_to_end_per_second)} | ` +
          `${ms(p.end_to_end_ms.p50)} / ${ms(p.end_to_end_ms.p99)} | ${p.lost} |`,
      );
    }
  }
  lines.push(
    ...tableUnder(
      '**CPU milliseconds per signup**, by process (whole trees: the postmaster and its backends, RabbitMQ\'s beam.smp), and peak RSS. ' +
        POSTGRES_NOTE,
      ['path', 'Temporal', 'load', 'API', 'worker', 'Temporal server', 'RabbitMQ', 'Postgres', 'load generator', 'total', 'API / worker peak RSS MB'],
      3,
    ),
  );
  for (const p of result.phases) {
    const c = p.cpu_seconds_per_signup;
    const total = Object.values(c).reduce((s, x) => s + x, 0);
    const load = p.mode === 'closed' ? `${p.clients} clients` : `${n1(p.offered_per_second ?? 0)}/s`;
    lines.push(
      `| ${p.path} | ${serverName(p.temporal_server)} | ${load} | ${cpuMs(c.api)} | ${cpuMs(c.worker)} | ${cpuMs(c.temporal)} | ${cpuMs(c.rabbitmq)} | ${cpuMs(c.postgres)} | ` +
        `${cpuMs(c.load_generator)} | ${cpuMs(total)} | ${mb(p.peak_rss_mb.api)} / ${mb(p.peak_rss_mb.worker)} |`,
    );
  }
  lines.push(...renderApiThreads(result.phases));
  if (result.drains.length > 0) {
    lines.push(
      ...tableUnder(
        '**Backlog drain**: messages queued while no consumer runs, then drained (already hashed: this is the consumer side alone).',
        ['path', 'Temporal', 'messages', 'drained/s', 'seconds', 'start → consuming s', 'consumer peak RSS MB', 'redelivered', 'lost', 'CPU ms/signup: worker / Temporal server / RabbitMQ / Postgres'],
        2,
      ),
    );
    for (const d of result.drains) {
      const c = d.cpu_seconds_per_signup;
      lines.push(
        `| ${d.path} | ${serverName(d.temporal_server)} | ${d.messages} | ${n1(d.per_second)} | ${n1(d.seconds)} | ${n1(d.start_to_consuming_seconds)} | ${mb(d.peak_consumer_rss_mb)} | ` +
          `${d.redelivered ?? '–'} | ${d.lost} | ${cpuMs(c.worker)} / ${cpuMs(c.temporal)} / ${cpuMs(c.rabbitmq)} / ${cpuMs(c.postgres)} |`,
      );
    }
  }
  lines.push(...renderOverload(result.overload));
  lines.push(...renderVerification(result.verification ?? []));
  lines.push(...renderTracing(result.tracing ?? []));
  lines.push('', '**Targets**', '', '| target | measured | |', '| --- | --- | --- |');
  for (const t of result.targets) lines.push(`| ${t.target} | ${t.measured} | ${t.pass ? 'met' : '**not met**'} |`);
  if (result.process_crashes.length > 0) lines.push('', `Process crashes: ${result.process_crashes.join('; ')}`);
  for (const note of result.notes) lines.push('', note);
  lines.push(
    '',
    `Settings: ${Object.entries(result.settings)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')}.`,
  );
  return `${lines.join('\n')}\n`;
}
