/**
 * Liveness and readiness. Liveness says that the process answers and, where a process gives one,
 * that it is not stuck in a state only a restart heals (the bridge's consumer down too long);
 * readiness checks each dependency with a time limit and reports its status and latency, so one
 * slow dependency shows as itself rather than as a hung probe.
 */
import type { Client } from '@temporalio/client';
import express from 'express';
import type { Pool } from 'pg';
import type { DependencyStatus, LivenessFailure, Readiness } from './contract';

export type DependencyCheck = () => Promise<void>;

export const postgresCheck = (pool: Pool): DependencyCheck => async () => {
  await pool.query('SELECT 1');
};

/**
 * A round trip to the frontend service. The deadline stops the client's own retries of an
 * unreachable server with the check, instead of letting them run on in the background.
 */
export const temporalCheck = (client: Client, timeoutMs = 1_500): DependencyCheck => async () => {
  await client.connection.withDeadline(Date.now() + timeoutMs, () => client.workflowService.getSystemInfo({}));
};

export const connectedCheck = (what: string, isConnected: () => boolean): DependencyCheck => async () => {
  if (!isConnected()) throw new Error(`${what} not connected`);
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

/** `informational` checks are reported but never make the process not ready. */
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
            timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
          }),
        ]);
        return [name, { status: 'up', latency_ms: elapsed(started) }];
      } catch (err) {
        return [name, { status: 'down', latency_ms: elapsed(started), error: (err as Error).message || String(err) }];
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
}

/** GET /healthz and GET /readyz: the same in the API and the worker. */
export function healthRouter(checks: Record<string, DependencyCheck>, { liveness, informational = [] }: HealthOptions = {}): express.Router {
  const router = express.Router();
  router.get('/healthz', (_req, res) => {
    const problem = liveness?.() ?? null;
    res.set('Cache-Control', 'no-store');
    if (problem === null) res.json({ status: 'ok' });
    else res.status(503).json({ status: 'failing', reason: problem } satisfies LivenessFailure);
  });
  router.get('/readyz', async (_req, res) => {
    const readiness = await checkReadiness(checks, undefined, informational);
    res
      .status(readiness.status === 'ready' ? 200 : 503)
      .set('Cache-Control', 'no-store')
      .json(readiness);
  });
  return router;
}
