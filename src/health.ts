/**
 * Liveness and readiness. Liveness says that the process answers and, where a process gives one,
 * that it is not stuck in a state only a restart heals (the bridge's consumer down too long);
 * readiness checks each dependency with a time limit and reports its status and latency, so one
 * slow dependency shows as itself rather than as a hung probe.
 */
import { type Client, isGrpcDeadlineError } from '@temporalio/client';
import express from 'express';
import type { Pool } from 'pg';
import { type DependencyFailureCode, type DependencyStatus, type LivenessFailure, type PublicReadiness, type Readiness } from './contract';
import { isConnectionFailure } from './db/postgres';

export type DependencyCheck = () => Promise<void>;

/** A check's failure with one of the fixed codes; the message stays in the logs. */
export class DependencyFailure extends Error {
  constructor(
    readonly code: DependencyFailureCode,
    message: string,
  ) {
    super(message);
    this.name = 'DependencyFailure';
  }
}

/** The fixed code for a failed check: never the driver's text, which can name hosts, users or rows. */
export function failureCode(err: unknown): DependencyFailureCode {
  if (err instanceof DependencyFailure) return err.code;
  if (isConnectionFailure(err)) return 'unreachable';
  return 'failed';
}

export const postgresCheck = (pool: Pool): DependencyCheck => async () => {
  await pool.query('SELECT 1');
};

/**
 * A round trip to the frontend service. The deadline stops the client's own retries of an
 * unreachable server with the check, instead of letting them run on in the background.
 */
export const temporalCheck = (client: Client, timeoutMs = 1_500): DependencyCheck => async () => {
  try {
    await client.connection.withDeadline(Date.now() + timeoutMs, () => client.workflowService.getSystemInfo({}));
  } catch (err) {
    throw new DependencyFailure(isGrpcDeadlineError(err) ? 'timeout' : 'unreachable', (err as Error).message || String(err));
  }
};

export const connectedCheck = (what: string, isConnected: () => boolean): DependencyCheck => async () => {
  if (!isConnected()) throw new DependencyFailure('not_connected', `${what} not connected`);
};

/** Up while `problem` says nothing; down with its words otherwise (e.g. "payload key k2 missing"). */
export const problemCheck = (problem: () => string | null): DependencyCheck => async () => {
  const found = problem();
  if (found !== null) throw new Error(found);
};

/** Why the process should be restarted, or null while it is alive and well. */
export type LivenessProblem = () => string | null;

/**
 * Liveness for a part that heals by itself (a consumer, a publisher): it fails only once the part
 * has been down `limitMs` without a break, which its own recovery should never take.
 */
export function downTooLong(what: string, down: () => { reason: string; since: number } | null, limitMs: number): LivenessProblem {
  return () => {
    const outage = down();
    if (outage === null) return null;
    const downMs = Date.now() - outage.since;
    if (downMs < limitMs) return null;
    return `${what} down for ${Math.round(downMs / 1000)} s (limit ${Math.round(limitMs / 1000)} s): ${outage.reason}`;
  };
}

/** `informational` checks are reported but never make the process not ready. A failed check has its fixed code and its own words. */
export async function checkReadiness(
  checks: Record<string, DependencyCheck>,
  timeoutMs = 2_000,
  informational: readonly string[] = [],
): Promise<Readiness> {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, check]): Promise<[string, DependencyStatus]> => {
      const started = performance.now();
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          check(),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new DependencyFailure('timeout', `no answer within ${timeoutMs} ms`)), timeoutMs);
          }),
        ]);
        return [name, { status: 'up', latency_ms: elapsed(started) }];
      } catch (err) {
        return [name, { status: 'down', latency_ms: elapsed(started), failure: failureCode(err), error: (err as Error).message || String(err) }];
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  const dependencies: Record<string, DependencyStatus> = Object.fromEntries(entries);
  const ready = entries.every(([name, s]) => s.status === 'up' || informational.includes(name));
  return { status: ready ? 'ready' : 'not_ready', dependencies, ...(informational.length > 0 ? { informational: [...informational] } : {}) };
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}

export interface HealthOptions {
  /** Why the process should be restarted, or null: /healthz answers 503 `{status: "failing", reason}` while it names one. */
  liveness?: LivenessProblem;
  /** Checks reported by /readyz that never make the process not ready (e.g. Temporal for the API). */
  informational?: readonly string[];
  /**
   * What /readyz and a failing /healthz tell: `full` (default), every dependency with its status,
   * latency, failure code and error text, and the liveness reason (the worker's own port);
   * `codes`, the same with the fixed failure code only (the API's admin listener); `status`, ready
   * or not and alive or not, nothing else (the API's public listener: a load balancer or an
   * orchestrator acts on the status alone, and anyone can ask).
   */
  detail?: 'full' | 'codes' | 'status';
  /** Told the liveness reason when /healthz does not show it, so it reaches the logs. */
  onLivenessFailure?: (reason: string) => void;
  /** Told each failed check's own words when /readyz does not show them, so they reach the logs. */
  onDependencyFailure?: (name: string, failure: DependencyFailureCode, error: string) => void;
}

/** GET /healthz and GET /readyz: the worker's port and the API's public listener. */
export function healthRouter(checks: Record<string, DependencyCheck>, options: HealthOptions = {}): express.Router {
  const router = express.Router();
  router.use(livenessRouter(options));
  router.use(readinessRouter(checks, options));
  return router;
}

/** GET /healthz alone. */
export function livenessRouter({ liveness, detail = 'full', onLivenessFailure }: HealthOptions = {}): express.Router {
  const router = express.Router();
  router.get('/healthz', (_req, res) => {
    const problem = liveness?.() ?? null;
    res.set('Cache-Control', 'no-store');
    if (problem === null) {
      res.json({ status: 'ok' });
    } else if (detail === 'status') {
      onLivenessFailure?.(problem);
      res.status(503).json({ status: 'failing' } satisfies LivenessFailure);
    } else {
      res.status(503).json({ status: 'failing', reason: problem } satisfies LivenessFailure);
    }
  });
  return router;
}

/** GET /readyz alone (the API's admin listener serves this one without /healthz). */
export function readinessRouter(
  checks: Record<string, DependencyCheck>,
  { informational = [], detail = 'full', onDependencyFailure }: HealthOptions = {},
): express.Router {
  const router = express.Router();
  router.get('/readyz', async (_req, res) => {
    const readiness = await checkReadiness(checks, undefined, informational);
    if (detail !== 'full') {
      // The error's own words go to the log; the answer keeps the fixed code alone.
      for (const [name, status] of Object.entries(readiness.dependencies)) {
        if (status.error === undefined) continue;
        onDependencyFailure?.(name, status.failure ?? 'failed', status.error);
        delete status.error;
      }
    }
    const body: Readiness | PublicReadiness = detail === 'status' ? { status: readiness.status } : readiness;
    res
      .status(readiness.status === 'ready' ? 200 : 503)
      .set('Cache-Control', 'no-store')
      .json(body);
  });
  return router;
}
