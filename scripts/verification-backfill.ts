/**
 * `npm run verification:backfill -- [--dry-run] [--batch-size N]`
 * Once, after deploying e-mail verification: starts a verification run for every user left PENDING
 * from before it existed (docs/verification.md). Idempotent: a user whose run is open already is
 * left alone, so running it again, or while signups go on, starts nothing twice.
 */
import { parseArgs } from 'node:util';
import { Connection } from '@temporalio/client';
import { loadConfig } from '../src/config';
import { createPool } from '../src/db/postgres';
import { createLogger } from '../src/logger';
import { createTemporalClient } from '../src/temporal/client';
import { createVerificationRuns } from '../src/temporal/verification-runs';
import { listPendingUserIds } from '../src/repositories/user-repository';

const USAGE = `usage: npm run verification:backfill -- [--dry-run] [--batch-size N]

Starts a verification run (workflow id verify-email-<user_id>) for every PENDING user whose
onboarding completed and who has no open run: each is announced (user.onboarded) and mailed a
link, then reminded and expired like any new user. Safe to run again.

  --dry-run        list how many users would get a run, start nothing
  --batch-size N   users read and started per round (default 50)
  --help           this text`;

const out = (line: string) => process.stdout.write(`${line}\n`);

function parse(argv: string[]): { dryRun: boolean; batchSize: number } | null {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: { 'dry-run': { type: 'boolean' }, 'batch-size': { type: 'string' }, help: { type: 'boolean' } },
  });
  if (values.help) return null;
  const batchSize = Number(values['batch-size'] ?? 50);
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 1000) throw new TypeError('--batch-size must be a whole number from 1 to 1000');
  return { dryRun: values['dry-run'] ?? false, batchSize };
}

async function main(argv: string[]): Promise<number> {
  let options: ReturnType<typeof parse>;
  try {
    options = parse(argv);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (!options) {
    out(USAGE);
    return 0;
  }
  const config = loadConfig();
  const pool = createPool(config.postgres.url, 2, createLogger({ name: 'verification-backfill', level: 'warn' }));
  const connection = await Connection.connect(config.temporal.connection);
  const runs = createVerificationRuns(createTemporalClient(connection, config).client, { taskQueue: config.temporal.taskQueue, timeoutMs: 10_000 });
  const counts = { started: 0, alreadyOpen: 0, failed: 0, seen: 0 };
  try {
    for (let after: string | null = null; ; ) {
      const userIds = await listPendingUserIds(pool, after, options.batchSize);
      if (userIds.length === 0) break;
      after = userIds[userIds.length - 1];
      counts.seen += userIds.length;
      if (options.dryRun) continue;
      const outcomes = await Promise.allSettled(userIds.map((id) => runs.start(id, { announce: true })));
      outcomes.forEach((o, i) => {
        if (o.status === 'rejected') {
          counts.failed++;
          process.stderr.write(`${userIds[i]}: ${(o.reason as Error).message}\n`);
        } else if (o.value === 'started') counts.started++;
        else counts.alreadyOpen++;
      });
    }
  } finally {
    await Promise.allSettled([pool.end(), connection.close()]);
  }
  if (options.dryRun) out(`${counts.seen} PENDING user(s) would be checked; nothing started (--dry-run)`);
  else out(`${counts.seen} PENDING user(s): ${counts.started} run(s) started, ${counts.alreadyOpen} already open, ${counts.failed} failed`);
  return counts.failed > 0 ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`verification backfill failed: ${err.message}\n`);
    process.exit(1);
  },
);
