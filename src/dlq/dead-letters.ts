/**
 * Reading, explaining and replaying the dead-letter queue. Every message there is one of:
 * a poison message (breaks the contract), a signup whose workflow failed, one that no process
 * could handle (a run result none could decrypt, a contract version none reads), or one that
 * expired unconsumed (x-death reason `expired`).
 */
import { createHash } from 'node:crypto';
import type { Channel, ConfirmChannel, GetMessage } from 'amqplib';
import { isUnhandleableFailureReason, readDelivery, Unhandleable } from '../bridge/delivery-errors';
import { parseSignupMessage } from '../contract';
import { maskEmail } from '../logger';
import { onboardingWorkflowId } from '../temporal/onboarding-runs';

/** `unhandleable`: the bridge dead-lettered it after deliveries that no process could handle. */
export type DeadLetterReason = 'poison' | 'workflow-failed' | 'unhandleable' | 'expired' | 'other';

export interface DeadLetter {
  /** The AMQP messageId: the user_id for signups published by the API. */
  id: string;
  reason: DeadLetterReason;
  /** Why, in words: the contract violation, the workflow failure, what no process could handle, or the broker's reason. */
  detail: string;
  userId?: string;
  /** Masked, never in clear: a@… style, plus a short hash to correlate. */
  maskedEmail?: string;
  workflowId?: string;
  /** How many times RabbitMQ dead-lettered it (more than 1 after a replay that failed again). */
  deadLetterCount: number;
  deadLetteredAt?: Date;
  message: GetMessage;
}

interface XDeath {
  reason?: string;
  count?: number;
  time?: { value?: number } | Date | number;
  queue?: string;
}

/** The logger's mask plus a short digest, so two letters for one address can be matched up. */
function maskForListing(email: string): string {
  return `${maskEmail(email)} #${createHash('sha256').update(email).digest('hex').slice(0, 8)}`;
}

function deathTime(time: XDeath['time']): Date | undefined {
  if (time instanceof Date) return time;
  const seconds = typeof time === 'number' ? time : time?.value;
  return typeof seconds === 'number' ? new Date(seconds * 1000) : undefined;
}

/** Explains a dead-lettered message from its headers and body alone. */
export function classifyDeadLetter(message: GetMessage): DeadLetter {
  const deaths = (message.properties.headers?.['x-death'] as XDeath[] | undefined) ?? [];
  const latest = deaths[0];
  const brokerReason = latest?.reason ?? String(message.properties.headers?.['x-first-death-reason'] ?? 'unknown');
  const parsed = parseSignupMessage(message.content);
  const base = {
    id: String(message.properties.messageId ?? '(no message id)'),
    deadLetterCount: deaths.reduce((n, d) => n + (d.count ?? 1), 0),
    deadLetteredAt: deathTime(latest?.time),
    message,
  };
  const signup = parsed.ok
    ? {
        userId: parsed.value.user_id,
        maskedEmail: maskForListing(parsed.value.email),
        workflowId: onboardingWorkflowId(parsed.value.user_id),
      }
    : {};
  if (brokerReason === 'expired') {
    return { ...base, ...signup, reason: 'expired', detail: 'not consumed within the queue message TTL' };
  }
  if (!parsed.ok) {
    // A contract version no process read (a rolling deploy that never finished): not poison.
    const read = readDelivery(message.content);
    if (brokerReason === 'rejected' && read.kind === Unhandleable.UnknownContractVersion) {
      const userId = read.userId;
      return { ...base, ...(userId ? { userId, workflowId: onboardingWorkflowId(userId) } : {}), reason: 'unhandleable', detail: read.reason };
    }
    return { ...base, reason: 'poison', detail: parsed.issues.map((i) => `${i.field} ${i.message}`).join('; ') };
  }
  if (brokerReason === 'rejected') {
    return { ...base, ...signup, reason: 'workflow-failed', detail: 'onboarding workflow failed' };
  }
  return { ...base, ...signup, reason: 'other', detail: `dead-lettered by the broker: ${brokerReason}` };
}

/**
 * The letter told with the failure the bridge recorded for its signup, where there is one: a run
 * result no process could decrypt looks like a failed run from the message alone, and only the
 * recorded reason tells them apart.
 */
export function withRecordedReason(letter: DeadLetter, recorded: string | undefined): DeadLetter {
  if (recorded === undefined || (letter.reason !== 'workflow-failed' && letter.reason !== 'unhandleable')) return letter;
  return { ...letter, reason: isUnhandleableFailureReason(recorded) ? 'unhandleable' : letter.reason, detail: recorded };
}

/**
 * Takes every message off the queue without acknowledging any: the caller acks what it
 * removes; closing the channel returns the rest to the queue.
 */
export async function takeAll(channel: Channel, queue: string): Promise<GetMessage[]> {
  const taken: GetMessage[] = [];
  for (;;) {
    const msg = await channel.get(queue, { noAck: false });
    if (!msg) return taken;
    taken.push(msg);
  }
}

/**
 * Puts a dead-lettered message back on the onboarding exchange with the broker's confirm,
 * and only then removes its DLQ copy: a crash in between leaves a duplicate message, which the
 * workflow id turns into one run, never a lost one.
 */
export async function replayDeadLetter(
  dlqChannel: Channel,
  publishChannel: ConfirmChannel,
  target: { exchange: string; routingKey: string },
  letter: DeadLetter,
): Promise<void> {
  const { content, properties } = letter.message;
  const headers = { ...(properties.headers ?? {}) };
  delete headers['x-death'];
  delete headers['x-first-death-exchange'];
  delete headers['x-first-death-queue'];
  delete headers['x-first-death-reason'];
  headers['x-replayed-at'] = new Date().toISOString();
  headers['x-replay-count'] = Number(headers['x-replay-count'] ?? 0) + 1;
  // A confirm alone would also arrive for an unroutable message; the return says it was dropped.
  let returned = false;
  const onReturn = (msg: { properties: { messageId?: string } }) => {
    if (msg.properties.messageId === properties.messageId) returned = true;
  };
  publishChannel.on('return', onReturn);
  try {
    await new Promise<void>((resolve, reject) => {
      publishChannel.publish(
        target.exchange,
        target.routingKey,
        content,
        {
          persistent: true,
          mandatory: true,
          messageId: properties.messageId,
          contentType: properties.contentType,
          type: properties.type,
          timestamp: properties.timestamp,
          headers,
        },
        (err) => (err ? reject(new Error('the broker refused the replayed message')) : resolve()),
      );
    });
  } finally {
    publishChannel.off('return', onReturn);
  }
  if (returned) throw new Error('the replayed message could not be routed to the onboarding queue');
  dlqChannel.ack(letter.message);
}
