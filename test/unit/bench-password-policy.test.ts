import { passwordCheckCost } from '../../bench/levers/password-policy-cost';

// The load's passwords pass the policy, so the benchmark measures accepted signups (a refused
// one would be a 422) and this cost is of the checks the API makes for them.
it('measures the password check on passwords the policy accepts, all of them', () => {
  const { cpu_ms, accepted } = passwordCheckCost(50);
  expect(accepted).toBe(50);
  expect(cpu_ms).toBeGreaterThan(0);
});
