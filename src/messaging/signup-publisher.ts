import type { ConfirmChannel } from 'amqplib';
import type { Logger } from 'pino';
import type { SignupMessage } from '../contract';
import { ServiceUnavailableError } from '../errors';
import type { ApiMetrics } from '../metrics';
import { superviseChannel } from './channel-supervisor';
import { connectRabbit } from './rabbit';
import { declareTopology, type Topology } from './topology';

/** For tools and tests that publish without a config; the API passes AMQP_PUBLISH_CONFIRM_TIMEOUT_MS. */
const DEFAULT_CONFIRM_TIMEOUT_MS = 5_000;

export interface SignupPublisher {
  /** Resolves only once the broker has confirmed the message is stored in the queue. */
  publishSignup(message: SignupMessage): Promise<void>;
  /** True while the confirm channel is open: what readiness reports for RabbitMQ. */
  isConnected(): boolean;
  /** Why the publisher cannot publish now and since when, or null while it can. */
  downReason(): { reason: string; since: number } | null;
  close(): Promise<void>;
}

export interface SignupPublisherOptions {
  topology: Topology;
  url: string;
  /** How long a publish waits for the broker's confirm before it counts as failed. */
  confirmTimeoutMs?: number;
  logger: Logger;
  /** Shown in the broker's connection list; `onboarding-api` unless given. */
  connectionName?: string;
  waitForConnect?: boolean;
  /** Where confirm latency goes; optional for tools and tests that publish without a registry. */
  metrics?: Pick<ApiMetrics, 'publishConfirmSeconds'>;
}

/**
 * Publishes signups on a confirm channel that comes back by itself after a broker close or a
 * connection loss (superviseChannel). While it is down, publishes fail at once with a 503; a
 * publish caught by the close fails too (amqplib fails its pending confirms), so a 2xx still
 * means only one thing: the broker confirmed the message into the queue.
 */
export async function createSignupPublisher(opts: SignupPublisherOptions): Promise<SignupPublisher> {
  const { topology, logger } = opts;
  const confirmTimeoutMs = opts.confirmTimeoutMs ?? DEFAULT_CONFIRM_TIMEOUT_MS;
  // Unroutable messages come back as basic.return before their confirm; a confirm alone
  // would report them as stored.
  const returned = new Set<string>();

  const connection = await connectRabbit({ url: opts.url, name: opts.connectionName ?? 'onboarding-api', logger, waitForConnect: opts.waitForConnect });
  const publishChannel = superviseChannel<ConfirmChannel>({
    what: 'publish channel',
    connection,
    confirm: true,
    logger,
    setup: async (ch) => {
      ch.on('return', (msg) => {
        if (msg.properties.messageId) returned.add(String(msg.properties.messageId));
      });
      await declareTopology(ch, topology);
    },
  });
  if (opts.waitForConnect !== false) {
    try {
      await publishChannel.firstOpen;
    } catch (err) {
      await publishChannel.close();
      await connection.close().catch(() => undefined);
      throw err;
    }
  }

  async function publishSignup(message: SignupMessage): Promise<void> {
    const ch = publishChannel.current();
    if (!ch) throw new ServiceUnavailableError('rabbitmq', 'message broker unavailable');
    const body = Buffer.from(JSON.stringify(message));
    const id = message.user_id;
    const stopTimer = opts.metrics?.publishConfirmSeconds.startTimer();
    // Once per publish: a confirm arriving after our timeout has already been counted as one.
    let observed = false;
    const observe = (result: 'confirmed' | 'nacked' | 'returned' | 'timeout' | 'failed') => {
      if (!observed) stopTimer?.({ result });
      observed = true;
    };
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        observe('timeout');
        reject(new ServiceUnavailableError('rabbitmq', 'message broker did not confirm in time'));
      }, confirmTimeoutMs);
      try {
        ch.publish(
          topology.exchange,
          topology.routingKey,
          body,
          {
            persistent: true,
            mandatory: true,
            messageId: id,
            contentType: 'application/json',
            type: 'user.signup',
            timestamp: Math.floor(Date.now() / 1000),
            headers: message.request_id ? { 'x-request-id': message.request_id } : {},
          },
          (err) => {
            clearTimeout(timer);
            const wasReturned = returned.delete(id);
            observe(err ? 'nacked' : wasReturned ? 'returned' : 'confirmed');
            if (err) reject(new ServiceUnavailableError('rabbitmq', 'message broker refused the message'));
            else if (wasReturned) reject(new ServiceUnavailableError('rabbitmq', 'message could not be routed to the queue'));
            else resolve();
          },
        );
      } catch (err) {
        clearTimeout(timer);
        observe('failed');
        logger.warn({ err: (err as Error).message }, 'publish failed');
        reject(new ServiceUnavailableError('rabbitmq', 'message broker unavailable'));
      }
    });
  }

  return {
    publishSignup,
    isConnected: () => publishChannel.current() !== null,
    downReason: () => {
      const reason = publishChannel.downReason();
      const since = publishChannel.downSince();
      return reason === null || since === null ? null : { reason, since };
    },
    close: async () => {
      await publishChannel.close();
      await connection.close().catch(() => undefined);
    },
  };
}
