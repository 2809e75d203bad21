import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { containsPersonalData, createPasswordPolicy, refineSignupPassword } from '../../src/security/password-policy';
import {
  checkPasswordLength,
  normalizePassword,
  PASSWORD_MAX_LENGTH,
  PASSWORD_MIN_LENGTH,
  PASSWORD_REFUSALS,
  PASSWORD_RULE_DESCRIPTION,
  PASSWORD_SCHEMA_META,
  passwordLengthRefusal,
} from '../../src/security/password-rule';

const policy = createPasswordPolicy({ minScore: 3 });
const strong = () => `${randomBytes(12).toString('base64')}`; // 16 random characters: score 4
const codeOf = (password: string, context = {}, p = policy) => {
  const verdict = p.check(password, context);
  return verdict.ok ? 'ok' : verdict.refusal.code;
};

describe('NFKC normalisation', () => {
  it('makes the same password typed differently one secret, and returns the form to hash', () => {
    const composed = 'caf\u00e9 au lait, s\u2019il vous pla\u00eet';
    const decomposed = composed.normalize('NFD');
    expect(decomposed).not.toBe(composed);
    expect(normalizePassword(decomposed)).toBe(normalizePassword(composed));
    // Compatibility forms fold too: a ligature, full-width letters and digits.
    expect(normalizePassword('\ufb01sh \uff21\uff22\uff23\uff11\uff12\uff13')).toBe('fish ABC123');
    const verdict = policy.check(decomposed);
    expect(verdict).toEqual({ ok: true, normalized: composed.normalize('NFKC'), score: expect.any(Number) });
  });
});

describe('length, in code points after NFKC', () => {
  it(`accepts ${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH}, at least the 64 NIST asks for`, () => {
    expect(PASSWORD_MIN_LENGTH).toBe(8);
    expect(PASSWORD_MAX_LENGTH).toBeGreaterThanOrEqual(64);
    expect(codeOf('x7#Kq!2z'.slice(0, 7))).toBe('password_too_short');
    expect(codeOf(randomBytes(48).toString('base64'))).toBe('ok'); // 64 characters
    expect(passwordLengthRefusal('a'.repeat(PASSWORD_MAX_LENGTH))).toBeUndefined();
    expect(codeOf(randomBytes(192).toString('base64'))).toBe('ok'); // 256 characters
    expect(codeOf(`${randomBytes(192).toString('base64')}x`)).toBe('password_too_long');
  });

  it('counts a character outside the BMP once, though it is two UTF-16 units', () => {
    const sevenEmoji = '\u{1F510}\u{1F98A}\u{1F335}\u{1F3BB}\u{1F9C0}\u{1F680}\u{1F30B}';
    expect(sevenEmoji.length).toBe(14);
    expect(passwordLengthRefusal(sevenEmoji)?.code).toBe('password_too_short');
    expect(passwordLengthRefusal(`${sevenEmoji}\u{1F422}`)).toBeUndefined();
  });

  it('measures the normalised form: one code point that NFKC expands can reach the minimum', () => {
    // U+FDFA (an Arabic ligature) is 18 code points after NFKC.
    expect(normalizePassword('\ufdfa').length).toBe(18);
    expect(passwordLengthRefusal(normalizePassword('\ufdfa'))).toBeUndefined();
  });
});

describe('personal data', () => {
  const context = { email: 'jean.dupont87@example.com', firstName: 'Ada', lastName: 'Lovelace-Byron' };

  it.each([
    ['the whole local part', 'jean.dupont87 rules the waves'],
    ['a word of the local part, in another case', 'my name is DUPONT and I sail'],
    ['the first name', 'quantum-ada-giraffe'],
    ['the last name, whole', 'ilovelovelace-byron!'],
    ['a word of the last name', 'byron & the giraffe 7'],
    ['a full-width form of a name (NFKC folds it)', 'zebra \uff2c\uff4f\uff56\uff45\uff4c\uff41\uff43\uff45 cactus'],
  ])('refuses a password containing %s', (_what, password) => {
    expect(codeOf(password, context)).toBe('password_contains_personal_data');
    expect(containsPersonalData(password, context)).toBe(true);
  });

  it('ignores fragments shorter than three characters, which too many passwords contain by chance', () => {
    expect(codeOf('limestone harbour violin', { email: 'li@example.com', firstName: 'Li', lastName: 'Bo' })).toBe('ok');
  });

  it('accepts a strong password unrelated to the person', () => {
    const password = strong();
    expect(codeOf(password, context)).toBe('ok');
    expect(containsPersonalData(password, context)).toBe(false);
  });
});

