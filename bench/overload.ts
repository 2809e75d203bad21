/**
 * The overload phase: signups offered faster than the API can hash them, open loop, at 2× and
 * 4× the hash ceiling. Past HASH_CONCURRENCY hashes in flight and HASH_QUEUE_LIMIT waiting, the
 * API sheds with 503 at once; this measures what that leaves: the latency of the signups it
 * answers with 202, how many it sheds, that no other 5xx appears and that every 202 completes.
 */
import { type LoadResult, paced, percentile } from './load';
import { measurePhase, type PhaseContext } from './phase';
import { type BenchStack, sumMetric } from './stack';

export interface OverloadResult {
  /** The offered rate as a multiple of the hash ceiling. */
  multiple: number;
  offered_per_second: number;
  clients: number;
  sent: number;
  /** Every answer by HTTP status: 202 and 503 only, when all is well. */
  answers_by_status?: Record<string, number>;
  /** Answered 202. */
  accepted: number;
  accepted_per_second: number;
  /** Answered 503 at once by the hash cap: the API's own count (onboarding_signups_shed_total). */
  shed: number;
  /** Any other 5xx: none expected. */
  other_5xx: number;
  /** Every 5xx by status and problem type, the shed ones included: what any other 5xx was. */
  five_xx_by_problem?: Record<string, number>;
  transport_errors: number;
  /** From when each signup was due to its 202. */
  accepted_ms: { p50: number; p99: number; max: number };
  /** From when each signup was due to its 503. */
  shed_ms: { p50: number; p99: number };
  /** A 202 that did not become a COMPLETED row or a dead letter. */
  lost: number;
  settle_timed_out: boolean;
}

const DEFAULT_MULTIPLES = [2, 4];
/** How a shed answer reads in load.fiveXxByProblem: 503 with the `overloaded` problem. */
export const SHED_PROBLEM = '503 /problems/overloaded';

const round = (x: number) => Math.round(x * 10) / 10;
const ms = (x: number) => (Number.isFinite(x) ? String(Math.round(x)) : '–');

async function shedSoFar(metrics: BenchStack['apiMetrics']): Promise<number> {
  return sumMetric(await (await fetch(metrics.url, { headers: metrics.headers })).text(), 'onboarding_signups_shed_total');
}

/** Both multiples, each as a phase of its own: the load, then until every 202 has completed. */
export async function measureOverload(
  ctx: PhaseContext,
  opts: { hashCeiling: number; seconds: number; emailPrefix: string; multiples?: number[] },
): Promise<OverloadResult[]> {
  const results: OverloadResult[] = [];
  for (const multiple of opts.multiples ?? DEFAULT_MULTIPLES) {
    const rate = multiple * opts.hashCeiling;
    // Enough clients that no signup waits for a free one, so the latency is the API's: a shed
    // answer is quick, and at most HASH_CONCURRENCY + HASH_QUEUE_LIMIT signups are in the API
    // for long; a second's worth of arrivals (at least 200) leaves a wide margin.
    const clients = Math.max(200, Math.ceil(rate));
    const shedBefore = await shedSoFar(ctx.stack.apiMetrics);
    let load: LoadResult | undefined;
    const phase = await measurePhase(
      ctx,
      { name: `overload ${multiple}× hash ceiling`, mode: 'paced', clients, offered: { perSecond: rate, fraction: multiple, basis: 'hash_ceiling' } },
      async () => {
        load = await paced({ url: ctx.stack.apiUrl, clients, rate, seconds: opts.seconds, emailPrefix: `${opts.emailPrefix}-x${multiple}` });
        return load;
      },
    );
    if (!load) throw new Error('the overload load did not run');
    const shed = (await shedSoFar(ctx.stack.apiMetrics)) - shedBefore;
    // Read from the answers, not as 5xx less the shed counter: a signup shed after its client gave
    // up (30 s) is counted by the API but never seen as a 503, which made that difference negative.
    const otherFiveXx = Object.entries(load.fiveXxByProblem).reduce((n, [problem, count]) => n + (problem === SHED_PROBLEM ? 0 : count), 0);
    const acceptedMs = load.latenciesMsByStatus[202] ?? [];
    const shedMs = load.latenciesMsByStatus[503] ?? [];
    const result: OverloadResult = {
      multiple,
      offered_per_second: round(rate),
      clients,
      sent: load.sent,
      answers_by_status: load.byStatus,
      accepted: load.accepted.length,
      accepted_per_second: round(load.accepted.length / load.seconds),
      shed,
      other_5xx: otherFiveXx,
      five_xx_by_problem: load.fiveXxByProblem,
      transport_errors: load.transportErrors,
      accepted_ms: { p50: round(percentile(acceptedMs, 50)), p99: round(percentile(acceptedMs, 99)), max: round(percentile(acceptedMs, 100)) },
      shed_ms: { p50: round(percentile(shedMs, 50)), p99: round(percentile(shedMs, 99)) },
      lost: phase.lost,
      settle_timed_out: phase.settle_timed_out,
    };
    ctx.log(`overload ${multiple}×: ${result.accepted} accepted (p99 ${result.accepted_ms.p99} ms), ${result.shed} shed, ${result.other_5xx} other 5xx, ${result.lost} lost; 5xx by problem ${JSON.stringify(result.five_xx_by_problem)}`);
    results.push(result);
  }
  return results;
}

/** The overload table for the report; empty when the phase did not run. */
export function renderOverload(results: OverloadResult[]): string[] {
  if (results.length === 0) return [];
  const lines = [
    '',
    '**Overload**: signups offered faster than the API can hash them (open loop, at multiples of the hash ceiling). Past ' +
      'HASH_CONCURRENCY hashes and HASH_QUEUE_LIMIT waiting, the API sheds with 503 and Retry-After at once; latency counts ' +
      'from when each signup was due.',
    '',
    '| × hash ceiling | offered/s | clients | sent | 202 | 202/s | 202 p50 / p99 / max ms | shed 503 | 503 p50 / p99 ms | other 5xx | lost |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of results) {
    lines.push(
      `| ${r.multiple} | ${r.offered_per_second.toFixed(1)} | ${r.clients} | ${r.sent} | ${r.accepted} | ${r.accepted_per_second.toFixed(1)} | ` +
        `${ms(r.accepted_ms.p50)} / ${ms(r.accepted_ms.p99)} / ${ms(r.accepted_ms.max)} | ${r.shed} | ${ms(r.shed_ms.p50)} / ${ms(r.shed_ms.p99)} | ` +
        `${r.other_5xx} | ${r.lost} |`,
    );
  }
  return lines;
}

/** Shedding, not queueing: at the highest multiple some signups were shed, and no other 5xx anywhere. */
export function overloadTarget(results: OverloadResult[]): { target: string; measured: string; pass: boolean } | undefined {
  if (results.length === 0) return undefined;
  const top = results.reduce((a, b) => (b.multiple > a.multiple ? b : a));
  const other = results.reduce((n, r) => n + r.other_5xx, 0);
  return {
    target: 'past the hash cap: 503 with Retry-After at once, no other 5xx',
    measured: results.map((r) => `${r.multiple}×: ${r.shed} shed, 202 p99 ${ms(r.accepted_ms.p99)} ms`).join('; ') + `; ${other} other 5xx`,
    pass: top.shed > 0 && other === 0,
  };
}
