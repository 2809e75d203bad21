/** Exponential backoff with ±20 % jitter, so processes that lost the same thing do not retry in step. */
export interface Backoff {
  initialMs: number;
  maxMs: number;
}

/** The wait before retry number `attempt` (1-based): initialMs, doubling, never above maxMs. */
export function backoffDelayMs(attempt: number, b: Backoff): number {
  const base = Math.min(b.maxMs / 1.2, b.initialMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

/** Resolves after `ms`, or at once when `signal` aborts (it never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
