/**
 * `npm run bench:levers`: each lever against the baseline, by CPU time per onboarding run in a
 * backlog drain, interleaved (A, B, A, B …) so that a shared machine's load falls on all alike;
 * the table shows medians.
 *
 *   npm run bench:levers -- --variants baseline,no-promise-hooks [--rounds 3] [--backlog 2000] [--count] [--profile]
 *
 * Writes bench/results/levers-<time>.json and .md.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { renderLevers } from './render';
import { hashCpuMs, openTrialBed, runTrial, type TrialResult } from './trial';
import { VARIANTS } from './variants';

const ROOT = resolve(__dirname, '..', '..', '..');
const log = (line: string) => process.stderr.write(`[levers ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      variants: { type: 'string', default: 'baseline' },
      rounds: { type: 'string', default: '2' },
      backlog: { type: 'string', default: '2000' },
      count: { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      out: { type: 'string', default: join(ROOT, 'bench', 'results') },
    },
  });
  const variants = values.variants.split(',').map((name) => {
    const v = VARIANTS.get(name);
    if (!v) throw new Error(`unknown variant ${name}; known: ${[...VARIANTS.keys()].join(', ')}`);
    return v;
  });
  const rounds = Number(values.rounds);
  const backlog = Number(values.backlog);
  const dir = mkdtempSync(join(tmpdir(), 'onboarding-levers-'));
  log(`trials in ${dir}`);
  const bed = await openTrialBed(`${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`);
  const results: TrialResult[] = [];
  const hashMs: number[] = [];
  const startedAt = new Date();
  try {
    for (let round = 0; round < rounds; round++) {
      // Alternate the order, so that no lever always runs first or last.
      const order = round % 2 === 0 ? variants : [...variants].reverse();
      hashMs.push(await hashCpuMs());
      for (const variant of order) results.push(await runTrial(bed, variant, { backlog, dir, count: values.count, profile: values.profile }, log));
    }
  } finally {
    await bed.close();
  }
  const table = `${renderLevers(results)}\nOne argon2id hash cost ${hashMs.map((x) => x.toFixed(1)).join(', ')} ms of CPU in the harness at the start of each round (the issue's figures: ≈ 22 ms).\n`;
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-').slice(0, 19);
  mkdirSync(values.out, { recursive: true });
  writeFileSync(join(values.out, `levers-${stamp}.json`), `${JSON.stringify({ started_at: startedAt.toISOString(), backlog, rounds, variants: variants.map((v) => ({ name: v.name, what: v.what })), hash_cpu_ms: hashMs, results }, null, 2)}\n`);
  writeFileSync(join(values.out, `levers-${stamp}.md`), table);
  process.stdout.write(`\n${table}`);
}

main().catch((err: Error) => {
  log(`failed: ${err.stack ?? err.message}`);
  process.exit(1);
});
