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

/** What the database holds for a dead letter's signup: its user row's state, none, or unknown (unreachable). */
export type UserRowState = 'COMPLETED' | 'PERSISTED' | 'none' | 'unknown';

export interface Verdict {
  /** Which happened, told from the letter and the database together, and what to do. */
  verdict: string;
  /** What `replay` does: republish it (its run is started again or attached to), only remove the copy, or leave it. */
  replay: 'republish' | 'remove' | 'skip';
}

const HOW_IT_ENDED: Record<DeadLetterReason, string> = {
  expired: 'expired in the queue',
  'workflow-failed': 'its run failed',
  poison: 'breaks the contract',
  other: 'dead-lettered by the broker',
  unhandleable: 'no process could handle it',
};

/**
 * Tells a letter and the user row together. A letter is not the last word: a message can expire
 * in the queue while a run started from an earlier delivery still onboards the user, and a run
 * can time out after it wrote the row. The database says which.
 */
export function judgeDeadLetter(letter: Pick<DeadLetter, 'reason'>, user: UserRowState): Verdict {
  const happened = HOW_IT_ENDED[letter.reason];
  if (letter.reason === 'poison') return { verdict: `${happened}: cannot be replayed; purge it`, replay: 'skip' };
  switch (user) {
    case 'COMPLETED': {
      // An expired message's run was started from an earlier delivery, and went on without it.
      const by = letter.reason === 'expired' ? ' by its run' : '';
      return { verdict: `${happened}, but user onboarded (COMPLETED)${by}: safe to purge`, replay: 'remove' };
    }
    case 'PERSISTED':
      return { verdict: `${happened}; user row left PERSISTED, not onboarded: replay finishes it`, replay: 'republish' };
    case 'none':
      return letter.reason === 'workflow-failed'
        ? { verdict: `${happened}; no user: fix the cause, then replay`, replay: 'republish' }
        : { verdict: `${happened}; no user: replay onboards it (a run still going is attached to, not repeated)`, replay: 'republish' };
    case 'unknown':
      return { verdict: `${happened}; the database could not be read, so whether a user exists is unknown`, replay: 'republish' };
  }
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
