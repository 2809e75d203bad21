/**
 * E-mail verification on the real services: Postgres, RabbitMQ, a Temporal dev server, a Mailpit
 * and the API over HTTP. Timers are left at their defaults (days), so every change here comes from
 * a token, a resend, an operator or the row itself; the reminder and the expiry have their own file.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Connection } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { verificationWorkflowId } from '../../src/onboarding-policy';
import { createSignupPublisher } from '../../src/messaging/signup-publisher';
import { createEncryptionCodec } from '../../src/temporal/payload-encryption';
import { capturingLogger } from '../support/log-capture';
import { runScript } from '../support/processes';
import { type MailMessage, linkIn, tokenIn } from '../support/mailpit';
import { request, startApi } from '../support/pipeline';
import { eventually, silentLogger, TEST_ADMIN_TOKEN } from '../support/stack';
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

const logs = capturingLogger('info');
let s: VerificationStack;
// Every token a test saw: none of them may ever appear in a log line.
const tokensSeen: string[] = [];

beforeAll(async () => {
  s = await startVerificationStack(
    {
      VERIFICATION_RECHECK_EVERY: '2s',
      RESEND_ADDRESS_LIMIT: '2',
      RESEND_RATE_LIMIT: '20',
      // Lets a test be many clients, one X-Forwarded-For each.
      TRUST_PROXY: 'loopback',
    },
    { logger: logs.logger },
  );
});
afterAll(() => s?.stop());

const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };

async function firstMail(email: string): Promise<MailMessage> {
  const [mail] = await s.mailpit.waitForMessages(email, 1);
  tokensSeen.push(tokenIn(mail));
  return mail;
}

function runEnded(userId: string) {
  return eventually(async () => ((await runStatus(s.p, userId)) === 'COMPLETED' ? true : undefined), 30_000, `the run of ${userId} to end`);
}

async function tokenRows(userId: string) {
  const { rows } = await s.p.pool.query('SELECT * FROM verification_tokens WHERE user_id = $1 ORDER BY created_at', [userId]);
  return rows;
}

it('mails a link; the page changes nothing; the button verifies; the run ends VERIFIED and user.verified is published', async () => {
  const { userId, email } = await signUp(s.p);
  const mail = await firstMail(email);
  expect(mail.Subject).toBe('Confirm your e-mail address');
  expect(mail.From.Address).toBe('no-reply@onboarding.localhost');
  const link = linkIn(mail);
  expect(link.startsWith(`${s.p.baseUrl}/verify?token=`)).toBe(true);
  expect(mail.HTML).toContain(`href="${link}"`);
  expect(mail.Text).toContain('Hello Ada,');

  // Stored as a hash only, expiring after VERIFICATION_TTL (24 h by default).
  const [row] = await tokenRows(userId);
  expect(row.verifier_hash).toHaveLength(32);
  expect(JSON.stringify(row)).not.toContain(tokenIn(mail));
  expect((row.expires_at as Date).getTime() - (row.created_at as Date).getTime()).toBeCloseTo(24 * 3_600_000, -3);

  // Opening the link twice (a mail scanner, then the user) changes nothing.
  for (let i = 0; i < 2; i++) {
    const page = await fetch(link);
    expect(page.status).toBe(200);
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await page.text();
    expect(html).toContain('<form method="post" action="verify">');
    expect(html).not.toContain('<script');
  }
  expect(await verificationState(s.p, userId)).toBe('PENDING');

  const done = await verifyForm(s.p, tokenIn(mail));
  expect(done.status).toBe(200);
  expect(done.type).toMatch(/^text\/html/);
  expect(done.html).toContain('E-mail address confirmed');
  expect(await verificationState(s.p, userId)).toBe('VERIFIED');
  await runEnded(userId);
  expect(await searchAttributeState(s.p, userId)).toBe('VERIFIED');
  const verified = await s.events.waitFor(userId, 'user.verified');
  expect(verified.contentType).toBe('application/cloudevents+json');
  expect(verified.messageId).toBe(verified.event.id);
  expect(verified.event).toMatchObject({ specversion: '1.0', source: '/onboarding-service', subject: userId, data: { user_id: userId, verification_state: 'VERIFIED' } });
  const onboarded = await s.events.waitFor(userId, 'user.onboarded');
  expect(onboarded.event.data).toEqual({ user_id: userId, verification_state: 'PENDING', onboarding_state: 'COMPLETED' });
  // Nothing personal in the events, and neither the address nor the token in the run's history, decrypted.
  expect(JSON.stringify(s.events.of(userId))).not.toContain(email);
  const history = await decryptedHistory(verificationWorkflowId(userId));
  expect(history).toContain('"reminderAfterMs"'); // decrypted: the plan is only in an encrypted payload
  expect(history).not.toContain(email);
  expect(history).not.toContain(tokenIn(mail));
});

/** A run's whole history as text, every payload decrypted with the service's codec. */
async function decryptedHistory(workflowId: string): Promise<string> {
  const history = await s.p.client.workflow.getHandle(workflowId).fetchHistory();
  const bytes = (v: unknown) => (typeof v === 'string' ? Buffer.from(v, 'base64') : Buffer.from(v as Uint8Array));
  const payloads: Payload[] = [];
  const text = JSON.stringify(history, (_key, value) => {
    if (value && typeof value === 'object' && value.data !== undefined && value.metadata?.encoding !== undefined) {
      payloads.push({ metadata: Object.fromEntries(Object.entries(value.metadata).map(([k, v]) => [k, bytes(v)])), data: bytes(value.data) });
    }
    return value;
  });
  // As the codec endpoint does: search attributes are in clear by design, shown as they are.
  const decoded = await createEncryptionCodec(s.p.config.security.payloadKeys).decode(payloads);
  return `${text}\n${decoded.map((d) => Buffer.from(d.data ?? new Uint8Array()).toString('utf8')).join('\n')}`;
}

