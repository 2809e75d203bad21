import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { figures, renderFinal } from '../../bench/final';
import { type BenchResult, renderApiThreads } from '../../bench/report';

const result = JSON.parse(readFileSync(join(__dirname, '..', '..', 'bench', 'results', '2026-11-25T14-08-28.json'), 'utf8')) as BenchResult;

describe('issue 14’s figures from a bench result', () => {
  it('reads the drain, the 50-client ratio, the paced p99 and the API beyond its hash', () => {
    const f = figures(result);
    expect(f.worker_ms_per_run).toBeCloseTo(24.571, 2);
    expect(f.server_ms_per_run).toBeCloseTo(30.29, 2);
    expect(f.e2e_over_direct_50).toBeCloseTo(19.7 / 55.6, 3);
    expect(f.http_p99_at_0_8).toBe(329.1);
    // 26.89 ms of API CPU less one hash: 1.98 cores busy ÷ 88.9 hashes/s ≈ 22.3 ms.
    const hashMs = (1000 * 1.9825175282959788) / 88.92442809824718;
    expect(f.api_ms_beyond_hash).toBeCloseTo(26.89 - hashMs, 2);
    // The same, as multiples of that run's own hash: how the ms targets are judged.
    expect(f.hash_ms).toBeCloseTo(hashMs, 6);
    expect(f.worker_hashes_per_run).toBeCloseTo(24.571 / hashMs, 3);
    expect(f.server_hashes_per_run).toBeCloseTo(30.29 / hashMs, 3);
    expect(f.api_hashes_beyond_hash).toBeCloseTo((26.89 - hashMs) / hashMs, 3);
    expect(f.worker_peak_rss_mb).toBeCloseTo(371, 0);
    // That run predates the verification drain and the tracing phases: not measured, not invented.
    expect(f.verification_adds_worker).toBeNaN();
    expect(f.tracing_on_ms).toBeNaN();
  });

  it('reads the verification flow, its open runs and tracing off and on, on the dev server', () => {
    const cpu = (worker: number, temporal: number) => ({ api: 0.02, worker, temporal, rabbitmq: 0.002, postgres: 0.003 });
    const phase = result.phases[0];
    const withNew: BenchResult = {
      ...result,
      verification: [
        { temporal_server: 'cluster', messages: 10_000, mails: 10_000, users_mailed: 10_000, duplicate_mails: 0, seconds: 1, per_second: 1, start_to_consuming_seconds: 1, lost: 0, cpu_seconds_per_signup: cpu(0.05, 0.05), onboarding_only_cpu_seconds_per_signup: cpu(0.01, 0.01), open_runs: 10_000, hold_seconds: 10, peak_worker_rss_mb: 300, worker_rss_with_runs_open_mb: 290 },
        { temporal_server: 'dev', messages: 10_000, mails: 10_000, users_mailed: 10_000, duplicate_mails: 0, seconds: 1, per_second: 1, start_to_consuming_seconds: 1, lost: 0, cpu_seconds_per_signup: cpu(0.014, 0.016), onboarding_only_cpu_seconds_per_signup: cpu(0.01, 0.02 * 0.5), open_runs: 10_000, hold_seconds: 10, peak_worker_rss_mb: 240, worker_rss_with_runs_open_mb: 230 },
      ],
      tracing: [{ temporal_server: 'dev', clients: 50, tail_seconds: 6, off: { ...phase, cpu_seconds_per_signup: cpu(0.01, 0.01) }, on: { ...phase, cpu_seconds_per_signup: cpu(0.015, 0.01) }, otlp: { requests: 3, bytes: 10, rejected: 0 } }],
    };
    const f = figures(withNew);
    expect(f.verification_adds_worker).toBeCloseTo(0.4, 6);
    expect(f.verification_adds_server).toBeCloseTo(0.6, 6);
    expect(f.worker_rss_open_runs_mb).toBe(240);
    expect(f.open_verification_runs).toBe(10_000);
    expect(f.tracing_off_ms).toBeCloseTo(45, 6);
    expect(f.tracing_on_ms).toBeCloseTo(50, 6);
    expect(figures(withNew, 'cluster').verification_adds_worker).toBeCloseTo(4, 6);
    const table = renderFinal([f, f, f], f);
    expect(table).toContain("| verification flow through the mail, added to the worker's figure, × | 0.40, 0.40, 0.40 | 0.40 | ≤ 0.5 | met |");
    expect(table).toContain("| verification flow through the mail, added to the server's figure, × | 0.60, 0.60, 0.60 | 0.60 | ≤ 0.5 | **not met** |");
    expect(table).toContain('| service CPU per signup, 50 clients, tracing on, ms | 50.0, 50.0, 50.0 | 50.0 | – (reported) |  |');
    expect(table).toContain('| worker peak RSS with 10000 verification runs open (full run), MB | – | 240 | ≤ 250 | met |');
  });

  it("reads the API's event loop apart from its other threads, and the requests each accepted signup paid for", () => {
    const phases = result.phases.map((p) =>
      p.path === 'temporal' && p.mode === 'closed' && p.clients === 50
        ? { ...p, temporal_server: 'dev' as const, sent: 300, accepted: 100, cpu_seconds_per_signup: { ...p.cpu_seconds_per_signup, api: 0.0275 }, api_threads_ms_per_signup: { main: 6, node: 21.5 } }
        : p.path === 'temporal' && p.mode === 'closed' && p.clients === 10
          ? { ...p, api_threads_ms_per_signup: { main: 3, node: 18.5 } }
          : p,
    );
    const f = figures({ ...result, phases });
    expect(f.api_main_thread_ms_50).toBe(6);
    expect(f.api_main_thread_ms_10).toBe(3);
    expect(f.requests_per_accepted_50).toBe(3);
    // A result from before the threads were read says so, rather than a number.
    expect(figures(result).api_main_thread_ms_50).toBeNaN();
    expect(renderApiThreads(phases).join('\n')).toContain('| temporal | dev server | 50 clients | 3.00 | 6.0 | 21.5 | 27.5 |');
    expect(renderApiThreads(result.phases)).toEqual([]);
  });

  it('judges each target by the median of the short runs, the ms targets in hashes', () => {
    const f = figures(result);
    // A faster host: 8 and 9 ms are under the 10 ms, but 0.50 and 0.60 of its own hash are over 0.45.
    const table = renderFinal(
      [f, { ...f, worker_ms_per_run: 8, worker_hashes_per_run: 0.5 }, { ...f, worker_ms_per_run: 9, worker_hashes_per_run: 0.6 }],
      { ...f, worker_peak_rss_mb: 240 },
    );
    expect(table).toContain("| worker CPU per onboarding run (drain), ms | 24.6, 8.0, 9.0 | 9.0 | ≤ 10 on the issue's host: judged in hashes |  |");
    expect(table).toContain("| worker CPU per onboarding run (drain), hashes | 1.10, 0.50, 0.60 | 0.60 | ≤ 0.455 (10 ms on the issue's host) | **not met** |");
    expect(table).toContain("| Temporal server CPU per run (drain), hashes | 1.36, 1.36, 1.36 | 1.36 | ≤ 0.909 (20 ms on the issue's host) | **not met** |");
    expect(table).toContain("| one argon2id hash's CPU on this host, ms (the issue's: ≈ 22) | 22.3, 22.3, 22.3 | 22.3 | – (the unit) |  |");
    const quick = renderFinal([{ ...f, server_hashes_per_run: 0.9 }, { ...f, server_hashes_per_run: 0.8 }, f], undefined);
    expect(quick).toContain("| Temporal server CPU per run (drain), hashes | 0.90, 0.80, 1.36 | 0.90 | ≤ 0.909 (20 ms on the issue's host) | met |");
    expect(table).toContain('| worker peak RSS, 10,000 backlog (full run), MB | – | 240 | ≤ 250 | met |');
    // Figures a result does not have are said to be missing, not judged.
    expect(table).toContain("| verification flow through the mail, added to the worker's figure, × | –, –, – | – | ≤ 0.5 | not measured |");
  });
});
