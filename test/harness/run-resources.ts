import amqplib from 'amqplib';
import { Client } from 'pg';
import type { Config } from '../../src/config';

/**
 * What a harness (tests, the chaos run, the benchmark) makes for itself on the shared RabbitMQ
 * and Postgres, and removes again, so they are left as they were found.
 */
export async function deleteTopology(config: Config): Promise<void> {
  const c = await amqplib.connect(config.amqp.url);
  const ch = await c.createChannel();
  await ch.deleteQueue(config.amqp.queue);
  await ch.deleteQueue(config.amqp.deadLetterQueue);
  await ch.deleteExchange(config.amqp.exchange);
  await ch.deleteExchange(config.amqp.deadLetterExchange);
  // The run's own CloudEvents exchange; never the shared default one.
  if (config.events.exchange !== 'onboarding.events') await ch.deleteExchange(config.events.exchange);
  await c.close();
}

/** Consumers subscribed to the signup queue now: how a harness sees that bridges are up. */
export async function queueConsumerCount(config: Config): Promise<number> {
  const c = await amqplib.connect(config.amqp.url);
  try {
    return (await (await c.createChannel()).checkQueue(config.amqp.queue)).consumerCount;
  } finally {
    await c.close();
  }
}

export async function dropDatabase(config: Config): Promise<void> {
  const admin = new URL(config.postgres.url);
  const name = admin.pathname.slice(1);
  admin.pathname = '/postgres';
  const db = new Client({ connectionString: admin.toString() });
  await db.connect();
  try {
    await db.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await db.end();
  }
}

export async function dropRunResources(config: Config): Promise<void> {
  await deleteTopology(config);
  await dropDatabase(config);
}
