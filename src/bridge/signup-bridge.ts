import type { Channel, ConsumeMessage, RecoveringChannelModel } from 'amqplib';
import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { Config } from '../config';
import { parseSignupMessage } from '../contract';
import { connectRabbit } from '../messaging/rabbit';
import { declareTopology } from '../messaging/topology';
import { onboardingWorkflowId, runOnboarding } from '../temporal/onboarding-runs';
import { recordSignupFailed } from '../users/user-store';

export interface SignupBridgeDeps {
  config: Config;
  client: Client;
  pool: Pool;
  logger: Logger;
}

export interface SignupBridge {
  /** Stops consuming, waits up to `graceMs` for runs in flight to settle, then closes. */
  stop(graceMs?: number): Promise<void>;
  inFlight(): number;
}

/**
 * Consumes signups and runs one onboarding workflow per message. A message is acked when its
 * run completes and nacked into the DLQ when its run fails or it breaks the contract; on any
 * other trouble it stays unacked, so the broker redelivers it and the run is found by its id.
 */
export async function startSignupBridge(deps: SignupBridgeDeps): Promise<SignupBridge> {
  const { config, client, pool, logger } = deps;
  const inFlight = new Set<Promise<void>>();
  let consumer: { channel: Channel; tag: string } | null = null;
  let stopping = false;

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
      consumer = { channel, tag: consumerTag };
      logger.info({ queue: config.amqp.queue, prefetch: config.amqp.prefetch }, 'bridge consuming');
    },
  });

  async function handleDelivery(channel: Channel, liveness: { open: boolean }, msg: ConsumeMessage): Promise<void> {
    const parsed = parseSignupMessage(msg.content);
    if (!parsed.ok) {
      logger.warn(
        { messageId: msg.properties.messageId, issues: parsed.issues },
        'poison message: breaks the signup contract; dead-lettered',
      );
      settle(channel, msg, 'dead-letter');
      return;
    }
    const signup = parsed.value;
    const log = logger.child({ user_id: signup.user_id, workflowId: onboardingWorkflowId(signup.user_id), request_id: signup.request_id });
    // Transport errors (Temporal unreachable, restarting) are retried here while the delivery is ours.
    for (let attempt = 1; liveness.open && !stopping; attempt++) {
      try {
        const outcome = await runOnboarding(client, signup, {
          taskQueue: config.temporal.taskQueue,
          maxAttempts: config.onboarding.maxAttempts,
          runTimeoutMs: config.onboarding.runTimeoutMs,
        });
        if (outcome.ok) {
          log.info({ created: outcome.result.created }, 'onboarding completed');
          settle(channel, msg, 'ack');
        } else {
          log.warn({ reason: outcome.reason }, 'onboarding failed; dead-lettered');
          await recordSignupFailed(pool, signup.user_id, outcome.reason).catch((err: Error) =>
            log.warn({ err: err.message }, 'could not record the failure; it is still in Temporal and the DLQ'),
          );
          settle(channel, msg, 'dead-letter');
        }
        return;
      } catch (err) {
        const delay = Math.min(500 * 2 ** (attempt - 1), 10_000);
        log.warn({ err: (err as Error).message, attempt, delay }, 'cannot reach Temporal; retrying');
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  function settle(channel: Channel, msg: ConsumeMessage, action: 'ack' | 'dead-letter'): void {
    try {
      // Always on the channel that delivered it: a delivery tag means nothing on another channel.
      if (action === 'ack') channel.ack(msg);
      else channel.nack(msg, false, false);
    } catch (err) {
      logger.warn({ err: (err as Error).message, messageId: msg.properties.messageId }, 'channel closed before settling; the broker will redeliver');
    }
  }

  return {
    inFlight: () => inFlight.size,
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
