/**
 * GET /users on the admin routes, against the real Postgres: keyset pages cover every row once
 * while rows are being inserted, the filters, and the 400s (bad cursor, bad filter, limit).
 */
import { randomUUID } from 'node:crypto';
import { insertUser } from '../../src/repositories/user-repository';
import { encodeCursor, USER_LIST_MAX_LIMIT } from '../../src/use-cases/list-users';
import { type AdminRoutesApp, startAdminRoutes } from '../support/admin-routes';
import { signupMessage, useTestDatabase } from '../support/fixtures';
import { silentLogger } from '../support/stack';

const db = useTestDatabase();
let admin: AdminRoutesApp;

beforeAll(async () => {
  admin = await startAdminRoutes({ config: db.config, pool: db.pool, logger: silentLogger, removeTopologyOnClose: true });
});
afterAll(() => admin.close());
beforeEach(() => db.pool.query('TRUNCATE users CASCADE'));

/** Inserts a user created at `createdAt` (a Postgres timestamptz literal, microseconds allowed). */
async function userAt(createdAt: string, fields: { verification_state?: string; onboarding_state?: string; user_id?: string } = {}): Promise<string> {
  const signup = await signupMessage({ user_id: fields.user_id ?? randomUUID() });
  await insertUser(db.pool, signup);
  await db.pool.query('UPDATE users SET created_at = $2::timestamptz, verification_state = $3, onboarding_state = $4 WHERE user_id = $1', [
    signup.user_id,
    createdAt,
    fields.verification_state ?? 'PENDING',
    fields.onboarding_state ?? 'COMPLETED',
  ]);
  return signup.user_id;
}

async function allPages(query: string, between?: () => Promise<void>): Promise<Array<{ user_id: string; created_at: string }>> {
  const seen: Array<{ user_id: string; created_at: string }> = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 1000; pages++) {
    const qs: string = cursor ? `${query}&cursor=${cursor}` : query;
    const res = await admin.request('GET', `/users?${qs}`);
    expect(res.status).toBe(200);
    seen.push(...res.body.users);
    cursor = res.body.next_cursor;
    if (!cursor) return seen;
    await between?.();
  }
  throw new Error('more than 1000 pages');
}

it('pages cover every row exactly once, in (created_at, user_id) order, while rows are inserted', async () => {
  // Ties on created_at (the user_id decides) and rows one microsecond apart (a Date would merge them).
  const existing: string[] = [];
  for (let i = 0; i < 40; i++) existing.push(await userAt(`2026-01-01T00:00:00.00${String(i % 4).padStart(4, '0')}Z`));
  for (let i = 0; i < 20; i++) existing.push(await userAt(`2026-01-02T00:00:${String(i).padStart(2, '0')}Z`));
  let inserted = 0;
  // Between pages, concurrent inserts: some after every row, some in the middle of the order.
  const insertMore = async () => {
    await Promise.all([
      userAt(new Date(Date.UTC(2026, 0, 3) + inserted).toISOString()),
      userAt(`2026-01-01T00:00:00.000002Z`),
      admin.request('GET', '/users?limit=3'),
    ]);
    inserted += 2;
  };
  const seen = await allPages('limit=7', insertMore);

  const ids = seen.map((u) => u.user_id);
  expect(new Set(ids).size).toBe(ids.length);
  for (const id of existing) expect(ids.filter((x) => x === id)).toHaveLength(1);
  expect(inserted).toBeGreaterThan(0);
  // The order the rows came in is the order Postgres gives them.
  const { rows } = await db.pool.query<{ user_id: string }>('SELECT user_id FROM users WHERE user_id = ANY($1::uuid[]) ORDER BY created_at, user_id', [ids]);
  expect(ids).toEqual(rows.map((r) => r.user_id));
});

it('a cursor between two rows one microsecond apart neither skips nor repeats', async () => {
  const a = await userAt('2026-02-01T00:00:00.000001Z');
  const b = await userAt('2026-02-01T00:00:00.000002Z');
  const c = await userAt('2026-02-01T00:00:00.000003Z');
  expect((await allPages('limit=1')).map((u) => u.user_id)).toEqual([a, b, c]);
});

