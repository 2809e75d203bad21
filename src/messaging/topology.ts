import type { Channel } from 'amqplib';
import type { Config } from '../config';

/**
 * The names and arguments of the exchanges and queues, and nothing else: where the broker is
 * (a URL) and how long to wait for it (timeouts) are passed separately. `config.amqp` has these
 * fields and more, so it can be passed where a Topology is asked for. `messageTtlMs` is the
 * queue's x-message-ttl: a signup not consumed within it expires into the DLQ.
 */
export type Topology = Pick<Config['amqp'], 'exchange' | 'routingKey' | 'queue' | 'deadLetterExchange' | 'deadLetterQueue' | 'messageTtlMs'>;

/**
 * Declares exchanges and queues; idempotent, so every process runs it on every channel it
 * (re)opens, which also brings back a queue deleted under a running consumer.
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