describe('a double click and two concurrent verifications', () => {
  it('lets exactly one form post verify; the other is told the address is verified already', async () => {
    const { userId, email } = await signUp(s.p);
    const token = tokenIn(await firstMail(email));
    const answers = await Promise.all([verifyForm(s.p, token), verifyForm(s.p, token)]);
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409]);
    expect(answers.find((a) => a.status === 409)?.html).toContain('this e-mail address is already verified');
    expect(await verificationState(s.p, userId)).toBe('VERIFIED');
    // A third click, later: the same clear answer.
    const again = await verifyForm(s.p, token);
    expect(again.status).toBe(409);
    await s.events.waitFor(userId, 'user.verified');
  });

  it('lets exactly one of five concurrent JSON verifications succeed; the rest get 409 problem+json', async () => {
    const { userId, email } = await signUp(s.p);
    const token = tokenIn(await firstMail(email));
    const answers = await Promise.all(Array.from({ length: 5 }, () => verifyJson(s.p, { token })));
    const ok = answers.filter((a) => a.status === 200);
    expect(ok).toHaveLength(1);
    expect(ok[0].body).toEqual({ user_id: userId, verification_state: 'VERIFIED' });
    for (const refused of answers.filter((a) => a.status !== 200)) {
      expect(refused.status).toBe(409);
      expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(refused.body).toMatchObject({ type: '/problems/verification-token-used', reason: 'already_verified' });
    }
    const { rows } = await s.p.pool.query('SELECT count(*)::int AS n FROM verification_tokens WHERE user_id = $1 AND used_at IS NOT NULL', [userId]);
    expect(rows[0].n).toBe(1);
  });
});

