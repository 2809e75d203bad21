/**
 * The check behind "tests clean up what they create" (test/support/global-teardown.ts), against
 * the real Postgres and RabbitMQ: it finds a database, queues and exchanges left under a run's
 * names, and removes them. Only this file's own names are looked at: other files run beside it.
 */
import amqplib from 'amqplib';
import { declareTopology } from '../../src/messaging/topology';
import { uniqueSuffix } from '../harness/env';
import { leftoverRunResources, removeLeftovers, suffixTimeMs } from '../harness/run-resources';
import { createTestDatabase, testConfig } from '../support/stack';

it('reads when a name was made off its suffix, for each kind of run, and nothing off other names', () => {
  const before = Date.now();
  const suffix = uniqueSuffix();
  const at = suffixTimeMs(`user_onboarding_queue.test.${suffix}`, 'test');
  expect(at).toBeGreaterThanOrEqual(before);
  expect(at).toBeLessThanOrEqual(Date.now());
  expect(suffixTimeMs(`onboarding_chaos_${suffix}`, 'chaos')).toBe(at);
  expect(suffixTimeMs(`onboarding.events.bench.${suffix}`, 'bench')).toBe(at);
  expect(suffixTimeMs(`onboarding.events.bench.${suffix}`, 'test')).toBeNull();
  expect(suffixTimeMs('user_onboarding_queue', 'test')).toBeNull();
  expect(suffixTimeMs('onboarding_test', 'test')).toBeNull();
});

it('finds the database, queues and exchanges a run left, and removes them', async () => {
  const startedAt = Date.now();
  const suffix = uniqueSuffix();
  const config = testConfig(suffix);
  const pool = await createTestDatabase(config);
  await pool.end();
  const c = await amqplib.connect(config.amqp.url);
  await declareTopology(await c.createChannel(), config.amqp);
  await c.close();

  const own = async () => {
    const all = await leftoverRunResources('test', startedAt, config.postgres.url);
    const mine = (names: string[]) => names.filter((n) => n.endsWith(suffix));
    return { databases: mine(all.databases), queues: mine(all.queues), exchanges: mine(all.exchanges) };
  };
  const left = await own();
  expect(left.databases).toEqual([`onboarding_test_${suffix}`]);
  expect(left.queues.sort()).toEqual([config.amqp.queue, config.amqp.deadLetterQueue].sort());
  expect(left.exchanges.sort()).toEqual([config.amqp.exchange, config.amqp.deadLetterExchange].sort());

  await removeLeftovers(left, config);
  expect(await own()).toEqual({ databases: [], queues: [], exchanges: [] });
});
