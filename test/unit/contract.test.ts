import { parseSignupMessage, SignupMessage, SignupRequest, VerificationUpdate } from '../../src/contract';

const valid = { email: 'ada@example.com', first_name: 'Ada', last_name: 'Lovelace', password: 'correct horse' };
const HASH = '$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g';

function fieldsOf(body: unknown): string[] {
  const r = SignupRequest.safeParse(body);
  return r.success ? [] : r.error.issues.map((i) => i.path.join('.'));
}

describe('SignupRequest', () => {
  it('accepts a valid signup and normalises the email', () => {
    const r = SignupRequest.parse({ ...valid, email: '  Ada.Lovelace@Example.COM ' });
    expect(r.email).toBe('ada.lovelace@example.com');
  });

  it('ignores unknown keys, as the FastAPI service did', () => {
    expect(SignupRequest.parse({ ...valid, admin: true })).toEqual(valid);
  });

  it.each([
    ['email', { ...valid, email: 'not-an-email' }],
    ['email', { ...valid, email: `${'a'.repeat(250)}@example.com` }],
    ['first_name', { ...valid, first_name: '' }],
    ['first_name', { ...valid, first_name: '   ' }],
    ['last_name', { ...valid, last_name: 'x'.repeat(101) }],
    ['last_name', { ...valid, last_name: 'Love\u0000lace' }],
    ['first_name', { ...valid, first_name: 'Ada\u0085' }],
    ['password', { ...valid, password: 'short' }],
    ['password', { ...valid, password: 'p'.repeat(257) }],
    ['password', { ...valid, password: 12345678 }],
    ['first_name', { ...valid, first_name: 'Ada\uD800' }],
    ['password', { ...valid, password: 'pass\uDC00word' }],
  ])('rejects a bad %s', (field, body) => {
    expect(fieldsOf(body)).toEqual([field]);
  });

  it('names every missing field as required', () => {
    const r = SignupRequest.safeParse({});
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => [i.path[0], i.message])).toEqual([
      ['email', 'is required'],
      ['first_name', 'is required'],
      ['last_name', 'is required'],
      ['password', 'is required'],
    ]);
  });

  it('accepts the boundaries', () => {
    expect(fieldsOf({ ...valid, first_name: 'x'.repeat(100), password: 'p'.repeat(128) })).toEqual([]);
    expect(fieldsOf({ ...valid, password: 'p'.repeat(8), last_name: 'Ō' })).toEqual([]);
  });
});

describe('SignupMessage', () => {
  const message = {
    version: 1,
    user_id: '2b0d6f8e-3c55-4a51-9d7c-1d1f6f0d8a11',
    email: 'ada@example.com',
    first_name: 'Ada',
    last_name: 'Lovelace',
    password_hash: HASH,
    requested_at: '2026-11-25T04:00:00.000Z',
  };

  it('parses a valid message', () => {
    const r = parseSignupMessage(Buffer.from(JSON.stringify(message)));
    expect(r).toEqual({ ok: true, value: message });
  });

  it('refuses a plaintext password, or any unknown field', () => {
    expect(SignupMessage.safeParse({ ...message, password: 'secret123' }).success).toBe(false);
    expect(SignupMessage.safeParse({ ...message, password_hash: 'secret123' }).success).toBe(false);
    expect(SignupMessage.safeParse({ ...message, password_hash: HASH.replace('argon2id', 'argon2i') }).success).toBe(false);
  });

  it('reports poison bytes as a result, not an exception', () => {
    expect(parseSignupMessage(Buffer.from('{not json'))).toEqual({
      ok: false,
      issues: [{ field: '(body)', message: 'is not valid JSON', code: 'invalid_json' }],
    });
    const r = parseSignupMessage(Buffer.from(JSON.stringify({ ...message, user_id: 'nope' })));
    expect(r.ok).toBe(false);
    expect(!r.ok && r.issues.map((i) => i.field)).toEqual(['user_id']);
  });
});

describe('VerificationUpdate', () => {
  it('defaults an empty body to VERIFIED and rejects unknown states', () => {
    expect(VerificationUpdate.parse({})).toEqual({ verification_state: 'VERIFIED' });
    expect(VerificationUpdate.parse({ verification_state: 'REJECTED' })).toEqual({ verification_state: 'REJECTED' });
    expect(VerificationUpdate.safeParse({ verification_state: 'verified!' }).success).toBe(false);
  });
});