describe('tokens that cannot be used get a clear answer and change nothing', () => {
  let userId: string;
  let token: string;
  let other: { userId: string; token: string };

  beforeAll(async () => {
    const a = await signUp(s.p);
    const b = await signUp(s.p);
    userId = a.userId;
    token = tokenIn(await firstMail(a.email));
    other = { userId: b.userId, token: tokenIn(await firstMail(b.email)) };
  });

  it.each([
    ['malformed', 'not-a-token', 400],
    ['too long', 'A'.repeat(65), 400],
    // The form's body is limited to 2 kB: refused before it is read.
    ['far too long', 'A'.repeat(10_000), 400, 413],
    ['unknown', randomBytes(48).toString('base64url'), 400],
  ])('%s: a page on GET and on the form, problem+json on JSON', async (_what, bad, status, formStatus = status) => {
    const page = await fetch(`${s.p.baseUrl}/verify?token=${bad}`);
    expect(page.status).toBe(status);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await page.text()).toMatch(/not a verification link|not valid/);
    expect((await verifyForm(s.p, bad)).status).toBe(formStatus);
    const json = await verifyJson(s.p, { token: bad });
    expect(json.status).toBe(status);
    expect(json.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });

  it('no token at all, or two: a clear page', async () => {
    expect((await fetch(`${s.p.baseUrl}/verify`)).status).toBe(400);
    expect((await fetch(`${s.p.baseUrl}/verify?token=${token}&token=${token}`)).status).toBe(400);
    expect((await verifyJson(s.p, {})).body.errors).toEqual([expect.objectContaining({ field: 'token', message: 'is required' })]);
  });

  it('someone else’s: a selector of one token with the verifier of another, or a token for another user_id', async () => {
    const spliced = Buffer.concat([Buffer.from(token, 'base64url').subarray(0, 16), Buffer.from(other.token, 'base64url').subarray(16)]).toString('base64url');
    expect((await verifyJson(s.p, { token: spliced })).body).toMatchObject({ status: 400, reason: 'unknown' });
    const mismatch = await verifyJson(s.p, { token, user_id: other.userId });
    expect(mismatch.status).toBe(400);
    expect(mismatch.body).toMatchObject({ type: '/problems/verification-token-invalid', reason: 'mismatch' });
  });

  it('expired: 410, and a page that says so', async () => {
    const { userId: expiredUser, email } = await signUp(s.p);
    const expired = tokenIn(await firstMail(email));
    await s.p.pool.query("UPDATE verification_tokens SET expires_at = now() - interval '1 second' WHERE user_id = $1", [expiredUser]);
    const page = await fetch(`${s.p.baseUrl}/verify?token=${expired}`);
    expect(page.status).toBe(410);
    expect(await page.text()).toContain('this verification link has expired');
    expect((await verifyJson(s.p, { token: expired })).body).toMatchObject({ status: 410, reason: 'expired' });
    expect(await verificationState(s.p, expiredUser)).toBe('PENDING');
  });

  it('after all that, both users are still PENDING and their own tokens still work', async () => {
    expect(await verificationState(s.p, userId)).toBe('PENDING');
    expect(await verificationState(s.p, other.userId)).toBe('PENDING');
    expect((await verifyJson(s.p, { token, user_id: userId })).status).toBe(200);
    // Reused: 409, with the reason.
    expect((await verifyJson(s.p, { token })).body).toMatchObject({ status: 409, reason: 'already_verified' });
    expect((await verifyJson(s.p, { token: other.token })).status).toBe(200);
  });

  it('a form post of another type, or a broken body: 415 and 400', async () => {
    const res = await fetch(`${s.p.baseUrl}/verify`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: token });
    expect(res.status).toBe(415);
    expect((await request(s.p.baseUrl, 'POST', '/verify', '{"token":', { 'content-type': 'application/json' })).status).toBe(400);
  });
});

