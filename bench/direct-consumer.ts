/**
 * The benchmark's direct baseline: a plain consumer that writes each signup to Postgres without
 * Temporal. Same queue and topology, same prefetch, same contract check and the same SQL as the
 * activities (insert, then mark COMPLETED), acked after the write. What it lacks is what Temporal
 * adds: durable retries with backoff, run history, the Web UI. Not for production.
 */
import type { Channel, ConsumeMessage } from 'amqplib';
import { loadConfig } from '../src/config';
import { parseSignupMessage } from '../src/contract';
import { createPool } from '../src/db/postgres';
import { createLogger } from '../src/logger';
import { connectRabbit } from '../src/messaging/rabbit';
import { declareTopology } from '../src/messaging/topology';
import { exitOnStartFailure, onShutdownSignal } from '../src/process';
import { recordSignupFailed } from '../src/repositories/signup-request-repository';
import { completeOnboarding, DuplicateEmailError, insertUser } from '../src/repositories/user-repository';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger({ name: 'direct-consumer', level: config.logLevel });
  const pool = createPool(config.postgres.url, config.postgres.poolMax, logger);
  let channel: Channel | null = null;

  async function handle(ch: Channel, msg: ConsumeMessage): Promise<void> {
    const parsed = parseSignupMessage(msg.content);
    if (!parsed.ok) {
      ch.nack(msg, false, false);
      return;
    }
    try {
      await insertUser(pool, parsed.value);
      await completeOnboarding(pool, parsed.value.user_id);
      ch.ack(msg);
    } catch (err) {
      // No retry budget here: a duplicate is dead-lettered (and recorded, as the bridge does),
      // anything else goes back to the queue.
      if (!(err instanceof DuplicateEmailError)) return ch.nack(msg, false, true);
      await recordSignupFailed(pool, parsed.value.user_id, 'DuplicateEmail: email already registered').catch(() => undefined);
      ch.nack(msg, false, false);
    }
  }

  const connection = await connectRabbit({
    url: config.amqp.url,
    name: 'bench-direct-consumer',
    logger,
    onConnect: async (model) => {
      const ch = await model.createChannel();
      await declareTopology(ch, config.amqp);
      await ch.prefetch(config.amqp.prefetch);
      await ch.consume(config.amqp.queue, (msg) => msg && void handle(ch, msg), { noAck: false });
      channel = ch;
      logger.info({ queue: config.amqp.queue, prefetch: config.amqp.prefetch }, 'direct consumer consuming');
    },
  });

  onShutdownSignal(logger, async () => {
    await channel?.close().catch(() => undefined);
    await connection.close().catch(() => undefined);
    await pool.end();
  });
}

main().catch(exitOnStartFailure('direct consumer'));
