/**
 * Re-renders lever tables from the JSON that `npm run bench:levers` wrote, one table per file
 * (each with its own baseline, since only trials interleaved together compare):
 *
 *   node dist/bench/levers/table.js bench/results/levers-*.json
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { renderLevers } from './render';
import type { TrialResult } from './trial';

for (const file of process.argv.slice(2)) {
  const { backlog, results, hash_cpu_ms: hash } = JSON.parse(readFileSync(file, 'utf8')) as { backlog: number; results: TrialResult[]; hash_cpu_ms?: number[] };
  process.stdout.write(`\n${basename(file)} (drains of ${backlog}${hash ? `; one hash ${hash.map((x) => x.toFixed(1)).join(', ')} ms` : ''}):\n\n${renderLevers(results)}`);
}
