/** A subscriber of the test's own to the events exchange: binds a queue of its own, as any downstream system would. */
import amqplib, { type ChannelModel } from 'amqplib';
import type { Config } from '../../src/config';
import type { CloudEvent } from '../../src/events/cloud-event';
import { eventually } from './stack';

export interface ReceivedEvent {
  routingKey: string;
  contentType?: string;
  messageId?: string;
  event: CloudEvent;
}

export class EventSubscriber {
  readonly received: ReceivedEvent[] = [];
  private constructor(private readonly connection: ChannelModel) {}

  static async bind(config: Config, pattern = 'user.#'): Promise<EventSubscriber> {
    const connection = await amqplib.connect(config.amqp.url);
    const subscriber = new EventSubscriber(connection);
    const ch = await connection.createChannel();
    await ch.assertExchange(config.events.exchange, 'topic', { durable: true });
    const { queue } = await ch.assertQueue('', { exclusive: true, autoDelete: true });
    await ch.bindQueue(queue, config.events.exchange, pattern);
    await ch.consume(
      queue,
      (msg) => {
        if (!msg) return;
        subscriber.received.push({
          routingKey: msg.fields.routingKey,
          contentType: msg.properties.contentType,
          messageId: msg.properties.messageId,
          event: JSON.parse(msg.content.toString('utf8')) as CloudEvent,
        });
      },
      { noAck: true },
    );
    return subscriber;
  }

  of(userId: string, type?: string): ReceivedEvent[] {
    return this.received.filter((r) => r.event.data.user_id === userId && (type === undefined || r.event.type === type));
  }

  waitFor(userId: string, type: string, timeoutMs = 30_000): Promise<ReceivedEvent> {
    return eventually(async () => this.of(userId, type)[0], timeoutMs, `${type} for ${userId}`);
  }

  async close(): Promise<void> {
    await this.connection.close().catch(() => undefined);
  }
}
