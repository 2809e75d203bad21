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

/**
 * Polls until every id is a COMPLETED row, or until none has become one for `stallMs`; returns
 * how many are. A wait bounded by progress, not by a total: a slow host drains 10,000
 * verification runs in longer than any fixed deadline that still catches a stuck one soon.
 */
export async function waitUntilCompleted(pool: Pool, ids: string[], stallMs: number): Promise<number> {
  const progress = new Progress(stallMs);
  for (;;) {
    const { rows } = await pool.query<{ n: string }>(
      "SELECT count(*) AS n FROM users WHERE user_id = ANY($1::uuid[]) AND onboarding_state = 'COMPLETED'",
      [ids],
    );
    const done = Number(rows[0].n);
    if (done === ids.length || progress.stalled(done)) return done;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Whether a count has stopped growing: it has not grown for `stallMs`. */
export class Progress {
  private best = -1;
  private grewAt = Date.now();

  constructor(private readonly stallMs: number) {}

  stalled(count: number): boolean {
    if (count > this.best) {
      this.best = count;
      this.grewAt = Date.now();
    }
    return Date.now() - this.grewAt > this.stallMs;
  }
}
