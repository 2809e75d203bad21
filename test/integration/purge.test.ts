/**
 * The purge on the real Postgres: expired counters, idempotency keys and (past their retention)
 * verification links go, live ones stay; it
 * works in bounded batches; one process at a time (advisory lock), freed even when a task fails.
 */
import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { createPool } from '../../src/db/postgres';
import { PURGE_LOCK_ID, type PurgeTask, purgeExpired, startPurgeSchedule } from '../../src/maintenance/purge';
import { EXPIRED_TOKEN_RETENTION_DAYS } from '../../src/repositories/verification-token-repository';
import { createTestDatabase, dropTestDatabase, eventually, silentLogger, testConfig, uniqueSuffix } from '../support/stack';

const config = testConfig(uniqueSuffix());
let pool: Pool;
let secondPool: Pool;

beforeAll(async () => {
  pool = await createTestDatabase(config);
  // A second process's pool; like every pool of ours it survives a connection Postgres closes.
  secondPool = createPool(config.postgres.url, 4, silentLogger);
});
afterAll(async () => {
  await secondPool?.end();
  await dropTestDatabase(config, pool);
});
beforeEach(async () => {
  await pool.query('TRUNCATE rate_limit_counters, idempotency_keys, verification_tokens');
});

async function addCounters(count: number, expired: boolean): Promise<void> {
  await pool.query(
    `INSERT INTO rate_limit_counters (limiter, key_hash, hits, reset_at)
     SELECT 'purge-test', md5(random()::text || i), 1, now() + CASE WHEN $2 THEN interval '-1 second' ELSE interval '1 hour' END
     FROM generate_series(1, $1) AS i`,
    [count, expired],
  );
}

async function addIdempotencyKeys(count: number, expired: boolean): Promise<void> {
  await pool.query(
    `INSERT INTO idempotency_keys (scope, idempotency_key, fingerprint, user_id, expires_at)
     SELECT 'POST /signup', md5(random()::text || i), md5(i::text), gen_random_uuid(),
            now() + CASE WHEN $2 THEN interval '-1 second' ELSE interval '1 day' END
     FROM generate_series(1, $1) AS i`,
    [count, expired],
  );
}

/** Links of one user, expired `daysAgo` days ago (negative: still valid). */
async function addVerificationTokens(count: number, daysAgo: number): Promise<void> {
  const userId = randomUUID();
  await pool.query(
    `INSERT INTO users (user_id, email, first_name, last_name, password_hash) VALUES ($1, $2, 'Purge', 'Test', 'x')`,
    [userId, `purge-${userId}@example.com`],
  );
  await pool.query(
    `INSERT INTO verification_tokens (selector, user_id, verifier_hash, purpose, expires_at)
     SELECT decode(md5(random()::text || i), 'hex'), $2, decode(md5(i::text), 'hex'), 'verification', now() - make_interval(days => $3)
     FROM generate_series(1, $1) AS i`,
    [count, userId, daysAgo],
  );
}

async function remaining(): Promise<{ counters: number; keys: number }> {
  const { rows } = await pool.query(
    'SELECT (SELECT count(*) FROM rate_limit_counters)::int AS counters, (SELECT count(*) FROM idempotency_keys)::int AS keys',
  );
  return rows[0];
}

/** Advisory locks on the purge id held in this database by any session. */
async function purgeLocksHeld(): Promise<number> {
  const { rows } = await pool.query(
    `SELECT count(*)::int AS n FROM pg_locks
     WHERE locktype = 'advisory' AND granted AND objid = $1 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    [PURGE_LOCK_ID],
  );
  return rows[0].n;
}

it('deletes expired counters and idempotency keys, keeps live ones, and says how many it deleted', async () => {
  await addCounters(7, true);
  await addCounters(3, false);
  await addIdempotencyKeys(5, true);
  await addIdempotencyKeys(2, false);
  expect(await purgeExpired(pool)).toEqual({ ran: true, purged: { rate_limit_counters: 7, idempotency_keys: 5, verification_tokens: 0 } });
  expect(await remaining()).toEqual({ counters: 3, keys: 2 });
  expect(await purgeExpired(pool)).toEqual({ ran: true, purged: { rate_limit_counters: 0, idempotency_keys: 0, verification_tokens: 0 } });
  expect(await purgeLocksHeld()).toBe(0);
});

it('deletes verification links only past their retention, so a recently expired link still gets its own answer', async () => {
  await addVerificationTokens(4, EXPIRED_TOKEN_RETENTION_DAYS + 1);
  await addVerificationTokens(3, 1);
  await addVerificationTokens(2, -1);
  expect(await purgeExpired(pool)).toMatchObject({ ran: true, purged: { verification_tokens: 4 } });
  const { rows } = await pool.query('SELECT count(*)::int AS n FROM verification_tokens');
  expect(rows[0].n).toBe(5);
});

it('deletes in batches and bounds one run; the next run takes the rest', async () => {
  await addCounters(25, true);
  expect(await purgeExpired(pool, { batchSize: 10, maxBatches: 2 })).toMatchObject({ purged: { rate_limit_counters: 20 } });
  expect((await remaining()).counters).toBe(5);
  expect(await purgeExpired(pool, { batchSize: 10, maxBatches: 2 })).toMatchObject({ purged: { rate_limit_counters: 5 } });
  expect((await remaining()).counters).toBe(0);
});

it('purges in one process at a time: while another holds the lock, a round is skipped and deletes nothing', async () => {
  await addCounters(4, true);
  const other = await secondPool.connect();
  try {
    await other.query('SELECT pg_advisory_lock($1)', [PURGE_LOCK_ID]);
    expect(await purgeExpired(pool)).toEqual({ ran: false });
    expect((await remaining()).counters).toBe(4);
    await other.query('SELECT pg_advisory_unlock($1)', [PURGE_LOCK_ID]);
  } finally {
    other.release();
  }
  expect(await purgeExpired(pool)).toMatchObject({ ran: true, purged: { rate_limit_counters: 4 } });
});

it('frees the lock when a task fails, so the next round runs', async () => {
  await addIdempotencyKeys(3, true);
  const broken: PurgeTask = {
    name: 'broken',
    purgeBatch: async (db) => {
      await db.query('SELECT * FROM a_table_that_does_not_exist');
      return 0;
    },
  };
  await expect(purgeExpired(pool, { tasks: [broken] })).rejects.toThrow(/does not exist/);
  await eventually(async () => ((await purgeLocksHeld()) === 0 ? true : undefined), 10_000, 'the purge lock to be freed');
  expect(await purgeExpired(secondPool)).toMatchObject({ ran: true, purged: { idempotency_keys: 3 } });
});

it('runs on a schedule until stopped', async () => {
  await addCounters(3, true);
  await addIdempotencyKeys(3, true);
  const schedule = startPurgeSchedule({ pool, intervalMs: 100, logger: silentLogger });
  try {
    await eventually(async () => {
      const left = await remaining();
      return left.counters === 0 && left.keys === 0 ? true : undefined;
    }, 30_000, 'the scheduled purge');
  } finally {
    await schedule.stop();
  }
  expect(await purgeLocksHeld()).toBe(0);
  // A key claimed by the idempotency use case and still live is never purged.
  await pool.query(
    `INSERT INTO idempotency_keys (scope, idempotency_key, fingerprint, user_id, claim_token, locked_until, expires_at)
     VALUES ('POST /signup', $1, 'f', gen_random_uuid(), gen_random_uuid(), now() + interval '1 minute', now() + interval '1 day')`,
    [randomUUID()],
  );
  await purgeExpired(pool);
  expect((await remaining()).keys).toBe(1);
});
