import { cpuRows } from '../../bench/charts';
import { countOtlpRequest, emptyCounts, startOtlpReceiver } from '../../bench/otlp-receiver';
import type { PhaseResult } from '../../bench/phase';
import {
  type BenchResult,
  evaluateTargets,
  renderMarkdown,
  renderTracing,
  renderVerification,
  type TracingResult,
  verificationAdds,
  verificationTargets,
  type VerificationResult,
} from '../../bench/report';
import { mailpitArgs } from '../../src/local-stack/mailpit';

function verification(over: Partial<VerificationResult> = {}): VerificationResult {
  return {
    temporal_server: 'dev',
    messages: 10_000,
    mails: 10_000,
    users_mailed: 10_000,
    duplicate_mails: 0,
    seconds: 400,
    per_second: 25,
    start_to_consuming_seconds: 2,
    lost: 0,
    cpu_seconds_per_signup: { worker: 0.015, temporal: 0.018, postgres: 0.004, rabbitmq: 0.001, mailpit: 0.0025 },
    onboarding_only_cpu_seconds_per_signup: { worker: 0.01, temporal: 0.013, postgres: 0.003, rabbitmq: 0.001 },
    open_runs: 10_000,
    hold_seconds: 10,
    peak_worker_rss_mb: 231.4,
    worker_rss_with_runs_open_mb: 220.2,
    ...over,
  };
}

function phase(cpu: Record<string, number>, over: Partial<PhaseResult> = {}): PhaseResult {
  return {
    name: 'p',
    path: 'temporal',
    temporal_server: 'dev',
    mode: 'closed',
    clients: 50,
    load_seconds: 10,
    sent: 400,
    answers_by_status: { 202: 400 },
    transport_errors: 0,
    accepted: 400,
    accepted_per_second: 40,
    http_ms: { p50: 20, p95: 40, p99: 60, max: 80 },
    accepted_by_api: 400,
    completed: 400,
    dead_lettered: 0,
    end_to_end_per_second: 20,
    end_to_end_ms: { p50: 100, p99: 300, max: 400 },
    lost: 0,
    settle_timed_out: false,
    cpu_seconds_per_signup: cpu,
    peak_rss_mb: {},
    ...over,
  };
}

function tracing(): TracingResult {
  return {
    temporal_server: 'dev',
    clients: 50,
    tail_seconds: 6,
    off: phase({ api: 0.025, worker: 0.012, temporal: 0.014, rabbitmq: 0.002, postgres: 0.003, load_generator: 0.001 }),
    on: phase({ api: 0.029, worker: 0.018, temporal: 0.014, rabbitmq: 0.0025, postgres: 0.003, load_generator: 0.002 }),
    otlp: { requests: 12, bytes: 400 * 2048, rejected: 0 },
  };
}

