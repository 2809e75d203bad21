/** The public status read names a failure by a fixed code, whatever text was recorded. */
import { PublicFailureReason } from '../../src/contract';
import { unhandleableFailureReason } from '../../src/bridge/delivery-errors';
import { publicFailureReason } from '../../src/use-cases/read-signup-status';

it.each([
  ['DuplicateEmail: email already registered', 'DuplicateEmail'],
  ['InvalidSignup: email: invalid', 'InvalidSignup'],
  ['UserErased: user erased', 'UserErased'],
  ['timed out (START_TO_CLOSE)', 'Timeout'],
  [unhandleableFailureReason('signup contract version 2 unknown here', 5), 'Unhandleable'],
  ['new row for relation "users" violates check constraint "reject_one"', 'Other'],
  ['DuplicateEmailish without the colon', 'Other'],
  ['', 'Other'],
])('%j → %s', (recorded, code) => {
  expect(publicFailureReason(recorded)).toBe(code);
  expect(PublicFailureReason.options).toContain(code);
});
