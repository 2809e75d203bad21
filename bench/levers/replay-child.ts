/**
 * One replay measurement (started by bench/levers/replay.ts with the lever preload): replays one
 * recorded onboarding run `count` times, one after another, and prints the process's CPU per
 * replay (all threads: the workflow thread, the Rust core, V8's helpers). No server, no database,
 * no broker: only the SDK's workflow sandbox and the payload codec.
 */
import { readFileSync } from 'node:fs';
import { temporal as proto } from '@temporalio/proto';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { createEncryptionCodec, encryptedDataConverter, parsePayloadKeys } from '../../src/temporal/payload-encryption';

interface Recorded {
  /** The recorded history, protobuf in base64. */
  history: string;
  payloadKeys: string;
  bundle: string;
}

async function main(): Promise<void> {
  const [file, countArg] = process.argv.slice(2);
  const recorded = JSON.parse(readFileSync(file, 'utf8')) as Recorded;
  const keys = parsePayloadKeys(recorded.payloadKeys);
  if (!keys.ok) throw new Error(keys.problem);
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const history = proto.api.history.v1.History.decode(Buffer.from(recorded.history, 'base64'));
  const options = { workflowBundle: { codePath: recorded.bundle }, dataConverter: encryptedDataConverter(createEncryptionCodec(keys.keys)) };
  const count = Number(countArg);
  const warmUp = 50;
  let before = process.cpuUsage();
  // One replay worker for all: warm-up runs first (JIT, the context, the bundle), and the clock
  // starts when the first measured history is asked for, i.e. once the warm-up has replayed.
  async function* histories() {
    for (let i = 0; i < warmUp + count; i++) {
      if (i === warmUp) before = process.cpuUsage();
      yield { workflowId: `replay-${i}`, history };
    }
  }
  let replayed = 0;
  for await (const r of Worker.runReplayHistories(options, histories())) {
    if (r.error) throw r.error;
    replayed++;
  }
  const used = process.cpuUsage(before);
  if (replayed !== warmUp + count) throw new Error(`replayed ${replayed} of ${warmUp + count}`);
  process.stdout.write(`${JSON.stringify({ cpu_ms_per_run: (used.user + used.system) / 1000 / count })}\n`);
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
