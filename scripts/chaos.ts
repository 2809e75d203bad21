/**
 * `npm run chaos`: signups through the real HTTP API while processes die, services restart or
 * freeze, the broker closes channels, a worker lacks a payload key and the SMTP server stops, then
 * an exact account. Every 2xx must end as exactly one user row or exactly one DLQ message, and
 * every user must get a verification mail (more than one only where a fault cut a send off).
 *
 * It runs its own Temporal dev server (persistent db file), Mailpit, API and worker processes from dist/,
 * and a database and queues of its own, against the machine's RabbitMQ and Postgres, which it
 * restarts (rabbitmqctl stop_app/start_app, pg_ctlcluster restart); for the Temporal freeze it
 * shortens the broker's consumer_timeout (the whole broker's) for a few seconds and restores it.
 * Exits 1 on any loss or duplicate, a message left in the queue, an unexpected 5xx, a bad body
 * accepted, a signup accepted whose answer never reached the client, a user without a verification
 * mail, a repeated one outside a fault that can cause it, a mail to no user, a process that died on its
 * own or was restarted other than by a fault, or a fault that did not see the service heal;
 * 2 on a command line it cannot take.
 * The faults are in test/harness/chaos/faults.ts, the run in test/harness/chaos/runner.ts.
 */
import { parseCommandLine, runCommand } from '../test/harness/command-line';
import { faults } from '../test/harness/chaos/faults';
import { type ChaosOptions, runChaos } from '../test/harness/chaos/runner';

type Setting = Exclude<keyof ChaosOptions, 'faultCounts' | 'json'>;

const SETTINGS: Array<{ key: Setting; option: string; fallback: number; help: string }> = [
  { key: 'signups', option: 'signups', fallback: 3000, help: 'signups sent (more, up to twice as many, while a fault is still running)' },
  { key: 'concurrency', option: 'concurrency', fallback: 50, help: 'clients sending at once' },
  { key: 'rate', option: 'rate', fallback: 12, help: 'signups started per second' },
  { key: 'badEvery', option: 'bad-every', fallback: 20, help: 'one malformed body in this many' },
  { key: 'poison', option: 'poison', fallback: 5, help: 'poison messages put straight on the queue half-way' },
  { key: 'apis', option: 'apis', fallback: 2, help: 'API processes' },
  { key: 'workers', option: 'workers', fallback: 2, help: 'worker processes' },
  { key: 'settleSeconds', option: 'settle-seconds', fallback: 300, help: 'longest wait for every accepted signup to settle' },
  { key: 'mailSeconds', option: 'mail-seconds', fallback: 300, help: "then the longest wait for every user's verification mail" },
];

const column = (flag: string) => `  ${flag.padEnd(26)}`;
const USAGE = [
  'usage: npm run chaos -- [options]',
  'Signups through the real API while processes die and services restart, then an exact account, of the mail too.',
  'It restarts the machine\'s RabbitMQ and Postgres unless --rabbit-restarts 0 --postgres-restarts 0, and shortens',
  'the broker\'s consumer_timeout for a few seconds (restored after) unless --temporal-freezes 0.',
  '',
  ...SETTINGS.map((s) => `${column(`--${s.option} N`)}${s.help} (${s.fallback})`),
  ...faults.map((f) => `${column(`--${f.option} N`)}times to ${f.name} (${f.defaultCount})`),
  `${column('--json FILE')}also write the account to FILE as JSON`,
  `${column('-h, --help')}this text`,
].join('\n');

const log = (line: string) => process.stderr.write(`[chaos ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

function parseOptions(argv: string[]): ChaosOptions {
  const numeric = [...SETTINGS.map((s) => s.option), ...faults.map((f) => f.option)];
  const line = parseCommandLine(USAGE, Object.fromEntries([...numeric, 'json'].map((name) => [name, { type: 'string' as const }])), argv);
  const settings = Object.fromEntries(SETTINGS.map((s) => [s.key, line.number(s.option, s.fallback)])) as Record<Setting, number>;
  return {
    ...settings,
    faultCounts: new Map(faults.map((f) => [f, line.number(f.option, f.defaultCount)])),
    json: line.string('json'),
  };
}

runCommand('chaos', async () => runChaos(parseOptions(process.argv.slice(2)), log), log);
