/**
 * The short chaos run from `npm run chaos`, in CI: 1,400 signups at 8 a second (more while a fault
 * is still running) through one API
 * and one worker while, one after another: a worker SIGKILL, a RabbitMQ restart, a graceful
 * deploy (SIGTERM, drain, restart), Temporal frozen past the broker's consumer timeout
 * (shortened to 10 s for the whole broker, for a few seconds), every consumer channel closed by
 * the broker, a worker started without the new payload key, and the SMTP server (the run's
 * Mailpit) stopped for 15 s. Every user gets its verification mail; a repeat only in the window
 * of a fault that can cut a send off. It restarts the shared broker and changes its consumer
 * timeout, so it runs in its own jest pass, after every other test (see jest.chaos.config.js).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runScript } from '../support/processes';

const FAULTS = ['--worker-kills', '1', '--rabbit-restarts', '1', '--postgres-restarts', '0', '--temporal-restarts', '0', '--deploys', '1',
  '--temporal-freezes', '1', '--channel-closes', '1', '--key-rotations', '1', '--smtp-outages', '1'];

it('loses, duplicates, strands and leaves unmailed nothing through a worker kill, a RabbitMQ restart, a deploy, a Temporal freeze past the ack timeout, channels closed by the broker, a worker lacking a key and an SMTP outage', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'chaos-test-'));
  const report = join(dir, 'account.json');
  try {
    const args = ['--signups', '1400', '--rate', '8', '--apis', '1', '--workers', '1', ...FAULTS, '--json', report];
    const { code, stdout, stderr } = await runScript('scripts/chaos.js', args, {});
    process.stdout.write(stdout);
    if (code !== 0) process.stderr.write(stderr.split('\n').slice(-80).join('\n'));
    const account = JSON.parse(readFileSync(report, 'utf8'));
    expect(account).toMatchObject({
      lost: 0,
      duplicates: 0,
      unexpected_5xx: 0,
      bad_bodies_accepted: 0,
      unavailable_without_retry_after: 0,
      answers_lost: 0,
      queue_depth_at_end: 0,
      restarted_by_hand: 0,
      process_crashes: [],
      faults_failed: [],
      faults_started_during_load: '8/8',
      dlq_by_reason: expect.objectContaining({ poison: 5 }),
      // Every user its verification mail; no reminder or expiry within the run; nothing to anyone else.
      users_without_verification_mail: 0,
      repeated_verification_mail_outside_crash_windows: 0,
      mails_to_non_users: 0,
      mails_by_kind: { verification: expect.any(Number), reminder: 0, resend: 0, other: 0 },
    });
    // One verification mail per user, and the repeats (at-least-once) counted, each in a crash fault's window.
    expect(account.mails_by_kind.verification).toBe(account.user_rows + account.repeated_verification_mails);
    const repeatsInWindows = Object.values(account.repeated_verification_mail_by_fault as Record<string, number>).reduce((a, b) => a + b, 0);
    expect(repeatsInWindows).toBeGreaterThanOrEqual(account.users_with_repeated_verification_mail);
    // Besides the poison, only letters of signups the worker lacking the key could not read, each for a user onboarded once.
    const { poison, unhandleable = 0, ...otherLetters } = account.dlq_by_reason;
    expect(otherLetters).toEqual({});
    expect(unhandleable).toBe(account.onboarded_with_unreadable_letter);
    expect(account.answered_2xx).toBeGreaterThan(600);
    // Each accepted signup is exactly one row or one DLQ message (or, unread by the worker lacking the key, both).
    expect(account.user_rows + account.dlq_messages - poison - account.rows_without_a_2xx - unhandleable).toBe(account.answered_2xx);
    // The outage was felt, and answered as the API promises.
    expect(account.unavailable_503_by_service.rabbitmq).toBeGreaterThan(0);
    // Each new fault saw what it is about, during the load, and nothing was lost or doubled among the signups answered meanwhile.
    const fault = (name: RegExp) => account.faults.find((f: { fault: string }) => name.test(f.fault));
    expect(fault(/^freeze Temporal/).saw).toMatch(/[1-9]\d* consumer channel close\(s\) by the broker \(406 PRECONDITION_FAILED/);
    expect(fault(/^have the broker close/).saw).toMatch(/^1 consumer channel\(s\) closed by the broker/);
    expect(fault(/lacks the new payload key/).saw).toMatch(/bridge "payload key chaos2 missing \(\d+ deliveries this process could not handle/);
    expect(fault(/^stop the SMTP server/).saw).toMatch(/^SMTP refused for 15 s; Mailpit kept its \d+ mails, and mail arrived again once it was back/);
    for (const f of account.faults) expect(f).toMatchObject({ during_load: true, lost: 0, duplicates: 0, without_verification_mail: 0, error: null });
    expect(code).toBe(0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 900_000);
