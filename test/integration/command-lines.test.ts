/**
 * The command lines of the compiled entry points that take options: --help prints the usage and
 * exits 0; an unknown flag or a value an option cannot take exits 2 with one line saying why,
 * before anything is started; `npm run dlq -- list --json` prints the letters as JSON.
 */
import { createSignupPublisher } from '../../src/messaging/signup-publisher';
import { peekQueue } from '../harness/queues';
import { signupMessage } from '../support/fixtures';
import { runScript } from '../support/processes';
import { createTestDatabase, deleteTopology, dropTestDatabase, eventually, silentLogger, testConfig, testEnv, uniqueSuffix } from '../support/stack';

const ENTRY_POINTS: Array<[script: string, badValue: string[]]> = [
  ['scripts/chaos.js', ['--signups', 'many']],
  ['scripts/dlq.js', ['list', '--yes']],
  ['bench/run.js', ['--levels', '10,lots']],
  ['bench/hash-ceiling.js', ['--seconds', '-1']],
];

describe.each(ENTRY_POINTS)('%s', (script, badValue) => {
  it('prints its usage on --help and exits 0', async () => {
    const res = await runScript(script, ['--help'], {});
    expect(res).toMatchObject({ code: 0, stderr: '' });
    expect(res.stdout).toMatch(/^usage: /);
  });

  it.each([[['--no-such-flag']], [badValue]])('refuses %j with one line and exit code 2', async (args) => {
    const res = await runScript(script, args, {});
    expect(res).toMatchObject({ code: 2, stdout: '' });
    const lines = res.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(args[0]);
  });
});

it('dlq list --json prints every letter with its reason, masked e-mail, count and time', async () => {
  // A queue and database of this test's own; signups nobody consumes expire into its DLQ.
  const suffix = uniqueSuffix();
  const env = testEnv(suffix, { AMQP_MESSAGE_TTL_MS: '100' });
  const config = testConfig(suffix, env);
  const pool = await createTestDatabase(config);
  const publisher = await createSignupPublisher({ topology: config.amqp, url: config.amqp.url, logger: silentLogger });
  try {
    const messages = [await signupMessage(), await signupMessage(), await signupMessage()];
    for (const m of messages) await publisher.publishSignup(m);
    await eventually(async () => (await peekQueue(config.amqp.url, config.amqp.deadLetterQueue)).length === messages.length, 30_000, 'the signups to expire into the DLQ');

    const res = await runScript('scripts/dlq.js', ['list', '--json'], env);
    expect(res.code).toBe(0);
    const letters = JSON.parse(res.stdout) as Array<Record<string, unknown>>;
    expect(letters).toHaveLength(messages.length);
    expect(letters.map((l) => l.id).sort()).toEqual(messages.map((m) => m.user_id).sort());
    for (const letter of letters) {
      expect(letter).toEqual({
        id: expect.any(String),
        reason: 'expired',
        detail: expect.stringContaining('TTL'),
        // What the database says of the letter's user (src/use-cases/review-dead-letters.ts).
        user: 'none',
        verdict: expect.stringContaining('no user'),
        email: expect.stringMatching(/^u\*\*\*@example\.com #[0-9a-f]{8}$/),
        deadLetterCount: 1,
        deadLetteredAt: expect.any(String),
      });
      expect(Number.isNaN(Date.parse(letter.deadLetteredAt as string))).toBe(false);
    }
    for (const m of messages) expect(res.stdout).not.toContain(m.email);
    // Listing takes nothing off the queue.
    expect(await peekQueue(config.amqp.url, config.amqp.deadLetterQueue)).toHaveLength(messages.length);
  } finally {
    await publisher.close();
    await deleteTopology(config);
    await dropTestDatabase(config, pool);
  }
});