describe('resend', () => {
  const resend = (email: string, client = '198.51.100.1') =>
    request(s.p.baseUrl, 'POST', '/verification/resend', { email }, { 'x-forwarded-for': client });

  function outcomes(): string[] {
    return logs.lines().filter((l) => l.msg === 'verification resend handled').map((l) => l.outcome);
  }

  it('answers known and unknown addresses the same; only a waiting user gets a fresh link, and the old one stops working', async () => {
    const { email } = await signUp(s.p);
    const oldToken = tokenIn(await firstMail(email));
    const verifiedUser = await signUp(s.p);
    expect((await verifyJson(s.p, { token: tokenIn(await firstMail(verifiedUser.email)) })).status).toBe(200);

    const before = outcomes().length;
    const known = await resend(email);
    const unknown = await resend(`nobody-${randomUUID()}@example.com`);
    const verified = await resend(verifiedUser.email);
    for (const answer of [known, unknown, verified]) {
      expect(answer.status).toBe(202);
      expect(answer.body).toEqual(known.body);
      expect(answer.headers.get('content-type')).toBe(known.headers.get('content-type'));
    }
    expect(known.body.status).toBe('ACCEPTED');
    await eventually(async () => (outcomes().length >= before + 3 ? true : undefined), 10_000, 'the three resends to be handled');
    expect(outcomes().slice(before).sort()).toEqual(['not-needed', 'requested', 'unknown']);

    // By subject, not position: e-mail is at-least-once, and a first mail retried on a loaded
    // machine may arrive twice (docs/verification.md).
    const subject = 'Your new link to confirm your e-mail address';
    await eventually(async () => (await s.mailpit.messagesTo(email)).find((m) => m.Subject === subject), 60_000, 'the resend mail');
    const all = await s.mailpit.waitForMessages(email, (await s.mailpit.messagesTo(email)).length);
    const fresh = all.find((m) => m.Subject === subject) as (typeof all)[number];
    tokensSeen.push(tokenIn(fresh));
    expect((await verifyJson(s.p, { token: oldToken })).body).toMatchObject({ status: 410, reason: 'superseded' });
    expect(await s.mailpit.messagesTo(verifiedUser.email)).toHaveLength(1);
    expect((await verifyJson(s.p, { token: tokenIn(fresh) })).status).toBe(200);
  });

  it('limits a flood: per address (answers still 202, no more mails) and per client (429)', async () => {
    const { email } = await signUp(s.p);
    await firstMail(email);
    const before = outcomes().length;
    // Five clients ask for one address: two are acted on (RESEND_ADDRESS_LIMIT=2).
    for (let i = 0; i < 5; i++) expect((await resend(email, `203.0.113.${i + 1}`)).status).toBe(202);
    await eventually(async () => (outcomes().length >= before + 5 ? true : undefined), 10_000, 'the resends to be handled');
    const flood = outcomes().slice(before);
    expect(flood.filter((o) => o === 'address-limited')).toHaveLength(3);
    expect(flood.filter((o) => o === 'requested')).toHaveLength(2);
    const { rows } = await s.p.pool.query('SELECT address_key, requests FROM verification_resend_counts ORDER BY requests DESC LIMIT 1');
    expect(rows[0].requests).toBe(5);
    expect(rows[0].address_key.toString('utf8')).not.toContain('@');

    // One client asking too often (RESEND_RATE_LIMIT=20): 429 with Retry-After, for any address.
    const client = '192.0.2.77';
    const answers = [];
    for (let i = 0; i < 22; i++) answers.push(await resend(`flood-${i}@example.com`, client));
    expect(answers.slice(0, 20).every((a) => a.status === 202)).toBe(true);
    expect(answers.slice(20).map((a) => a.status)).toEqual([429, 429]);
    expect(answers[21].headers.get('retry-after')).toMatch(/^\d+$/);
    // At most the first mail and two resends reached the user.
    await new Promise((r) => setTimeout(r, 2_000));
    expect((await s.mailpit.messagesTo(email)).length).toBeLessThanOrEqual(3);
  });
});

describe('the operator’s PUT', () => {
  it('goes through the open run: VERIFIED ends it, announced; REJECTED ends it, silently', async () => {
    const a = await signUp(s.p);
    const b = await signUp(s.p);
    await firstMail(a.email);
    await firstMail(b.email);
    expect(await runStatus(s.p, a.userId)).toBe('RUNNING');
    const put = await request(s.p.adminBaseUrl, 'PUT', `/users/${a.userId}`, undefined, admin);
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ user_id: a.userId, verification_state: 'VERIFIED' });
    await runEnded(a.userId);
    expect(await searchAttributeState(s.p, a.userId)).toBe('VERIFIED');
    await s.events.waitFor(a.userId, 'user.verified');

    expect((await request(s.p.adminBaseUrl, 'PUT', `/users/${b.userId}`, { verification_state: 'REJECTED' }, admin)).status).toBe(200);
    await runEnded(b.userId);
    expect(await searchAttributeState(s.p, b.userId)).toBe('REJECTED');
    expect(await verificationState(s.p, b.userId)).toBe('REJECTED');
    // Its links stop working with the run.
    expect((await tokenRows(b.userId)).every((t) => t.superseded_at !== null)).toBe(true);
  });

  it('writes the row directly when no run is open, and a short run announces the new state', async () => {
    const { userId, email } = await signUp(s.p);
    await firstMail(email);
    expect((await request(s.p.adminBaseUrl, 'PUT', `/users/${userId}`, { verification_state: 'REJECTED' }, admin)).status).toBe(200);
    await runEnded(userId);
    const put = await request(s.p.adminBaseUrl, 'PUT', `/users/${userId}`, { verification_state: 'EXPIRED' }, admin);
    expect(put.body).toMatchObject({ verification_state: 'EXPIRED' });
    expect(await verificationState(s.p, userId)).toBe('EXPIRED');
    await s.events.waitFor(userId, 'user.verification_expired');
    await runEnded(userId);
    expect(await searchAttributeState(s.p, userId)).toBe('EXPIRED');
  });
});

