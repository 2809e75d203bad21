import { percentile, signupBody } from '../../bench/load';
import { createPasswordPolicy } from '../../src/security/password-policy';
import type { PhaseResult } from '../../bench/phase';
import type { OverloadResult } from '../../bench/overload';
import { CLOCK_TICKS_PER_SECOND, parseProcStat, type ProcStat, treeCpuSeconds } from '../../bench/proc-stats';
import { type BenchResult, type DrainResult, evaluateTargets, renderMarkdown } from '../../bench/report';
import { sumMetric } from '../../bench/stack';

describe('the benchmark’s arithmetic', () => {
  it('reads /proc/<pid>/stat, including a comm with spaces and parentheses', () => {
    // Fields after comm: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime ...
    const line = '4242 (node (worker) x) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 11 0 1000 0 0';
    expect(parseProcStat(line)).toEqual({ pid: 4242, ppid: 17, comm: 'node (worker) x', ticks: 250 + 50 + 7 + 3 });
  });

  it('sums a process tree, children it reaped included, and nothing outside it', () => {
    const p = (pid: number, ppid: number, ticks: number): [number, ProcStat] => [pid, { pid, ppid, comm: 'postgres', ticks }];
    const table = new Map([p(1, 0, 1000), p(10, 1, 200), p(11, 10, 30), p(12, 10, 20), p(20, 1, 5000)]);
    expect(treeCpuSeconds(table, 10)).toBeCloseTo((200 + 30 + 20) / CLOCK_TICKS_PER_SECOND);
    expect(treeCpuSeconds(table, 12)).toBeCloseTo(20 / CLOCK_TICKS_PER_SECOND);
    expect(treeCpuSeconds(table, 404)).toBe(0);
  });

  it('gives every load signup a password the policy accepts: one holding its own data is drawn again', () => {
    // 'user' is a word of every load signup's last name ("User 7"), one of the fragments random passwords held now and then.
    const draws = ['Qx7userZp2Lm9Kd4', 'Qx7wR2Zp2Lm9Kd4v'];
    const body = JSON.parse(signupBody('bench-run1-c10', 7, () => draws.shift() ?? 'unexpected third draw')) as Record<string, string>;
    expect(body).toEqual({ email: 'bench-run1-c10-7@example.com', first_name: 'Bench', last_name: 'User 7', password: 'Qx7wR2Zp2Lm9Kd4v' });
    expect(draws).toEqual([]);
    // A drawer that can only hold the signup's data is refused, not looped on.
    expect(() => signupBody('bench-run1-c10', 7, () => 'xxUSERxxyyzz')).toThrow(/in 100 draws/);
    const verdict = createPasswordPolicy({ minScore: 3 }).check(body.password, { email: body.email, firstName: body.first_name, lastName: body.last_name });
    expect(verdict.ok).toBe(true);
  });

  it('takes nearest-rank percentiles', () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i); // 100 … 1, unsorted on purpose
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 95)).toBe(95);
    expect(percentile(values, 99)).toBe(99);
    expect(percentile(values, 100)).toBe(100);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });

  it('sums one Prometheus metric across its labels, or the labels asked for', () => {
    const text = [
      '# HELP onboarding_bridge_deliveries_total Deliveries',
      'onboarding_bridge_deliveries_total{redelivered="false",process="worker"} 120',
      'onboarding_bridge_deliveries_total{redelivered="true",process="worker"} 3',
      'onboarding_bridge_deliveries_total_other 1000',
      'onboarding_signups_accepted_total{process="api"} 42',
    ].join('\n');
    expect(sumMetric(text, 'onboarding_bridge_deliveries_total')).toBe(123);
    expect(sumMetric(text, 'onboarding_bridge_deliveries_total', (l) => l.includes('redelivered="true"'))).toBe(3);
    expect(sumMetric(text, 'onboarding_signups_accepted_total')).toBe(42);
    expect(sumMetric(text, 'missing_total')).toBe(0);
  });
});

function phase(over: Partial<PhaseResult>): PhaseResult {
  return {
    name: 'p',
    path: 'temporal',
    temporal_server: 'dev',
    mode: 'closed',
    clients: 50,
    load_seconds: 10,
    sent: 500,
    answers_by_status: { 202: 500 },
    transport_errors: 0,
    accepted: 500,
    accepted_per_second: 50,
    http_ms: { p50: 20, p95: 40, p99: 60, max: 80 },
    accepted_by_api: 500,
    completed: 500,
    dead_lettered: 0,
    end_to_end_per_second: 50,
    end_to_end_ms: { p50: 100, p99: 300, max: 400 },
    lost: 0,
    settle_timed_out: false,
    cpu_seconds_per_signup: { api: 0.025, worker: 0.02 },
    peak_rss_mb: { api: 200, worker: 300 },
    ...over,
  };
}

