/**
 * The hash ceiling: argon2id hashes per second with every core busy, with the API's own
 * function and parameters. No signup path on this machine can accept secure signups faster.
 * Run as a process of its own (`node dist/bench/hash-ceiling.js --seconds N`) so its thread pool
 * and CPU time are its alone; prints one JSON line.
 */
import { availableParallelism } from 'node:os';
import { ARGON2ID_OPTIONS, hashPassword } from '../src/api/password';
import { parseCommandLine, runCommand } from '../test/harness/command-line';

export interface HashCeiling {
  hashes_per_second: number;
  cores: number;
  /** One hash on an otherwise idle core: the least a signup's answer can take. */
  single_hash_ms: number;
  /** CPU seconds per wall second while measuring: close to `cores` when every core was busy. */
  cores_busy: number;
  seconds: number;
  parameters: { memory_kib: number; time_cost: number; parallelism: number };
}

export async function measureHashCeiling(seconds: number): Promise<HashCeiling> {
  const cores = availableParallelism();
  // Warm up (first use allocates), then one at a time for the single-hash figure.
  await hashPassword('warm-up password');
  const singleStart = process.hrtime.bigint();
  for (let i = 0; i < 5; i++) await hashPassword(`single hash ${i}`);
  const singleMs = Number(process.hrtime.bigint() - singleStart) / 1e6 / 5;

  // Twice as many hashes in flight as cores (and as pool threads), so no core ever waits.
  let done = 0;
  const cpuStart = process.cpuUsage();
  const start = process.hrtime.bigint();
  const end = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: cores * 2 }, async (_, lane) => {
      for (let i = 0; Date.now() < end; i++) {
        await hashPassword(`ceiling ${lane} ${i}`);
        done++;
      }
    }),
  );
  const wall = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu = process.cpuUsage(cpuStart);
  return {
    hashes_per_second: done / wall,
    cores,
    single_hash_ms: singleMs,
    cores_busy: (cpu.user + cpu.system) / 1e6 / wall,
    seconds: wall,
    parameters: {
      memory_kib: ARGON2ID_OPTIONS.memoryCost as number,
      time_cost: ARGON2ID_OPTIONS.timeCost as number,
      parallelism: ARGON2ID_OPTIONS.parallelism as number,
    },
  };
}

if (require.main === module) {
  const usage = 'usage: node dist/bench/hash-ceiling.js [--seconds N]   (10 s unless given; prints one JSON line)';
  runCommand(
    'hash-ceiling',
    async () => {
      const result = await measureHashCeiling(parseCommandLine(usage, { seconds: { type: 'string' } }, process.argv.slice(2)).number('seconds', 10));
      process.stdout.write(`${JSON.stringify(result)}\n`);
      return 0;
    },
    (line) => process.stderr.write(`${line}\n`),
  );
}
