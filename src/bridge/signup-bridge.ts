import { setMaxListeners } from 'node:events';
import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { Config } from '../config';
import { type DependencyCheck, downTooLong, problemCheck, temporalCheck } from '../health';
import { backoffDelayMs, sleep } from '../messaging/backoff';
import { type Delivery, type QueueConsumer, startQueueConsumer } from '../messaging/queue-consumer';
import { createBridgeMetrics, type Registry } from '../metrics';
import { type OnboardingOutcome, onboardingWorkflowId, runOnboarding } from '../temporal/onboarding-runs';
import { isErased } from '../repositories/erased-user-repository';
import { recordSignupFailed } from '../repositories/signup-request-repository';
import { terminateAndDeleteUserRuns } from '../temporal/user-runs';
import { readDelivery, type SortedRunError, sortRunError, Unhandleable, unhandleableFailureReason } from './delivery-errors';
import { createTemporalCircuit } from './temporal-circuit';

/** Calls of one run on transport errors before the circuit opens; the SDK retries inside each call too. */
const TRANSPORT_ATTEMPTS = 3;
const TRANSPORT_BACKOFF = { initialMs: 500, maxMs: 4_000 };
const TEMPORAL_PROBE_TIMEOUT_MS = 2_000;
/** How long readiness keeps naming a kind of delivery this process could not handle. */
const PROBLEM_REPORT_WINDOW_MS = 10 * 60_000;

export interface SignupBridgeDeps {
  config: Config;
  client: Client;
  pool: Pool;
  logger: Logger;
  /** The worker process's registry; the bridge registers its counters and gauges on it. */
  registry: Registry;
}

export interface SignupBridge {
  /** Stops consuming, waits up to `graceMs` for runs in flight to settle, hands back the rest, then closes. */
  stop(graceMs?: number): Promise<void>;
  inFlight(): number;
  /** True while a consumer is subscribed on an open channel. */
  isConsuming(): boolean;
  /** Messages in the DLQ, asked of the broker now. */
  deadLetterDepth(): Promise<number>;
  /** For readiness (RabbitMQ): why the consumer is down, or null while it consumes or is merely paused. */
  consumerProblem(): string | null;
  /** For readiness (the bridge): paused for Temporal, or deliveries it could not handle lately, and why. */
  deliveryProblem(): string | null;
  /** For liveness: set once the consumer has been down past BRIDGE_CONSUMER_DOWN_LIVENESS_MS. */
  livenessProblem(): string | null;
}

/**
 * The bridge's part of the worker's readiness: `rabbitmq` (is it consuming; a pause for Temporal
 * is not RabbitMQ's fault) and `bridge` (paused, or deliveries it could not handle, and why).
 */
export function bridgeReadinessChecks(bridge: SignupBridge): Record<'rabbitmq' | 'bridge', DependencyCheck> {
  return {
    rabbitmq: problemCheck(() => bridge.consumerProblem()),
    bridge: problemCheck(() => bridge.deliveryProblem()),
  };
}

/** The bridge's connection_name on the broker; the queue in it tells bridges on one broker apart in its connection list. */
export const bridgeConnectionName = (queue: string) => `onboarding-bridge ${queue}`;

type Release = 'hold_limit' | 'temporal_unreachable' | 'stopping' | 'channel_lost';
type HandBackReason = Exclude<Release, 'channel_lost'> | Unhandleable | 'unexpected';
type HeldResult = { kind: 'outcome'; outcome: OnboardingOutcome } | { kind: 'released'; why: Release } | SortedRunError;

/**
 * Consumes signups and runs one onboarding workflow per message. A message is acked when its
 * run completes and nacked into the DLQ when its run fails or it breaks the contract. Anything
 * else hands it back to the queue (nack with requeue), never later than BRIDGE_MAX_HOLD_MS, so
 * the broker's consumer timeout never fires; a redelivery finds its run by the workflow id.
 * While Temporal does not answer, the consumer is paused instead of taking what it cannot run.
 */
