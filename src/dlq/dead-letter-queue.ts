/**
 * The DLQ as the operations on it see it (DeadLetterQueue in src/use-cases/review-dead-letters.ts),
 * over amqplib. One session at a time across every process (a Postgres advisory lock): a session
 * takes every letter off the queue without acknowledging it, so a second session beside it would
 * see an empty queue, and an erasure would miss the letters it must remove.
 */
import amqplib from 'amqplib';
import type { Pool } from 'pg';
import { ServiceUnavailableError } from '../errors';
import type { Topology } from '../messaging/topology';
import type { DeadLetterQueue, DeadLetterWork } from '../use-cases/review-dead-letters';
import { classifyDeadLetter, replayDeadLetter, takeAll } from './dead-letters';

export interface DeadLetterQueueOptions {
  url: string;
  topology: Pick<Topology, 'exchange' | 'routingKey' | 'deadLetterQueue'>;
  pool: Pool;
  /** How long a session waits for another to end before answering 503. */
  lockWaitMs?: number;
}

// Any fixed number: names the lock every DLQ session takes.
const DLQ_LOCK_KEY = 0x646c71;
const LOCK_POLL_MS = 100;

export function createDeadLetterQueue({ url, topology, pool, lockWaitMs = 10_000 }: DeadLetterQueueOptions): DeadLetterQueue {
  return {
    async session<T>(work: DeadLetterWork<T>): Promise<T> {
      const lock = await pool.connect().catch(() => {
        throw new ServiceUnavailableError('postgres', 'database unavailable');
      });
      try {
        const deadline = Date.now() + lockWaitMs;
        for (;;) {
          const { rows } = await lock.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [DLQ_LOCK_KEY]);
          if (rows[0].locked) break;
          if (Date.now() >= deadline) throw new ServiceUnavailableError('rabbitmq', 'another process is working on the DLQ; retry shortly', 2);
          await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS));
        }
        try {
          return await withLetters(url, topology, work);
        } finally {
          await lock.query('SELECT pg_advisory_unlock($1)', [DLQ_LOCK_KEY]).catch(() => undefined);
        }
      } finally {
        lock.release();
      }
    },
  };
}

async function withLetters<T>(url: string, topology: DeadLetterQueueOptions['topology'], work: DeadLetterWork<T>): Promise<T> {
  const connection = await amqplib.connect(url, { clientProperties: { connection_name: 'onboarding-dlq' } }).catch(() => {
    throw new ServiceUnavailableError('rabbitmq', 'RabbitMQ unavailable');
  });
  try {
    const channel = await connection.createChannel();
    await channel.checkQueue(topology.deadLetterQueue);
    let publish: amqplib.ConfirmChannel | undefined;
    const letters = (await takeAll(channel, topology.deadLetterQueue)).map(classifyDeadLetter);
    try {
      return await work({
        letters,
        remove: (letter) => channel.ack(letter.message),
        async republish(letter) {
          publish ??= await connection.createConfirmChannel();
          await replayDeadLetter(channel, publish, { exchange: topology.exchange, routingKey: topology.routingKey }, letter);
        },
      });
    } finally {
      // Closing the channel first flushes its acks (amqplib writes each channel's frames on its
      // own stream, so a connection close could overtake them), then returns what was not acked.
      await channel.close().catch(() => undefined);
    }
  } finally {
    await connection.close().catch(() => undefined);
  }
}
