/**
 * The environment of one run (a test file, a chaos run, a benchmark): a database, AMQP names and
 * a Temporal task queue of its own on the shared Postgres and RabbitMQ, so runs side by side
 * never meet, and run-resources.ts can remove exactly what the run made.
 */
import { randomBytes } from 'node:crypto';
import type { Env } from '../../src/config';

export type RunKind = 'test' | 'chaos' | 'bench';

/**
 * A group tag that every suffix made in this process (and its children) carries when set: the
 * test passes' global setup sets one per pass, so its teardown finds exactly what that pass left
 * (run-resources.ts), never what another run beside it is still using.
 */
export const RUN_GROUP_VAR = 'ONBOARDING_RUN_GROUP';

/** A fresh group tag: `g` and four hex digits (a suffix's other parts are base 36 time and hex). */
export const newRunGroup = (): string => `g${randomBytes(2).toString('hex')}`;

/** Short, sortable by time, unique enough for runs started in the same millisecond, and tagged with the run group if there is one. */
export function uniqueSuffix(): string {
  const group = process.env[RUN_GROUP_VAR];
  return `${Date.now().toString(36)}_${group ? `${group}_` : ''}${randomBytes(3).toString('hex')}`;
}

// One admin token and one payload key per process, so every API and worker a process starts
// agrees on them; a key made for the run alone, whose Temporal history is thrown away with it.
export const RUN_ADMIN_TOKEN = randomBytes(32).toString('base64url');
const RUN_PAYLOAD_KEY = randomBytes(32).toString('base64');

/** The payload key list a run of `kind` encrypts with; the key id is `<kind>1`. */
export const runPayloadKeys = (kind: RunKind) => `${kind}1:${RUN_PAYLOAD_KEY}`;

// Tests and the chaos run keep development's lenient settings, quiet; the benchmark measures
// the production settings (JSON logs at info, an admin token required).
const SETTINGS: Record<RunKind, Env> = {
  test: { NODE_ENV: 'test', LOG_LEVEL: 'silent' },
  chaos: { NODE_ENV: 'test', LOG_LEVEL: 'warn' },
  bench: { NODE_ENV: 'production', LOG_LEVEL: 'info' },
};

/** The variables that make a run's resources its own; `overrides` win (ports, Temporal address, limits). */
export function runEnv(kind: RunKind, suffix: string, overrides: Env = {}): Env {
  return {
    ...SETTINGS[kind],
    DATABASE_URL: `postgres://postgres@127.0.0.1:5432/onboarding_${kind}_${suffix}`,
    AMQP_EXCHANGE: `onboarding.${kind}.${suffix}`,
    AMQP_QUEUE: `user_onboarding_queue.${kind}.${suffix}`,
    AMQP_DEAD_LETTER_EXCHANGE: `onboarding.dlx.${kind}.${suffix}`,
    AMQP_DLQ: `user_onboarding_queue_dlq.${kind}.${suffix}`,
    TEMPORAL_TASK_QUEUE: `onboarding-${kind}-${suffix}`,
    EVENTS_EXCHANGE: `onboarding.events.${kind}.${suffix}`,
    // No mail leaves a run unless it starts a Mailpit of its own and points SMTP_URL at it.
    SMTP_URL: 'smtp://127.0.0.1:1',
    ADMIN_API_TOKEN: RUN_ADMIN_TOKEN,
    PAYLOAD_ENCRYPTION_KEYS: runPayloadKeys(kind),
    // All of a run's load comes from one address: the per-IP limits are not what it tests (the
    // tests of the limits set their own). A run polls the status read many times per signup.
    SIGNUP_RATE_LIMIT: '100000000',
    STATUS_RATE_LIMIT: '100000000',
    VERIFY_RATE_LIMIT: '100000000',
    // Every API process a run starts gets an admin port the OS picks, so two never collide; a
    // harness that talks to the admin listener passes a port of its own (freePort()).
    ADMIN_PORT: '0',
    ...overrides,
  };
}
