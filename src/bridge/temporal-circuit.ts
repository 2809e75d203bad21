/**
 * The bridge's circuit for Temporal. Closed: deliveries flow, and while any is held a watchdog
 * asks Temporal every probe interval, because a frozen server answers nothing at all (a call
 * just hangs) rather than failing. Open: the owner pauses consuming and hands back what it
 * holds; the circuit probes with backoff and closes at the first answer, and the owner resumes.
 */
import type { Logger } from 'pino';
import { backoffDelayMs, sleep } from '../messaging/backoff';

/** Consecutive failed watchdog probes that open the circuit: one slow answer on a busy machine does not. */
const WATCHDOG_FAILURES_TO_OPEN = 2;
const FIRST_PROBE_AFTER_MS = 500;

export interface TemporalCircuit {
  isOpen(): boolean;
  /** Why and since when it is open, or null while closed. */
  openState(): { reason: string; since: number } | null;
  /** Opens it now (a run failed with transport errors past its retries). */
  open(reason: string): void;
  stop(): void;
}

export interface TemporalCircuitOptions {
  /** Resolves if Temporal answers, within its own deadline. */
  probe: () => Promise<void>;
  /** Watchdog period, and the cap of the probe backoff while open. */
  probeIntervalMs: number;
  /** True while deliveries are held: only then is the watchdog worth its calls. */
  busy: () => boolean;
  onOpen: (reason: string) => void;
  onClose: () => void;
  logger: Logger;
}

export function createTemporalCircuit(opts: TemporalCircuitOptions): TemporalCircuit {
  const { logger } = opts;
  let state: { reason: string; since: number } | null = null;
  let stopped = false;
  let watchdogFailures = 0;
  let probing = false;
  // Backoff carries over when the circuit opens again soon after closing, so a Temporal that
  // answers probes but fails runs settles at one cycle per probe interval instead of spinning.
  let attempt = 0;
  let closedAt = 0;
  const stopSignal = new AbortController();
  const backoff = { initialMs: FIRST_PROBE_AFTER_MS, maxMs: Math.max(FIRST_PROBE_AFTER_MS, opts.probeIntervalMs) };

  async function answers(): Promise<string | null> {
    try {
      await opts.probe();
      return null;
    } catch (err) {
      return (err as Error).message || String(err);
    }
  }

  const watchdog = setInterval(async () => {
    if (state || stopped || probing || !opts.busy()) return;
    probing = true;
    const failure = await answers();
    probing = false;
    if (state || stopped) return;
    watchdogFailures = failure ? watchdogFailures + 1 : 0;
    if (failure && watchdogFailures >= WATCHDOG_FAILURES_TO_OPEN) open(`Temporal does not answer: ${failure}`);
  }, opts.probeIntervalMs);

  function open(reason: string): void {
    if (state || stopped) return;
    state = { reason, since: Date.now() };
    watchdogFailures = 0;
    if (Date.now() - closedAt > 2 * backoff.maxMs) attempt = 0;
    logger.warn({ reason }, 'Temporal unreachable: circuit open, pausing the consumer');
    opts.onOpen(reason);
    void probeUntilClosed();
  }

  async function probeUntilClosed(): Promise<void> {
    while (state && !stopped) {
      await sleep(backoffDelayMs(++attempt, backoff), stopSignal.signal);
      if (stopped) return;
      const failure = await answers();
      if (failure === null) break;
      logger.info({ attempt, err: failure }, 'Temporal still unreachable');
    }
    if (stopped || !state) return;
    logger.info({ open_ms: Date.now() - state.since }, 'Temporal answers again: circuit closed, resuming the consumer');
    state = null;
    closedAt = Date.now();
    opts.onClose();
  }

  return {
    isOpen: () => state !== null,
    openState: () => state,
    open,
    stop() {
      stopped = true;
      clearInterval(watchdog);
      stopSignal.abort();
    },
  };
}