describe('common or breached passwords', () => {
  it.each(['password', 'Password', 'P@ssw0rd', 'drowssap', '12345678', 'qwertyuiop', 'sunshine', 'football'])(
    'refuses %s whatever the threshold (case, l33t and reversed variants too)',
    (password) => {
      expect(codeOf(password, {}, createPasswordPolicy({ minScore: 0 }))).toBe('password_common');
      expect(codeOf(password)).toBe('password_common');
    },
  );
});

describe('strength threshold (PASSWORD_MIN_SCORE)', () => {
  it('refuses what scores below the setting, and the same password passes a lower setting', () => {
    // "superman2024!" is a common word and a recent year: zxcvbn scores it 2.
    expect(codeOf('superman2024!')).toBe('password_too_guessable');
    expect(codeOf('superman2024!', {}, createPasswordPolicy({ minScore: 2 }))).toBe('ok');
    expect(codeOf('abcdefgh', {}, createPasswordPolicy({ minScore: 1 }))).toBe('password_too_guessable');
  });

  it('accepts passphrases and random strings', () => {
    for (const password of ['zebra-cactus-violin-42', 'correct horse battery', strong()]) expect(codeOf(password)).toBe('ok');
  });

  it('refuses a setting outside 0-4', () => {
    expect(() => createPasswordPolicy({ minScore: 5 })).toThrow(RangeError);
    expect(() => createPasswordPolicy({ minScore: 2.5 })).toThrow(RangeError);
  });

  it('gives a fixed message for each reason, never the password or the estimator’s own text', () => {
    const verdict = policy.check('superman2024!');
    expect(verdict).toEqual({ ok: false, refusal: { code: 'password_too_guessable', message: PASSWORD_REFUSALS.password_too_guessable } });
  });
});

describe('the dictionaries are built once per process', () => {
  it('builds one estimator for every policy and every check', () => {
    let built = 0;
    jest.isolateModules(() => {
      jest.doMock('@zxcvbn-ts/core', () => {
        const actual = jest.requireActual('@zxcvbn-ts/core');
        return {
          ...actual,
          ZxcvbnFactory: class CountedFactory extends actual.ZxcvbnFactory {
            constructor(...args: unknown[]) {
              super(...args);
              built++;
            }
          },
        };
      });
      const fresh = require('../../src/security/password-policy') as typeof import('../../src/security/password-policy');
      expect(built).toBe(0); // importing the module builds nothing
      fresh.warmUpPasswordPolicy();
      for (const minScore of [1, 3]) {
        const p = fresh.createPasswordPolicy({ minScore });
        p.check('superman2024!');
        p.check(strong());
      }
    });
    expect(built).toBe(1);
  });
});

describe('for the contract and the OpenAPI document', () => {
  const Signup = z
    .object({
      email: z.email(),
      first_name: z.string(),
      last_name: z.string(),
      password: z.string().superRefine(checkPasswordLength).meta(PASSWORD_SCHEMA_META),
    })
    .superRefine(refineSignupPassword(policy));

  it('reports the refusal on the password field with its code, alongside the other fields’ issues', () => {
    const result = Signup.safeParse({ email: 'not an address', first_name: 'Ada', last_name: 'Lovelace', password: 'ada-lovelace-1815' });
    expect(result.success).toBe(false);
    const issues = result.error?.issues.map((i) => ({ path: i.path.join('.'), reason: (i as { params?: { reason?: string } }).params?.reason }));
    expect(issues).toEqual(expect.arrayContaining([{ path: 'email', reason: undefined }, { path: 'password', reason: 'password_contains_personal_data' }]));
  });

  it('reports a too short password once, from the field', () => {
    const result = Signup.safeParse({ email: 'a@example.com', first_name: 'Ada', last_name: 'L', password: 'short' });
    expect(result.error?.issues).toEqual([expect.objectContaining({ path: ['password'], params: { reason: 'password_too_short' } })]);
  });

  it('passes a good password', () => {
    expect(Signup.safeParse({ email: 'a@example.com', first_name: 'Ada', last_name: 'L', password: strong() }).success).toBe(true);
  });

  it('describes the rule in the JSON Schema: bounds in code points and every refusal code', () => {
    const schema = z.toJSONSchema(Signup, { io: 'input' }) as unknown as { properties: { password: Record<string, unknown> } };
    expect(schema.properties.password).toMatchObject({ type: 'string', minLength: 8, maxLength: PASSWORD_MAX_LENGTH, description: PASSWORD_RULE_DESCRIPTION });
    for (const code of Object.keys(PASSWORD_REFUSALS)) expect(PASSWORD_RULE_DESCRIPTION).toContain(code);
    expect(PASSWORD_RULE_DESCRIPTION).toContain('PASSWORD_MIN_SCORE');
  });
});
