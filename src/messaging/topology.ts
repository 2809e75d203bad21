import type { Channel } from 'amqplib';
import type { Config } from '../config';

export type Topology = Config['amqp'];

/**
 * Declares exchanges and queues; idempotent, so every process runs it after every (re)connect.
 * Quorum queues with at-least-once dead-lettering: a message moving to the DLQ is not lost
 * if a node fails mid-way, which classic queues do not promise.
 */
export async function declareTopology(ch: Channel, t: Topology): Promise<void> {
  await ch.assertExchange(t.exchange, 'direct', { durable: true });
  await ch.assertExchange(t.deadLetterExchange, 'direct', { durable: true });
  await ch.assertQueue(t.deadLetterQueue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  await ch.bindQueue(t.deadLetterQueue, t.deadLetterExchange, t.routingKey);
  await ch.assertQueue(t.queue, {
    durable: true,
    arguments: {
      'x-queue-type': 'quorum',
      'x-message-ttl': t.messageTtlMs,
      'x-dead-letter-exchange': t.deadLetterExchange,
      'x-dead-letter-routing-key': t.routingKey,
      'x-dead-letter-strategy': 'at-least-once',
      'x-overflow': 'reject-publish',
    },
  });
  await ch.bindQueue(t.queue, t.exchange, t.routingKey);
}
