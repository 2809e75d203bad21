/**
 * Runs recorded by earlier workflow code replay under today's: a worker that takes over a run
 * started before a change (a deploy while it was in flight) must make the same decisions. The
 * history here is a real one, recorded from the workflow code before persistUser wrote the row
 * COMPLETED (validateSignup, persistUser, markState; commit 0e14460) with plain payloads.
 * Without PERSIST_WRITES_COMPLETED_PATCH its replay fails: "Nondeterminism error: Missing
 * associated machine for LocalActivity(3)".
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';

/**
 * A history saved as JSON.stringify(handle.fetchHistory()): protobufjs's own toJSON, which
 * fromObject reverses. (historyFromJSON would do, but @temporalio/common and @temporalio/proto
 * each carry a protobufjs of their own here, and it refuses the other's types.)
 */
function history(name: string) {
  return temporal.api.history.v1.History.fromObject(JSON.parse(readFileSync(join(__dirname, 'histories', name), 'utf8')));
}

it('replays a three-step run (validateSignup, persistUser, markState) without a nondeterminism error', async () => {
  await expect(
    Worker.runReplayHistory({ workflowsPath: require.resolve('../../workflows') }, history('onboard-user-three-steps.json')),
  ).resolves.toBeUndefined();
});