function result(over: Partial<BenchResult>): Omit<BenchResult, 'targets'> {
  const ceiling = { hashes_per_second: 100, cores: 2, single_hash_ms: 30, cores_busy: 2, seconds: 10, parameters: { memory_kib: 19456, time_cost: 2, parallelism: 1 } };
  return {
    started_at: '2026-11-25T12:00:00.000Z',
    finished_at: '2026-11-25T12:10:00.000Z',
    machine: { cores: 2, memory_gib: 24, cpu: 'test cpu', node: 'v20' },
    settings: { prefetch: 50 },
    hash_ceiling: { before: ceiling, after: null, hashes_per_second: 100 },
    phases: [],
    drains: [],
    overload: [],
    process_crashes: [],
    notes: [],
    ...over,
  };
}

describe('the benchmark’s targets and report', () => {
  it('judges end to end against the hash ceiling, latency at 0.8 of the end-to-end capacity, the drain, and loss', () => {
    const r = result({
      phases: [
        phase({ clients: 10, end_to_end_per_second: 40 }),
        phase({ clients: 50, end_to_end_per_second: 72 }),
        phase({ mode: 'paced', offered_per_second: 36, offered_fraction: 0.5, offered_basis: 'end_to_end_capacity', http_ms: { p50: 30, p95: 50, p99: 80, max: 90 } }),
        phase({ mode: 'paced', offered_per_second: 57.6, offered_fraction: 0.8, offered_basis: 'end_to_end_capacity', http_ms: { p50: 40, p95: 90, p99: 140, max: 200 } }),
        phase({ mode: 'paced', offered_per_second: 70, offered_fraction: 0.7, offered_basis: 'hash_ceiling', http_ms: { p50: 40, p95: 90, p99: 95, max: 200 } }),
        phase({ path: 'direct', clients: 50, end_to_end_per_second: 90 }),
      ],
      drains: [
        { path: 'temporal', temporal_server: 'dev', messages: 10_000, seconds: 200, per_second: 50, start_to_consuming_seconds: 2, peak_consumer_rss_mb: 350, redelivered: 0, lost: 0, cpu_seconds_per_signup: {} },
      ],
    });
    const targets = evaluateTargets(r);
    expect(targets.map((t) => [t.target.split(' ')[0], t.pass])).toEqual([
      ['end-to-end', true], // 72 of 100
      ['POST', false], // judged at 0.8 × capacity (140 ms), not at the other rates
      ['backlog', true],
      ['zero', true],
    ]);
    expect(targets[1].measured).toBe('p99 140 ms at 57.6/s offered (0.80 × capacity)');
    const markdown = renderMarkdown({ ...r, targets });
    expect(markdown).toContain('| temporal | dev server | 50 | 50.0 | 20 / 40 / 60 | 72.0 | 100 / 300 | 0 | 0.72 | 0.80 |');
    expect(markdown).toContain('| temporal | dev server | 50 | 57.6 (0.80 × e2e capacity) |');
    expect(markdown).toContain('| temporal | dev server | 50 | 70.0 (0.70 × hash ceiling) |');
    expect(markdown).toContain('**not met**');
    // One Temporal server: no side-by-side table.
    expect(markdown).not.toContain('side by side');
  });

  it('puts the dev server and the cluster side by side, load by load, and judges each', () => {
    const cpu = (temporal: number, postgres: number) => ({ api: 0.025, worker: 0.02, temporal, rabbitmq: 0.002, postgres, load_generator: 0.001 });
    const drain = (server: 'dev' | 'cluster', perSecond: number, c: Record<string, number>): DrainResult => ({
      path: 'temporal', temporal_server: server, messages: 200, seconds: 200 / perSecond, per_second: perSecond,
      start_to_consuming_seconds: 2, peak_consumer_rss_mb: 300, redelivered: 0, lost: 0, cpu_seconds_per_signup: c,
    });
    const r = result({
      phases: [
        phase({ clients: 10, end_to_end_per_second: 40, cpu_seconds_per_signup: cpu(0.03, 0.003) }),
        phase({ clients: 50, end_to_end_per_second: 72, cpu_seconds_per_signup: cpu(0.03, 0.003) }),
        phase({ path: 'direct', clients: 50, end_to_end_per_second: 90 }),
        phase({ temporal_server: 'cluster', clients: 10, end_to_end_per_second: 30, cpu_seconds_per_signup: cpu(0.02, 0.015) }),
        phase({ temporal_server: 'cluster', clients: 50, end_to_end_per_second: 60, cpu_seconds_per_signup: cpu(0.02, 0.015) }),
      ],
      drains: [drain('dev', 40, cpu(0.02, 0.003)), drain('cluster', 25, cpu(0.015, 0.012))],
    });
    const targets = evaluateTargets(r);
    expect(targets.map((t) => [t.target, t.pass])).toEqual([
      ['end-to-end sustained ≥ 0.7 × hash ceiling (dev server)', true], // 72 of 100
      ['end-to-end sustained ≥ 0.7 × hash ceiling (cluster)', false], // 60 of 100
      ['backlog of 200 drains, worker RSS ≤ 400 MB, no redelivery (dev server)', true],
      ['backlog of 200 drains, worker RSS ≤ 400 MB, no redelivery (cluster)', true],
      ['zero loss', true],
    ]);
    const lines = renderMarkdown({ ...r, targets }).split('\n');
    const at = (row: string) => lines.indexOf(row);
    // Each load's dev server row, then its cluster row; the service total leaves out the load generator.
    const rows = [
      '| closed loop, 10 clients | dev server | 40.0 | 100 / 300 | 25.0 | 20.0 | 30.0 | 2.0 | 3.0 | 80.0 |',
      '| closed loop, 10 clients | cluster | 30.0 | 100 / 300 | 25.0 | 20.0 | 20.0 | 2.0 | 15.0 | 82.0 |',
      '| closed loop, 50 clients | dev server | 72.0 | 100 / 300 | 25.0 | 20.0 | 30.0 | 2.0 | 3.0 | 80.0 |',
      '| closed loop, 50 clients | cluster | 60.0 | 100 / 300 | 25.0 | 20.0 | 20.0 | 2.0 | 15.0 | 82.0 |',
      '| drain of 200 | dev server | 40.0 | – | 25.0 | 20.0 | 20.0 | 2.0 | 3.0 | 70.0 |',
      '| drain of 200 | cluster | 25.0 | – | 25.0 | 20.0 | 15.0 | 2.0 | 12.0 | 74.0 |',
    ];
    expect(rows.map(at)).toEqual(rows.map((_, i) => at(rows[0]) + i));
    expect(at(rows[0])).toBeGreaterThan(0);
    expect(lines.join('\n')).toContain("In cluster mode the Postgres column includes the Temporal server's persistence and visibility writes");
    // The cluster's closed loop is compared with the one direct baseline too.
    expect(lines).toContain('| temporal | cluster | 50 | 50.0 | 20 / 40 / 60 | 60.0 | 100 / 300 | 0 | 0.60 | 0.67 |');
  });

  it('fails the loss target on a single lost signup, a redelivery or an oversized worker', () => {
    const r = result({
      phases: [phase({ lost: 1 })],
      drains: [
        { path: 'temporal', temporal_server: 'dev', messages: 100, seconds: 2, per_second: 50, start_to_consuming_seconds: 2, peak_consumer_rss_mb: 401, redelivered: 1, lost: 0, cpu_seconds_per_signup: {} },
      ],
    });
    const byName = Object.fromEntries(evaluateTargets(r).map((t) => [t.target.split(' ')[0], t.pass]));
    expect(byName).toMatchObject({ backlog: false, zero: false });
  });

  it('reports the overload phase: 202 latency and shed count per multiple; shedding with no other 5xx passes, a lost 202 fails', () => {
    const overload = (multiple: number, over: Partial<OverloadResult> = {}): OverloadResult => ({
      multiple,
      offered_per_second: multiple * 100,
      clients: multiple * 100,
      sent: multiple * 1000,
      accepted: 900,
      accepted_per_second: 90,
      shed: multiple * 1000 - 900,
      other_5xx: 0,
      transport_errors: 0,
      accepted_ms: { p50: 120, p99: 480, max: 600 },
      shed_ms: { p50: 3, p99: 12 },
      lost: 0,
      settle_timed_out: false,
      ...over,
    });
    const r = result({ overload: [overload(2), overload(4)] });
    const targets = evaluateTargets(r);
    expect(targets.find((t) => t.target.startsWith('past the hash cap'))).toMatchObject({
      pass: true,
      measured: '2×: 1100 shed, 202 p99 480 ms; 4×: 3100 shed, 202 p99 480 ms; 0 other 5xx',
    });
    expect(targets.find((t) => t.target === 'zero loss')).toMatchObject({ pass: true });
    const markdown = renderMarkdown({ ...r, targets });
    expect(markdown).toContain('**Overload**');
    expect(markdown).toContain('| 4 | 400.0 | 400 | 4000 | 900 | 90.0 | 120 / 480 / 600 | 3100 | 3 / 12 | 0 | 0 |');

    const bad = evaluateTargets(result({ overload: [overload(2), overload(4, { shed: 0, other_5xx: 5, lost: 1 })] }));
    expect(bad.find((t) => t.target.startsWith('past the hash cap'))?.pass).toBe(false);
    expect(bad.find((t) => t.target === 'zero loss')?.pass).toBe(false);
  });

  it('does not pass the loss target when nothing was measured', () => {
    expect(evaluateTargets(result({})).find((t) => t.target === 'zero loss')).toMatchObject({ pass: false, measured: 'nothing measured' });
  });
});
