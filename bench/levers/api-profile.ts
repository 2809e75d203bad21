/**
 * `npm run bench:profile:api`: where the API's CPU per signup goes under a closed loop, with no
 * worker (signups wait in the queue). The API runs under `node --cpu-prof`; its CPU per signup
 * comes from /proc by thread (argon2id runs on libuv's pool, outside the JS profile).
 *
 *   npm run bench:profile:api -- [--signups 600] [--clients 10]
 *
 * Writes bench/results/profile-api-<time>.md.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort } from '../../test/harness/free-port';
import { ManagedProcess } from '../../test/harness/managed-process';
import { eventually } from '../../test/harness/wait';
import { closedLoop } from '../load';
import { profileSelfTimes, readCpuProfile, topTable } from '../profile';
import { threadCpuSeconds } from '../proc-stats';
import { devServer, openTrialBed, startDevServer } from './trial';

const ROOT = resolve(__dirname, '..', '..', '..');
const log = (line: string) => process.stderr.write(`[api-profile ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      signups: { type: 'string', default: '600' },
      clients: { type: 'string', default: '10' },
      out: { type: 'string', default: join(ROOT, 'bench', 'results') },
    },
  });
  const dir = mkdtempSync(join(tmpdir(), 'onboarding-api-profile-'));
  const bed = await openTrialBed(`${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`);
  const { temporal, address } = await devServer(dir, {}, log);
  const port = await freePort();
  const api = new ManagedProcess(
    'api',
    process.execPath,
    ['--cpu-prof', `--cpu-prof-dir=${join(dir, 'cpuprofile')}`, join(__dirname, '..', '..', 'src', 'api', 'main.js')],
    { ...bed.env, TEMPORAL_ADDRESS: address, PORT: String(port), SIGNUP_RATE_LIMIT: '100000000' },
    join(dir, 'api.log'),
  );
  const url = `http://127.0.0.1:${port}`;
  let lines: string[] = [];
  try {
    await startDevServer(temporal, address);
    api.start();
    await eventually(async () => (await fetch(`${url}/readyz`)).ok || undefined, 60_000, 'the API to be ready');
    const before = threadCpuSeconds(api.pid as number);
    const load = await closedLoop({ url, connections: Number(values.clients), amount: Number(values.signups), emailPrefix: `api-profile-${randomBytes(3).toString('hex')}` });
    const after = threadCpuSeconds(api.pid as number);
    const accepted = load.accepted.length;
    const perSignup = Object.fromEntries(Object.entries(after).map(([k, v]) => [k, ((v - (before[k] ?? 0)) * 1000) / accepted]));
    await api.stop('SIGTERM', 30_000);
    const total = Object.values(perSignup).reduce((a, b) => a + b, 0);
    lines = [
      `API profile: ${accepted} signups accepted by ${values.clients} clients in a closed loop, no worker, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC.`,
      '',
      `API CPU ${total.toFixed(1)} ms per signup (under the profiler), by thread (\`main\` is the event loop; libuv's pool, which runs argon2id, and V8's helpers are all named \`node\` on Node 20):`,
      '',
      '| thread | ms/signup |',
      '| --- | ---: |',
      ...Object.entries(perSignup)
        .sort((a, b) => b[1] - a[1])
        .filter(([, ms]) => ms >= 0.05)
        .map(([name, ms]) => `| ${name} | ${ms.toFixed(2)} |`),
    ];
    for (const file of readdirSync(join(dir, 'cpuprofile')).map((f) => join(dir, 'cpuprofile', f))) {
      if (Number(basename(file).split('.')[4]) !== 0) continue;
      const { functions } = profileSelfTimes(readCpuProfile(file));
      lines.push('', `**API, main thread** (${(perSignup.main ?? 0).toFixed(2)} ms/signup): top ten by self time`, '', topTable(functions, perSignup.main ?? 0));
    }
  } finally {
    await api.stop('SIGTERM', 30_000);
    await temporal.stop('SIGTERM', 10_000);
    await bed.close();
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  mkdirSync(values.out, { recursive: true });
  writeFileSync(join(values.out, `profile-api-${stamp}.md`), `${lines.join('\n')}\n`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((err: Error) => {
  log(`failed: ${err.stack ?? err.message}`);
  process.exit(1);
});
