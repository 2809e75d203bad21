/**
 * E-mail verification on the real services: Postgres, RabbitMQ, a Temporal dev server, a Mailpit
 * and the API over HTTP. Timers are left at their defaults (days), so every change here comes from
 * a token, a resend, an operator or the row itself.
 */
import { randomUUID } from 'node:crypto';
import { request } from '../support/pipeline';
import { linkIn, tokenIn } from '../support/mailpit';
import { eventually } from '../support/stack';
import {
  runStatus,
  searchAttributeState,
  signUp,
  startVerificationStack,
  type VerificationStack,
  verificationState,
  verifyForm,
  verifyJson,
} from '../support/verification';

let s: VerificationStack;

beforeAll(async () => {
  s = await startVerificationStack({ VERIFICATION_RECHECK_EVERY: '2s' });
});
afterAll(() => s?.stop());

it('mails a link; the page changes nothing; the button verifies; the run ends VERIFIED and user.verified is published', async () => {
  const { userId, email } = await signUp(s.p);
  const [mail] = await s.mailpit.waitForMessages(email, 1);
  expect(mail.Subject).toBe('Confirm your e-mail address');
  expect(mail.From.Address).toBe('no-reply@onboarding.localhost');
  expect(mail.HTML).toContain(linkIn(mail).replace(/&/g, '&amp;'));
  const link = linkIn(mail);
  expect(link.startsWith(`${s.p.baseUrl}/verify?token=`)).toBe(true);

  const page = await fetch(link);
  expect(page.status).toBe(200);
  expect(await page.text()).toContain('<form method="post" action="verify">');
  expect(await verificationState(s.p, userId)).toBe('PENDING');

  const done = await verifyForm(s.p, tokenIn(mail));
  expect(done.status).toBe(200);
  expect(done.html).toContain('E-mail address confirmed');
  expect(await verificationState(s.p, userId)).toBe('VERIFIED');
  await eventually(async () => ((await runStatus(s.p, userId)) === 'COMPLETED' ? true : undefined), 30_000, 'the run to end');
  expect(await searchAttributeState(s.p, userId)).toBe('VERIFIED');
  const verified = await s.events.waitFor(userId, 'user.verified');
  expect(verified.event).toMatchObject({ specversion: '1.0', type: 'user.verified', subject: userId, data: { user_id: userId, verification_state: 'VERIFIED' } });
  expect(s.events.of(userId, 'user.onboarded')).toHaveLength(1);
});
