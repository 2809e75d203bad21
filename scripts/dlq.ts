/**
 * `npm run dlq -- list [--json] | show <id> | replay <id> | replay --all | purge --yes`
 * Explains and replays what is in the dead-letter queue.
 */
import { parseArgs } from 'node:util';
import amqplib from 'amqplib';
import { type Config, loadConfig } from '../src/config';
import { createPool } from '../src/db/postgres';
import { createDeadLetterQueue } from '../src/dlq/dead-letter-queue';
import { createLogger } from '../src/logger';
import { createSignupRequestRepository } from '../src/repositories/signup-request-repository';
import { createUserRepository } from '../src/repositories/user-repository';
import { createDeadLetterOperations, type DeadLetterOperations, deadLetterDetail, type ReviewedDeadLetter } from '../src/use-cases/review-dead-letters';
const USAGE = 'usage: npm run dlq -- list [--json] | show <id> | replay <id> | replay --all | purge --yes';
const HELP = `${USAGE}
  list            every message in the DLQ: id, reason, masked e-mail, times dead-lettered, when, detail
  list --json     the same as a JSON array, for scripts
  show <id>       one message's headers and body (hash and e-mail redacted), as JSON
  replay <id>     republish it with the broker's confirm, then remove the DLQ copy
  replay --all    every replayable message; poison is skipped
  purge --yes     delete every message in the DLQ for good
The queue and database come from the same environment variables as the service.`;

/** A command line that cannot run: one line on stderr, exit 2. */
class UsageError extends Error {}

/** The flags each command takes; any other flag is refused. */
const FLAGS = new Map([['list', ['json']], ['show', []], ['replay', ['all']], ['purge', ['yes']]]);

function parseCommand(argv: string[]): { command?: string; arg?: string; flags: Set<string>; help: boolean } {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { json: { type: 'boolean' }, all: { type: 'boolean' }, yes: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\s*\n\s*/g, ' '));
  }
  const [command, arg, ...extra] = parsed.positionals;
  const flags = new Set(Object.keys(parsed.values).filter((k) => k !== 'help' && parsed.values[k as keyof typeof parsed.values]));
  if (extra.length > 0) throw new UsageError(`unexpected argument '${extra[0]}'`);
  for (const flag of flags) {
    if (command !== undefined && FLAGS.has(command) && !FLAGS.get(command)?.includes(flag)) throw new UsageError(`--${flag} does not apply to ${command}`);
  }
  return { command, arg, flags, help: parsed.values.help === true };
}

const out = (line = '') => process.stdout.write(`${line}\n`);

/** The DLQ operations the admin API uses too, on the service's broker and database. */
async function withOperations<T>(config: Config, work: (ops: DeadLetterOperations) => Promise<T>): Promise<T> {
  const logger = createLogger({ name: 'dlq', level: 'warn' });
  const pool = createPool(config.postgres.url, 2, logger);
  try {
    const queue = createDeadLetterQueue({ url: config.amqp.url, topology: config.amqp, pool });
    return await work(createDeadLetterOperations({ queue, users: createUserRepository(pool), signupRequests: createSignupRequestRepository(pool), logger }));
  } finally {
    await pool.end().catch(() => undefined);
  }
}

function row(l: ReviewedDeadLetter): string {
  const when = l.deadLetteredAt?.toISOString() ?? '-';
  return [l.id.padEnd(36), l.reason.padEnd(15), (l.maskedEmail ?? '-').padEnd(34), String(l.deadLetterCount).padStart(3), when, `${l.detail} | ${l.verdict}`].join('  ');
}

/** What `list --json` prints for each letter: everything `list` shows, the e-mail masked. */
function listed(l: ReviewedDeadLetter) {
  return { id: l.id, reason: l.reason, detail: l.detail, user: l.user, verdict: l.verdict, email: l.maskedEmail ?? null, deadLetterCount: l.deadLetterCount, deadLetteredAt: l.deadLetteredAt?.toISOString() ?? null };
}

async function main(argv: string[]): Promise<number> {
  const { command, arg, flags, help } = parseCommand(argv);
  if (help) {
    out(HELP);
    return 0;
  }
  if (command === undefined || !FLAGS.has(command)) {
    out(USAGE);
    return 2;
  }
  const config = loadConfig();
  switch (command) {
    case 'list':
      if (arg) break;
      return withOperations(config, async (ops) => {
        const letters = await ops.list();
        if (flags.has('json')) {
          out(JSON.stringify(letters.map(listed), null, 2));
          return 0;
        }
        out(`${letters.length} message(s) in ${config.amqp.deadLetterQueue}`);
        if (letters.length > 0) out(['id'.padEnd(36), 'reason'.padEnd(15), 'email'.padEnd(34), 'dl#', 'dead-lettered at'.padEnd(24), 'detail | what the database says'].join('  '));
        letters.forEach((l) => out(row(l)));
        return 0;
      });
    case 'show': {
      if (!arg) break;
      return withOperations(config, async (ops) => {
        const l = await ops.find(arg);
        if (!l) {
          out(`no message ${arg} in ${config.amqp.deadLetterQueue}`);
          return 1;
        }
        out(JSON.stringify(deadLetterDetail(l), null, 2));
        return 0;
      });
    }
    case 'replay': {
      const all = flags.has('all');
      if (all === Boolean(arg)) break;
      return withOperations(config, async (ops) => {
        const outcomes = await ops.replay(all ? { all: true } : (arg as string));
        if (outcomes.length === 0) {
          out(all ? 'the DLQ is empty' : `no message ${arg} in ${config.amqp.deadLetterQueue}`);
          return all ? 0 : 1;
        }
        outcomes.forEach((o) => out(`${o.id}: ${o.message}`));
        return outcomes.some((o) => o.outcome === 'failed') ? 1 : 0;
      });
    }
    case 'purge': {
      if (arg) break;
      if (!flags.has('yes')) {
        out('purge deletes every message in the DLQ for good; run `npm run dlq -- purge --yes`');
        return 1;
      }
      const connection = await amqplib.connect(config.amqp.url);
      try {
        const { messageCount } = await (await connection.createChannel()).purgeQueue(config.amqp.deadLetterQueue);
        out(`purged ${messageCount} message(s) from ${config.amqp.deadLetterQueue}`);
        return 0;
      } finally {
        await connection.close();
      }
    }
  }
  out(USAGE);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`dlq: ${err.message}${err instanceof UsageError ? ' (see --help)' : ''}\n`);
    process.exit(err instanceof UsageError ? 2 : 1);
  },
);
