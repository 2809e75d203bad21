/**
 * Limits that hold across processes, on the real Postgres: two Express apps with stores of
 * their own on one database share one limit; IPv6 clients count per /56; no address reaches
 * the counters; concurrent hits are each counted once; a Postgres outage answers 503.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import express, { type Request } from 'express';
import type { Pool } from 'pg';
import { createPool } from '../../src/db/postgres';
import { errorHandler } from '../../src/api/problem';
import { sharedRateLimit, type SharedRateLimitOptions } from '../../src/api/shared-rate-limit';
import { addressRateLimitKey, PostgresRateLimitStore } from '../../src/security/postgres-rate-limit-store';
import { createTestDatabase, dropTestDatabase, silentLogger, testConfig, uniqueSuffix } from '../support/stack';

const config = testConfig(uniqueSuffix());
let pool: Pool;
let secondPool: Pool;
const servers: Server[] = [];

beforeAll(async () => {
  pool = await createTestDatabase(config);
  // A second process's pool; like every pool of ours it survives a connection Postgres closes.
  secondPool = createPool(config.postgres.url, 10, silentLogger);
});
afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  await secondPool?.end();
  await dropTestDatabase(config, pool);
});

/** One API process as far as limits go: an app of its own, a limiter and a store of its own, a pool of its own. */
async function startApp(options: Omit<SharedRateLimitOptions, 'limits'>, trustProxy: string[] | false = false): Promise<string> {
  const app = express();
  app.set('trust proxy', trustProxy);
  app.use(express.json());
  app.post('/limited', sharedRateLimit({ ...options, limits: config.limits }), (_req, res) => {
    res.json({ ok: true });
  });
  app.use(errorHandler(silentLogger));
  const server = createServer(app);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function post(baseUrl: string, headers: Record<string, string> = {}, body: unknown = {}) {
  const res = await fetch(`${baseUrl}/limited`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: res.status, headers: res.headers, body: await res.json() };
}

async function storedKeys(limiter: string): Promise<string[]> {
  const { rows } = await pool.query<{ key_hash: string }>('SELECT key_hash FROM rate_limit_counters WHERE limiter = $1', [limiter]);
  return rows.map((r) => r.key_hash);
}

const limiterName = () => `test-${randomUUID().slice(0, 8)}`;

it('two API processes share one limit: with a limit of 2, the 3rd request across both is refused', async () => {
  const limiter = limiterName();
  const first = await startApp({ pool, limiter, limit: 2, windowMs: 60_000 });
  const second = await startApp({ pool: secondPool, limiter, limit: 2, windowMs: 60_000 });
  expect((await post(first)).status).toBe(200);
  expect((await post(second)).status).toBe(200);
  const refused = await post(first);
  expect(refused.status).toBe(429);
  expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
  expect(refused.body).toMatchObject({ status: 429, type: '/problems/too-many-requests' });
  expect((await post(second)).status).toBe(429);
  // Another limiter's counters are its own.
  expect((await post(await startApp({ pool, limiter: limiterName(), limit: 2, windowMs: 60_000 }))).status).toBe(200);
});

it('counts IPv6 clients per /56, and stores no address, only HMACs', async () => {
  const limiter = limiterName();
  const baseUrl = await startApp({ pool, limiter, limit: 2, windowMs: 60_000 }, ['loopback']);
  const from = (ip: string) => post(baseUrl, { 'x-forwarded-for': ip });
  // 2001:db8:1:100::/56 holds both of these.
  expect((await from('2001:db8:1:100::1')).status).toBe(200);
  expect((await from('2001:db8:1:1ff:ffff::2')).status).toBe(200);
  expect((await from('2001:db8:1:1a0::3')).status).toBe(429);
  // The next /56 and an IPv4 client have counters of their own.
  expect((await from('2001:db8:1:200::1')).status).toBe(200);
  expect((await from('203.0.113.9')).status).toBe(200);
  const keys = await storedKeys(limiter);
  expect(keys).toHaveLength(3);
  for (const key of keys) {
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(key).not.toContain('2001');
    expect(key).not.toContain('203.0.113');
  }
});

it('limits per e-mail address with a key that is an HMAC of the normalised address, in the request and in the table', async () => {
  const limiter = limiterName();
  const keyGenerator = (req: Request) => addressRateLimitKey(config.limits.keyHmacKey, String(req.body?.email ?? ''));
  const baseUrl = await startApp({ pool, limiter, limit: 1, windowMs: 60_000, keyGenerator });
  const address = `Someone.${randomUUID()}@Example.com`;
  expect((await post(baseUrl, {}, { email: address })).status).toBe(200);
  expect((await post(baseUrl, {}, { email: ` ${address.toLowerCase()} ` })).status).toBe(429);
  expect((await post(baseUrl, {}, { email: `other.${randomUUID()}@example.com` })).status).toBe(200);
  const key = addressRateLimitKey(config.limits.keyHmacKey, address);
  expect(key).toMatch(/^address:[0-9a-f]{64}$/);
  expect(addressRateLimitKey(Buffer.alloc(32, 9), address)).not.toBe(key);
  const { rows } = await pool.query('SELECT (c)::text AS whole FROM rate_limit_counters c WHERE limiter = $1', [limiter]);
  expect(rows).toHaveLength(2);
  for (const { whole } of rows) expect(whole.toLowerCase()).not.toContain('example.com');
});

describe('PostgresRateLimitStore', () => {
  const store = (pg: Pool, limiter: string, windowMs = 60_000) => {
    const s = new PostgresRateLimitStore({ pool: pg, limiter, keyHmacKey: config.limits.keyHmacKey });
    s.init({ windowMs } as Parameters<PostgresRateLimitStore['init']>[0]);
    return s;
  };

  it('counts concurrent hits from two processes each exactly once', async () => {
    const limiter = limiterName();
    const stores = [store(pool, limiter), store(secondPool, limiter)];
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => stores[i % 2].increment('client')));
    expect(results.map((r) => r.totalHits).sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(new Set(results.map((r) => r.resetTime?.getTime())).size).toBe(1);
    expect((await stores[1].get('client'))?.totalHits).toBe(40);
  });

  it('starts a new window once the old one has ended, and supports decrement and reset', async () => {
    const limiter = limiterName();
    const s = store(pool, limiter);
    await s.increment('a');
    await s.increment('a');
    await s.decrement('a');
    expect((await s.get('a'))?.totalHits).toBe(1);
    await pool.query("UPDATE rate_limit_counters SET reset_at = now() - interval '1 second' WHERE limiter = $1", [limiter]);
    expect(await s.get('a')).toBeUndefined();
    const restarted = await s.increment('a');
    expect(restarted.totalHits).toBe(1);
    expect(restarted.resetTime!.getTime()).toBeGreaterThan(Date.now());
    await s.increment('b');
    await s.resetKey('a');
    expect(await s.get('a')).toBeUndefined();
    expect((await s.get('b'))?.totalHits).toBe(1);
    await s.resetAll();
    expect(await storedKeys(limiter)).toEqual([]);
  });

  it('refuses a limiter name that is not a plain identifier', () => {
    expect(() => new PostgresRateLimitStore({ pool, limiter: 'Signup Limit', keyHmacKey: config.limits.keyHmacKey })).toThrow(RangeError);
  });

  it('fails closed: with Postgres unreachable the request is answered 503, not let through', async () => {
    const unreachable = createPool('postgres://postgres@127.0.0.1:1/none', 2, silentLogger);
    try {
      const baseUrl = await startApp({ pool: unreachable, limiter: limiterName(), limit: 100, windowMs: 60_000 });
      const res = await post(baseUrl);
      expect(res.status).toBe(503);
      expect(res.body).toMatchObject({ service: 'postgres', detail: 'rate limit unavailable' });
    } finally {
      await unreachable.end();
    }
  });
});
