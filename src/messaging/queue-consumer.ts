/**
 * A consumer that comes back by itself and can be paused. It knows nothing of signups or
 * Temporal: it hands each delivery to its owner with the means to settle it on the channel it
 * came on, and says at any time whether it is consuming, paused (by its owner) or down (and why).
 */
import { setMaxListeners } from 'node:events';
import type { Channel, ConsumeMessage } from 'amqplib';
import type { Logger } from 'pino';
import { type SupervisedChannel, superviseChannel } from './channel-supervisor';
import { connectRabbit } from './rabbit';
import { declareTopology, type Topology } from './topology';

export interface Delivery {
  readonly message: ConsumeMessage;
  /** How many times the broker has delivered this message, this time included (quorum queues count them). */
  readonly deliveryCount: number;
  /**
   * Aborted when the channel this came on closes: it can no longer be settled, and the broker
   * gives it to a consumer again.
   */
  readonly channelLost: AbortSignal;
  /** Each settles once, on the delivering channel; false if it was settled already or its channel is gone. */
  ack(): boolean;
  /** Hands it back to the queue (nack with requeue) for this or another consumer. */
  requeue(): boolean;
  /** Rejects it into the queue's dead-letter exchange. */
  deadLetter(): boolean;
}

export type ConsumerState =
  | { state: 'consuming' }
  /** The owner paused it (e.g. while Temporal is unreachable). */
  | { state: 'paused'; reason: string; since: number }
  /** It wants to consume and cannot: channel closed, consumer cancelled, broker unreachable. */
  | { state: 'down'; reason: string; since: number }
  | { state: 'stopped' };

export interface QueueConsumer {
  state(): ConsumerState;
  /** Cancels the subscription (nothing new arrives); deliveries held stay the owner's to settle. */
  pause(reason: string): Promise<void>;
  /** Subscribes again, on the current channel or on the next one opened. */
  resume(): void;
  /** Messages ready in a queue, asked of the broker now (on a channel of its own). */
  messageCount(queue: string): Promise<number>;
  /** Cancels the subscription for good; deliveries held can still be settled until close(). */
  cancel(): Promise<void>;
  /** Closes the channels (unsettled deliveries go back to the queue) and the connection. */
  close(): Promise<void>;
}

export interface QueueConsumerOptions {
  url: string;
  /** Shown in the RabbitMQ management UI's connection list. */
  connectionName: string;
  topology: Topology;
  prefetch: number;
  logger: Logger;
  onDelivery: (delivery: Delivery) => void;
  /** Called when the consumer channel is lost or the broker cancels the consumer: for a metric. */
  onLost?: (what: 'channel' | 'consumer', reason: string) => void;
}

interface OpenChannel {
  channel: Channel;
  lost: AbortController;
  consumerTag: string | null;
  subscribing: boolean;
}

