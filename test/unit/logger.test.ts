import { maskEmail } from '../../src/logger';
import { capturingLogger } from '../support/log-capture';

describe('log redaction', () => {
  it('never writes passwords, hashes or credentials, and masks e-mail addresses', () => {
    const { logger, lines, raw } = capturingLogger();
    logger.info(
      {
        email: 'ada@example.com',
        password: 'correct horse battery',
        signup: { email: 'grace@example.org', password_hash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA' },
        req: { headers: { authorization: 'Bearer s3cret', cookie: 'sid=abc', 'x-request-id': 'r-1' } },
      },
      'a line',
    );
    const [line] = lines();
    expect(line.email).toBe('a***@example.com');
    expect(line.signup.email).toBe('g***@example.org');
    expect(line.password).toBe('[redacted]');
    expect(line.signup.password_hash).toBe('[redacted]');
    expect(line.req.headers).toMatchObject({ authorization: '[redacted]', cookie: '[redacted]', 'x-request-id': 'r-1' });
    for (const secret of ['correct horse', 'argon2id', 's3cret', 'sid=abc', 'ada@', 'grace@']) expect(raw()).not.toContain(secret);
  });

  it('masks whatever shape an e-mail field has', () => {
    expect(maskEmail('x@y.z')).toBe('x***@y.z');
    expect(maskEmail('not-an-address')).toBe('***');
    expect(maskEmail(undefined)).toBe('***');
  });
});
