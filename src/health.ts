/**
 * Liveness and readiness. Liveness says only that the process answers; readiness checks each
 * dependency with a time limit and reports its status and latency, so one slow dependency
 * shows as itself rather than as a hung probe.
 */
import type { Client } from '@temporalio/client';
import express from 'express';
import type { Pool } from 'pg';
import type { DependencyStatus, Readiness } from './contract';

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

/** GET /healthz and GET /readyz: the same in the API and the worker. */
export function healthRouter(checks: Record<string, DependencyCheck>, informational: readonly string[] = []): express.Router {
  const router = express.Router();
  router.get('/healthz', (_req, res) => {
    res.set('Cache-Control', 'no-store').json({ status: 'ok' });
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
