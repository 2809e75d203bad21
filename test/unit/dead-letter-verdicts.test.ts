/**
 * What the DLQ tool says of a letter, told with the user row: every reason against every state
 * of the row, and what `replay` does with it.
 */
import { type DeadLetterReason, judgeDeadLetter, type UserRowState } from '../../src/dlq/dead-letters';

const cases: Array<[DeadLetterReason, UserRowState, string, 'republish' | 'remove' | 'skip']> = [
  ['expired', 'COMPLETED', 'expired in the queue, but user onboarded (COMPLETED) by its run: safe to purge', 'remove'],
  ['workflow-failed', 'COMPLETED', 'its run failed, but user onboarded (COMPLETED): safe to purge', 'remove'],
  ['other', 'COMPLETED', 'dead-lettered by the broker, but user onboarded (COMPLETED): safe to purge', 'remove'],
  ['expired', 'PERSISTED', 'expired in the queue; user row left PERSISTED, not onboarded: replay finishes it', 'republish'],
  ['workflow-failed', 'PERSISTED', 'its run failed; user row left PERSISTED, not onboarded: replay finishes it', 'republish'],
  ['expired', 'none', 'expired in the queue; no user: replay onboards it (a run still going is attached to, not repeated)', 'republish'],
  ['workflow-failed', 'none', 'its run failed; no user: fix the cause, then replay', 'republish'],
  ['expired', 'unknown', 'expired in the queue; the database could not be read, so whether a user exists is unknown', 'republish'],
  ['poison', 'none', 'breaks the contract: cannot be replayed; purge it', 'skip'],
];

it.each(cases)('%s letter, user row %s: "%s", replay %s', (reason, user, verdict, replay) => {
  expect(judgeDeadLetter({ reason }, user)).toEqual({ verdict, replay });
});
