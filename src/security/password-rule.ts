/**
 * The password rule's cheap, dependency-free part: normalisation, length bounds and the text
 * that documents the whole rule. The contract (and so every process that imports it) can use
 * this without loading the strength estimator's dictionaries; src/security/password-policy.ts
 * adds the checks that need them.
 *
 * After NIST SP 800-63B §3.1.1.2 (memorized secrets):
 * - at least 8 characters, and at least 64 accepted; any Unicode character, spaces included;
 * - no composition rules (no "one digit, one symbol"), but a blocklist of common and breached
 *   passwords and of context-specific words (the user's e-mail and name);
 * - Unicode normalised (NFKC) before hashing, each code point counting as one character, so
 *   the same password typed on two keyboards (composed "é" or "e" + combining accent, a
 *   full-width digit) is the same secret.
 */

import type { RefinementCtx } from 'zod';

export const PASSWORD_MIN_LENGTH = 8;
/**
 * The upper bound, in code points after NFKC. Four times the 64 NIST asks to accept, so a long
 * passphrase always fits. It is not there for argon2id, whose cost is its 19 MiB of memory and
 * barely grows with the input (the password is absorbed once by BLAKE2b); it bounds what an
 * anonymous client can make the API do per request: the strength estimator's matching grows
 * faster than linearly with length (measured here: ~0.3 s for a 256-character repeated l33t
 * pattern against ~0.1 s at 128, so it only analyses the first 128), and no one types more.
 */
export const PASSWORD_MAX_LENGTH = 256;

/**
 * The form of a password that is checked and hashed: Unicode NFKC. The signup use case calls
 * this before hashing, and any later check of the password (a login) must call it too.
 */
export function normalizePassword(password: string): string {
  return password.normalize('NFKC');
}

/** Length in code points (NIST: "each Unicode code point SHALL be counted as a single character"). */
export function passwordLength(normalized: string): number {
  let count = 0;
  for (const _codePoint of normalized) count++;
  return count;
}

/** Every reason a password can be refused for: stable codes a client can act on. */
export const PASSWORD_REFUSALS = {
  password_too_short: `must be at least ${PASSWORD_MIN_LENGTH} characters`,
  password_too_long: `must be at most ${PASSWORD_MAX_LENGTH} characters`,
  password_contains_personal_data: 'must not contain your e-mail address or your name',
  password_common: 'is a commonly used or breached password',
  password_too_guessable: 'is too easy to guess: avoid common words, names, dates, keyboard patterns and repeats; a few uncommon words together make a strong password',
} as const;
export type PasswordRefusalCode = keyof typeof PASSWORD_REFUSALS;

export interface PasswordRefusal {
  code: PasswordRefusalCode;
  message: string;
}

export function refusal(code: PasswordRefusalCode): PasswordRefusal {
  return { code, message: PASSWORD_REFUSALS[code] };
}

/** The length part of the rule, on the normalised password; undefined when it passes. */
export function passwordLengthRefusal(normalized: string): PasswordRefusal | undefined {
  const length = passwordLength(normalized);
  if (length < PASSWORD_MIN_LENGTH) return refusal('password_too_short');
  if (length > PASSWORD_MAX_LENGTH) return refusal('password_too_long');
  return undefined;
}

/**
 * The rule as the OpenAPI document states it. JSON Schema's minLength/maxLength count code
 * points too, so PASSWORD_MIN_LENGTH/PASSWORD_MAX_LENGTH can be given as they are.
 */
export const PASSWORD_RULE_DESCRIPTION =
  `${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters (Unicode code points after NFKC normalisation), ` +
  'any characters, spaces included, and no composition rules. Refused with a field issue whose code says why when ' +
  'it is shorter or longer (password_too_short, password_too_long), contains the e-mail address or a name sent ' +
  'with it (password_contains_personal_data), is a commonly used or breached password (password_common), or is ' +
  'too easy to guess (password_too_guessable): its zxcvbn score, estimated offline, is below the PASSWORD_MIN_SCORE ' +
  'setting (0 to 4, default 3).';

/** What the contract's password field says about itself in the OpenAPI document. */
export const PASSWORD_SCHEMA_META = {
  description: PASSWORD_RULE_DESCRIPTION,
  minLength: PASSWORD_MIN_LENGTH,
  maxLength: PASSWORD_MAX_LENGTH,
};

/**
 * The length rule as a zod refinement for the contract's password field:
 * `requiredString().superRefine(checkPasswordLength).meta(PASSWORD_SCHEMA_META)`. The issue's
 * `params.reason` carries the refusal code.
 */
export function checkPasswordLength(value: string, ctx: RefinementCtx<string>): void {
  const refused = passwordLengthRefusal(normalizePassword(value));
  if (refused) ctx.addIssue({ code: 'custom', message: refused.message, params: { reason: refused.code } });
}
