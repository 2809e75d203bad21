/**
 * How the DLQ tool labels a letter: from the message and its x-death headers alone, then with the
 * failure the bridge recorded for its signup. A letter the bridge dead-lettered because no process
 * could handle it (a run result none could decrypt, a contract version none reads) is
 * `unhandleable`, neither `workflow-failed` nor `poison`.
 */
import type { GetMessage } from 'amqplib';
import { unhandleableFailureReason } from '../../src/bridge/delivery-errors';
import { SIGNUP_MESSAGE_VERSION } from '../../src/contract';
import { classifyDeadLetter, withRecordedReason } from '../../src/dlq/dead-letters';
import { signupMessage } from '../support/fixtures';

/** A message as `channel.get` returns it from the DLQ, dead-lettered by the broker for `reason`. */
function letter(body: unknown, messageId: string, reason: 'rejected' | 'expired'): GetMessage {
  return {
    content: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
    fields: { deliveryTag: 1, redelivered: false, exchange: 'onboarding.dlx', routingKey: 'user.signup', messageCount: 0 },
    properties: { messageId, headers: { 'x-death': [{ reason, count: 1, queue: 'user_onboarding_queue', time: { value: 1_700_000_000 } }] } },
  } as unknown as GetMessage;
}

it('a run result no process could decrypt: workflow-failed from the message alone, unhandleable with the recorded reason', async () => {
  const message = await signupMessage();
  const classified = classifyDeadLetter(letter(message, message.user_id, 'rejected'));
  expect(classified).toMatchObject({ reason: 'workflow-failed', userId: message.user_id });
  const recorded = unhandleableFailureReason('payload key k2 missing', 5);
  expect(withRecordedReason(classified, recorded)).toMatchObject({
    reason: 'unhandleable',
    detail: 'payload key k2 missing; dead-lettered after 5 deliveries that no process could handle',
    userId: message.user_id,
  });
});

it('a failed run stays workflow-failed, with the failure the bridge recorded', async () => {
  const message = await signupMessage();
  const classified = classifyDeadLetter(letter(message, message.user_id, 'rejected'));
  expect(withRecordedReason(classified, 'DuplicateEmail: the address belongs to another user')).toMatchObject({
    reason: 'workflow-failed',
    detail: 'DuplicateEmail: the address belongs to another user',
  });
  expect(withRecordedReason(classified, undefined)).toBe(classified);
});

it('a contract version no process reads is unhandleable, not poison, and keeps its user id for the recorded reason', async () => {
  const message = { ...(await signupMessage()), version: SIGNUP_MESSAGE_VERSION + 1 };
  const classified = classifyDeadLetter(letter(message, message.user_id, 'rejected'));
  expect(classified).toMatchObject({
    reason: 'unhandleable',
    detail: `signup contract version ${SIGNUP_MESSAGE_VERSION + 1} unknown here (this process reads version ${SIGNUP_MESSAGE_VERSION})`,
    userId: message.user_id,
    workflowId: `onboard-user-${message.user_id}`,
  });
  const recorded = unhandleableFailureReason(classified.detail, 3);
  expect(withRecordedReason(classified, recorded)).toMatchObject({ reason: 'unhandleable', detail: recorded });
});

it('poison and expired letters are told as before, whatever the database says', async () => {
  const poison = classifyDeadLetter(letter('{"poison": 1}', 'p-1', 'rejected'));
  expect(poison.reason).toBe('poison');
  expect(withRecordedReason(poison, unhandleableFailureReason('payload key k2 missing', 5))).toBe(poison);
  const message = { ...(await signupMessage()), version: SIGNUP_MESSAGE_VERSION + 1 };
  // Expired before any process saw it: the broker's reason wins over what the body says.
  expect(classifyDeadLetter(letter(message, message.user_id, 'expired')).reason).toBe('expired');
});
