/**
 * verifyEmail runs recorded by earlier workflow code replay under today's. Verification runs wait
 * for days, so a deploy always finds runs of the earlier shape open; the worker that wakes them
 * must make the decisions they recorded. The history is a real one (commit 56b999b, payloads
 * encrypted with the test key below): a run with its row steps as regular activities
 * (beginVerification, the mail, a signal, readVerificationState, finishVerification; 37 events).
 * Without VERIFICATION_LOCAL_STEPS_PATCH, today's first step is a local activity where the history
 * has beginVerification's activity task: "Nondeterminism error: No command scheduled for event
 * HistoryEvent(id: 5, ActivityTaskScheduled)".
 */
import { Worker } from '@temporalio/worker';
import { createEncryptionCodec, encryptedDataConverter } from '../../src/temporal/payload-encryption';
import { recordedHistory } from '../support/histories';

it('replays a run whose row steps were regular activities, to its end, without a nondeterminism error', async () => {
  const codec = createEncryptionCodec([{ id: 'replay', key: Buffer.alloc(32, 7) }]);
  const history = recordedHistory('verify-email-activity-steps.json');
  expect(history.events?.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name)).toEqual([
    'beginVerification',
    'sendVerificationMail',
    'readVerificationState',
    'finishVerification',
  ]);
  await expect(
    Worker.runReplayHistory({ workflowsPath: require.resolve('../../workflows'), dataConverter: encryptedDataConverter(codec) }, history),
  ).resolves.toBeUndefined();
});
