/**
 * The API's Temporal connection survives being closed while a call to an unreachable Temporal is
 * being retried (src/temporal/connection.ts). Each case runs in a process of its own, since the
 * failure it guards against is an exception thrown in a timer, which ends the process: the SDK's
 * own lazy connection is the control, and must crash, or this test proves nothing.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { DIST } from '../harness/dist';
import { freeLowPort } from '../harness/free-port';

// A call to a closed port fails at once and the SDK's interceptor plans a retry (100 ms × 1.7^n,
// at most 5 s and its 20 % jitter); the close comes while one is planned, and the process then lives 7 s more.
const SCRIPT = `
const { Connection } = require('@temporalio/client');
const { lazyTemporalConnection } = require(${JSON.stringify(join(DIST, 'src', 'temporal', 'connection.js'))});
const [address, which] = process.argv.slice(1);
const opened = which === 'ours' ? lazyTemporalConnection({ address }) : { connection: Connection.lazy({ address }), close: function () { return this.connection.close(); } };
opened.connection.workflowService.getSystemInfo({}).then(
  () => console.log('call answered'),
  (err) => console.log('call failed: ' + err.code),
);
setTimeout(async () => {
  const started = Date.now();
  await opened.close();
  console.log('closed after ' + (Date.now() - started) + ' ms');
  setTimeout(() => console.log('still alive'), 7000);
}, 400);
`;

function runCase(address: string, which: 'ours' | 'sdk'): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', SCRIPT, address, which], { cwd: join(__dirname, '..', '..'), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

it('closing the SDK\'s own lazy connection while a retry is planned crashes the process (the control)', async () => {
  const { code, stderr, stdout } = await runCase(`127.0.0.1:${await freeLowPort()}`, 'sdk');
  expect(stderr).toMatch(/Channel has been shut down/);
  expect(code).not.toBe(0);
  expect(stdout).not.toMatch(/still alive/);
}, 30_000);

it('closing lazyTemporalConnection while a retry is planned waits it out, fails the call and lives on', async () => {
  const { code, stderr, stdout } = await runCase(`127.0.0.1:${await freeLowPort()}`, 'ours');
  expect(stderr).not.toMatch(/Channel has been shut down/);
  expect(stdout).toMatch(/call failed: 14/); // UNAVAILABLE, given to the caller instead of retried on
  expect(stdout).toMatch(/closed after \d+ ms/);
  expect(stdout).toMatch(/still alive/);
  expect(code).toBe(0);
}, 30_000);
