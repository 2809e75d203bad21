/**
 * Publishes CloudEvents to the topic exchange (`onboarding.events`), routing key = event type,
 * and resolves only on the broker's confirm. Its own connection and confirm channel, opened on
 * the first publish and reopened on the next publish after either closes, with a backoff between
 * tries; the activities that publish retry on their own schedule.
 */
import amqplib, { type ChannelModel, type ConfirmChannel } from 'amqplib';
import type { Logger } from 'pino';
import { CLOUDEVENTS_CONTENT_TYPE, type CloudEvent } from './cloud-event';

export interface EventPublisher {
  publish(event: CloudEvent): Promise<void>;
  close(): Promise<void>;
}

export interface EventPublisherOptions {
  url: string;
  exchange: string;
  confirmTimeoutMs: number;
  logger: Logger;
}

const CONNECT_TIMEOUT_MS = 5_000;
const FIRST_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 30_000;

export class EventsUnavailableError extends Error {
  override readonly name = 'EventsUnavailableError';
}

export function createEventPublisher({ url, exchange, confirmTimeoutMs, logger }: EventPublisherOptions): EventPublisher {
  let connection: ChannelModel | null = null;
  let channel: ConfirmChannel | null = null;
  let opening: Promise<ConfirmChannel> | null = null;
  let failures = 0;
  let nextTryAt = 0;
  let closed = false;

  async function openChannel(): Promise<ConfirmChannel> {
    try {
      if (!connection) {
        const conn = await amqplib.connect(url, { timeout: CONNECT_TIMEOUT_MS, clientProperties: { connection_name: 'onboarding-events' } });
        conn.on('error', (err: Error) => logger.warn({ err: err.message }, 'events connection error'));
        conn.on('close', () => {
          if (connection === conn) connection = null;
          channel = null;
        });
        connection = conn;
      }
      const ch = await connection.createConfirmChannel();
      ch.on('error', (err: Error) => logger.warn({ err: err.message }, 'events channel error'));
      ch.on('close', () => {
        if (channel === ch) channel = null;
      });
      await ch.assertExchange(exchange, 'topic', { durable: true });
      failures = 0;
      channel = ch;
      return ch;
    } catch (err) {
      failures++;
      nextTryAt = Date.now() + Math.min(FIRST_BACKOFF_MS * 2 ** (failures - 1), MAX_BACKOFF_MS);
      logger.warn({ err: (err as Error).message, failures }, 'cannot open the events channel');
      throw new EventsUnavailableError(`events broker unavailable: ${(err as Error).message}`);
    }
  }

  function ready(): Promise<ConfirmChannel> {
    if (closed) return Promise.reject(new EventsUnavailableError('event publisher closed'));
    if (channel) return Promise.resolve(channel);
    if (opening) return opening;
    const wait = nextTryAt - Date.now();
    if (wait > 0) return Promise.reject(new EventsUnavailableError(`events broker unavailable; next try in ${wait} ms`));
    opening = openChannel().finally(() => {
      opening = null;
    });
    return opening;
  }

  async function publish(event: CloudEvent): Promise<void> {
    const ch = await ready();
    const body = Buffer.from(JSON.stringify(event));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        // A channel that does not confirm is not trusted again.
        if (channel === ch) channel = null;
        ch.close().catch(() => undefined);
        reject(new EventsUnavailableError('events broker did not confirm in time'));
      }, confirmTimeoutMs);
      try {
        ch.publish(
          exchange,
          event.type,
          body,
          {
            persistent: true,
            contentType: CLOUDEVENTS_CONTENT_TYPE,
            messageId: event.id,
            type: event.type,
            timestamp: Math.floor(Date.parse(event.time) / 1000),
          },
          (err) => {
            clearTimeout(timer);
            if (err) reject(new EventsUnavailableError('events broker refused the event'));
            else resolve();
          },
        );
      } catch (err) {
        clearTimeout(timer);
        if (channel === ch) channel = null;
        reject(new EventsUnavailableError(`publish failed: ${(err as Error).message}`));
      }
    });
  }

  return {
    publish,
    async close() {
      closed = true;
      await opening?.catch(() => undefined);
      await connection?.close().catch(() => undefined);
      connection = null;
      channel = null;
    },
  };
}