describe('the row is the source of truth', () => {
  it('keeps a verification accepted while Temporal is unreachable; the run sees it when it next wakes', async () => {
    const { userId, email } = await signUp(s.p);
    const token = tokenIn(await firstMail(email));
    // A second API whose Temporal is unreachable: the signal after the verification fails.
    const dead = Connection.lazy({ address: '127.0.0.1:1', connectTimeout: 500 });
    const publisher = await createSignupPublisher({ topology: s.p.config.amqp, url: s.p.config.amqp.url, logger: silentLogger });
    const api = await startApi(s.p.config, { pool: s.p.pool, publisher, temporal: { connection: dead }, logger: logs.logger });
    try {
      const res = await request(api.baseUrl, 'POST', '/verify', { token });
      expect(res.status).toBe(200);
    } finally {
      await api.close();
      await publisher.close();
      await dead.close().catch(() => undefined);
    }
    expect(logs.lines().some((l) => l.msg.startsWith('could not reach the verification run') && l.user_id === userId)).toBe(true);
    expect(await verificationState(s.p, userId)).toBe('VERIFIED');
    // No signal arrived; the periodic re-read (VERIFICATION_RECHECK_EVERY=2s) finds the row.
    await runEnded(userId);
    expect(await searchAttributeState(s.p, userId)).toBe('VERIFIED');
    await s.events.waitFor(userId, 'user.verified');
  });
});

it('counts the mails sent, and never logs a token or an address', async () => {
  const text = await s.p.workerRegistry.metrics();
  expect(text).toMatch(/^onboarding_verification_mails_sent_total\{kind="verification",process="worker"\} \d+$/m);
  expect(text).toMatch(/^onboarding_events_published_total\{type="user.verified",process="worker"\} \d+$/m);
  const raw = logs.raw();
  expect(tokensSeen.length).toBeGreaterThan(5);
  for (const token of tokensSeen) expect(raw).not.toContain(token);
  expect(raw).toContain('/verify?[redacted]');
  expect(raw).not.toMatch(/user-[0-9a-f-]{36}@example\.com/);
});

describe('npm run verification:backfill', () => {
  /** A user as the service left them before verification existed: a row, PENDING, and no run. */
  async function legacyUser(): Promise<{ userId: string; email: string }> {
    const userId = randomUUID();
    const email = `legacy-${userId}@example.com`;
    await s.p.pool.query(
      `INSERT INTO users (user_id, email, first_name, last_name, password_hash, onboarding_state, onboarded_at)
       VALUES ($1, $2, 'Ada', 'Lovelace', '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA', 'COMPLETED', now())`,
      [userId, email],
    );
    return { userId, email };
  }

  const backfill = (args: string[] = []) =>
    runScript('scripts/verification-backfill.js', args, { ...s.p.env, TEMPORAL_ADDRESS: s.p.temporal.address });

  it('says how it is used, and refuses unknown flags with exit code 2', async () => {
    const help = await backfill(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('usage: npm run verification:backfill');
    const unknown = await backfill(['--everyone']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("Unknown option '--everyone'");
  });

  it('starts one run per PENDING user without one, and nothing the second time', async () => {
    const legacy = [await legacyUser(), await legacyUser()];
    const dry = await backfill(['--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/\d+ PENDING user\(s\) would be checked; nothing started/);

    const first = await backfill(['--batch-size', '1']);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/: 2 run\(s\) started, \d+ already open, 0 failed/);
    for (const user of legacy) {
      await firstMail(user.email);
      expect(await runStatus(s.p, user.userId)).toBe('RUNNING');
      await s.events.waitFor(user.userId, 'user.onboarded');
    }
    const second = await backfill();
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/: 0 run\(s\) started, \d+ already open, 0 failed/);
    await new Promise((r) => setTimeout(r, 1_000));
    for (const user of legacy) expect(await s.mailpit.messagesTo(user.email)).toHaveLength(1);
  });
});
