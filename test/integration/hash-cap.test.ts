/**
 * argon2id under the API's cap, on the whole real pipeline: with HASH_CONCURRENCY=1 and two
 * places to wait, a burst of concurrent signups is partly refused at once with 503, the
 * `overloaded` problem and Retry-After, counted in onboarding_signups_shed_total, before the rate
 * limiter asks Postgres; no other 5xx;
 * every 202 becomes its user, and a refused signup leaves nothing behind.
 */
import type { Registry } from 'prom-client';
import { signupBody } from '../support/fixtures';
import { type Pipeline, request, startPipeline } from '../support/pipeline';
import { messageCount } from '../harness/queues';
import { eventually } from '../support/stack';

let p: Pipeline;

beforeAll(async () => {
  p = await startPipeline({ HASH_CONCURRENCY: '1', HASH_QUEUE_LIMIT: '2' });
});
afterAll(() => p?.stop());

async function counter(registry: Registry, name: string): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  return metric?.values.reduce((sum, v) => sum + v.value, 0) ?? 0;
}

it('sheds what the cap and its queue cannot take with 503 and Retry-After, and onboards every 202', async () => {
  expect(p.config.hashing).toMatchObject({ concurrency: 1, queueLimit: 2 });
  const bodies = Array.from({ length: 40 }, () => signupBody());
  const answers = await Promise.all(bodies.map((body) => request(p.baseUrl, 'POST', '/signup', body)));

  const statuses = answers.map((a) => a.status);
  expect(statuses.filter((s) => s !== 202 && s !== 503)).toEqual([]);
  const shed = answers.filter((a) => a.status === 503);
  const accepted = answers.filter((a) => a.status === 202);
  expect(shed.length).toBeGreaterThan(0);
  expect(accepted.length).toBeGreaterThanOrEqual(3);
  for (const answer of shed) {
    expect(answer.body).toMatchObject({ type: '/problems/overloaded', status: 503 });
    expect(answer.headers.get('retry-after')).toBe('1');
  }
  expect(await counter(p.apiRegistry, 'onboarding_signups_shed_total')).toBe(shed.length);
  expect(await counter(p.apiRegistry, 'onboarding_signups_rejected_total')).toBe(shed.length);
  // Shed at the door, before the rate limiter: those cost no Postgres round trip for a counter.
  // (A signup let in may still be shed at its hash, once the slots it found free are taken.)
  const { rows: counted } = await p.pool.query<{ n: number }>("SELECT coalesce(sum(hits), 0)::int AS n FROM rate_limit_counters WHERE limiter = 'signup'");
  expect(counted[0].n).toBeGreaterThanOrEqual(accepted.length);
  expect(counted[0].n).toBeLessThan(answers.length);

  // Every 202 is durable: it becomes its user.
  const acceptedIds = accepted.map((a) => a.body.user_id as string);
  await eventually(async () => {
    const { rows } = await p.pool.query("SELECT count(*)::int AS n FROM users WHERE user_id = ANY($1::uuid[]) AND onboarding_state = 'COMPLETED'", [acceptedIds]);
    return rows[0].n === acceptedIds.length ? true : undefined;
  }, 60_000, 'every accepted signup to be onboarded');
  // A refused signup was never published: its e-mail has no user, nothing is left on the queues.
  const { rows } = await p.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM users');
  expect(rows[0].n).toBe(accepted.length);
  expect(await messageCount(p.config.amqp.url, p.config.amqp.queue)).toBe(0);
  expect(await messageCount(p.config.amqp.url, p.config.amqp.deadLetterQueue)).toBe(0);

  // The slots are free again: the next signup is taken.
  expect((await request(p.baseUrl, 'POST', '/signup', signupBody())).status).toBe(202);
  expect(await counter(p.apiRegistry, 'onboarding_hashes_in_flight')).toBe(0);
});
