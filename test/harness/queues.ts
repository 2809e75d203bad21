/** Reading and writing a run's queues directly, as a test or the chaos run needs to. */
import amqplib from 'amqplib';
import { takeAll } from '../../src/dlq/dead-letters';

export interface QueuedMessage {
  body: string;
  messageId?: string;
  headers: Record<string, unknown>;
}

/** Reads every message on a queue without consuming any of them. */
export async function peekQueue(url: string, queue: string): Promise<QueuedMessage[]> {
  const conn = await amqplib.connect(url);
  try {
    // Closing the connection returns every message taken to the queue.
    const seen = await takeAll(await conn.createChannel(), queue);
    return seen.map((m) => ({ body: m.content.toString('utf8'), messageId: m.properties.messageId, headers: m.properties.headers ?? {} }));
  } finally {
    await conn.close();
  }
}

export async function publishRaw(url: string, exchange: string, routingKey: string, body: Buffer, messageId?: string): Promise<void> {
  const conn = await amqplib.connect(url);
  try {
    const ch = await conn.createConfirmChannel();
    ch.publish(exchange, routingKey, body, { persistent: true, messageId });
    await ch.waitForConfirms();
  } finally {
    await conn.close();
  }
}

export async function messageCount(url: string, queue: string): Promise<number> {
  const conn = await amqplib.connect(url);
  try {
    const ch = await conn.createChannel();
    return (await ch.checkQueue(queue)).messageCount;
  } finally {
    await conn.close();
  }
}

/** The reason RabbitMQ recorded when it dead-lettered a message (rejected, expired, …). */
export function deathReason(msg: QueuedMessage): string | undefined {
  const deaths = msg.headers['x-death'] as Array<{ reason?: string }> | undefined;
  return deaths?.[0]?.reason ?? (msg.headers['x-first-death-reason'] as string | undefined);
}
