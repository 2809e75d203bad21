/** The pure parts of e-mail verification: tokens, event ids, mail templates, log redaction, configuration. */
import { Writable } from 'node:stream';
import { loadConfig, parseDuration } from '../../src/config';
import { userEvent, userEventId, UserEventType, uuidV5 } from '../../src/events/cloud-event';
import { createLogger, redactedRequest, redactQueryString } from '../../src/logger';
import { verificationMail } from '../../src/mail/templates';
import { addressKey, resendAddressSecret } from '../../src/use-cases/resend-verification';
import { issueToken, parseToken, verifierMatches, verificationLink } from '../../src/verification/token';

const BASE = { PAYLOAD_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64')}` };

describe('verification tokens', () => {
  it('are 64 base64url characters: a selector and a verifier stored only as its SHA-256', () => {
    const issued = issueToken();
    expect(issued.token).toMatch(/^[A-Za-z0-9_-]{64}$/);
    const parsed = parseToken(issued.token);
    expect(parsed?.selector.equals(issued.selector)).toBe(true);
    expect(parsed?.verifier).toHaveLength(32);
    expect(issued.verifierHash).toHaveLength(32);
    expect(issued.verifierHash.equals(parsed?.verifier as Buffer)).toBe(false);
    expect(verifierMatches(parsed?.verifier as Buffer, issued.verifierHash)).toBe(true);
    expect(issueToken().token).not.toBe(issued.token);
  });

  it('refuse anything of another shape, and a verifier that is not the stored one', () => {
    const { token, verifierHash } = issueToken();
    for (const bad of ['', 'short', `${token}A`, `${token.slice(0, 63)}=`, `${token.slice(0, 63)}+`, token.replace(/./, '.')]) {
      expect(parseToken(bad)).toBeNull();
    }
    const other = parseToken(issueToken().token);
    expect(verifierMatches(other?.verifier as Buffer, verifierHash)).toBe(false);
    expect(verifierMatches(other?.verifier as Buffer, Buffer.alloc(0))).toBe(false);
  });

  it('are mailed as a link under PUBLIC_BASE_URL', () => {
    expect(verificationLink('https://example.com', 'abc')).toBe('https://example.com/verify?token=abc');
  });
});

describe('events', () => {
  it('have an id derived from the user and the type: the same on every retry, different per type', () => {
    const userId = '8d3f1c6e-2f0b-4f6e-9a55-0c8f5b3c9e11';
    expect(userEventId(userId, UserEventType.Verified)).toBe(userEventId(userId, UserEventType.Verified));
    expect(userEventId(userId, UserEventType.Verified)).not.toBe(userEventId(userId, UserEventType.Onboarded));
    expect(userEventId(userId, UserEventType.Verified)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    // RFC 9562's own example: the DNS namespace and "www.example.com".
    expect(uuidV5('www.example.com', '6ba7b810-9dad-11d1-80b4-00c04fd430c8')).toBe('2ed6657d-e927-568b-95e1-2665a8aea6a2');
  });

  it('are CloudEvents 1.0 with the user id and state only', () => {
    const event = userEvent('/onboarding-service', UserEventType.VerificationExpired, { user_id: 'u1', verification_state: 'EXPIRED' }, new Date(0));
    expect(event).toEqual({
      specversion: '1.0',
      id: userEventId('u1', UserEventType.VerificationExpired),
      source: '/onboarding-service',
      type: 'user.verification_expired',
      subject: 'u1',
      time: '1970-01-01T00:00:00.000Z',
      datacontenttype: 'application/json',
      data: { user_id: 'u1', verification_state: 'EXPIRED' },
    });
  });
});

describe('mail', () => {
  it('has a plain-text and an HTML part with the same link; the name is escaped in HTML', () => {
    const mail = verificationMail({ kind: 'reminder', to: 'a@example.com', firstName: '<Ada & "Bo">', link: 'https://x.test/verify?token=T', expiresAt: new Date(0) });
    expect(mail.subject).toBe('Reminder: confirm your e-mail address');
    expect(mail.text).toContain('https://x.test/verify?token=T');
    expect(mail.text).toContain('Links in earlier mails no longer work.');
    expect(mail.html).toContain('href="https://x.test/verify?token=T"');
    expect(mail.html).toContain('&lt;Ada &amp; &quot;Bo&quot;&gt;');
    expect(mail.html).not.toContain('<Ada');
  });
});

describe('log redaction', () => {
  it('drops query strings from URLs and the Referer, and the parsed query altogether', () => {
    expect(redactQueryString('/verify?token=secret')).toBe('/verify?[redacted]');
    expect(redactQueryString('/users/1')).toBe('/users/1');
    const req = redactedRequest({ id: 1, url: '/verify?token=secret', query: { token: 'secret' }, headers: { referer: 'http://x/verify?token=secret', host: 'x' } });
    expect(JSON.stringify(req)).not.toContain('secret');
    expect(req).toMatchObject({ url: '/verify?[redacted]', headers: { referer: 'http://x/verify?[redacted]', host: 'x' } });
  });

  it('works through pino-http’s serializer chain: no token in the written line', async () => {
    const { pinoHttp } = await import('pino-http');
    const chunks: string[] = [];
    const destination = new Writable({ write: (c, _e, done) => (chunks.push(String(c)), done()) });
    const logger = pinoHttp({ logger: createLogger({ name: 't', level: 'info', destination }), serializers: { req: redactedRequest } });
    const { IncomingMessage, ServerResponse } = await import('node:http');
    const { Socket } = await import('node:net');
    const req = new IncomingMessage(new Socket());
    req.url = '/verify?token=secret-token';
    req.method = 'GET';
    const res = new ServerResponse(req);
    logger(req, res);
    res.end();
    res.emit('finish');
    await new Promise((r) => setImmediate(r));
    expect(chunks.join('')).toContain('/verify?[redacted]');
    expect(chunks.join('')).not.toContain('secret-token');
  });
});

describe('resend address keys', () => {
  it('are an HMAC of the address, whatever its case, under a key derived from the payload key', () => {
    const secret = resendAddressSecret(Buffer.alloc(32, 1));
    expect(addressKey(secret, 'Ada@Example.com').equals(addressKey(secret, 'ada@example.com'))).toBe(true);
    expect(addressKey(secret, 'ada@example.com').equals(addressKey(resendAddressSecret(Buffer.alloc(32, 2)), 'ada@example.com'))).toBe(false);
    expect(addressKey(secret, 'ada@example.com').toString('latin1')).not.toContain('ada');
  });
});

describe('verification settings', () => {
  it('reads durations like 500ms, 5s, 10m, 24h and 7d', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('5s')).toBe(5_000);
    expect(parseDuration('10m')).toBe(600_000);
    expect(parseDuration('24h')).toBe(86_400_000);
    expect(parseDuration('7d')).toBe(604_800_000);
    for (const bad of ['', '5', 's', '1.5h', '-1s', '0s', '5 weeks']) expect(parseDuration(bad)).toBeNull();
  });

  it('defaults to a 24 h link, a reminder after 24 h, expiry after 7 d, the local Mailpit and onboarding.events', () => {
    const c = loadConfig(BASE);
    expect(c.verification).toEqual({
      publicBaseUrl: 'http://127.0.0.1:5000',
      tokenTtlMs: 86_400_000,
      reminderAfterMs: 86_400_000,
      expiresAfterMs: 604_800_000,
      recheckEveryMs: 3_600_000,
      resend: { clientLimit: 10, addressLimit: 3, windowMs: 3_600_000 },
      duplicateNotice: { addressLimit: 3, windowMs: 86_400_000 },
    });
    expect(c.mail).toEqual({ smtpUrl: 'smtp://127.0.0.1:1025', from: 'Onboarding <no-reply@onboarding.localhost>', retryMaxIntervalMs: 600_000 });
    expect(c.events).toMatchObject({ exchange: 'onboarding.events', url: c.amqp.url });
  });

  it('names bad values, and a reminder that would come after the expiry', () => {
    expect(() => loadConfig({ ...BASE, VERIFICATION_TTL: '1 day' })).toThrow(/VERIFICATION_TTL: must be a duration/);
    expect(() => loadConfig({ ...BASE, SMTP_URL: 'http://mail' })).toThrow(/SMTP_URL/);
    expect(() => loadConfig({ ...BASE, PUBLIC_BASE_URL: 'ftp://x' })).toThrow(/PUBLIC_BASE_URL/);
    expect(() => loadConfig({ ...BASE, VERIFICATION_REMINDER_AFTER: '7d' })).toThrow(/VERIFICATION_REMINDER_AFTER: must be shorter/);
    expect(loadConfig({ ...BASE, PUBLIC_BASE_URL: 'https://id.example.com/' }).verification.publicBaseUrl).toBe('https://id.example.com');
  });
});
