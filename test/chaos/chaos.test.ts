/**
 * The short chaos run from `npm run chaos`, in CI: about 300 signups, one worker SIGKILL, one
 * RabbitMQ restart and one graceful deploy (SIGTERM, drain, restart) under load. It restarts the shared broker, so it runs in its own jest pass,
 * after every other test (see jest.chaos.config.js).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runScript } from '../support/processes';

it('loses and duplicates nothing through a worker kill, a RabbitMQ restart and a deploy', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'chaos-test-'));
  const report = join(dir, 'account.json');
  try {
    const args = ['--signups', '300', '--rate', '12', '--apis', '1', '--workers', '1', '--worker-kills', '1',
      '--rabbit-restarts', '1', '--postgres-restarts', '0', '--temporal-restarts', '0', '--deploys', '1', '--json', report];
    const { code, stdout, stderr } = await runScript('scripts/chaos.js', args, {});
    process.stdout.write(stdout);
    if (code !== 0) process.stderr.write(stderr.split('\n').slice(-60).join('\n'));
    const account = JSON.parse(readFileSync(report, 'utf8'));
    expect(account).toMatchObject({
      lost: 0,
      duplicates: 0,
      unexpected_5xx: 0,
      bad_bodies_accepted: 0,
      unavailable_without_retry_after: 0,
      answers_lost: 0,
      process_crashes: [],
      faults_started_during_load: '4/4',
      dlq_by_reason: { poison: 5 },
    });
    expect(account.answered_2xx).toBeGreaterThan(150);
    // Each accepted signup is exactly one row or one DLQ message.
    expect(account.user_rows + account.dlq_messages - account.poison_sent - account.rows_without_a_2xx).toBe(account.answered_2xx);
    // The outage was felt, and answered as the API promises.
    expect(account.unavailable_503_by_service.rabbitmq).toBeGreaterThan(0);
    expect(code).toBe(0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 600_000);
