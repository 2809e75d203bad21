/**
 * A cap on how much of one kind of work runs at once in this process, with a small bounded wait
 * queue and nothing unbounded behind it: past the cap and the queue, the work is refused at once
 * with OverloadedError (a 503 with Retry-After), rather than queued where nobody can see it.
 *
 * Our own, not p-limit: its maintained line is ESM-only, which this CommonJS build cannot
 * require, and neither it nor its older line refuses work when the queue is full; that refusal
 * is the point here, and it would be our code either way.
 */
import { OverloadedError } from './errors';

export interface ConcurrencyLimit {
  /** Runs `task` once a slot is free; throws OverloadedError at once when slots and queue are full. */
  run<T>(task: () => Promise<T>): Promise<T>;
  /**
   * Throws OverloadedError (counted as shed) if `run` would refuse now: lets a caller refuse
   * before it does any work of its own. `run` still decides, when it is called.
   */
  refuseIfFull(): void;
  /** Tasks running now. */
  active(): number;
  /** Tasks waiting for a slot now. */
  waiting(): number;
}

export function createConcurrencyLimit(opts: {
  concurrency: number;
  /** How many may wait for a slot; 0: none, every task past the cap is refused. */
  queueLimit: number;
  /** Called for each refused task, e.g. to count it. */
  onShed?: () => void;
  retryAfterSeconds?: number;
}): ConcurrencyLimit {
  const { concurrency, queueLimit } = opts;
  if (!(Number.isInteger(concurrency) && concurrency >= 1)) throw new Error('concurrency must be a positive integer');
  let active = 0;
  const queue: Array<() => void> = [];

  // A finishing task hands its slot straight to the first waiter, so `active` never dips
  // and a newcomer cannot overtake the queue.
  function release(): void {
    const next = queue.shift();
    if (next) next();
    else active--;
  }

  const full = () => active >= concurrency && queue.length >= queueLimit;
  function refuse(): never {
    opts.onShed?.();
    throw new OverloadedError(opts.retryAfterSeconds);
  }

  return {
    async run<T>(task: () => Promise<T>): Promise<T> {
      if (full()) refuse();
      if (active < concurrency) active++;
      else await new Promise<void>((resolve) => queue.push(resolve));
      try {
        return await task();
      } finally {
        release();
      }
    },
    refuseIfFull: () => {
      if (full()) refuse();
    },
    active: () => active,
    waiting: () => queue.length,
  };
}
