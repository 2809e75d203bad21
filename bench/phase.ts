/**
 * One measured phase: a load on POST /signup, then waiting until every signup the API accepted
 * is a COMPLETED row (or a dead letter), with each component's CPU time over the whole span.
 */
import type { Pool } from 'pg';
import type { LoadResult } from './load';
import { percentile } from './load';
import { cpuSnapshot, sampleRss, threadCpuSeconds } from './proc-stats';
import type { BenchStack, TemporalMode } from './stack';

export interface PhaseResult {
  name: string;
  path: 'temporal' | 'direct' | 'external';
  /** The Temporal server of the stack the phase ran on (idle in a direct phase). */
  temporal_server: TemporalMode | 'external';
  mode: 'closed' | 'paced';
  clients: number;
  offered_per_second?: number;
  /** What the offered rate is a fraction of: the run's end-to-end capacity or its hash ceiling. */
  offered_fraction?: number;
  offered_basis?: 'end_to_end_capacity' | 'hash_ceiling';
  load_seconds: number;
  sent: number;
  answers_by_status: Record<string, number>;
  transport_errors: number;
  accepted: number;
  accepted_per_second: number;
  http_ms: { p50: number; p95: number; p99: number; max: number };
  /** Accepted by the API during the phase (its own counter), stragglers after the load included. */
  accepted_by_api: number;
  completed: number;
  dead_lettered: number;
  /** Signups completed per second, from the load's start to the last completion. */
  end_to_end_per_second: number;
  end_to_end_ms: { p50: number; p99: number; max: number };
  /** A 2xx whose signup neither became a COMPLETED row nor a dead letter. */
  lost: number;
  settle_timed_out: boolean;
  cpu_seconds_per_signup: Record<string, number>;
  /**
   * The API's CPU ms per accepted signup by thread: `main` is the event loop (HTTP, zod, the
   * password policy, pg, amqplib, logging); on Node 20 libuv's pool, where argon2id runs, and V8's
   * helpers (GC, compilation) are all named `node`, so only `main` is read apart (the rest is the
   * API's total less it; the results of 2026-11-26 10:44–11:33 also list the other names).
   * Absent in results before 2026-11-26.
   */
  api_threads_ms_per_signup?: Record<string, number>;
  peak_rss_mb: Record<string, number>;
}

/** CPU seconds of a process's main thread, or nothing if it is not there (an external stack's API). */
function mainThreadSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    return threadCpuSeconds(pid).main;
  } catch {
    return undefined;
  }
}

export interface PhaseContext {
  stack: BenchStack;
  pool: Pool;
  settleSeconds: number;
  log: (line: string) => void;
}

/** Signups the API has accepted (it records each after the broker's confirm) and where they are now. */
async function pipelineCounts(pool: Pool): Promise<{ accepted: number; completed: number; dead: number; pending: number }> {
  const { rows } = await pool.query<{ accepted: string; completed: string; dead: string; pending: string }>(`
    SELECT (SELECT count(*) FROM signup_requests) AS accepted,
           (SELECT count(*) FROM users WHERE onboarding_state = 'COMPLETED') AS completed,
           (SELECT count(*) FROM signup_requests WHERE failed_at IS NOT NULL) AS dead,
           (SELECT count(*) FROM signup_requests s
             WHERE s.failed_at IS NULL
               AND NOT EXISTS (SELECT 1 FROM users u WHERE u.user_id = s.user_id AND u.onboarding_state = 'COMPLETED')) AS pending`);
  const r = rows[0];
  return { accepted: Number(r.accepted), completed: Number(r.completed), dead: Number(r.dead), pending: Number(r.pending) };
}

const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

