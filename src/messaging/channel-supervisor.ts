/**
 * Keeps one channel open: opens it, runs its setup (declare, prefetch, consume), and when it
 * closes for any reason (the broker closed it: a 406 consumer-ack timeout, a 404 after a deleted
 * exchange; the connection was lost; a consumer was cancelled and the owner asked for a reopen)
 * opens a fresh one with backoff and runs the setup again.
 *
 * Why our own code and not a library's: amqplib's recovery (RecoveringChannelModel) re-runs its
 * setup only after a whole-connection loss, so any channel-level close was permanent until a
 * restart. rabbitmq-client 5.0.8 does recover channels, consumers and confirmed publishers, but
 * its Consumer waits for every running handler to settle before it subscribes again (a handler
 * stuck on a frozen Temporal would block the very recovery it needs), says nothing when the
 * broker closes a channel, and exposes no public "consuming / down since" state for readiness
 * and liveness; adopting it would also put a second AMQP client beside the amqplib that the DLQ
 * tool, the chaos run and the tests use. This loop is small, on top of amqplib's connection
 * recovery, and reports exactly what health needs.
 */
import type { Channel, RecoveringChannelModel } from 'amqplib';
import type { Logger } from 'pino';
import { type Backoff, backoffDelayMs, sleep } from './backoff';
import { RECOVERY_BACKOFF } from './rabbit';

export interface SupervisedChannel<C extends Channel> {
  /** The open channel with its setup done, or null while it is being (re)opened. */
  current(): C | null;
  /** Why there is no open channel now (the broker's words where it gave some), or null. */
  downReason(): string | null;
  /** Since when (epoch ms) there has been no open channel, or null while there is one. */
  downSince(): number | null;
  /** Resolves once the first channel is open; rejects with the first failure to open it. */
  readonly firstOpen: Promise<void>;
  /** Closes the current channel (if any) and opens a fresh one, e.g. after a consumer cancel. */
  reopen(reason: string): void;
  /** Closes the channel for good (pending acks on it are flushed first); call it before closing the connection. */
  close(): Promise<void>;
}

export interface ChannelSupervisorOptions<C extends Channel> {
  /** Names the channel in logs and in downReason, e.g. "consumer channel". */
  what: string;
  connection: RecoveringChannelModel;
  /** A confirm channel (for publishing) rather than a plain one. */
  confirm?: boolean;
  /** Runs on every fresh channel before it counts as open; a throw closes it and retries later. */
  setup: (channel: C) => Promise<void>;
  logger: Logger;
  backoff?: Backoff;
  /** Called whenever an open channel is lost, with the reason: for a metric. */
  onLost?: (reason: string) => void;
}

export function superviseChannel<C extends Channel>(opts: ChannelSupervisorOptions<C>): SupervisedChannel<C> {
  const { what, logger } = opts;
  const backoff = opts.backoff ?? RECOVERY_BACKOFF;
  let channel: C | null = null;
  let reason: string | null = `${what} not opened yet`;
  let since: number | null = Date.now();
  let closing = false;
  // Set by reopen() for the channel it closes, so the loop reports the owner's reason.
  let requestedClose: { channel: C; reason: string } | null = null;
  const stopSleeping = new AbortController();
  let resolveFirst!: () => void;
  let rejectFirst!: (err: Error) => void;
  const firstOpen = new Promise<void>((resolve, reject) => {
    resolveFirst = resolve;
    rejectFirst = reject;
  });
  // The owner may not wait for the first open (the API starts while the broker is down).
  firstOpen.catch(() => undefined);

  async function create(): Promise<C> {
    const created = opts.confirm ? opts.connection.createConfirmChannel() : opts.connection.createChannel();
    return (await created) as unknown as C;
  }

  /** Resolves with the reason once `ch` closes. amqplib emits 'error' (the broker's words) before 'close'. */
  function closed(ch: C): Promise<string> {
    return new Promise((resolve) => {
      let error: string | undefined;
      ch.on('error', (err: Error) => {
        error = err.message;
      });
      ch.once('close', () => {
        resolve(requestedClose?.channel === ch ? requestedClose.reason : (error ?? 'closed (connection lost or closed by the broker)'));
      });
    });
  }

  async function keepOpen(): Promise<void> {
    let attempt = 0;
    let first = true;
    while (!closing) {
      let ch: C | null = null;
      const openedAt = Date.now();
      try {
        // Waits while the connection is down: amqplib's recovery brings that back.
        ch = await create();
        const lost = closed(ch);
        await opts.setup(ch);
        if (closing) {
          await ch.close().catch(() => undefined);
          break;
        }
        channel = ch;
        reason = null;
        since = null;
        if (first) resolveFirst();
        else logger.info({ after_attempts: attempt }, `${what} open again`);
        first = false;
        const why = await lost;
        channel = null;
        reason = `${what} lost: ${why}`;
        since = Date.now();
        if (closing) break;
        logger.warn({ reason: why }, `${what} lost; reopening it`);
        opts.onLost?.(why);
        // A channel that stayed up a while starts the backoff afresh; one that flaps does not.
        if (Date.now() - openedAt > backoff.maxMs) attempt = 0;
      } catch (err) {
        const message = (err as Error).message;
        reason = `${what} cannot be opened: ${message}`;
        since ??= Date.now();
        if (ch) await ch.close().catch(() => undefined);
        if (closing) break;
        if (first) {
          first = false;
          rejectFirst(err as Error);
        }
        logger.warn({ err: message, attempt: attempt + 1 }, `${what} cannot be opened; retrying`);
      }
      await sleep(backoffDelayMs(++attempt, backoff), stopSleeping.signal);
    }
  }

  keepOpen().catch((err: Error) => logger.error({ err: err.message }, `${what} supervisor stopped unexpectedly`));

  return {
    current: () => channel,
    downReason: () => reason,
    downSince: () => since,
    firstOpen,
    reopen(why: string) {
      const ch = channel;
      if (!ch || closing) return;
      requestedClose = { channel: ch, reason: why };
      ch.close().catch(() => undefined);
    },
    async close() {
      closing = true;
      stopSleeping.abort();
      const ch = channel;
      channel = null;
      reason = `${what} closed`;
      since ??= Date.now();
      if (ch) await ch.close().catch(() => undefined);
    },
  };
}
