import { randomUUID } from 'node:crypto';

/**
 * A password unique to its signup that the policy always accepts: a UUID's hex spelt with the
 * letters g–v, so it can never contain a name or a fragment of the e-mail, whose digits and hex
 * a plain UUID may hold ("ada" in one was refused once as personal data).
 */
export function uniquePassword(prefix: string): string {
  return `${prefix}-${randomUUID().replace(/[0-9a-f]/g, (c) => 'ghijklmnopqrstuv'['0123456789abcdef'.indexOf(c)])}`;
}
