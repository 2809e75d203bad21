import { randomBytes } from 'node:crypto';
import type { Env } from '../src/config';

/**
 * The environment of the service's processes in a benchmark run: production settings (JSON logs
 * at info, an admin token, a payload key of the run's own) and a database, queues and a task
 * queue named after the run, on the machine's shared Postgres and RabbitMQ.
 */
export function benchRunEnv(kind: 'bench' | 'levers', suffix: string): Env {
  return {
    NODE_ENV: 'production',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
    ADMIN_API_TOKEN: randomBytes(32).toString('base64url'),
    PAYLOAD_ENCRYPTION_KEYS: `bench:${randomBytes(32).toString('base64')}`,
    DATABASE_URL: `postgres://postgres@127.0.0.1:5432/onboarding_${kind}_${suffix}`,
    AMQP_EXCHANGE: `onboarding.${kind}.${suffix}`,
    AMQP_QUEUE: `user_onboarding_queue.${kind}.${suffix}`,
    AMQP_DEAD_LETTER_EXCHANGE: `onboarding.dlx.${kind}.${suffix}`,
    AMQP_DLQ: `user_onboarding_queue_dlq.${kind}.${suffix}`,
    TEMPORAL_TASK_QUEUE: `onboarding-${kind}-${suffix}`,
  };
}
