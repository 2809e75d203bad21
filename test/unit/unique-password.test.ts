import { uniquePassword } from '../harness/unique-password';
import { createPasswordPolicy } from '../../src/security/password-policy';

// The tests' and the chaos run's passwords must never be refused as personal data, whatever the
// random suffix in the address and names holds: here every word of g–v letters a suffix could.
it('spells passwords the policy accepts beside any address or names made of the same letters', () => {
  const policy = createPasswordPolicy({ minScore: 3 });
  const context = { email: 'ghk-nop-qrs-tuv-ijl-mno@example.com', firstName: 'Ghk', lastName: 'Hij Klm Pqr' };
  const verdicts = Array.from({ length: 200 }, () => policy.check(uniquePassword('pw'), context));
  expect(verdicts.filter((v) => !v.ok)).toEqual([]);
});
