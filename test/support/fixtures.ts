import { randomUUID } from 'node:crypto';
import { hashPassword } from '../../src/api/password';
import { SIGNUP_MESSAGE_VERSION, type SignupMessage } from '../../src/contract';

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
