/**
 * Runs recorded by earlier workflow code replay under today's: a worker that takes over a run
 * started before a change (a deploy while it was in flight) must make the same decisions. Each
 * history here is a real one:
 * - three steps (validateSignup, persistUser, markState; commit 0e14460, plain payloads), from
 *   before persistUser wrote the row COMPLETED. Without PERSIST_WRITES_COMPLETED_PATCH its replay
 *   fails: "Nondeterminism error: Missing associated machine for LocalActivity(3)".
 * - two steps (validateSignup, persistUser, then the verification child; commit f8a6510, payloads
 *   encrypted with the test key below), from before persistUser checked the message itself.
 *   Without PERSIST_VALIDATES_PATCH, today's one step meets validateSignup's marker.
 */
import { Worker } from '@temporalio/worker';
import { createEncryptionCodec, encryptedDataConverter } from '../../src/temporal/payload-encryption';
import { recordedHistory as history } from '../support/histories';

it('replays a three-step run (validateSignup, persistUser, markState) without a nondeterminism error', async () => {
  await expect(
    Worker.runReplayHistory({ workflowsPath: require.resolve('../../workflows') }, history('onboard-user-three-steps.json')),
  ).resolves.toBeUndefined();
});

it('replays a two-step run (validateSignup, persistUser, the verification child) without a nondeterminism error', async () => {
  // The key the history was recorded with: a test key, 32 bytes of 7.
  const codec = createEncryptionCodec([{ id: 'replay', key: Buffer.alloc(32, 7) }]);
  await expect(
    Worker.runReplayHistory(
      { workflowsPath: require.resolve('../../workflows'), dataConverter: encryptedDataConverter(codec) },
      history('onboard-user-two-steps.json'),
    ),
  ).resolves.toBeUndefined();
});
