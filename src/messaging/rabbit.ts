import amqplib, { type ChannelModel, type RecoveringChannelModel } from 'amqplib';
import type { Logger } from 'pino';
import { maskUrl } from '../config';

export interface RabbitConnectOptions {
  url: string;
  /** Shown in the RabbitMQ management UI's connection list. */
  name: string;
  logger: Logger;
  /**
   * Runs after every (re)connect. The service's own processes leave it out and keep their channels
   * with superviseChannel, which also reopens a channel the broker closed on a live connection.
   */
  onConnect?: (model: ChannelModel) => Promise<void>;
  /** False returns at once and keeps trying in the background (e.g. to serve 503s while the broker is down). */
  waitForConnect?: boolean;
}

/** How soon a lost connection or channel is tried again: from 200 ms, doubling, at most 5 s. */
export const RECOVERY_BACKOFF = { initialMs: 200, maxMs: 5_000 };

/**
 * Opens a connection with amqplib's own recovery: exponential backoff with jitter, forever once
 * connected, but only a few tries at start so a missing broker fails the start within seconds.
 * amqplib recovers the connection only; channels are kept by superviseChannel.
 */
export async function connectRabbit(opts: RabbitConnectOptions): Promise<RecoveringChannelModel> {
  const { logger } = opts;
  const connection = await amqplib.connect(opts.url, {
    clientProperties: { connection_name: opts.name },
    recovery: {
      initialDelay: RECOVERY_BACKOFF.initialMs,
      maxDelay: RECOVERY_BACKOFF.maxMs,
      initialMaxRetries: opts.waitForConnect === false ? Infinity : 3,
      maxRetries: Infinity,
      waitForConnect: opts.waitForConnect ?? true,
      setup: opts.onConnect,
    },
  });
  connection.on('connect', () => logger.info({ url: maskUrl(opts.url) }, 'rabbitmq connected'));
  connection.on('disconnect', (err: Error) => logger.warn({ err: err?.message }, 'rabbitmq disconnected'));
  connection.on('reconnect-scheduled', ({ attempt, delay }: { attempt: number; delay: number }) =>
    logger.info({ attempt, delay }, 'rabbitmq reconnect scheduled'),
  );
  connection.on('error', (err: Error) => logger.warn({ err: err.message }, 'rabbitmq connection error'));
  connection.on('blocked', (reason: string) => logger.warn({ reason }, 'rabbitmq blocked the connection'));
  return connection;
}
