import type { Channel, ConsumeMessage, RecoveringChannelModel } from 'amqplib';
import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { Config } from '../config';
import { parseSignupMessage } from '../contract';
import { connectRabbit } from '../messaging/rabbit';
import { declareTopology } from '../messaging/topology';
import { createBridgeMetrics, type Registry } from '../metrics';
import { onboardingWorkflowId, runOnboarding } from '../temporal/onboarding-runs';
import { recordSignupFailed } from '../repositories/signup-request-repository';

export interface SignupBridgeDeps {
  config: Config;
  client: Client;
  pool: Pool;
  logger: Logger;
  /** The worker process's registry; the bridge registers its counters and the DLQ depth gauge on it. */
  registry: Registry;
}

export interface SignupBridge {
  /** Stops consuming, waits up to `graceMs` for runs in flight to settle, then closes. */
  stop(graceMs?: number): Promise<void>;
  inFlight(): number;
  /** True while a consumer is subscribed on an open channel: what readiness reports for RabbitMQ. */
  isConsuming(): boolean;
  /** Messages in the DLQ, asked of the broker now. */
  deadLetterDepth(): Promise<number>;
}

/**
 * Consumes signups and runs one onboarding workflow per message. A message is acked when its
 * run completes and nacked into the DLQ when its run fails or it breaks the contract; on any
 * other trouble it stays unacked, so the broker redelivers it and the run is found by its id.
 */
export async function startSignupBridge(deps: SignupBridgeDeps): Promise<SignupBridge> {
  const { config, client, pool, logger } = deps;
  const inFlight = new Set<Promise<void>>();
  let consumer: { channel: Channel; tag: string; liveness: { open: boolean } } | null = null;
  // A channel of its own for checkQueue: a failed check closes its channel, never the consumer's.
  let inspectChannel: Channel | null = null;
  let stopping = false;
  const metrics = createBridgeMetrics(deps.registry, deadLetterDepth);

  async function deadLetterDepth(): Promise<number> {
    if (!inspectChannel) throw new Error('rabbitmq not connected');
    return (await inspectChannel.checkQueue(config.amqp.deadLetterQueue)).messageCount;
  }

  const connection: RecoveringChannelModel = await connectRabbit({
    url: config.amqp.url,
    name: 'onboarding-bridge',
    logger,
    onConnect: async (model) => {
      const channel = await model.createChannel();
      const liveness = { open: true };
      channel.on('close', () => {
        liveness.open = false;
      });
      channel.on('error', (err: Error) => logger.warn({ err: err.message }, 'consumer channel error'));
      await declareTopology(channel, config.amqp);
      const inspect = await model.createChannel();
      inspect.on('error', (err: Error) => logger.warn({ err: err.message }, 'inspection channel error'));
      inspect.on('close', () => {
        if (inspectChannel === inspect) inspectChannel = null;
      });
      inspectChannel = inspect;
      await channel.prefetch(config.amqp.prefetch);
      if (stopping) return;
      const { consumerTag } = await channel.consume(
        config.amqp.queue,
        (msg) => {
          if (!msg) {
            logger.warn('consumer cancelled by the broker');
            return;
          }
          const work = handleDelivery(channel, liveness, msg).finally(() => inFlight.delete(work));
          inFlight.add(work);
        },
        { noAck: false },
      );
      consumer = { channel, tag: consumerTag, liveness };
      logger.info({ queue: config.amqp.queue, prefetch: config.amqp.prefetch }, 'bridge consuming');
    },
  });

  async function handleDelivery(channel: Channel, liveness: { open: boolean }, msg: ConsumeMessage): Promise<void> {
    metrics.deliveries.inc({ redelivered: String(msg.fields.redelivered) });
    const parsed = parseSignupMessage(msg.content);
    if (!parsed.ok) {
      logger.warn(
        { messageId: msg.properties.messageId, request_id: msg.properties.headers?.['x-request-id'], issues: parsed.issues },
        'poison message: breaks the signup contract; dead-lettered',
      );
      settle(channel, msg, 'dead-letter', 'contract_violation');
      return;
    }
    const signup = parsed.value;
    const log = logger.child({ user_id: signup.user_id, workflowId: onboardingWorkflowId(signup.user_id), request_id: signup.request_id });
    log.info({ redelivered: msg.fields.redelivered }, 'signup received; starting or attaching to its onboarding run');
    // Transport errors (Temporal unreachable, restarting) are retried here while the delivery is ours.
    for (let attempt = 1; liveness.open && !stopping; attempt++) {
      try {
        const outcome = await runOnboarding(client, signup, {
          taskQueue: config.temporal.taskQueue,
          maxAttempts: config.onboarding.maxAttempts,
          runTimeoutMs: config.onboarding.runTimeoutMs,
        });
        if (outcome.ok) {
          const seconds = (Date.now() - Date.parse(signup.requested_at)) / 1000;
          metrics.workflowOutcomes.inc({ outcome: 'completed', failure_type: '' });
          metrics.endToEndSeconds.observe(Math.max(0, seconds));
          log.info({ created: outcome.result.created, end_to_end_ms: Math.round(seconds * 1000) }, 'onboarding completed');
          settle(channel, msg, 'ack');
        } else {
          metrics.workflowOutcomes.inc({ outcome: 'failed', failure_type: outcome.failureType });
          log.warn({ reason: outcome.reason }, 'onboarding failed; dead-lettered');
          await recordSignupFailed(pool, signup.user_id, outcome.reason).catch((err: Error) =>
            log.warn({ err: err.message }, 'could not record the failure; it is still in Temporal and the DLQ'),
          );
          settle(channel, msg, 'dead-letter', outcome.failureType);
        }
        return;
      } catch (err) {
        const delay = Math.min(500 * 2 ** (attempt - 1), 10_000);
        log.warn({ err: (err as Error).message, attempt, delay }, 'cannot reach Temporal; retrying');
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  function settle(channel: Channel, msg: ConsumeMessage, action: 'ack' | 'dead-letter', reason = ''): void {
    try {
      // Always on the channel that delivered it: a delivery tag means nothing on another channel.
      if (action === 'ack') {
        channel.ack(msg);
        metrics.acks.inc();
      } else {
        channel.nack(msg, false, false);
        metrics.nacks.inc({ reason });
      }
    } catch (err) {
      logger.warn({ err: (err as Error).message, messageId: msg.properties.messageId }, 'channel closed before settling; the broker will redeliver');
    }
  }

  return {
    inFlight: () => inFlight.size,
    isConsuming: () => consumer !== null && consumer.liveness.open && !stopping,
    deadLetterDepth,
    async stop(graceMs = 10_000) {
      stopping = true;
      if (consumer) await consumer.channel.cancel(consumer.tag).catch(() => undefined);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...inFlight]),
        new Promise((r) => {
          timer = setTimeout(r, graceMs);
        }),
      ]);
      clearTimeout(timer);
      // Closing the channel first flushes its acks (a connection close could overtake them);
      // whatever is still unacked goes back to the queue.
      if (consumer) await consumer.channel.close().catch(() => undefined);
      await connection.close().catch(() => undefined);
    },
  };
}
