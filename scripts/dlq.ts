/**
 * `npm run dlq -- list [--json] | show <id> | replay <id> | replay --all | purge --yes`
 * Explains and replays what is in the dead-letter queue.
 */
import { parseArgs } from 'node:util';
import amqplib from 'amqplib';
import { type Config, loadConfig } from '../src/config';
import { createPool } from '../src/db/postgres';
import { classifyDeadLetter, type DeadLetter, replayDeadLetter, takeAll, withRecordedReason } from '../src/dlq/dead-letters';
import { createLogger } from '../src/logger';
import { clearSignupFailure, failureReasons } from '../src/repositories/signup-request-repository';
import { findUserById } from '../src/repositories/user-repository';

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

async function withDlq<T>(config: Config, work: (ctx: Awaited<ReturnType<typeof open>>) => Promise<T>): Promise<T> {
  const ctx = await open(config);
  try {
    return await work(ctx);
  } finally {
    // Closing the channel first flushes its acks (amqplib writes each channel's frames on its own
    // stream, so a connection close could overtake them), then returns what was not acked.
    await ctx.channel.close().catch(() => undefined);
    await ctx.connection.close().catch(() => undefined);
    await ctx.pool.end().catch(() => undefined);
  }
}

async function open(config: Config) {
  const connection = await amqplib.connect(config.amqp.url);
  const channel = await connection.createChannel();
  await channel.checkQueue(config.amqp.deadLetterQueue);
  const pool = createPool(config.postgres.url, 2, createLogger({ name: 'dlq', level: 'warn' }));
  const taken = (await takeAll(channel, config.amqp.deadLetterQueue)).map(classifyDeadLetter);
  // The failure message the bridge recorded, where the database has it.
  const reasons = await failureReasons(pool, taken.flatMap((l) => (l.userId ? [l.userId] : []))).catch(() => new Map<string, string>());
  const letters = taken.map((l) => withRecordedReason(l, l.userId ? reasons.get(l.userId) : undefined));
  return { connection, channel, pool, letters };
}

function row(l: DeadLetter): string {
  const when = l.deadLetteredAt?.toISOString() ?? '-';
  return [l.id.padEnd(36), l.reason.padEnd(15), (l.maskedEmail ?? '-').padEnd(34), String(l.deadLetterCount).padStart(3), when, l.detail].join('  ');
}

/** What `list --json` prints for each letter: everything `list` shows, the e-mail masked. */
function listed(l: DeadLetter) {
  return { id: l.id, reason: l.reason, detail: l.detail, email: l.maskedEmail ?? null, deadLetterCount: l.deadLetterCount, deadLetteredAt: l.deadLetteredAt?.toISOString() ?? null };
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
      return withDlq(config, async ({ letters }) => {
        if (flags.has('json')) {
          out(JSON.stringify(letters.map(listed), null, 2));
          return 0;
        }
        out(`${letters.length} message(s) in ${config.amqp.deadLetterQueue}`);
        if (letters.length > 0) out(['id'.padEnd(36), 'reason'.padEnd(15), 'email'.padEnd(34), 'dl#', 'dead-lettered at'.padEnd(24), 'detail'].join('  '));
        letters.forEach((l) => out(row(l)));
        return 0;
      });
    case 'show': {
      if (!arg) break;
      return withDlq(config, async ({ letters }) => {
        const l = letters.find((x) => x.id === arg);
        if (!l) {
          out(`no message ${arg} in ${config.amqp.deadLetterQueue}`);
          return 1;
        }
        const body = safeBody(l.message.content);
        out(JSON.stringify({ ...listed(l), workflowId: l.workflowId, headers: l.message.properties.headers, body }, null, 2));
        return 0;
      });
    }
    case 'replay': {
      const all = flags.has('all');
      if (all === Boolean(arg)) break;
      return withDlq(config, async ({ connection, channel, pool, letters }) => {
        const chosen = all ? letters : letters.filter((l) => l.id === arg);
        if (chosen.length === 0) {
          out(all ? 'the DLQ is empty' : `no message ${arg} in ${config.amqp.deadLetterQueue}`);
          return all ? 0 : 1;
        }
        const publish = await connection.createConfirmChannel();
        let failed = 0;
        for (const l of chosen) {
          if (l.reason === 'poison') {
            out(`${l.id}: skipped, a poison message cannot be replayed (${l.detail}); purge it`);
            continue;
          }
          if (l.userId && (await findUserById(pool, l.userId))) {
            // Already onboarded (e.g. its run finished after a timeout): replaying would change nothing.
            channel.ack(l.message);
            out(`${l.id}: user already exists; DLQ copy removed`);
            continue;
          }
          try {
            await replayDeadLetter(channel, publish, { exchange: config.amqp.exchange, routingKey: config.amqp.routingKey }, l);
            if (l.userId) await clearSignupFailure(pool, l.userId).catch(() => undefined);
            out(`${l.id}: replayed`);
          } catch (err) {
            failed++;
            out(`${l.id}: not replayed, still in the DLQ: ${(err as Error).message}`);
          }
        }
        return failed > 0 ? 1 : 0;
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

function safeBody(content: Buffer): unknown {
  try {
    const body = JSON.parse(content.toString('utf8'));
    if (body && typeof body === 'object' && 'password_hash' in body) body.password_hash = '[redacted]';
    if (body && typeof body === 'object' && typeof body.email === 'string') body.email = '[see masked email]';
    return body;
  } catch {
    return `(not JSON, ${content.length} bytes)`;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`dlq: ${err.message}${err instanceof UsageError ? ' (see --help)' : ''}\n`);
    process.exit(err instanceof UsageError ? 2 : 1);
  },
);
