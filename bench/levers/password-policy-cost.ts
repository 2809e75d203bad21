/**
 * `npm run bench:password-policy`: the CPU one signup's password check costs the API (zxcvbn-ts
 * with the service's own options, NFKC, the personal-data rule), apart from the hash. The
 * passwords are like the benchmark's (16 random base64url characters), so the figure is the
 * one inside the benchmark's "API CPU beyond the hash".
 *
 *   npm run bench:password-policy [-- --passwords 2000]
 */
import { parseArgs } from 'node:util';
import { EnvSchema } from '../../src/config';
import { createPasswordPolicy, warmUpPasswordPolicy } from '../../src/security/password-policy';
import { benchPassword } from '../load';

/** The service's own default PASSWORD_MIN_SCORE, read from its config schema. */
const SERVICE_MIN_SCORE: number = EnvSchema.shape.PASSWORD_MIN_SCORE.parse(undefined);

/**
 * CPU ms per check, and how many of the passwords the policy accepted: nearly all, or the figure
 * would be of refusals. (A random one is refused when it happens to hold a word of three letters
 * or more of the address or the names, as the load's are about once in 2,000.)
 */
export function passwordCheckCost(passwords: number, minScore = SERVICE_MIN_SCORE): { cpu_ms: number; accepted: number } {
  warmUpPasswordPolicy();
  const policy = createPasswordPolicy({ minScore });
  const context = { email: 'bench-1@example.com', firstName: 'Bench', lastName: 'User 1' };
  const batch = Array.from({ length: passwords }, benchPassword);
  for (const password of batch.slice(0, Math.min(200, passwords))) policy.check(password, context);
  let accepted = 0;
  const before = process.cpuUsage();
  for (const password of batch) if (policy.check(password, context).ok) accepted++;
  const used = process.cpuUsage(before);
  return { cpu_ms: (used.user + used.system) / 1000 / passwords, accepted };
}

if (require.main === module) {
  const { values } = parseArgs({ options: { passwords: { type: 'string', default: '2000' } } });
  const n = Number(values.passwords);
  const { cpu_ms, accepted } = passwordCheckCost(n);
  process.stdout.write(`password check: ${cpu_ms.toFixed(2)} ms of CPU per signup (${n} random 16-character passwords, ${accepted} accepted, PASSWORD_MIN_SCORE=${SERVICE_MIN_SCORE})\n`);
}
