/**
 * CPU time and memory of the processes on the signup path, read from Linux's /proc: what each
 * component costs per signup, including the shared RabbitMQ and Postgres servers.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export const CLOCK_TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

export interface ProcStat {
  pid: number;
  ppid: number;
  comm: string;
  /** utime + stime + cutime + cstime, in clock ticks: its own CPU and that of children it reaped. */
  ticks: number;
}

/** Parses one /proc/<pid>/stat line; comm may hold spaces and parentheses, so split after the last ')'. */
export function parseProcStat(line: string): ProcStat {
  const open = line.indexOf('(');
  const close = line.lastIndexOf(')');
  const rest = line.slice(close + 2).split(' ');
  // Fields after comm, from 0: state, ppid, ..., utime at 11, stime 12, cutime 13, cstime 14.
  const n = (i: number) => Number(rest[i]);
  return { pid: Number(line.slice(0, open).trim()), ppid: n(1), comm: line.slice(open + 1, close), ticks: n(11) + n(12) + n(13) + n(14) };
}

export function processTable(): Map<number, ProcStat> {
  const table = new Map<number, ProcStat>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = parseProcStat(readFileSync(`/proc/${entry}/stat`, 'utf8'));
      table.set(stat.pid, stat);
    } catch {
      // It exited while we looked; its CPU is in its parent's cutime once reaped.
    }
  }
  return table;
}

/**
 * CPU seconds of a process and all its live descendants, including children they reaped. A
 * difference of two readings is exact for a process tree whose members are reaped inside it
 * (Postgres backends by the postmaster, for example).
 */
export function treeCpuSeconds(table: Map<number, ProcStat>, root: number): number {
  const children = new Map<number, number[]>();
  for (const p of table.values()) {
    const list = children.get(p.ppid) ?? [];
    list.push(p.pid);
    children.set(p.ppid, list);
  }
  let ticks = 0;
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop() as number;
    const p = table.get(pid);
    if (!p) continue;
    ticks += p.ticks;
    stack.push(...(children.get(pid) ?? []));
  }
  return ticks / CLOCK_TICKS_PER_SECOND;
}

/**
 * CPU seconds of each thread of a process, summed by thread name; the process's own first
 * thread is `main`. Node's worker threads and Rust's tokio runtime name theirs; on Node 20, V8's
 * helpers and libuv's pool are all named `node`.
 */
export function threadCpuSeconds(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = parseProcStat(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'));
      const name = Number(tid) === pid ? 'main' : stat.comm;
      out[name] = (out[name] ?? 0) + stat.ticks / CLOCK_TICKS_PER_SECOND;
    } catch {
      // The thread ended while we read.
    }
  }
  return out;
}

/** The oldest process whose command line matches, e.g. RabbitMQ's beam.smp or the postmaster. */
export function findProcess(matches: (comm: string, cmdline: string) => boolean, table = processTable()): number | undefined {
  const found = [...table.values()]
    .filter((p) => {
      try {
        return matches(p.comm, readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').replace(/\0/g, ' '));
      } catch {
        return false;
      }
    })
    // The root of a matching tree: its parent does not match.
    .filter((p, _i, all) => !all.some((q) => q.pid === p.ppid));
  return found.sort((a, b) => a.pid - b.pid)[0]?.pid;
}

export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

/** Roles whose CPU the benchmark reports; a role maps to the root pid of its process tree. */
export type Roles = Record<string, number | undefined>;

export function cpuSnapshot(roles: Roles): Record<string, number> {
  const table = processTable();
  const out: Record<string, number> = {};
  for (const [role, pid] of Object.entries(roles)) {
    if (pid !== undefined) out[role] = treeCpuSeconds(table, pid);
  }
  return out;
}

/**
 * Samples the resident memory of some processes until stopped; returns each one's peak. The
 * pids are asked for at each sample, so a process started after the sampler is caught too.
 */
export function sampleRss(pids: () => Record<string, number | undefined>, everyMs = 200): { stop: () => Record<string, number> } {
  const peaks: Record<string, number> = {};
  const sample = () => {
    for (const [role, pid] of Object.entries(pids())) {
      if (pid === undefined) continue;
      try {
        peaks[role] = Math.max(peaks[role] ?? 0, rssBytes(pid));
      } catch {
        // Exited; its peak so far stands.
      }
    }
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return {
    stop: () => {
      clearInterval(timer);
      sample();
      return peaks;
    },
  };
}
