import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { figures, renderFinal } from '../../bench/final';
import type { BenchResult } from '../../bench/report';

const result = JSON.parse(readFileSync(join(__dirname, '..', '..', 'bench', 'results', '2026-11-25T14-08-28.json'), 'utf8')) as BenchResult;

describe('issue 14’s figures from a bench result', () => {
  it('reads the drain, the 50-client ratio, the paced p99 and the API beyond its hash', () => {
    const f = figures(result);
    expect(f.worker_ms_per_run).toBeCloseTo(24.571, 2);
    expect(f.server_ms_per_run).toBeCloseTo(30.29, 2);
    expect(f.e2e_over_direct_50).toBeCloseTo(19.7 / 55.6, 3);
    expect(f.http_p99_at_0_8).toBe(329.1);
    // 26.89 ms of API CPU less one hash: 1.98 cores busy ÷ 88.9 hashes/s ≈ 22.3 ms.
    expect(f.api_ms_beyond_hash).toBeCloseTo(26.89 - (1000 * 1.9825175282959788) / 88.92442809824718, 2);
    expect(f.worker_peak_rss_mb).toBeCloseTo(371, 0);
  });

  it('judges each target by the median of the short runs', () => {
    const f = figures(result);
    const table = renderFinal([f, { ...f, worker_ms_per_run: 8 }, { ...f, worker_ms_per_run: 9 }], { ...f, worker_peak_rss_mb: 240 });
    expect(table).toContain('| worker CPU per onboarding run (drain), ms | 24.6, 8.0, 9.0 | 9.0 | met |');
    expect(table).toContain('| Temporal server CPU per run (drain), ms | 30.3, 30.3, 30.3 | 30.3 | **not met** |');
    expect(table).toContain('| worker peak RSS, 10,000 backlog (full run), MB | – | 240 | met |');
  });
});
