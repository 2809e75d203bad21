/**
 * The verification run's timers on the real services, with durations of seconds set by
 * configuration: a reminder after 4 s with a fresh link, expiry after 12 s, and an SMTP server
 * that goes away and comes back (the test's Mailpit, stopped and started on the same port).
 */
import { tokenIn } from '../support/mailpit';
import { request } from '../support/pipeline';
import { eventually } from '../support/stack';
import {
  runStatus,
  searchAttributeState,
  signUp,
  startVerificationStack,
  type VerificationStack,
  verificationState,
  verifyJson,
} from '../support/verification';
import { verificationWorkflowId } from '../../src/onboarding-policy';

const REMINDER_MS = 4_000;
let s: VerificationStack;

beforeAll(async () => {
  s = await startVerificationStack({
    VERIFICATION_REMINDER_AFTER: `${REMINDER_MS / 1000}s`,
    VERIFICATION_EXPIRES_AFTER: '12s',
    MAIL_RETRY_MAX_INTERVAL: '1s',
  });
});
afterAll(() => s?.stop());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function expired(userId: string) {
  return eventually(async () => ((await verificationState(s.p, userId)) === 'EXPIRED' ? true : undefined), 60_000, `${userId} to expire`);
}

async function mailFailures(): Promise<number> {
  const text = await s.p.workerRegistry.metrics();
  return [...text.matchAll(/^onboarding_verification_mail_failures_total\{[^}]*\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
}

async function runStartedAt(userId: string): Promise<number> {
  return (await s.p.client.workflow.getHandle(verificationWorkflowId(userId)).describe()).startTime.getTime();
}

it('reminds once with a fresh link (the old one stops working), and expires a user who never verifies', async () => {
  const [idle, late] = await Promise.all([signUp(s.p), signUp(s.p)]);
  const [first, reminder] = await s.mailpit.waitForMessages(late.email, 2);
  expect(first.Subject).toBe('Confirm your e-mail address');
  expect(reminder.Subject).toBe('Reminder: confirm your e-mail address');
  expect((await verifyJson(s.p, { token: tokenIn(first) })).body).toMatchObject({ status: 410, reason: 'superseded' });
  expect((await verifyJson(s.p, { token: tokenIn(reminder) })).status).toBe(200);
  await s.events.waitFor(late.userId, 'user.verified');

  const idleMails = await s.mailpit.waitForMessages(idle.email, 2);
  await expired(idle.userId);
  await eventually(async () => ((await runStatus(s.p, idle.userId)) === 'COMPLETED' ? true : undefined));
  expect(await searchAttributeState(s.p, idle.userId)).toBe('EXPIRED');
  const event = await s.events.waitFor(idle.userId, 'user.verification_expired');
  expect(event.event.data).toEqual({ user_id: idle.userId, verification_state: 'EXPIRED' });
  // Exactly one reminder; no link works once the run has ended.
  expect(await s.mailpit.messagesTo(idle.email)).toHaveLength(2);
  expect((await verifyJson(s.p, { token: tokenIn(idleMails[1]) })).body).toMatchObject({ status: 410, reason: 'superseded' });
  expect(s.events.of(late.userId, 'user.verification_expired')).toHaveLength(0);
});

it('expires on time while SMTP is down the whole run; nothing is mailed after; a resend reopens the user with a new run', async () => {
  const failuresBefore = await mailFailures();
  await s.mailpit.down();
  const user = await signUp(s.p);
  await expired(user.userId);
  // The mail was being retried all along, and the expiry did not wait for it.
  expect(await mailFailures()).toBeGreaterThanOrEqual(failuresBefore + 2);
  await s.mailpit.up();
  await sleep(3_000);
  expect(await s.mailpit.messagesTo(user.email)).toHaveLength(0);

  // Nobody is locked out for good: a resend starts a new run, which reopens the user and mails a link.
  const resend = await request(s.p.baseUrl, 'POST', '/verification/resend', { email: user.email });
  expect(resend.status).toBe(202);
  const [mail] = await s.mailpit.waitForMessages(user.email, 1);
  expect(await verificationState(s.p, user.userId)).toBe('PENDING');
  expect(await searchAttributeState(s.p, user.userId)).toBe('PENDING');
  expect((await verifyJson(s.p, { token: tokenIn(mail) })).status).toBe(200);
  await s.events.waitFor(user.userId, 'user.verified');
});

it('sends the reminder late when SMTP comes back, and still expires on time', async () => {
  await s.mailpit.down();
  const user = await signUp(s.p);
  // Down past the moment the reminder was due.
  const dueAt = (await runStartedAt(user.userId)) + REMINDER_MS;
  await sleep(Math.max(0, dueAt + 1_000 - Date.now()));
  expect(await verificationState(s.p, user.userId)).toBe('PENDING');
  await s.mailpit.up();
  // Both went out once SMTP was back: the first mail, then the reminder that was due meanwhile.
  const [first, reminder] = await s.mailpit.waitForMessages(user.email, 2);
  expect([first.Subject, reminder.Subject]).toEqual(['Confirm your e-mail address', 'Reminder: confirm your e-mail address']);
  expect((await verifyJson(s.p, { token: tokenIn(first) })).body).toMatchObject({ status: 410, reason: 'superseded' });
  await expired(user.userId);
  expect(await s.mailpit.messagesTo(user.email)).toHaveLength(2);
});
