import type { ConfirmChannel, RecoveringChannelModel } from 'amqplib';
import type { Logger } from 'pino';
import type { SignupMessage } from '../contract';
import { ServiceUnavailableError } from '../errors';
import type { ApiMetrics } from '../metrics';
import { connectRabbit } from './rabbit';
import { declareTopology, type Topology } from './topology';

export interface SignupPublisher {
  /** Resolves only once the broker has confirmed the message is stored in the queue. */
  publishSignup(message: SignupMessage): Promise<void>;
  isConnected(): boolean;
  close(): Promise<void>;
}

export interface SignupPublisherOptions {
  topology: Topology;
  url: string;
  logger: Logger;
  waitForConnect?: boolean;
  /** Where confirm latency goes; optional for tools and tests that publish without a registry. */
  metrics?: Pick<ApiMetrics, 'publishConfirmSeconds'>;
}

export async function createSignupPublisher(opts: SignupPublisherOptions): Promise<SignupPublisher> {
  const { topology, logger } = opts;
  let channel: ConfirmChannel | null = null;
  // Unroutable messages come back as basic.return before their confirm; a confirm alone
  // would report them as stored.
  const returned = new Set<string>();

  const connection: RecoveringChannelModel = await connectRabbit({
    url: opts.url,
    name: 'onboarding-api',
    logger,
    waitForConnect: opts.waitForConnect,
    onConnect: async (model) => {
      const ch = await model.createConfirmChannel();
      ch.on('error', (err: Error) => logger.warn({ err: err.message }, 'publish channel error'));
      ch.on('close', () => {
        if (channel === ch) channel = null;
      });
      ch.on('return', (msg) => {
        if (msg.properties.messageId) returned.add(String(msg.properties.messageId));
      });
      await declareTopology(ch, topology);
      channel = ch;
    },
  });

  async function publishSignup(message: SignupMessage): Promise<void> {
    const ch = channel;
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
      }, topology.publishConfirmTimeoutMs);
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
    isConnected: () => channel !== null,
    close: async () => {
      await connection.close().catch(() => undefined);
    },
  };
}