export async function startQueueConsumer(opts: QueueConsumerOptions): Promise<QueueConsumer> {
  const { logger, topology } = opts;
  let open: OpenChannel | null = null;
  let paused: { reason: string; since: number } | null = null;
  let stopped = false;
  // When the subscription went away on an open channel (cancelled by the broker).
  let unsubscribed: { reason: string; since: number } | null = null;

  const connection = await connectRabbit({ url: opts.url, name: opts.connectionName, logger });

  const consumerChannel: SupervisedChannel<Channel> = superviseChannel<Channel>({
    what: 'consumer channel',
    connection,
    logger,
    onLost: (reason) => opts.onLost?.('channel', reason),
    setup: async (channel) => {
      const current: OpenChannel = { channel, lost: new AbortController(), consumerTag: null, subscribing: false };
      // Every delivery held on this channel listens for its loss: up to the prefetch count.
      setMaxListeners(0, current.lost.signal);
      channel.once('close', () => {
        current.lost.abort();
        if (open === current) open = null;
      });
      await declareTopology(channel, topology);
      await channel.prefetch(opts.prefetch);
      open = current;
      if (!paused && !stopped) await subscribe(current);
    },
  });
  // A channel of its own for checkQueue: a failed check closes its channel, never the consumer's.
  const inspectChannel = superviseChannel<Channel>({ what: 'inspection channel', connection, logger, setup: async () => undefined });

  try {
    await Promise.all([consumerChannel.firstOpen, inspectChannel.firstOpen]);
  } catch (err) {
    await Promise.all([consumerChannel.close(), inspectChannel.close()]);
    await connection.close().catch(() => undefined);
    throw err;
  }

  async function subscribe(current: OpenChannel): Promise<void> {
    if (current.subscribing || current.consumerTag) return;
    current.subscribing = true;
    const { consumerTag } = await current.channel.consume(
      topology.queue,
      (msg) => {
        if (msg) {
          opts.onDelivery(delivery(current, msg));
          return;
        }
        // basic.cancel: the queue was deleted, or its leader moved. A fresh channel declares the
        // queue again and subscribes; what this channel still holds goes back to the queue.
        current.consumerTag = null;
        const reason = 'consumer cancelled by the broker (queue deleted or moved)';
        unsubscribed = { reason, since: Date.now() };
        logger.warn({ queue: topology.queue }, `${reason}; subscribing again on a fresh channel`);
        opts.onLost?.('consumer', reason);
        consumerChannel.reopen(reason);
      },
      { noAck: false },
    ).finally(() => {
      current.subscribing = false;
    });
    current.consumerTag = consumerTag;
    unsubscribed = null;
    // Paused or stopped while the subscription was on its way.
    if (paused || stopped) return unsubscribe();
    logger.info({ queue: topology.queue, prefetch: opts.prefetch }, 'consuming');
  }

  function delivery(current: OpenChannel, message: ConsumeMessage): Delivery {
    let settled = false;
    const settle = (how: (ch: Channel) => void): boolean => {
      if (settled || current.lost.signal.aborted) return false;
      settled = true;
      try {
        // Always on the channel that delivered it: a delivery tag means nothing on another channel.
        how(current.channel);
        return true;
      } catch (err) {
        logger.warn({ err: (err as Error).message, messageId: message.properties.messageId }, 'channel closed before settling; the broker will redeliver');
        return false;
      }
    };
    return {
      message,
      deliveryCount: Number(message.properties.headers?.['x-delivery-count'] ?? 0) + 1,
      channelLost: current.lost.signal,
      ack: () => settle((ch) => ch.ack(message)),
      requeue: () => settle((ch) => ch.nack(message, false, true)),
      deadLetter: () => settle((ch) => ch.nack(message, false, false)),
    };
  }

  async function unsubscribe(): Promise<void> {
    const current = open;
    if (!current?.consumerTag) return;
    const tag = current.consumerTag;
    current.consumerTag = null;
    await current.channel.cancel(tag).catch(() => undefined);
  }

  function state(): ConsumerState {
    if (stopped) return { state: 'stopped' };
    const current = open;
    if (!current) {
      return { state: 'down', reason: consumerChannel.downReason() ?? 'consumer channel not open', since: consumerChannel.downSince() ?? Date.now() };
    }
    if (paused) return { state: 'paused', ...paused };
    if (current.consumerTag) return { state: 'consuming' };
    return { state: 'down', ...(unsubscribed ?? { reason: 'subscribing', since: Date.now() }) };
  }

  return {
    state,
    async pause(reason: string) {
      if (paused || stopped) return;
      paused = { reason, since: Date.now() };
      logger.warn({ reason }, 'consumer paused');
      await unsubscribe();
    },
    resume() {
      if (!paused || stopped) return;
      paused = null;
      logger.info('consumer resumed');
      const current = open;
      // Without an open channel the next one subscribes in its setup.
      if (current && !current.consumerTag) {
        subscribe(current).catch((err: Error) => consumerChannel.reopen(`subscribing failed: ${err.message}`));
      }
    },
    async messageCount(queue: string) {
      const ch = inspectChannel.current();
      if (!ch) throw new Error(inspectChannel.downReason() ?? 'rabbitmq not connected');
      return (await ch.checkQueue(queue)).messageCount;
    },
    async cancel() {
      stopped = true;
      await unsubscribe();
    },
    async close() {
      stopped = true;
      // Closing the channel first flushes its acks (a connection close could overtake them);
      // whatever is still unacked goes back to the queue.
      await Promise.all([consumerChannel.close(), inspectChannel.close()]);
      await connection.close().catch(() => undefined);
    },
  };
}
