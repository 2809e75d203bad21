import { randomUUID } from 'node:crypto';

/**
 * A password unique to its signup that the policy always accepts: a UUID's hex spelt with the
 * letters g–v, one letter between dots ("pw-g.k.q.…"). The personal-data rule refuses a password
 * holding any word of three letters or digits or more from the e-mail or the names; with no two
 * letters or digits side by side, none can be in it ("ada" in a plain UUID was refused once, and
 * a run like "ghk" in a test's base36 suffix could be in undotted g–v letters).
 */
export function uniquePassword(prefix: string): string {
  const letters = randomUUID().replace(/-/g, '').replace(/[0-9a-f]/g, (c) => 'ghijklmnopqrstuv'['0123456789abcdef'.indexOf(c)]);
  return `${prefix}-${letters.split('').join('.')}`;
}
