/**
 * `npm run bench:replay`: the SDK's workflow sandbox alone, measured without a server, a
 * database or a broker, so that levers worth a millisecond can be told apart on a busy machine.
 * It records one onboarding run (the service's workflow, or a reshaped one from
 * bench/levers/workflows/) against a dev server, with stub activities, then replays that
 * history `count` times in a child process per lever (bench/levers/preload.js applies it),
 * interleaved over rounds. Replay runs the same activations, promises and payload decoding as a
 * live run; what it leaves out is the gRPC to the server and the activities' own work.
 *
 *   npm run bench:replay -- [--workflow service|one-step-state-at-start] [--count 1000] [--rounds 3]
 *                           [--levers baseline,no-promise-hooks,no-vm-timeout,no-hooks-no-timeout,reuse-v8-off]
 */
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { Client } from '@temporalio/client';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { temporal as proto } from '@temporalio/proto';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Worker } from '@temporalio/worker';
import { SIGNUP_MESSAGE_VERSION } from '../../src/contract';
import { ONBOARDING_STATE_SEARCH_ATTRIBUTE } from '../../src/onboarding-policy';
import { createEncryptionCodec, encryptedDataConverter, parsePayloadKeys } from '../../src/temporal/payload-encryption';
import { PREBUILT_WORKFLOW_BUNDLE } from '../../src/worker/onboarding-worker';
import { devServer, median, startDevServer } from './trial';
import { VARIANTS } from './variants';

const run = promisify(execFile);
const ROOT = resolve(__dirname, '..', '..', '..');
const log = (line: string) => process.stderr.write(`[replay ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

/** Runs one onboarding with stub activities and returns its history as JSON, with the bundle and key to replay it. */
async function record(dir: string, workflow: string): Promise<string> {
  const payloadKeys = `replay:${randomBytes(32).toString('base64')}`;
  const keys = parsePayloadKeys(payloadKeys);
  if (!keys.ok) throw new Error(keys.problem);
  const dataConverter = encryptedDataConverter(createEncryptionCodec(keys.keys));
  let bundle = PREBUILT_WORKFLOW_BUNDLE;
  if (workflow !== 'service') {
    const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve(`./workflows/${workflow}`), logger: new DefaultLogger('WARN') });
    bundle = join(dir, 'workflow-bundle.js');
    writeFileSync(bundle, code);
  }
  const { temporal, address } = await devServer(dir, {}, log);
  await startDevServer(temporal, address);
  try {
    const connection = await NativeConnection.connect({ address });
    const taskQueue = `replay-${randomBytes(3).toString('hex')}`;
    // Stubs: replay never runs activities; their results come from the recorded markers.
    const worker = await Worker.create({
      connection,
      taskQueue,
      workflowBundle: { codePath: bundle },
      dataConverter,
      activities: {
        validateSignup: async () => undefined,
        persistUser: async () => ({ created: true }),
        markState: async () => undefined,
        onboardInOneStep: async () => ({ created: true }),
      },
    });
    const client = new Client({ connection, dataConverter });
    const userId = randomUUID();
    const signup = {
      version: SIGNUP_MESSAGE_VERSION,
      user_id: userId,
      email: 'replay@example.com',
      first_name: 'Replay',
      last_name: 'User',
      password_hash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g',
      requested_at: new Date().toISOString(),
      request_id: 'replay',
    };
    const key = defineSearchAttributeKey(ONBOARDING_STATE_SEARCH_ATTRIBUTE, SearchAttributeType.KEYWORD);
    const history = await worker.runUntil(async () => {
      const handle = await client.workflow.start('onboardUser', {
        taskQueue,
        workflowId: `onboard-user-${userId}`,
        args: [{ signup, maxAttempts: 5 }],
        ...(workflow.includes('state-at-start') ? { typedSearchAttributes: [{ key, value: 'PROCESSING' }] } : {}),
      });
      await handle.result();
      return handle.fetchHistory();
    });
    await connection.close();
    const file = join(dir, 'recorded.json');
    // Protobuf, not the JSON history format: the SDK's JSON converter trips over its own nested protobufjs here.
    writeFileSync(file, JSON.stringify({ history: Buffer.from(proto.api.history.v1.History.encode(history).finish()).toString('base64'), payloadKeys, bundle }));
    log(`recorded ${history.events?.length} events: ${history.events?.map((e) => e.eventType).join(', ')}`);
    return file;
  } finally {
    await temporal.stop('SIGTERM', 10_000);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      workflow: { type: 'string', default: 'service' },
      count: { type: 'string', default: '1000' },
      rounds: { type: 'string', default: '3' },
      levers: { type: 'string', default: 'baseline,no-promise-hooks,no-vm-timeout,no-hooks-no-timeout,reuse-v8-off' },
      out: { type: 'string', default: join(ROOT, 'bench', 'results') },
    },
  });
  const dir = mkdtempSync(join(tmpdir(), 'onboarding-replay-'));
  const file = await record(dir, values.workflow);
  const levers = values.levers.split(',').map((name) => {
    const v = VARIANTS.get(name);
    if (!v) throw new Error(`unknown lever ${name}`);
    return v;
  });
  const results: Record<string, number[]> = {};
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const lever of round % 2 === 0 ? levers : [...levers].reverse()) {
      const { stdout } = await run(process.execPath, ['--require', join(__dirname, 'preload.js'), join(__dirname, 'replay-child.js'), file, values.count], {
        env: { ...process.env, BENCH_LEVERS: JSON.stringify(lever.levers ?? {}) },
        maxBuffer: 1 << 24,
      });
      const { cpu_ms_per_run: ms } = JSON.parse(stdout.trim().split('\n').pop() as string) as { cpu_ms_per_run: number };
      (results[lever.name] ??= []).push(ms);
      log(`${lever.name}: ${ms.toFixed(2)} ms per replayed run`);
    }
  }
  const lines = [
    `Replay of one onboarding run (workflow \`${values.workflow}\`), ${values.count} times per trial, ${values.rounds} interleaved rounds, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC. CPU of the whole replaying process (all threads) per run:`,
    '',
    '| lever | ms per run (median) | each |',
    '| --- | ---: | --- |',
    ...levers.map((l) => `| ${l.name} (${l.what}) | **${median(results[l.name]).toFixed(2)}** | ${results[l.name].map((x) => x.toFixed(2)).join(', ')} |`),
  ];
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  mkdirSync(values.out, { recursive: true });
  writeFileSync(join(values.out, `replay-${values.workflow}-${stamp}.md`), `${lines.join('\n')}\n`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((err: Error) => {
  log(`failed: ${err.stack ?? err.message}`);
  process.exit(1);
});
