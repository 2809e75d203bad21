/**
 * `npm run bench:floor` in miniature, against real dev servers: the two least runs and the
 * service's own run are each measured, with the events of one run, and the trial bed is removed.
 * It checks what was measured, never how fast.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FloorResult } from '../../bench/levers/sdk-floor';
import { runScript } from '../support/processes';

jest.setTimeout(300_000);

it('measures an empty run, a run of one local activity and the service run, each on a fresh dev server', async () => {
  const out = mkdtempSync(join(tmpdir(), 'bench-floor-test-'));
  try {
    const run = await runScript('bench/levers/sdk-floor.js', ['--runs', '20', '--rounds', '1', '--out', out], {});
    if (run.code !== 0) throw new Error(`bench:floor exited ${run.code}:\n${run.stderr.slice(-3000)}`);
    const json = readdirSync(out).find((f) => /^floor-.*\.json$/.test(f)) as string;
    expect(readdirSync(out).sort()).toEqual([json, json.replace(/\.json$/, '.md')]);
    const { results, hash_cpu_ms } = JSON.parse(readFileSync(join(out, json), 'utf8')) as { results: FloorResult[]; hash_cpu_ms: number[] };
    expect(results.map((r) => r.kind)).toEqual(['emptyRun', 'oneLocalActivityRun', 'service']);
    expect(hash_cpu_ms[0]).toBeGreaterThan(0);
    for (const r of results) {
      expect(r.runs).toBe(20);
      expect(r.worker_cpu_ms_per_run).toBeGreaterThan(0);
      expect(r.server_cpu_ms_per_run).toBeGreaterThan(0);
    }
    const [empty, oneLocal, service] = results;
    expect(empty.history).toEqual(['WORKFLOW_EXECUTION_STARTED', 'WORKFLOW_TASK_SCHEDULED', 'WORKFLOW_TASK_STARTED', 'WORKFLOW_TASK_COMPLETED', 'WORKFLOW_EXECUTION_COMPLETED']);
    expect(oneLocal.history).toEqual(['WORKFLOW_EXECUTION_STARTED', 'WORKFLOW_TASK_SCHEDULED', 'WORKFLOW_TASK_STARTED', 'WORKFLOW_TASK_COMPLETED', 'MARKER_RECORDED', 'WORKFLOW_EXECUTION_COMPLETED']);
    // The service's run does its step and its search attributes in the same one workflow task.
    expect(service.history.filter((e) => e === 'WORKFLOW_TASK_COMPLETED')).toHaveLength(1);
    expect(service.history).toContain('UPSERT_WORKFLOW_SEARCH_ATTRIBUTES');
    expect(readFileSync(join(out, json.replace(/\.json$/, '.md')), 'utf8')).toMatch(/\| emptyRun \| [\d.]+ \(/);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