export async function startSignupBridge(deps: SignupBridgeDeps): Promise<SignupBridge> {
  const { config, client, pool, logger } = deps;
  const settings = config.bridge;
  const inFlight = new Set<Promise<void>>();
  // What each held delivery would be released for, to hand it back before its run ends.
  const held = new Map<Delivery, AbortController>();
  const problems = new Map<string, { reason: string; count: number; last: number }>();
  const stopSignal = new AbortController();
  let stopped: Promise<void> | undefined;
  // Every delivery waiting to be handed back listens for the stop.
  setMaxListeners(0, stopSignal.signal);
  let stopping = false;
  const runOptions = {
    taskQueue: config.temporal.taskQueue,
    maxAttempts: config.onboarding.maxAttempts,
    runTimeoutMs: config.onboarding.runTimeoutMs,
    startsVerification: config.onboarding.startsVerification,
  };

  // Assigned once subscribed; deliveries and scrapes may come before, so nothing here reads it eagerly.
  let consumer: QueueConsumer | undefined;
  const metrics = createBridgeMetrics(deps.registry, {
    deadLetterDepth,
    consuming: () => isConsuming(),
    temporalCircuitOpen: () => circuit.isOpen(),
  });
  const circuit = createTemporalCircuit({
    probe: temporalCheck(client, TEMPORAL_PROBE_TIMEOUT_MS),
    probeIntervalMs: settings.temporalProbeIntervalMs,
    busy: () => held.size > 0,
    logger,
    onOpen: (reason) => {
      void consumer?.pause(`Temporal unreachable: ${reason}`);
      for (const release of held.values()) release.abort('temporal_unreachable');
    },
    onClose: () => consumer?.resume(),
  });
  try {
    consumer = await startQueueConsumer({
      url: config.amqp.url,
      connectionName: bridgeConnectionName(config.amqp.queue),
      topology: config.amqp,
      prefetch: config.amqp.prefetch,
      logger,
      onDelivery,
      onLost: (what) => metrics.consumerLost.inc({ what }),
    });
  } catch (err) {
    circuit.stop();
    throw err;
  }
  const subscribed: QueueConsumer = consumer;

  async function deadLetterDepth(): Promise<number> {
    if (!consumer) throw new Error('rabbitmq not connected');
    return consumer.messageCount(config.amqp.deadLetterQueue);
  }

  function isConsuming(): boolean {
    return !stopping && consumer?.state().state === 'consuming';
  }

  function onDelivery(d: Delivery): void {
    metrics.deliveries.inc({ redelivered: String(d.message.fields.redelivered) });
    // Sent by the broker before it saw our pause or stop: not ours to start now.
    if (stopping || circuit.isOpen()) {
      handBack(d, stopping ? 'stopping' : 'temporal_unreachable');
      return;
    }
    const work = handle(d)
      .catch((err: Error) => {
        logger.error({ err: err.message, messageId: d.message.properties.messageId }, 'delivery handling failed; handing it back');
        handBack(d, 'unexpected');
      })
      .finally(() => inFlight.delete(work));
    inFlight.add(work);
  }

  async function handle(d: Delivery): Promise<void> {
    const { properties, fields } = d.message;
    const read = readDelivery(d.message.content);
    if (read.kind === 'invalid') {
      logger.warn(
        { messageId: properties.messageId, request_id: properties.headers?.['x-request-id'], issues: read.issues },
        'poison message: breaks the signup contract; dead-lettered',
      );
      if (d.deadLetter()) metrics.nacks.inc({ reason: 'contract_violation' });
      return;
    }
    if (read.kind === Unhandleable.UnknownContractVersion) {
      const log = logger.child({ messageId: properties.messageId, request_id: properties.headers?.['x-request-id'] });
      return cannotHandle(d, { kind: read.kind, reason: read.reason }, read.userId, log);
    }
    const { signup } = read;
    const log = logger.child({ user_id: signup.user_id, workflowId: onboardingWorkflowId(signup.user_id), request_id: signup.request_id });
    log.info({ redelivered: fields.redelivered, delivery: d.deliveryCount }, 'signup received; starting or attaching to its onboarding run');
    const result = await holdWhileRunning(d, signup, log);
    switch (result.kind) {
      case 'outcome':
        return settleOutcome(d, signup.user_id, signup.requested_at, result.outcome, log);
      case 'released':
        if (result.why === 'channel_lost') {
          log.info('consumer channel lost while the run was going; the broker redelivers it and the run is found by its id');
          return;
        }
        if (result.why === 'hold_limit') log.warn({ max_hold_ms: settings.maxHoldMs }, 'held as long as allowed; handing it back');
        handBack(d, result.why);
        return;
      case 'transport':
        circuit.open(result.reason);
        handBack(d, 'temporal_unreachable');
        return;
      case 'unexpected':
        return cannotHandleNow(d, result.reason, log);
      default:
        return cannotHandle(d, result, signup.user_id, log);
    }
  }

  /**
   * Runs (or attaches to) the onboarding run while holding the delivery: transport errors are
   * retried a bounded number of times; the hold ends early at BRIDGE_MAX_HOLD_MS, when the circuit
   * opens, when the bridge stops, or when the delivering channel is lost.
   */
  async function holdWhileRunning(d: Delivery, signup: Parameters<typeof runOnboarding>[1], log: Logger): Promise<HeldResult> {
    const release = new AbortController();
    const onChannelLost = () => release.abort('channel_lost');
    d.channelLost.addEventListener('abort', onChannelLost, { once: true });
    const holdTimer = setTimeout(() => release.abort('hold_limit'), settings.maxHoldMs);
    held.set(d, release);
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          const run = client.withAbortSignal(release.signal, () => runOnboarding(client, signup, runOptions));
          return { kind: 'outcome', outcome: await untilAborted(run, release.signal) };
        } catch (err) {
          if (release.signal.aborted) return { kind: 'released', why: release.signal.reason as Release };
          const sorted = sortRunError(err);
          metrics.deliveryErrors.inc({ kind: sorted.kind });
          if (sorted.kind !== 'transport' || attempt >= TRANSPORT_ATTEMPTS) return sorted;
          const delay = backoffDelayMs(attempt, TRANSPORT_BACKOFF);
          log.warn({ err: sorted.reason, attempt, delay }, 'cannot reach Temporal; retrying');
          await sleep(delay, release.signal);
        }
      }
    } finally {
      clearTimeout(holdTimer);
      held.delete(d);
      d.channelLost.removeEventListener('abort', onChannelLost);
    }
  }

  async function settleOutcome(d: Delivery, userId: string, requestedAt: string, outcome: OnboardingOutcome, log: Logger): Promise<void> {
    // An erased user's signup ends here whatever its run did (it found the tombstone, or erasure
    // terminated it): acknowledged, never dead-lettered (the letter would hold the address), no
    // failure recorded, and the run it left deleted.
    let erased: boolean;
    try {
      erased = outcome.ok ? outcome.result.onboarding_state === 'ERASED' : await isErased(pool, userId);
    } catch (err) {
      return cannotHandleNow(d, `could not read whether the user was erased: ${(err as Error).message}`, log);
    }
    if (erased) {
      metrics.workflowOutcomes.inc({ outcome: 'erased', failure_type: '' });
      log.info('signup of an erased user: nothing created; acknowledged');
      if (d.ack()) metrics.acks.inc();
      await terminateAndDeleteUserRuns(client, userId).catch((err: Error) =>
        log.warn({ err: err.message }, 'could not delete the runs of an erased user; DELETE /users/{id} again deletes them'),
      );
      return;
    }
    if (outcome.ok) {
      const seconds = (Date.now() - Date.parse(requestedAt)) / 1000;
      metrics.workflowOutcomes.inc({ outcome: 'completed', failure_type: '' });
      metrics.endToEndSeconds.observe(Math.max(0, seconds));
      log.info({ created: outcome.result.created, end_to_end_ms: Math.round(seconds * 1000) }, 'onboarding completed');
      if (d.ack()) metrics.acks.inc();
      return;
    }
    metrics.workflowOutcomes.inc({ outcome: 'failed', failure_type: outcome.failureType });
    log.warn({ reason: outcome.reason }, 'onboarding failed; dead-lettered');
    await recordSignupFailed(pool, userId, outcome.reason).catch((err: Error) =>
      log.warn({ err: err.message }, 'could not record the failure; it is still in Temporal and the DLQ'),
    );
    if (d.deadLetter()) metrics.nacks.inc({ reason: outcome.failureType });
  }

  /**
   * A delivery no wait in this process can heal: handed back after a short delay (so this process
   * does not spin on it) for a process that can handle it, and dead-lettered with the reason once
   * the broker has delivered it BRIDGE_MAX_DELIVERIES times.
   */
  async function cannotHandle(d: Delivery, problem: { kind: Unhandleable; reason: string }, userId: string | undefined, log: Logger): Promise<void> {
    const { kind, reason } = problem;
    if (kind === Unhandleable.UnknownContractVersion) metrics.deliveryErrors.inc({ kind });
    noteProblem(kind, reason);
    if (d.deliveryCount >= settings.maxDeliveries) {
      const explained = unhandleableFailureReason(reason, d.deliveryCount);
      log.error({ reason, kind, deliveries: d.deliveryCount }, 'no process could handle this delivery; dead-lettered');
      if (userId) {
        await recordSignupFailed(pool, userId, explained).catch((err: Error) =>
          log.warn({ err: err.message }, 'could not record the reason; the DLQ letter still has the message'),
        );
      }
      if (d.deadLetter()) metrics.nacks.inc({ reason: kind });
      return;
    }
    log.warn(
      { reason, kind, delivery: d.deliveryCount, max_deliveries: settings.maxDeliveries, hand_back_in_ms: settings.handBackDelayMs },
      'this process cannot handle the delivery; handing it back for one that can',
    );
    await sleep(settings.handBackDelayMs, AbortSignal.any([d.channelLost, stopSignal.signal]));
    handBack(d, kind);
  }

  /** An error of no known kind: handed back after the same delay, but never dead-lettered on its account. */
  async function cannotHandleNow(d: Delivery, reason: string, log: Logger): Promise<void> {
    noteProblem('unexpected', `unexpected error: ${reason}`);
    log.error({ err: reason }, 'unexpected error running the signup; handing it back');
    await sleep(settings.handBackDelayMs, AbortSignal.any([d.channelLost, stopSignal.signal]));
    handBack(d, 'unexpected');
  }

  function handBack(d: Delivery, reason: HandBackReason): void {
    if (d.requeue()) metrics.handBacks.inc({ reason });
  }

  function noteProblem(kind: string, reason: string): void {
    const known = problems.get(kind);
    const recent = known && Date.now() - known.last < PROBLEM_REPORT_WINDOW_MS;
    problems.set(kind, { reason, count: recent ? known.count + 1 : 1, last: Date.now() });
  }

  function consumerProblem(): string | null {
    const s = subscribed.state();
    if (s.state === 'consuming' || s.state === 'paused') return null;
    if (s.state === 'stopped') return 'not consuming: the bridge is stopping';
    return `not consuming for ${Math.round((Date.now() - s.since) / 1000)} s: ${s.reason}`;
  }

  function deliveryProblem(): string | null {
    const parts: string[] = [];
    const open = circuit.openState();
    if (open) parts.push(`not consuming: paused since ${new Date(open.since).toISOString()} because ${open.reason}`);
    for (const p of problems.values()) {
      if (Date.now() - p.last < PROBLEM_REPORT_WINDOW_MS) {
        parts.push(`${p.reason} (${p.count} deliveries this process could not handle, last at ${new Date(p.last).toISOString()})`);
      }
    }
    return parts.length > 0 ? parts.join('; ') : null;
  }

  const livenessProblem = downTooLong(
    'consumer',
    () => {
      const s = subscribed.state();
      return s.state === 'down' ? s : null;
    },
    settings.consumerDownLivenessMs,
  );

  async function stop(graceMs: number): Promise<void> {
    stopping = true;
    circuit.stop();
    await subscribed.cancel();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...inFlight]),
      new Promise((r) => {
        timer = setTimeout(r, graceMs);
      }),
    ]);
    clearTimeout(timer);
    // What is still running is handed back: its run goes on, and a redelivery finds it by its id.
    stopSignal.abort();
    for (const release of held.values()) release.abort('stopping');
    await Promise.allSettled([...inFlight]);
    await subscribed.close();
  }

  return {
    inFlight: () => inFlight.size,
    isConsuming,
    deadLetterDepth,
    consumerProblem,
    deliveryProblem,
    livenessProblem,
    stop(graceMs = 10_000) {
      stopped ??= stop(graceMs);
      return stopped;
    },
  };
}

/** Settles with `promise`, or rejects as soon as `signal` aborts, whether or not the promise heeds it. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  promise.catch(() => undefined);
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
