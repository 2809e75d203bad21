/**
 * The events this service publishes for the systems downstream, as CloudEvents 1.0 in structured
 * mode (docs/events.md). They carry the user id and states only: no e-mail, no name, no hash.
 */
import { createHash } from 'node:crypto';
import type { VerificationState } from '../contract';

export const UserEventType = {
  Onboarded: 'user.onboarded',
  Verified: 'user.verified',
  VerificationExpired: 'user.verification_expired',
  /** The user was erased (DELETE /users/{id}); the data holds the user id only. */
  Erased: 'user.erased',
} as const;
export type UserEventType = (typeof UserEventType)[keyof typeof UserEventType];

export const CLOUDEVENTS_CONTENT_TYPE = 'application/cloudevents+json';

export interface UserEventData {
  user_id: string;
  /** Every event but user.erased, which carries the id alone. */
  verification_state?: VerificationState;
  /** user.onboarded only. */
  onboarding_state?: 'COMPLETED';
}

export interface CloudEvent<T = UserEventData> {
  specversion: '1.0';
  id: string;
  source: string;
  type: UserEventType;
  subject: string;
  time: string;
  datacontenttype: 'application/json';
  data: T;
}

// Any fixed UUID: it only keeps our name-based ids apart from other producers'.
const EVENT_ID_NAMESPACE = '0f4a3c0e-5b8e-4d6b-9a57-52a1c1c0a0e1';

/** RFC 9562 UUID version 5 (SHA-1, name-based): the same name gives the same id in every process. */
export function uuidV5(name: string, namespace = EVENT_ID_NAMESPACE): string {
  const hash = createHash('sha1').update(Buffer.from(namespace.replace(/-/g, ''), 'hex')).update(name, 'utf8').digest();
  const bytes = hash.subarray(0, 16);
  bytes[6] = (bytes[6] & 0x0f) | 0x50;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** One id per user and event type, so a publish retried after a lost confirm is recognisable downstream. */
export function userEventId(userId: string, type: UserEventType): string {
  return uuidV5(`${userId}/${type}`);
}

export function userEvent(source: string, type: UserEventType, data: UserEventData, time = new Date()): CloudEvent {
  return {
    specversion: '1.0',
    id: userEventId(data.user_id, type),
    source,
    type,
    subject: data.user_id,
    time: time.toISOString(),
    datacontenttype: 'application/json',
    data,
  };
}
