/**
 * Idempotency-Key on the real Postgres: replay, 422 on another body, 409 while in flight, no
 * stored 5xx, a retry under the same user_id, a crashed run's lease lapsing, exactly one winner
 * among concurrent claims from two pools (two API processes), and a fingerprint that is an HMAC.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { createPool } from '../../src/db/postgres';
import { IdempotencyKeyReusedError, IdempotentRequestInFlightError, InvalidIdempotencyKeyError, ServiceUnavailableError } from '../../src/errors';
import { claimIdempotencyKey, deleteIdempotencyKeysOfUser } from '../../src/repositories/idempotency-key-repository';
import { keyedHash } from '../../src/security/keyed-hash';
import {
  type IdempotencyDeps,
  type IdempotentAnswer,
  parseIdempotencyKey,
  requestFingerprint,
  runIdempotently,
} from '../../src/use-cases/idempotent-request';
import { createTestDatabase, dropTestDatabase, eventually, silentLogger, testConfig, uniqueSuffix } from '../support/stack';

const config = testConfig(uniqueSuffix());
const SCOPE = 'POST /signup';
let pool: Pool;
let secondPool: Pool;
let deps: IdempotencyDeps;

beforeAll(async () => {
  pool = await createTestDatabase(config);
  // A second process's pool; like every pool of ours it survives a connection Postgres closes.
  secondPool = createPool(config.postgres.url, 10, silentLogger);
  deps = { pool, fingerprintKey: config.idempotency.fingerprintKey, ttlMs: config.idempotency.ttlMs, leaseMs: config.idempotency.leaseMs };
});
afterAll(async () => {
  await secondPool?.end();
  await dropTestDatabase(config, pool);
});

const newKey = () => randomUUID();
const body = (overrides: Record<string, unknown> = {}) => ({
  email: `user-${randomUUID()}@example.com`,
  first_name: 'Ada',
  last_name: 'Lovelace',
  password: `secret-${randomUUID()}`,
  ...overrides,
});
const accepted = (userId: string): IdempotentAnswer => ({
  status: 202,
  headers: { Location: `/users/${userId}` },
  body: JSON.stringify({ status: 'SUCCESS', message: 'Signup accepted; onboarding is in progress.', user_id: userId, verification: 'PENDING' }),
});

/** A work function that records the ids it ran under. */
function recordingWork(answer: (userId: string) => IdempotentAnswer = accepted) {
  const runs: string[] = [];
  const work = async (userId: string) => {
    runs.push(userId);
    return answer(userId);
  };
  return { runs, work };
}

async function keyRow(key: string) {
  const { rows } = await pool.query('SELECT *, (t)::text AS whole FROM idempotency_keys t WHERE scope = $1 AND idempotency_key = $2', [SCOPE, key]);
  return rows[0];
}

describe('the Idempotency-Key header', () => {
  it('accepts a UUID, base64 and the draft’s quoted structured-field string', () => {
    const uuid = randomUUID();
    expect(parseIdempotencyKey(uuid)).toBe(uuid);
    expect(parseIdempotencyKey(`"${uuid}"`)).toBe(uuid);
    expect(parseIdempotencyKey('q83vEjRWeJq83vEjRWeJ+w==')).toBe('q83vEjRWeJq83vEjRWeJ+w==');
    expect(parseIdempotencyKey(undefined)).toBeUndefined();
  });

  it.each([
    ['too short', 'abc123'],
    ['too long', 'a'.repeat(129)],
    ['a space', 'abcdefgh ijklmnopq'],
    ['a quote inside', 'abcdefgh"ijklmnopq'],
    ['non-ASCII', 'clé-idempotence-0001'],
    ['a control character', 'abcdefghijklmnop\u0000'],
    ['empty quotes', '""'],
  ])('refuses a key with %s', (_what, value) => {
    expect(() => parseIdempotencyKey(value)).toThrow(InvalidIdempotencyKeyError);
  });

  it('refuses two Idempotency-Key headers', () => {
    expect(() => parseIdempotencyKey([randomUUID(), randomUUID()])).toThrow(InvalidIdempotencyKeyError);
  });
});

