/**
 * Load on POST /signup, two ways:
 * - closed loop (autocannon): N connections, each sending its next signup as soon as the last is
 *   answered. It finds the most the service accepts; latency there is mostly queueing, N ÷ throughput.
 * - open loop (paced): signups arrive at a set rate, at random (Poisson) moments, spread over N
 *   clients; latency is counted from the moment each was due, so a stalled service cannot hide
 *   behind clients that wait for it. autocannon's own rate option releases each connection's
 *   quota at the start of every second, i.e. bursts, which is not how independent users arrive.
 * Every signup has an e-mail of its own (`<prefix>-<n>@example.com`), so each is a new user.
 */
import { randomBytes } from 'node:crypto';
import autocannon from 'autocannon';
import { containsPersonalData } from '../src/security/password-policy';

export interface LoadResult {
  seconds: number;
  sent: number;
  byStatus: Record<string, number>;
  /** The user_id of every 202. */
  accepted: string[];
  latenciesMs: number[];
  /** The same latencies by HTTP status: what a 202 took apart from what a 503 took. */
  latenciesMsByStatus: Record<string, number[]>;
  /** Each 5xx by status and the problem type its body names ("503 /problems/overloaded"): what a 5xx was. */
  fiveXxByProblem: Record<string, number>;
  transportErrors: number;
}

/** A load signup's password: 16 random base64url characters. */
export function benchPassword(): string {
  return randomBytes(12).toString('base64url');
}

/** The body of load signup `n`: its own e-mail, and a password the policy accepts for it. */
export function signupBody(emailPrefix: string, n: number, drawPassword: () => string = benchPassword): string {
  const identity = { email: `${emailPrefix}-${n}@example.com`, firstName: 'Bench', lastName: `User ${n}` };
  // About 1 in 2,000 random passwords holds a piece of the e-mail or the names (the signup's
  // number once it has 3 digits, a word of the prefix such as `c10` or a run of the run id's
  // letters, 'user') and would be refused with 400; drawn again, so every signup is one the API
  // can accept. The same shape as before, so the policy's cost per signup is unchanged.
  let password = drawPassword();
  for (let draws = 1; containsPersonalData(password, identity); draws++) {
    if (draws >= 100) throw new Error(`no password without the signup's personal data in ${draws} draws`);
    password = drawPassword();
  }
  return JSON.stringify({ email: identity.email, first_name: identity.firstName, last_name: identity.lastName, password });
}

function newResult(): LoadResult {
  return { seconds: 0, sent: 0, byStatus: {}, accepted: [], latenciesMs: [], latenciesMsByStatus: {}, fiveXxByProblem: {}, transportErrors: 0 };
}

function recordLatency(result: LoadResult, status: number, ms: number): void {
  result.latenciesMs.push(ms);
  (result.latenciesMsByStatus[status] ??= []).push(ms);
}

function record(result: LoadResult, status: number, body: string): void {
  result.byStatus[status] = (result.byStatus[status] ?? 0) + 1;
  if (status >= 500) {
    const key = `${status} ${problemType(body)}`;
    result.fiveXxByProblem[key] = (result.fiveXxByProblem[key] ?? 0) + 1;
  }
  if (status !== 202) return;
  try {
    result.accepted.push((JSON.parse(body) as { user_id: string }).user_id);
  } catch {
    // A 202 without its body is counted by status and shows as a mismatch in the account.
  }
}

function problemType(body: string): string {
  try {
    return String((JSON.parse(body) as { type?: unknown }).type ?? 'no type');
  } catch {
    return 'not JSON';
  }
}

/**
 * A fixed number of signups, shared equally by the connections. A count rather than a duration:
 * autocannon cuts off the requests in flight when a duration ends, and the API may still accept
 * those, which would leave signups in the pipeline that no client knows about.
 */
export async function closedLoop(opts: { url: string; connections: number; amount: number; emailPrefix: string }): Promise<LoadResult> {
  const result = newResult();
  let n = 0;
  const started = process.hrtime.bigint();
  let finish!: (err: Error | null, done: autocannon.Result) => void;
  const finished = new Promise<autocannon.Result>((resolve, reject) => {
    finish = (err, done) => (err ? reject(err) : resolve(done));
  });
  const instance = autocannon(
    {
      url: opts.url,
      connections: opts.connections,
      amount: Math.max(opts.amount, opts.connections),
      // A signup takes a hash; the default 10 s would cut off answers that queue at high concurrency.
      timeout: 30,
      requests: [
        {
          method: 'POST',
          path: '/signup',
          headers: { 'content-type': 'application/json' },
          setupRequest: (req) => ({ ...req, body: signupBody(opts.emailPrefix, n++) }),
          onResponse: (status, body) => record(result, status, body),
        },
      ],
    },
    (err, done) => finish(err, done),
  );
  instance.on('response', (_client, status, _bytes, responseTime) => {
    recordLatency(result, status, responseTime);
  });
  const done = await finished;
  result.seconds = Number(process.hrtime.bigint() - started) / 1e9;
  result.sent = n;
  result.transportErrors = done.errors + done.timeouts;
  return result;
}

export async function paced(opts: { url: string; clients: number; rate: number; seconds: number; emailPrefix: string }): Promise<LoadResult> {
  const result = newResult();
  const total = Math.round(opts.rate * opts.seconds);
  // Poisson arrivals: exponential gaps with mean 1/rate.
  const due: number[] = [];
  const start = Date.now() + 100;
  for (let i = 0, t = start; i < total; i++) {
    t += (-Math.log(1 - Math.random()) / opts.rate) * 1000;
    due.push(t);
  }
  let next = 0;
  const client = async () => {
    for (;;) {
      const i = next++;
      if (i >= total) return;
      const wait = due[i] - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      result.sent++;
      try {
        const res = await fetch(`${opts.url}/signup`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: signupBody(opts.emailPrefix, i),
          signal: AbortSignal.timeout(30_000),
        });
        const body = await res.text();
        recordLatency(result, res.status, Date.now() - due[i]);
        record(result, res.status, body);
      } catch {
        result.transportErrors++;
      }
    }
  };
  await Promise.all(Array.from({ length: opts.clients }, client));
  result.seconds = (Date.now() - start) / 1000;
  return result;
}

/** Nearest-rank percentile of unsorted values; NaN for none. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
