/**
 * `npm run bench` works end to end, in miniature: it measures every phase on the real stack,
 * accounts for every signup, writes its results and cleans up. It asserts what was measured and
 * counted, never how fast: performance figures come from full runs, not from tests.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import type { BenchResult } from '../../bench/report';
import { runScript } from '../support/processes';

jest.setTimeout(300_000);

async function benchDatabases(): Promise<string[]> {
  const db = new Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' });
  await db.connect();
  try {
    const { rows } = await db.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE 'onboarding_bench_%'");
    return rows.map((r) => r.datname);
  } finally {
    await db.end();
  }
}

function benchQueues(): string[] {
  const names = execFileSync('rabbitmqctl', ['list_queues', 'name', '--quiet', '--no-table-headers']).toString().split('\n');
  return names.filter((n) => n.includes('.bench.')).sort();
}

it('measures the Temporal path, overload, the direct baseline and both drains, losing nothing, and leaves nothing behind', async () => {
  const out = mkdtempSync(join(tmpdir(), 'bench-test-'));
  const databasesBefore = await benchDatabases();
  const queuesBefore = benchQueues();
  try {
    const args = ['--levels', '4', '--seconds', '2', '--paced', '0.5', '--paced-hash', '', '--paced-clients', '4', '--backlog', '40', '--hash-seconds', '1', '--out', out];
    const run = await runScript('bench/run.js', args, {});
    if (run.code !== 0) throw new Error(`bench exited ${run.code}:\n${run.stderr.slice(-3000)}`);

    const result = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')) as BenchResult;
    expect(result.hash_ceiling.hashes_per_second).toBeGreaterThan(0);
    expect(result.hash_ceiling.after).not.toBeNull();
    expect(result.phases.map((p) => [p.path, p.mode, p.clients])).toEqual([
      ['temporal', 'closed', 4],
      ['temporal', 'paced', 4],
      ['direct', 'closed', 4],
    ]);
    for (const p of result.phases) {
      expect(p.accepted).toBeGreaterThan(0);
      // Every signup the API accepted was completed: the account closes.
      expect(p).toMatchObject({ lost: 0, dead_lettered: 0, settle_timed_out: false, completed: p.accepted_by_api });
      expect(p.accepted_by_api).toBeGreaterThanOrEqual(p.accepted);
      expect(Object.keys(p.cpu_seconds_per_signup)).toEqual(expect.arrayContaining(['api', 'worker', 'temporal', 'rabbitmq', 'postgres', 'load_generator']));
      expect(p.end_to_end_ms.p50).toBeGreaterThanOrEqual(0);
    }
    // The overload phase (bench/overload.ts) at 2× and 4× the hash ceiling: every answer a 202 or
    // a 503 the hash cap shed (the API's own count), no other 5xx, every 202 completed. How many
    // are shed depends on how the ceiling reading compares with the API's own rate, so it is
    // reported here, not asserted; test/integration/hash-cap.test.ts proves the shedding.
    expect(result.overload.map((o) => o.multiple)).toEqual([2, 4]);
    for (const o of result.overload) {
      expect(o.accepted).toBeGreaterThan(0);
      expect(o).toMatchObject({ other_5xx: 0, transport_errors: 0, lost: 0, settle_timed_out: false });
      expect(o.accepted + o.shed).toBe(o.sent);
    }
    expect(result.drains.map((d) => [d.path, d.messages, d.lost])).toEqual([
      ['temporal', 40, 0],
      ['direct', 40, 0],
    ]);
    expect(result.drains[0].redelivered).toBe(0);
    expect(result.drains[0].peak_consumer_rss_mb).toBeGreaterThan(0);
    expect(result.process_crashes).toEqual([]);
    expect(result.targets.find((t) => t.target === 'zero loss')).toMatchObject({ pass: true });

    const markdown = readFileSync(join(out, 'latest.md'), 'utf8');
    expect(markdown).toContain('**Hash ceiling:');
    expect(markdown).toContain('**Targets**');
    expect(markdown).toContain('**Overload**');
    expect(run.stdout).toContain(markdown.trim().split('\n')[0]);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  expect(await benchDatabases()).toEqual(databasesBefore);
  expect(benchQueues()).toEqual(queuesBefore);
});
