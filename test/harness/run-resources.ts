import amqplib from 'amqplib';
import { Client } from 'pg';
import type { Config } from '../../src/config';
import { brokerNames } from './rabbit-admin';

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

/** Runs `work` on a connection to the server's `postgres` database, beside the run's own. */
async function withAdminDatabase<T>(postgresUrl: string, work: (db: Client) => Promise<T>): Promise<T> {
  const admin = new URL(postgresUrl);
  admin.pathname = '/postgres';
  const db = new Client({ connectionString: admin.toString() });
  await db.connect();
  try {
    return await work(db);
  } finally {
    await db.end();
  }
}

const dropDatabaseNamed = (postgresUrl: string, name: string) =>
  withAdminDatabase(postgresUrl, (db) => db.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));

export async function dropDatabase(config: Config): Promise<void> {
  await dropDatabaseNamed(config.postgres.url, new URL(config.postgres.url).pathname.slice(1));
}

export async function dropRunResources(config: Config): Promise<void> {
  await deleteTopology(config);
  await dropDatabase(config);
}

/** Whether a name was made with a suffix of run group `group` (uniqueSuffix). */
export function madeInGroup(name: string, group: string): boolean {
  return name.includes(`_${group}_`);
}

export interface RunResources {
  databases: string[];
  queues: string[];
  exchanges: string[];
}

/** The databases, queues and exchanges whose names carry run group `group` and are still there: what its runs failed to remove. */
export async function leftoverRunResources(group: string, postgresUrl: string): Promise<RunResources> {
  const ofGroup = (name: string) => madeInGroup(name, group);
  const databases = await withAdminDatabase(postgresUrl, async (db) =>
    (await db.query<{ datname: string }>('SELECT datname FROM pg_database')).rows.map((r) => r.datname).filter(ofGroup),
  );
  const broker = await brokerNames();
  return { databases, queues: broker.queues.filter(ofGroup), exchanges: broker.exchanges.filter(ofGroup) };
}

/** Removes what leftoverRunResources found. */
export async function removeLeftovers(left: RunResources, config: Config): Promise<void> {
  const c = await amqplib.connect(config.amqp.url);
  const ch = await c.createChannel();
  for (const q of left.queues) await ch.deleteQueue(q);
  for (const x of left.exchanges) await ch.deleteExchange(x);
  await c.close();
  for (const name of left.databases) await dropDatabaseNamed(config.postgres.url, name);
}
