/** The lever table: medians of interleaved trials, with the workflow and main threads' share of the worker's CPU. */
import { median, type TrialResult } from './trial';

export function renderLevers(results: TrialResult[]): string {
  const names = [...new Set(results.map((r) => r.variant))];
  const lines = [
    '| lever | trials | worker CPU ms/run (median; each) | of which workflow thread | of which main thread | server CPU ms/run (median; each) | worker peak RSS MB | history events |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  const each = (xs: number[]) => xs.map((x) => x.toFixed(1)).join(', ');
  // The workflow threads (one, or two without reuseV8Context) carry the names the preload gives them.
  const thread = (r: TrialResult, test: (name: string) => boolean) =>
    Object.entries(r.worker_threads_ms_per_run).reduce((sum, [name, ms]) => (test(name) ? sum + ms : sum), 0);
  for (const name of names) {
    const rs = results.filter((r) => r.variant === name);
    const w = rs.map((r) => r.worker_cpu_ms_per_run);
    const s = rs.map((r) => r.server_cpu_ms_per_run);
    lines.push(
      `| ${name} | ${rs.length} | **${median(w).toFixed(1)}** (${each(w)}) | ${median(rs.map((r) => thread(r, (n) => n.startsWith('js-thread')))).toFixed(1)} | ` +
        `${median(rs.map((r) => thread(r, (n) => n === 'main'))).toFixed(1)} | **${median(s).toFixed(1)}** (${each(s)}) | ` +
        `${median(rs.map((r) => r.worker_peak_rss_mb)).toFixed(0)} | ${median(rs.map((r) => r.history.length))} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}