describe('runIdempotently', () => {
  it('replays the first answer (status, headers, body byte for byte) for the same key and body, whatever the key order', async () => {
    const key = newKey();
    const first = body();
    const { runs, work } = recordingWork();
    const original = await runIdempotently(deps, { scope: SCOPE, key, body: first }, work);
    expect(original.replayed).toBe(false);
    const reordered = Object.fromEntries(Object.entries(first).reverse());
    const again = await runIdempotently(deps, { scope: SCOPE, key, body: reordered }, work);
    const fromOtherProcess = await runIdempotently({ ...deps, pool: secondPool }, { scope: SCOPE, key, body: first }, work);
    expect(runs).toEqual([original.userId]);
    for (const replay of [again, fromOtherProcess]) {
      expect(replay).toEqual({ answer: original.answer, userId: original.userId, replayed: true });
    }
    expect(again.answer.body).toBe(accepted(original.userId).body);
  });

  it('refuses the same key with another body (422), without running the work', async () => {
    const key = newKey();
    const first = body();
    const { runs, work } = recordingWork();
    await runIdempotently(deps, { scope: SCOPE, key, body: first }, work);
    await expect(runIdempotently(deps, { scope: SCOPE, key, body: { ...first, password: 'another-password' } }, work)).rejects.toThrow(
      IdempotencyKeyReusedError,
    );
    expect(runs).toHaveLength(1);
    // The same key on another operation is another key.
    const other = await runIdempotently(deps, { scope: 'POST /other', key, body: { different: true } }, work);
    expect(other.replayed).toBe(false);
  });

  it('answers 409 while the first request with the key runs, then replays its answer', async () => {
    const key = newKey();
    const request = { scope: SCOPE, key, body: body() };
    let finish!: () => void;
    const gate = new Promise<void>((resolve) => (finish = resolve));
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const first = runIdempotently(deps, request, async (userId) => {
      started();
      await gate;
      return accepted(userId);
    });
    await running;
    const refusal = await runIdempotently({ ...deps, pool: secondPool }, request, recordingWork().work).catch((err: unknown) => err);
    expect(refusal).toBeInstanceOf(IdempotentRequestInFlightError);
    expect((refusal as IdempotentRequestInFlightError).retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect((refusal as IdempotentRequestInFlightError).retryAfterSeconds).toBeLessThanOrEqual(Math.ceil(deps.leaseMs / 1000));
    finish();
    const original = await first;
    expect(await runIdempotently(deps, request, recordingWork().work)).toEqual({ ...original, replayed: true });
  });

  it('stores no 5xx and no thrown error: the retry runs again, under the same user_id, and its answer is kept', async () => {
    const key = newKey();
    const request = { scope: SCOPE, key, body: body() };
    const unavailable = recordingWork(() => ({ status: 503, headers: { 'Retry-After': '5' }, body: '{"title":"Service unavailable"}' }));
    const failed = await runIdempotently(deps, request, unavailable.work);
    expect(failed.answer.status).toBe(503);
    expect((await keyRow(key)).response_status).toBeNull();

    const throwing = async () => {
      throw new Error('broker confirm timed out');
    };
    await expect(runIdempotently(deps, request, throwing)).rejects.toThrow('broker confirm timed out');
    expect((await keyRow(key)).claim_token).toBeNull();

    const ok = recordingWork();
    const succeeded = await runIdempotently(deps, request, ok.work);
    expect(succeeded).toMatchObject({ userId: failed.userId, replayed: false });
    expect(ok.runs).toEqual([failed.userId]);
    expect((await runIdempotently(deps, request, ok.work)).replayed).toBe(true);
    expect(ok.runs).toHaveLength(1);
  });

  it('lets a retry take over the key of a run that crashed, once its lease has lapsed, under the same user_id', async () => {
    const key = newKey();
    const request = { scope: SCOPE, key, body: body() };
    const reservedUserId = randomUUID();
    // A process claimed the key and died: nothing will ever store or release it.
    const crashed = await claimIdempotencyKey(pool, {
      scope: SCOPE,
      key,
      fingerprint: requestFingerprint(deps.fingerprintKey, SCOPE, request.body),
      userId: reservedUserId,
      claimToken: randomUUID(),
      leaseMs: deps.leaseMs,
      ttlMs: deps.ttlMs,
    });
    expect(crashed).toEqual({ claimed: true, userId: reservedUserId });
    const retry = recordingWork();
    await expect(runIdempotently(deps, request, retry.work)).rejects.toThrow(IdempotentRequestInFlightError);
    // The lease lapses (set back in the database rather than waited for).
    await pool.query("UPDATE idempotency_keys SET locked_until = now() - interval '1 second' WHERE idempotency_key = $1", [key]);
    const outcome = await runIdempotently(deps, request, retry.work);
    expect(outcome).toMatchObject({ userId: reservedUserId, replayed: false });
    expect(retry.runs).toEqual([reservedUserId]);
  });

  it('treats an expired key as new: another body runs, under a new user_id', async () => {
    const key = newKey();
    const first = await runIdempotently(deps, { scope: SCOPE, key, body: body() }, recordingWork().work);
    await pool.query("UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE idempotency_key = $1", [key]);
    const later = await runIdempotently(deps, { scope: SCOPE, key, body: body() }, recordingWork().work);
    expect(later.replayed).toBe(false);
    expect(later.userId).not.toBe(first.userId);
  });

  it('among concurrent requests with one key, from two processes, exactly one runs; every other is told it is in flight', async () => {
    const key = newKey();
    const request = { scope: SCOPE, key, body: body() };
    const CONCURRENT = 20;
    let finish!: () => void;
    const gate = new Promise<void>((resolve) => (finish = resolve));
    const runs: string[] = [];
    const work = async (userId: string) => {
      runs.push(userId);
      await gate;
      return accepted(userId);
    };
    const refusals: unknown[] = [];
    const outcomes = Array.from({ length: CONCURRENT }, (_, i) =>
      runIdempotently({ ...deps, pool: i % 2 === 0 ? pool : secondPool }, request, work).catch((err: unknown) => {
        refusals.push(err);
        throw err;
      }),
    );
    // The winner waits at the gate; every other request is answered before it opens.
    await eventually(async () => (refusals.length === CONCURRENT - 1 ? true : undefined), 60_000, 'every other request to be refused');
    expect(runs).toHaveLength(1);
    expect(refusals.every((err) => err instanceof IdempotentRequestInFlightError)).toBe(true);
    finish();
    const all = await Promise.allSettled(outcomes);
    expect(all.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    expect(runs).toHaveLength(1);
  });

  it('stores the body only as an HMAC under the server key: no plain hash, no password, in the row', async () => {
    const key = newKey();
    const request = body();
    await runIdempotently(deps, { scope: SCOPE, key, body: request }, recordingWork().work);
    const row = await keyRow(key);
    const canonical = JSON.stringify(Object.fromEntries(Object.entries(request).sort()));
    expect(row.fingerprint).toBe(keyedHash(deps.fingerprintKey, SCOPE, canonical));
    expect(row.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    for (const plain of [canonical, JSON.stringify(request), `${SCOPE}${canonical}`]) {
      expect(row.fingerprint).not.toBe(createHash('sha256').update(plain).digest('hex'));
    }
    // Another server key gives another fingerprint: it cannot be recomputed without the key.
    expect(requestFingerprint(Buffer.alloc(32, 1), SCOPE, request)).not.toBe(row.fingerprint);
    expect(row.whole).not.toContain(request.password);
    expect(row.whole).not.toContain(request.email);
  });

  it('forgets the keys of an erased user', async () => {
    const key = newKey();
    const outcome = await runIdempotently(deps, { scope: SCOPE, key, body: body() }, recordingWork().work);
    expect(await deleteIdempotencyKeysOfUser(pool, outcome.userId)).toBe(1);
    expect(await keyRow(key)).toBeUndefined();
  });

  it('answers 503 (ServiceUnavailableError) when Postgres cannot be reached, without running the work', async () => {
    const unreachable = createPool('postgres://postgres@127.0.0.1:1/none', 2, silentLogger);
    const { runs, work } = recordingWork();
    try {
      await expect(runIdempotently({ ...deps, pool: unreachable }, { scope: SCOPE, key: newKey(), body: body() }, work)).rejects.toThrow(
        ServiceUnavailableError,
      );
      expect(runs).toEqual([]);
    } finally {
      await unreachable.end();
    }
  });
});
