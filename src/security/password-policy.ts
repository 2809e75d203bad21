/**
 * The password policy (NIST SP 800-63B, see password-rule.ts): length, no personal data, not a
 * common or breached password, and a minimum strength estimated by zxcvbn-ts with its common
 * dictionary (the ~49 000 most used passwords of public breach corpora, a diceware list and
 * keyboard graphs), offline: no password or hash prefix ever leaves the process.
 *
 * The threshold, PASSWORD_MIN_SCORE, defaults to 3, zxcvbn's "safely unguessable: moderate
 * protection from an offline slow-hash scenario" (at least 10^8 guesses). Score 2 only claims
 * protection from unthrottled online guessing; our threat is the offline one, a copy of the
 * users table and its argon2id hashes, which is what 3 is calibrated for. 4 turns away too many
 * passphrases people can remember.
 *
 * Not enabled: zxcvbn's Levenshtein matching (measured here: ~57 ms per ordinary password
 * instead of ~1 ms, 0.5 s worst case at 128 characters, all on the event loop; its l33t, case
 * and reversal variants still catch "P@ssw0rd"), and its pwned matcher, which would send a hash
 * prefix of every password to an outside service.
 */
import { ZxcvbnFactory, type ZxcvbnResult } from '@zxcvbn-ts/core';
import { adjacencyGraphs, dictionary } from '@zxcvbn-ts/language-common';
import type { RefinementCtx } from 'zod';
import { normalizePassword, type PasswordRefusal, passwordLengthRefusal, refusal } from './password-rule';

/**
 * zxcvbn analyses this many UTF-16 units (its own default is 256): its matching grows faster
 * than linearly with length (0.1 s at 128 against 0.3 s at 256 for a repeated l33t pattern,
 * measured here), and a password whose first 128 characters are strong is strong.
 */
const ANALYSED_LENGTH = 128;
/** Shorter names and address parts ("Li", "jo") would refuse half the passwords that merely contain them. */
const MIN_PERSONAL_FRAGMENT_LENGTH = 3;

let estimator: ZxcvbnFactory | undefined;

/**
 * The one estimator of this process. Building it ranks the dictionaries (tens of milliseconds,
 * several MB), so it happens once, on first use or on warmUpPasswordPolicy() at start-up.
 */
function sharedEstimator(): ZxcvbnFactory {
  estimator ??= new ZxcvbnFactory({
    dictionary,
    graphs: adjacencyGraphs,
    maxLength: ANALYSED_LENGTH,
    useLevenshteinDistance: false,
  });
  return estimator;
}

/** Builds the dictionaries now, so the first signup does not pay for it. */
export function warmUpPasswordPolicy(): void {
  sharedEstimator().check('warm up the dictionaries');
}

/** What the password must not contain: the fields sent with it. */
export interface PasswordContext {
  email?: string;
  firstName?: string;
  lastName?: string;
}

export type PasswordVerdict =
  | { ok: true; /** NFKC: the form to hash. */ normalized: string; score: number }
  | { ok: false; refusal: PasswordRefusal };

export interface PasswordPolicy {
  readonly minScore: number;
  check(password: string, context?: PasswordContext): PasswordVerdict;
}

export function createPasswordPolicy(options: { minScore: number }): PasswordPolicy {
  const { minScore } = options;
  if (!Number.isInteger(minScore) || minScore < 0 || minScore > 4) throw new RangeError('minScore must be an integer from 0 to 4');
  return {
    minScore,
    check(password, context = {}) {
      const normalized = normalizePassword(password);
      const lengthRefusal = passwordLengthRefusal(normalized);
      if (lengthRefusal) return { ok: false, refusal: lengthRefusal };
      const fragments = personalFragments(context);
      if (holdsAny(normalized, fragments)) return { ok: false, refusal: refusal('password_contains_personal_data') };
      const result = sharedEstimator().check(normalized, fragments);
      if (isCommonPassword(result, normalized)) return { ok: false, refusal: refusal('password_common') };
      if (result.score < minScore) return { ok: false, refusal: refusal('password_too_guessable') };
      return { ok: true, normalized, score: result.score };
    },
  };
}

/**
 * The whole password is one entry of the common-password dictionary, in any of the variants
 * zxcvbn matches (case, l33t, reversed): refused whatever the threshold, as NIST requires.
 */
function isCommonPassword(result: ZxcvbnResult, normalized: string): boolean {
  if (normalized.length > ANALYSED_LENGTH || result.sequence.length !== 1) return false;
  const [match] = result.sequence;
  return match.pattern === 'dictionary' && match.dictionaryName === 'passwords-common' && match.i === 0 && match.j === normalized.length - 1;
}

/**
 * The policy's own personal-data rule alone, without the strength estimate: for a caller that
 * makes passwords (the benchmark's load) and must never make one the policy refuses.
 */
export function containsPersonalData(password: string, context: PasswordContext): boolean {
  return holdsAny(normalizePassword(password), personalFragments(context));
}

function holdsAny(normalized: string, fragments: string[]): boolean {
  const folded = fold(normalized);
  return fragments.some((fragment) => folded.includes(fragment));
}

/** Case-insensitive comparison form: NFKC, then Unicode lower case (locale-independent). */
function fold(value: string): string {
  return value.normalize('NFKC').toLowerCase();
}

/**
 * The e-mail's local part and the names, whole, split into their words and into their runs of
 * letters ("jean.dupont87": "jean.dupont87", "jean", "dupont87", "dupont"; "Mary-Jane": "mary",
 * "jane"), folded, three characters or longer.
 */
function personalFragments(context: PasswordContext): string[] {
  const email = context.email ?? '';
  const localPart = email.includes('@') ? email.slice(0, email.lastIndexOf('@')) : email;
  const fragments = new Set<string>();
  for (const value of [localPart, context.firstName ?? '', context.lastName ?? '']) {
    const folded = fold(value.trim());
    for (const fragment of [folded, ...folded.split(/[^\p{L}\p{N}]+/u), ...(folded.match(/\p{L}+/gu) ?? [])]) {
      if ([...fragment].length >= MIN_PERSONAL_FRAGMENT_LENGTH) fragments.add(fragment);
    }
  }
  return [...fragments];
}

/**
 * The whole policy as a zod refinement of the signup body, so every field's issues are reported
 * together: `SignupRequest.superRefine(refineSignupPassword(policy))`. The issue sits on
 * `password`, its `params.reason` carries the refusal code. A password the field schema already
 * refused (not a string, too short or long) is left to that issue.
 */
export function refineSignupPassword(policy: PasswordPolicy) {
  return (signup: { email?: unknown; first_name?: unknown; last_name?: unknown; password?: unknown }, ctx: RefinementCtx<unknown>): void => {
    if (typeof signup.password !== 'string' || passwordLengthRefusal(normalizePassword(signup.password))) return;
    const verdict = policy.check(signup.password, {
      email: typeof signup.email === 'string' ? signup.email : undefined,
      firstName: typeof signup.first_name === 'string' ? signup.first_name : undefined,
      lastName: typeof signup.last_name === 'string' ? signup.last_name : undefined,
    });
    if (!verdict.ok) {
      ctx.addIssue({ code: 'custom', path: ['password'], message: verdict.refusal.message, params: { reason: verdict.refusal.code } });
    }
  };
}
