import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpuRows, latencyRows, renderCharts } from '../../bench/charts';
import type { BenchResult } from '../../bench/report';

// A committed full run: the charts must draw what it measured.
const result = JSON.parse(readFileSync(join(__dirname, '..', '..', 'bench', 'results', '2026-11-25T14-08-28.json'), 'utf8')) as BenchResult;

/** Vega labels each mark for screen readers: "field: value; field: value". */
const markLabels = (svg: string, role: string) =>
  [...svg.matchAll(/aria-label="([^"]*)" role="graphics-symbol" aria-roledescription="([^"]*)"/g)].filter((m) => m[2] === role).map((m) => m[1]);

describe('the benchmark charts', () => {
  it('stacks each phase’s and drain’s CPU per signup by component, in ms', () => {
    const rows = cpuRows(result);
    const worker50 = rows.find((r) => r.run === 'temporal, 50 clients' && r.component === 'worker');
    expect(worker50).toMatchObject({ path: 'through Temporal', ms: 26.7 });
    const drain = rows.filter((r) => r.run === 'temporal, drain of 10000');
    expect(drain.map((r) => r.component)).toEqual(['API', 'worker', 'Temporal server', 'RabbitMQ', 'Postgres']);
    expect(drain.find((r) => r.component === 'Temporal server')?.ms).toBe(30.3);
    // 9 phases × 6 components (with the load generator) and 2 drains × 5.
    expect(rows).toHaveLength(9 * 6 + 2 * 5);
  });

  it('puts the open-loop latency percentiles against the offered rate', () => {
    const rows = latencyRows(result);
    expect(rows).toHaveLength(3 * 3);
    expect(rows.map((r) => r.offered)).toEqual([9.9, 9.9, 9.9, 15.8, 15.8, 15.8, 62.2, 62.2, 62.2]);
    expect(rows.find((r) => r.offered === 15.8 && r.percentile === 'p99')?.ms).toBe(329.1);
  });

  it('renders both as SVG with a mark for every value', async () => {
    const { cpu, latency } = await renderCharts(result);
    for (const svg of [cpu, latency]) {
      expect(svg.startsWith('<svg')).toBe(true);
      expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    }
    const bars = markLabels(cpu, 'bar');
    expect(bars).toHaveLength(cpuRows(result).length);
    expect(bars).toContain('CPU ms per signup: 26.7; run: temporal, 50 clients; component: worker; stack: 1');
    expect(cpu).toContain('CPU per signup, by component');
    const points = markLabels(latency, 'point');
    expect(points).toHaveLength(latencyRows(result).length);
    expect(points).toContain('offered signups per second: 15.8; HTTP latency, ms (log scale): 329.1; percentile: p99');
    expect(latency).toContain('p99 target 100 ms');
  });
});