export async function measurePhase(
  ctx: PhaseContext,
  spec: {
    name: string;
    mode: 'closed' | 'paced';
    clients: number;
    offered?: { perSecond: number; fraction: number; basis: 'end_to_end_capacity' | 'hash_ceiling' };
    /** Waits this long after the last signup settled, still measuring (e.g. for batched spans to be exported). */
    tailSeconds?: number;
  },
  load: () => Promise<LoadResult>,
): Promise<PhaseResult> {
  const { stack, pool, log } = ctx;
  const path = stack.consumer() === 'external' ? 'external' : stack.consumer() === 'direct' ? 'direct' : 'temporal';
  const before = await pipelineCounts(pool);
  const cpuBefore = cpuSnapshot(stack.roles());
  const apiPid = stack.roles().api;
  const apiMainBefore = mainThreadSeconds(apiPid);
  const selfBefore = process.cpuUsage();
  const rss = sampleRss(() => ({ api: stack.roles().api, worker: stack.consumerPid() }));
  const startedAt = Date.now();

  const result = await load();

  // Settled when no accepted signup is left unfinished: each is a COMPLETED row or dead-lettered.
  const deadline = Date.now() + ctx.settleSeconds * 1000;
  let now = before;
  let timedOut = false;
  for (;;) {
    now = await pipelineCounts(pool);
    if (now.pending === 0) break;
    if (Date.now() > deadline) {
      timedOut = true;
      log(`${spec.name}: settle timed out with ${now.pending} signups unfinished`);
      break;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const tailSeconds = spec.tailSeconds ?? 0;
  if (tailSeconds > 0) await new Promise((r) => setTimeout(r, tailSeconds * 1000));
  const acceptedByApi = now.accepted - before.accepted;
  const completed = now.completed - before.completed;
  const dead = now.dead - before.dead;
  const selfCpu = process.cpuUsage(selfBefore);
  const cpuAfter = cpuSnapshot(stack.roles());
  const apiMainAfter = mainThreadSeconds(apiPid);
  const peaks = rss.stop();

  const ids = result.accepted;
  // From the API's acceptance (the message's requested_at, stored as created_at, taken just before
  // the publish and its 2xx) to the row COMPLETED: one clock, and never flattered by the client.
  const { rows } = await pool.query<{ user_id: string; e2e_ms: number }>(
    `SELECT user_id, extract(epoch FROM onboarded_at - created_at) * 1000 AS e2e_ms
       FROM users WHERE user_id = ANY($1::uuid[]) AND onboarding_state = 'COMPLETED'`,
    [ids],
  );
  const failed = await pool.query<{ user_id: string }>('SELECT user_id FROM signup_requests WHERE user_id = ANY($1::uuid[]) AND failed_at IS NOT NULL', [ids]);
  const completedIds = new Set(rows.map((r) => r.user_id));
  const deadIds = new Set(failed.rows.map((r) => r.user_id));
  const e2e = rows.map((r) => Number(r.e2e_ms));
  const lastDone = await pool.query<{ last_ms: number | null }>(
    "SELECT extract(epoch FROM max(onboarded_at)) * 1000 AS last_ms FROM users WHERE onboarding_state = 'COMPLETED' AND onboarded_at >= to_timestamp($1::float8 / 1000)",
    [startedAt],
  );
  const lastMs = Number(lastDone.rows[0].last_ms ?? startedAt);
  const signups = Math.max(acceptedByApi, 1);
  const cpu: Record<string, number> = {};
  for (const [role, after] of Object.entries(cpuAfter)) {
    if (cpuBefore[role] !== undefined) cpu[role] = round((after - cpuBefore[role]) / signups, 5);
  }
  cpu.load_generator = round((selfCpu.user + selfCpu.system) / 1e6 / signups, 5);
  // Only if one API process ran the whole phase: after a crash and restart its threads are another's.
  const apiThreads =
    apiMainBefore !== undefined && apiMainAfter !== undefined && apiPid === stack.roles().api
      ? { main: round(((apiMainAfter - apiMainBefore) * 1000) / signups, 2) }
      : undefined;

  const phase: PhaseResult = {
    name: spec.name,
    path,
    temporal_server: stack.temporalMode,
    mode: spec.mode,
    clients: spec.clients,
    ...(spec.offered
      ? { offered_per_second: round(spec.offered.perSecond), offered_fraction: spec.offered.fraction, offered_basis: spec.offered.basis }
      : {}),
    load_seconds: round(result.seconds, 2),
    sent: result.sent,
    answers_by_status: result.byStatus,
    transport_errors: result.transportErrors,
    accepted: ids.length,
    accepted_per_second: round(ids.length / result.seconds),
    http_ms: {
      p50: round(percentile(result.latenciesMs, 50)),
      p95: round(percentile(result.latenciesMs, 95)),
      p99: round(percentile(result.latenciesMs, 99)),
      max: round(percentile(result.latenciesMs, 100)),
    },
    accepted_by_api: acceptedByApi,
    completed,
    dead_lettered: dead,
    end_to_end_per_second: round(completed / Math.max((lastMs - startedAt) / 1000, 0.001)),
    end_to_end_ms: { p50: round(percentile(e2e, 50)), p99: round(percentile(e2e, 99)), max: round(percentile(e2e, 100)) },
    lost: ids.filter((id) => !completedIds.has(id) && !deadIds.has(id)).length,
    settle_timed_out: timedOut,
    cpu_seconds_per_signup: cpu,
    ...(apiThreads ? { api_threads_ms_per_signup: apiThreads } : {}),
    peak_rss_mb: Object.fromEntries(Object.entries(peaks).map(([k, v]) => [k, round(v / 2 ** 20)])),
  };
  log(
    `${spec.name}: ${phase.accepted_per_second}/s accepted, HTTP p99 ${phase.http_ms.p99} ms, ` +
      `end to end ${phase.end_to_end_per_second}/s (p50 ${phase.end_to_end_ms.p50} ms), lost ${phase.lost}`,
  );
  return phase;
}
