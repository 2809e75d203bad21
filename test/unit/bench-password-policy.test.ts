import { passwordCheckCost } from '../../bench/levers/password-policy-cost';

// The load's passwords pass the policy, so the benchmark measures accepted signups (a refused
// one would be a 422) and this cost is of the checks the API makes for them. A random one may
// hold "user" or "bench" by chance (about once in 80,000 here), hence not all 50 required.
it('measures the password check on passwords the policy accepts', () => {
  const { cpu_ms, accepted } = passwordCheckCost(50);
  expect(accepted).toBeGreaterThanOrEqual(49);
  expect(cpu_ms).toBeGreaterThan(0);
});
