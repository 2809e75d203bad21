/**
 * The chaos run's verdict: each accepted signup one row or one letter, nothing left in the queue,
 * no restart but the faults' own, every fault seen through; every user one verification mail, a
 * repeat only in the window of a fault that can cut a send off, no mail to a non-user; and the
 * same tally per fault.
 */
import { randomUUID } from 'node:crypto';
import type { DeadLetter } from '../../src/dlq/dead-letters';
import { VERIFICATION_MAIL_SUBJECTS } from '../../src/mail/templates';
import { account, type FaultRecord, type Outcome, type RunRecord } from '../harness/chaos/account';
import type { Answer } from '../harness/chaos/load';
import { CRASH_WINDOW_AFTER_MS, type ReceivedMail } from '../harness/chaos/mail';

const accepted = (i: number): Answer => ({ i, bad: false, email: `c-${i}@example.com`, status: 202, userId: randomUUID() });
const row = (a: Answer) => ({ user_id: a.userId as string, email: a.email as string, onboarding_state: 'COMPLETED' });
const letter = (id: string, reason: DeadLetter['reason']) => ({ id, reason, detail: reason, deadLetterCount: 1 }) as DeadLetter;

// Fault k of a run goes on from T0 + k minutes for 10 s.
const T0 = Date.parse('2026-11-25T20:00:00Z');
const MINUTE = 60_000;

function fault(name: string, answers: [number, number], own = 0, restarts = own, k = 0, mayRepeatMail = own > 0): FaultRecord {
  const startedAt = T0 + k * MINUTE;
  return { name, at: answers[0], duringLoad: true, answers, startedAt, endedAt: startedAt + 10_000, restarts, restartsOwn: own, mayRepeatMail, saw: 'healed' };
}

let mailId = 0;
const mailTo = (to: string, receivedAt = T0 - 5 * MINUTE, subject = VERIFICATION_MAIL_SUBJECTS.verification): ReceivedMail =>
  ({ id: String(mailId++), to: [to], subject, receivedAt });

function record(answers: Answer[], faults: FaultRecord[], restarts = 0): RunRecord {
  return { run: 't', answers, loadSeconds: 1, poisonIds: ['p-0'], faults, faultsPlanned: faults.length, processCrashes: [], restarts };
}

const answers = Array.from({ length: 6 }, (_, i) => accepted(i));
const settled: Outcome = {
  rows: answers.slice(0, 5).map(row),
  letters: [letter('p-0', 'poison'), letter(answers[5].userId as string, 'workflow-failed')],
  queueDepth: 0,
};
/** One verification mail for each user, before any fault. */
const mailed = settled.rows.map((r) => mailTo(r.email));

it('passes when every 2xx is one row or one letter, the queue is empty and only the faults restarted anything', () => {
  const result = account(record(answers, [fault('SIGKILL a worker', [0, 3], 1), fault('freeze', [3, 6])], 1), settled, mailed);
  expect(result.ok).toBe(true);
  expect(result.account).toMatchObject({ lost: 0, duplicates: 0, queue_depth_at_end: 0, restarted_by_hand: 0, faults_started_during_load: '2/2' });
  expect(result.account.faults).toEqual([
    expect.objectContaining({ signups_answered: 3, accepted: 3, user_rows: 3, lost: 0, duplicates: 0, restarts: 1, restarts_own: 1 }),
    expect.objectContaining({ signups_answered: 3, accepted: 3, user_rows: 2, dlq_by_reason: { 'workflow-failed': 1 } }),
  ]);
  expect(result.text).toContain('left in the queue         0');
  expect(result.text).toContain('restarted by hand         0');
});

it('fails on a message left in the queue, a restart no fault made, or a fault that did not see the service heal', () => {
  const faults = [fault('freeze', [0, 6])];
  expect(account(record(answers, faults), { ...settled, queueDepth: 2 }, mailed).ok).toBe(false);
  const byHand = account(record(answers, [fault('freeze', [0, 6], 0, 1)], 1), settled, mailed);
  expect(byHand).toMatchObject({ ok: false, account: { restarted_by_hand: 1 } });
  const failed = account(record(answers, [{ ...faults[0], saw: undefined, error: 'no 406 seen' }]), settled, mailed);
  expect(failed).toMatchObject({ ok: false, account: { faults_failed: ['freeze: no 406 seen'] } });
});

