/**
 * The benchmark's overload phase (bench/overload.ts) in miniature, through `npm run bench` on
 * the real stack with every other phase switched off: signups at 2× and 4× the hash ceiling,
 * each answered 202 or shed with 503 by the hash cap, no other 5xx, every 202 completed. No
 * timing is asserted: the latencies are reported, and judged only in full runs.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchResult } from '../../bench/report';
import { runScript } from '../support/processes';

jest.setTimeout(300_000);

it('offers 2× and 4× the hash ceiling: sheds with 503 past the cap, no other 5xx, loses no 202', async () => {
  const out = mkdtempSync(join(tmpdir(), 'bench-overload-test-'));
  try {
    const onlyOverload = ['--levels', '', '--paced', '', '--paced-hash', '', '--backlog', '0'];
    const run = await runScript('bench/run.js', [...onlyOverload, '--seconds', '2', '--hash-seconds', '1', '--out', out], {});
    if (run.code !== 0) throw new Error(`bench exited ${run.code}:\n${run.stderr.slice(-3000)}`);
    const json = readdirSync(out).find((f) => f.endsWith('.json') && f !== 'latest.json') as string;
    const result = JSON.parse(readFileSync(join(out, json), 'utf8')) as BenchResult;

    expect(result.phases).toEqual([]);
    expect(result.overload.map((o) => o.multiple)).toEqual([2, 4]);
    for (const o of result.overload) {
      expect(o.sent).toBeGreaterThan(0);
      expect(o.accepted).toBeGreaterThan(0);
      // Every answer is a 202 or a shed 503: the API's shed count is every 5xx the clients saw.
      expect(o.other_5xx).toBe(0);
      expect(o.transport_errors).toBe(0);
      expect(o.accepted + o.shed).toBe(o.sent);
      expect(o).toMatchObject({ lost: 0, settle_timed_out: false });
      expect(o.accepted_ms.p99).toBeGreaterThanOrEqual(o.accepted_ms.p50);
    }
    // At four times what the machine can hash, the cap must have shed.
    expect(result.overload[1].shed).toBeGreaterThan(0);
    expect(result.targets.find((t) => t.target.startsWith('past the hash cap'))).toMatchObject({ pass: true });
    expect(result.targets.find((t) => t.target === 'zero loss')).toMatchObject({ pass: true });
    expect(run.stdout).toContain('**Overload**');
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
