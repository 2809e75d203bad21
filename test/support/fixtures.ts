import { randomUUID } from 'node:crypto';
import { type AddressInfo, createServer } from 'node:net';
import { Pool } from 'pg';
import { hashPassword } from '../../src/api/password';
import type { Config } from '../../src/config';
import { SIGNUP_MESSAGE_VERSION, type SignupMessage } from '../../src/contract';
import { createTestDatabase, dropTestDatabase, testConfig, uniqueSuffix } from './stack';

let cachedHash: Promise<string> | undefined;

/** A valid queue message; the argon2id hash is computed once per test file. */
export async function signupMessage(overrides: Partial<SignupMessage> = {}): Promise<SignupMessage> {
  cachedHash ??= hashPassword('correct horse battery');
  const userId = overrides.user_id ?? randomUUID();
  return {
    version: SIGNUP_MESSAGE_VERSION,
    user_id: userId,
    email: `user-${userId}@example.com`,
    first_name: 'Ada',
    last_name: 'Lovelace',
    password_hash: await cachedHash,
    requested_at: new Date().toISOString(),
    ...overrides,
  };
}

export function signupBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    email: `user-${randomUUID()}@example.com`,
    first_name: 'Ada',
    last_name: 'Lovelace',
    password: 'correct horse battery',
    ...overrides,
  };
}

/** A loopback port with nothing listening on it: the OS hands one out, then it is closed again. */
export function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** A pool for a Postgres that is not there: every query fails to connect. End it after use. */
export async function unreachablePostgres(): Promise<Pool> {
  return new Pool({ connectionString: `postgres://postgres@127.0.0.1:${await closedPort()}/nothing`, max: 1 });
}

/**
 * A migrated database (and AMQP names) of this test file's own, made before its tests and
 * dropped after them. Read `config` and `pool` inside tests and hooks, once beforeAll has run.
 */
export function useTestDatabase(): { readonly config: Config; readonly pool: Pool } {
  const db = {} as { config: Config; pool: Pool };
  beforeAll(async () => {
    db.config = testConfig(uniqueSuffix());
    db.pool = await createTestDatabase(db.config);
  });
  afterAll(() => dropTestDatabase(db.config, db.pool));
  return db;
}