it('counts a lost signup and a row with a letter, in the run and in the fault that answered it', () => {
  const lostOne = { ...settled, letters: [letter('p-0', 'poison')] };
  const result = account(record(answers, [fault('deploy', [4, 6], 2)], 2), lostOne, mailed);
  expect(result).toMatchObject({ ok: false, account: { lost: 1, lost_ids: [answers[5].userId] } });
  expect(result.account.faults).toEqual([expect.objectContaining({ lost: 1 })]);
  const doubled = { ...settled, letters: [...settled.letters, letter(answers[0].userId as string, 'workflow-failed')] };
  expect(account(record(answers, []), doubled, mailed)).toMatchObject({ ok: false, account: { duplicates: 1 } });
});

it('a completed user whose delivery a worker lacking the key dead-lettered is one user, not a duplicate', () => {
  const unreadable = { ...settled, letters: [...settled.letters, letter(answers[0].userId as string, 'unhandleable')] };
  const result = account(record(answers, []), unreadable, mailed);
  expect(result).toMatchObject({ ok: true, account: { duplicates: 0, onboarded_with_unreadable_letter: 1, dlq_by_reason: { unhandleable: 1 } } });
});

it('counts the mail: a user without a verification mail, or a mail to an address that is no user, fails the run', () => {
  const faults = [fault('freeze', [0, 6])];
  const ok = account(record(answers, faults), settled, mailed);
  expect(ok).toMatchObject({
    ok: true,
    account: { mails_received: 5, users_without_verification_mail: 0, users_with_repeated_verification_mail: 0, mails_to_non_users: 0 },
  });
  expect(ok.account.mails_by_kind).toEqual({ verification: 5, reminder: 0, resend: 0, other: 0 });
  expect(ok.text).toContain('users without a mail      0 (of 5 users');
  expect(ok.text).toContain('RESULT: PASS (sent 6, 2xx 6, rows 5, lost 0, duplicates 0; mails 5, users without a verification mail 0, repeated 0');

  const oneMissing = account(record(answers, faults), settled, mailed.slice(1));
  expect(oneMissing).toMatchObject({ ok: false, account: { users_without_verification_mail: 1, users_without_verification_mail_sample: [answers[0].email] } });
  expect(oneMissing.account.faults).toEqual([expect.objectContaining({ without_verification_mail: 1 })]);
  expect(account(record(answers, faults), settled, [...mailed, mailTo('stranger@example.com')])).toMatchObject({ ok: false, account: { mails_to_non_users: 1 } });
  expect(account(record(answers, faults), settled, [...mailed, mailTo(answers[0].email as string, T0, 'Hello')])).toMatchObject({
    ok: false,
    account: { mails_by_kind: { other: 1 } },
  });
  // A reminder is counted on its own, not as a second verification mail.
  const reminded = account(record(answers, faults), settled, [...mailed, mailTo(answers[0].email as string, T0, VERIFICATION_MAIL_SUBJECTS.reminder)]);
  expect(reminded).toMatchObject({ ok: true, account: { users_with_repeated_verification_mail: 0, mails_by_kind: { verification: 5, reminder: 1 } } });
});

it('a repeated verification mail passes only when its earlier copy lies in the window of a fault that can cut a send off', () => {
  const faults = [fault('SIGKILL a worker', [0, 3], 1, 1, 1), fault('close a channel', [3, 6], 0, 0, 3)];
  const again = (receivedAt: number) => [...mailed.slice(1), mailTo(answers[0].email as string, receivedAt), mailTo(answers[0].email as string, receivedAt + 2 * MINUTE)];
  // Sent just as the worker was killed, and again once the attempt timed out.
  const inKill = account(record(answers, faults, 1), settled, again(T0 + MINUTE + 5_000));
  expect(inKill).toMatchObject({
    ok: true,
    account: {
      users_with_repeated_verification_mail: 1,
      repeated_verification_mails: 1,
      repeated_verification_mail_by_fault: { '1. SIGKILL a worker': 1 },
      repeated_verification_mail_outside_crash_windows: 0,
    },
  });
  expect(inKill.account.faults).toEqual([
    expect.objectContaining({ may_repeat_mail: true, repeated_verification_mail: 1 }),
    expect.objectContaining({ may_repeat_mail: false, repeated_verification_mail: 0 }),
  ]);
  // The window reaches a little past the fault's end, while the worker's calls may still fail.
  expect(account(record(answers, faults, 1), settled, again(T0 + MINUTE + 10_000 + CRASH_WINDOW_AFTER_MS)).ok).toBe(true);
  // During a fault that cannot cut a send off, or with no fault at all: a repeat nothing explains.
  for (const at of [T0 + 3 * MINUTE + 5_000, T0 + 2 * MINUTE]) {
    expect(account(record(answers, faults, 1), settled, again(at))).toMatchObject({
      ok: false,
      account: { users_with_repeated_verification_mail: 1, repeated_verification_mail_outside_crash_windows: 1 },
    });
  }
});