it('filters by onboarding state, verification state and created range, and they combine', async () => {
  const verified = await userAt('2026-03-01T00:00:00Z', { verification_state: 'VERIFIED' });
  const persisted = await userAt('2026-03-02T00:00:00Z', { onboarding_state: 'PERSISTED' });
  const expired = await userAt('2026-03-03T00:00:00Z', { verification_state: 'EXPIRED' });
  const late = await userAt('2026-03-04T00:00:00Z', { verification_state: 'VERIFIED' });
  const ids = async (qs: string) => (await allPages(qs)).map((u) => u.user_id);

  expect(await ids('verification_state=VERIFIED')).toEqual([verified, late]);
  expect(await ids('onboarding_state=PERSISTED')).toEqual([persisted]);
  expect(await ids('onboarding_state=COMPLETED&verification_state=EXPIRED')).toEqual([expired]);
  expect(await ids(`created_after=${encodeURIComponent('2026-03-02T00:00:00Z')}&created_before=${encodeURIComponent('2026-03-04T00:00:00Z')}`)).toEqual([persisted, expired]);
  expect(await ids(`created_after=${encodeURIComponent('2026-03-02T00:00:00+01:00')}&verification_state=VERIFIED`)).toEqual([late]);
  expect(await ids('verification_state=REJECTED')).toEqual([]);
});

it('answers the full record, never the hash, and the last page has no cursor', async () => {
  const id = await userAt('2026-04-01T00:00:00Z');
  const res = await admin.request('GET', '/users');
  expect(res.status).toBe(200);
  expect(res.body.next_cursor).toBeNull();
  expect(res.body.users).toEqual([
    expect.objectContaining({ user_id: id, email: `user-${id}@example.com`, first_name: 'Ada', onboarding_state: 'COMPLETED', created_at: '2026-04-01T00:00:00.000Z' }),
  ]);
  expect(JSON.stringify(res.body)).not.toContain('argon2id');
});

it.each([
  ['a cursor that is not base64url', 'cursor=not%20a%20cursor', 'cursor'],
  ['a cursor of other JSON', `cursor=${Buffer.from('{"a":1}').toString('base64url')}`, 'cursor'],
  ['a cursor of bytes', `cursor=${Buffer.from([0xff, 0xfe, 0x00]).toString('base64url')}`, 'cursor'],
  ['a cursor with a bad id', `cursor=${Buffer.from(JSON.stringify(['1', 'x'])).toString('base64url')}`, 'cursor'],
  ['an unknown state', 'verification_state=MAYBE', 'verification_state'],
  ['an onboarding state a row never has', 'onboarding_state=QUEUED', 'onboarding_state'],
  ['a date that is not one', 'created_after=yesterday', 'created_after'],
  ['an empty range', `created_after=2026-01-02T00:00:00Z&created_before=2026-01-01T00:00:00Z`, 'created_before'],
  ['limit 0', 'limit=0', 'limit'],
  [`limit over ${USER_LIST_MAX_LIMIT}`, `limit=${USER_LIST_MAX_LIMIT + 1}`, 'limit'],
  ['a misspelt filter', 'verification_status=VERIFIED', '(body)'],
  ['a parameter given twice', 'limit=1&limit=2', 'limit'],
])('refuses %s with 400', async (_what, qs, field) => {
  const res = await admin.request('GET', `/users?${qs}`);
  expect(res.status).toBe(400);
  expect(res.body.type).toBe('/problems/validation-error');
  expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
});

it('takes a limit of exactly the maximum, and a cursor it made', async () => {
  await userAt('2026-05-01T00:00:00Z');
  expect((await admin.request('GET', `/users?limit=${USER_LIST_MAX_LIMIT}`)).status).toBe(200);
  const cursor = encodeCursor({ createdAtMicros: 0n, userId: randomUUID() });
  expect((await admin.request('GET', `/users?cursor=${cursor}`)).body.users).toHaveLength(1);
});