describe('the benchmark’s OTLP receiver', () => {
  it('counts each POST of traces and its bytes, and refuses anything else without counting it as traces', () => {
    const counts = emptyCounts();
    expect(countOtlpRequest(counts, 'POST', '/v1/traces', 1500)).toBe(200);
    expect(countOtlpRequest(counts, 'POST', '/v1/traces?x=1', 500)).toBe(200);
    expect(countOtlpRequest(counts, 'GET', '/v1/traces', 0)).toBe(404);
    expect(countOtlpRequest(counts, 'POST', '/v1/metrics', 99)).toBe(404);
    expect(counts).toEqual({ requests: 2, bytes: 2000, rejected: 2 });
  });

  it('answers an exporter over HTTP and counts what it sent', async () => {
    const receiver = await startOtlpReceiver();
    try {
      const body = new Uint8Array(321);
      const res = await fetch(`${receiver.endpoint}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body });
      expect(res.status).toBe(200);
      expect((await fetch(`${receiver.endpoint}/other`, { method: 'POST', body: 'x' })).status).toBe(404);
      expect(receiver.counts()).toEqual({ requests: 1, bytes: 321, rejected: 1 });
    } finally {
      await receiver.close();
    }
  });
});

describe('the verification flow’s figures', () => {
  it('gives what the flow adds to the worker and the server, in ms and as multiples of the onboarding-only drain', () => {
    const adds = verificationAdds(verification());
    expect(adds?.worker.ms).toBeCloseTo(5, 6);
    expect(adds?.worker.ratio).toBeCloseTo(0.5, 6);
    expect(adds?.temporal.ms).toBeCloseTo(5, 6);
    expect(adds?.temporal.ratio).toBeCloseTo(5 / 13, 6);
    expect(verificationAdds(verification({ onboarding_only_cpu_seconds_per_signup: null }))).toBeNull();
  });

  it('judges the addition (at most half again, for both) and the worker’s memory with the runs open', () => {
    expect(verificationTargets([verification()]).map((t) => t.pass)).toEqual([true, true]);
    const [adds, rss] = verificationTargets([verification({ cpu_seconds_per_signup: { worker: 0.0151, temporal: 0.018 }, peak_worker_rss_mb: 251 })]);
    expect(adds.pass).toBe(false);
    expect(adds.measured).toBe('worker +5.1 ms = 0.51 ×, Temporal server +5.0 ms = 0.38 ×');
    expect(rss).toMatchObject({ pass: false, measured: 'peak 251 MB, 220 MB with 10000 runs open' });
    // Runs that closed (or never opened) do not prove the memory with N open.
    expect(verificationTargets([verification({ open_runs: 9_000 })])[1].pass).toBe(false);
  });

  it('renders the flow’s row, the onboarding-only figures and the difference', () => {
    const lines = renderVerification([verification()]);
    expect(lines.join('\n')).toContain('through the mail accepted by SMTP');
    expect(lines.at(-1)).toBe(
      '| dev server | 10000 | 10000 (0) | 25.0 | 15.0 / 18.0 / 4.0 / 1.0 / 2.5 | 10.0 / 13.0 | +5.0 ms = 0.50 × | +5.0 ms = 0.38 × | 10000 | 231 / 220 | 0 |',
    );
    expect(renderVerification([])).toEqual([]);
    // A noisy run may show the flow cheaper than onboarding alone: the sign says so.
    expect(renderVerification([verification({ cpu_seconds_per_signup: { worker: 0.008, temporal: 0.013 } })]).at(-1)).toContain('| −2.0 ms = -0.20 × | +0.0 ms = 0.00 × |');
  });
});

describe('tracing off and on', () => {
  it('renders both phases and their difference by component, with the OTLP exports', () => {
    const lines = renderTracing([tracing()]);
    expect(lines.slice(-3)).toEqual([
      '| dev server | 50 | off | 40.0 | 20.0 | 25.0 | 12.0 | 14.0 | 2.0 | 3.0 | 56.0 | – | – |',
      '| dev server | 50 | on | 40.0 | 20.0 | 29.0 | 18.0 | 14.0 | 2.5 | 3.0 | 66.5 | 12 | 2.0 |',
      '| dev server | 50 | on − off | – | – | +4.0 | +6.0 | +0.0 | +0.5 | +0.0 | +10.5 | – | – |',
    ]);
  });
});

describe('the report with the new sections', () => {
  it('adds both tables and the two verification targets, and counts their losses', () => {
    const ceiling = { hashes_per_second: 100, cores: 2, single_hash_ms: 30, cores_busy: 2, seconds: 10, parameters: { memory_kib: 19456, time_cost: 2, parallelism: 1 } };
    const base: Omit<BenchResult, 'targets'> = {
      started_at: '2026-11-25T12:00:00.000Z',
      finished_at: '2026-11-25T12:10:00.000Z',
      machine: { cores: 2, memory_gib: 24, cpu: 'test cpu', node: 'v20' },
      settings: {},
      hash_ceiling: { before: ceiling, after: null, hashes_per_second: 100 },
      phases: [phase({ api: 0.02 })],
      drains: [],
      overload: [],
      verification: [verification()],
      tracing: [tracing()],
      process_crashes: [],
      notes: [],
    };
    const targets = evaluateTargets(base);
    expect(targets.map((t) => t.target.split(' ').slice(0, 3).join(' '))).toEqual([
      'end-to-end sustained ≥',
      'the verification flow,',
      'worker RSS ≤',
      'zero loss',
    ]);
    const markdown = renderMarkdown({ ...base, targets });
    expect(markdown).toContain('**The verification flow, through the mail accepted by SMTP**');
    expect(markdown).toContain('**Tracing off and on**');

    const lostMail = { ...base, verification: [verification({ mails: 10_000, users_mailed: 9_999, duplicate_mails: 1, lost: 1 })] };
    expect(evaluateTargets(lostMail).find((t) => t.target === 'zero loss')).toMatchObject({ pass: false, measured: '1 lost' });
    // Results from before these sections render as before.
    const old = { ...base, verification: undefined, tracing: undefined };
    expect(renderMarkdown({ ...old, targets: evaluateTargets(old) })).not.toContain('Tracing off and on');
  });

  it('keeps every mail in the benchmark’s Mailpit: no pruning at its default 500', () => {
    expect(mailpitArgs({ smtpPort: 1, httpPort: 2, maxMessages: 0 }).join(' ')).toContain('--max 0');
    expect(mailpitArgs({ smtpPort: 1, httpPort: 2 })).not.toContain('--max');
  });
});

describe('the CPU chart with the new runs', () => {
  it('draws the verification drain (Mailpit included) and the phase with tracing on, and tells the cluster’s bars apart', () => {
    const ceiling = { hashes_per_second: 100, cores: 2, single_hash_ms: 30, cores_busy: 2, seconds: 10, parameters: { memory_kib: 19456, time_cost: 2, parallelism: 1 } };
    const result: BenchResult = {
      started_at: '2026-11-25T12:00:00.000Z',
      finished_at: '2026-11-25T12:10:00.000Z',
      machine: { cores: 2, memory_gib: 24, cpu: 'test cpu', node: 'v20' },
      settings: {},
      hash_ceiling: { before: ceiling, after: null, hashes_per_second: 100 },
      phases: [phase({ api: 0.02 }), phase({ api: 0.03 }, { temporal_server: 'cluster' })],
      drains: [],
      overload: [],
      verification: [verification()],
      tracing: [tracing()],
      targets: [],
      process_crashes: [],
      notes: [],
    };
    const rows = cpuRows(result);
    expect([...new Set(rows.map((r) => r.run))]).toEqual([
      'temporal, 50 clients',
      'temporal, 50 clients (cluster)',
      'temporal, drain of 10000 through the mail',
      'temporal, 50 clients, tracing on',
    ]);
    expect(rows.find((r) => r.run.endsWith('through the mail') && r.component === 'Mailpit')?.ms).toBe(2.5);
  });
});
