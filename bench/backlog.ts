/**
 * A backlog of signups queued straight onto the broker (already hashed: a drain measures the
 * consumer side alone), and the wait until each is a COMPLETED row. Used by the benchmark's
 * drain and by the lever trials (bench/levers/).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { hashPassword } from '../src/api/password';
import type { Config } from '../src/config';
import { SIGNUP_MESSAGE_VERSION, type SignupMessage } from '../src/contract';
import { createLogger } from '../src/logger';
import { createSignupPublisher } from '../src/messaging/signup-publisher';

/** Publishes `count` signups (confirmed by the broker) and returns their user ids. */
/** Queues `count` signups; returns their ids and addresses (each drain's addresses are its own). */
export async function queueBacklog(config: Config, count: number, label: string): Promise<{ ids: string[]; emails: Set<string> }> {
  // One real hash for all: 10,000 hashes would take minutes and are not what a drain measures.
  const passwordHash = await hashPassword(randomBytes(12).toString('base64url'));
  const publisher = await createSignupPublisher({ topology: config.amqp, url: config.amqp.url, logger: createLogger({ name: 'bench', level: 'warn' }) });
  const ids: string[] = [];
  const emails = new Set<string>();
  const prefix = `${label}-${randomBytes(3).toString('hex')}`;
  try {
    for (let start = 0; start < count; start += 500) {
      const batch = Array.from({ length: Math.min(500, count - start) }, (_, k): SignupMessage => {
        const n = start + k;
        const userId = randomUUID();
        ids.push(userId);
        emails.add(`${prefix}-${n}@example.com`);
        return {
          version: SIGNUP_MESSAGE_VERSION,
          user_id: userId,
          email: `${prefix}-${n}@example.com`,
          first_name: 'Backlog',
          last_name: `User ${n}`,
          password_hash: passwordHash,
          requested_at: new Date().toISOString(),
          request_id: `bench-${prefix}-${n}`,
        };
      });
      await Promise.all(batch.map((m) => publisher.publishSignup(m)));
    }
  } finally {
    await publisher.close();
  }
  return { ids, emails };
}

/** Polls until every id is a COMPLETED row or the deadline passes; returns how many are. */
export async function waitUntilCompleted(pool: Pool, ids: string[], deadline: number): Promise<number> {
  for (;;) {
    const { rows } = await pool.query<{ n: string }>(
      "SELECT count(*) AS n FROM users WHERE user_id = ANY($1::uuid[]) AND onboarding_state = 'COMPLETED'",
      [ids],
    );
    const done = Number(rows[0].n);
    if (done === ids.length || Date.now() > deadline) return done;
    await new Promise((r) => setTimeout(r, 250));
  }
}
