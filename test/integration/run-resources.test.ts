/**
 * The check behind "tests clean up what they create" (test/support/global-teardown.ts), against
 * the real Postgres and RabbitMQ: it finds a database, queues and exchanges left under names of a
 * run group, and removes them; names of another group (another run beside this one) are not its.
 * Only this file's own names are removed: other files of the pass run beside it.
 */
import amqplib from 'amqplib';
import { declareTopology } from '../../src/messaging/topology';
import { newRunGroup, RUN_GROUP_VAR, uniqueSuffix } from '../harness/env';
import { leftoverRunResources, madeInGroup, removeLeftovers } from '../harness/run-resources';
import { createTestDatabase, testConfig } from '../support/stack';

const group = process.env[RUN_GROUP_VAR] as string;
// Another run's group, beside this one.
const other = group === 'gffff' ? 'g0000' : 'gffff';

it('tags every suffix of a pass with its run group, and tells a group’s names from another’s', () => {
  expect(group).toMatch(/^g[0-9a-f]{4}$/);
  expect(newRunGroup()).toMatch(/^g[0-9a-f]{4}$/);
  const suffix = uniqueSuffix();
  for (const name of [`user_onboarding_queue.test.${suffix}`, `onboarding_test_${suffix}`, `temporal_bench_${suffix}_cluster`]) {
    expect(madeInGroup(name, group)).toBe(true);
    expect(madeInGroup(name, other)).toBe(false);
  }
  expect(madeInGroup('user_onboarding_queue', group)).toBe(false);
});

it('finds the database, queues and exchanges a run left, and removes them', async () => {
  const suffix = uniqueSuffix();
  const config = testConfig(suffix);
  const pool = await createTestDatabase(config);
  await pool.end();
  const c = await amqplib.connect(config.amqp.url);
  await declareTopology(await c.createChannel(), config.amqp);
  await c.close();

  const own = async (g: string) => {
    const all = await leftoverRunResources(g, config.postgres.url);
    const mine = (names: string[]) => names.filter((n) => n.endsWith(suffix));
    return { databases: mine(all.databases), queues: mine(all.queues), exchanges: mine(all.exchanges) };
  };
  expect(await own(other)).toEqual({ databases: [], queues: [], exchanges: [] });
  const left = await own(group);
  expect(left.databases).toEqual([`onboarding_test_${suffix}`]);
  expect(left.queues.sort()).toEqual([config.amqp.queue, config.amqp.deadLetterQueue].sort());
  expect(left.exchanges.sort()).toEqual([config.amqp.exchange, config.amqp.deadLetterExchange].sort());

  await removeLeftovers(left, config);
  expect(await own(group)).toEqual({ databases: [], queues: [], exchanges: [] });
});
