/**
 * The chaos run's verdict: each accepted signup one row or one letter, nothing left in the queue,
 * no restart but the faults' own, every fault seen through; and the same tally per fault.
 */
import { randomUUID } from 'node:crypto';
import type { DeadLetter } from '../../src/dlq/dead-letters';
import { account, type FaultRecord, type Outcome, type RunRecord } from '../harness/chaos/account';
import type { Answer } from '../harness/chaos/load';

const accepted = (i: number): Answer => ({ i, bad: false, email: `c-${i}@example.com`, status: 202, userId: randomUUID() });
const row = (a: Answer) => ({ user_id: a.userId as string, email: a.email as string, onboarding_state: 'COMPLETED' });
const letter = (id: string, reason: DeadLetter['reason']) => ({ id, reason, detail: reason, deadLetterCount: 1 }) as DeadLetter;

function fault(name: string, answers: [number, number], own = 0, restarts = own): FaultRecord {
  return { name, at: answers[0], duringLoad: true, answers, restarts, restartsOwn: own, saw: 'healed' };
}

function record(answers: Answer[], faults: FaultRecord[], restarts = 0): RunRecord {
  return { run: 't', answers, loadSeconds: 1, poisonIds: ['p-0'], faults, faultsPlanned: faults.length, processCrashes: [], restarts };
}

const answers = Array.from({ length: 6 }, (_, i) => accepted(i));
const settled: Outcome = {
  rows: answers.slice(0, 5).map(row),
  letters: [letter('p-0', 'poison'), letter(answers[5].userId as string, 'workflow-failed')],
  queueDepth: 0,
};

it('passes when every 2xx is one row or one letter, the queue is empty and only the faults restarted anything', () => {
  const result = account(record(answers, [fault('SIGKILL a worker', [0, 3], 1), fault('freeze', [3, 6])], 1), settled);
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
  expect(account(record(answers, faults), { ...settled, queueDepth: 2 }).ok).toBe(false);
  const byHand = account(record(answers, [fault('freeze', [0, 6], 0, 1)], 1), settled);
  expect(byHand).toMatchObject({ ok: false, account: { restarted_by_hand: 1 } });
  const failed = account(record(answers, [{ ...faults[0], saw: undefined, error: 'no 406 seen' }]), settled);
  expect(failed).toMatchObject({ ok: false, account: { faults_failed: ['freeze: no 406 seen'] } });
});

it('counts a lost signup and a row with a letter, in the run and in the fault that answered it', () => {
  const lostOne = { ...settled, letters: [letter('p-0', 'poison')] };
  const result = account(record(answers, [fault('deploy', [4, 6], 2)], 2), lostOne);
  expect(result).toMatchObject({ ok: false, account: { lost: 1, lost_ids: [answers[5].userId] } });
  expect(result.account.faults).toEqual([expect.objectContaining({ lost: 1 })]);
  const doubled = { ...settled, letters: [...settled.letters, letter(answers[0].userId as string, 'workflow-failed')] };
  expect(account(record(answers, []), doubled)).toMatchObject({ ok: false, account: { duplicates: 1 } });
});

it('a completed user whose delivery a worker lacking the key dead-lettered is one user, not a duplicate', () => {
  const unreadable = { ...settled, letters: [...settled.letters, letter(answers[0].userId as string, 'unhandleable')] };
  const result = account(record(answers, []), unreadable);
  expect(result).toMatchObject({ ok: true, account: { duplicates: 0, onboarded_with_unreadable_letter: 1, dlq_by_reason: { unhandleable: 1 } } });
});
