/**
 * The chaos run's clients: signups at a set rate through the real HTTP API, about one body in
 * `badEvery` malformed, each answer recorded for the account.
 */
import { uniquePassword } from '../unique-password';
import { sleep } from '../wait';

export interface Answer {
  i: number;
  bad: boolean;
  email?: string;
  /** The HTTP status; 0 when no answer came (the error says why). */
  status: number;
  userId?: string;
  retryAfter?: string | null;
  service?: string;
  error?: string;
}

export interface LoadSettings {
  signups: number;
  /** The most signups sent while the faults are still running. */
  maxSignups: number;
  concurrency: number;
  /** Signups started per second. */
  rate: number;
  badEvery: number;
  /** Makes the run's e-mail addresses its own. */
  suffix: string;
  apiPorts: number[];
}

function badBody(i: number): { body: string; contentType: string } {
  const kinds = [
    { body: JSON.stringify({ email: 'not-an-email', first_name: 'A', last_name: 'B', password: 'long enough pw' }), contentType: 'application/json' },
    { body: JSON.stringify({ email: `bad-${i}@example.com`, first_name: 'A', last_name: 'B', password: 'short' }), contentType: 'application/json' },
    { body: JSON.stringify({ email: `bad-${i}@example.com`, last_name: 'B', password: 'long enough pw' }), contentType: 'application/json' },
    { body: '{"email": ', contentType: 'application/json' },
    { body: `email=bad-${i}@example.com`, contentType: 'application/x-www-form-urlencoded' },
  ];
  return kinds[i % kinds.length];
}

/** Signup `i`, sent like a load balancer would: a refused connection (nothing sent) goes to the next API. */
async function sendSignup(s: LoadSettings, i: number): Promise<Answer> {
  const bad = i % s.badEvery === 7;
  const email = `chaos-${s.suffix}-${i}@example.com`;
  const { body, contentType } = bad
    ? badBody(i)
    : { body: JSON.stringify({ email, first_name: 'Chaos', last_name: `Monkey ${i}`, password: uniquePassword('pw') }), contentType: 'application/json' };
  let answer: Answer | undefined;
  for (let attempt = 0; attempt < s.apiPorts.length && !answer; attempt++) {
    const port = s.apiPorts[(i + attempt) % s.apiPorts.length];
    try {
      const res = await fetch(`http://127.0.0.1:${port}/signup`, { method: 'POST', headers: { 'content-type': contentType }, body, signal: AbortSignal.timeout(30_000) });
      const json = (await res.json().catch(() => ({}))) as { user_id?: string; service?: string };
      answer = { i, bad, email: bad ? undefined : email, status: res.status, userId: res.status === 202 ? json.user_id : undefined, retryAfter: res.headers.get('retry-after'), service: json.service };
    } catch (err) {
      const refused = (err as { cause?: { code?: string } }).cause?.code === 'ECONNREFUSED';
      if (!refused || attempt === s.apiPorts.length - 1) {
        answer = { i, bad, email: bad ? undefined : email, status: 0, error: refused ? 'refused' : (err as Error).message };
      }
    }
  }
  return answer as Answer;
}

/**
 * Sends the signups, pushing each answer onto `answers` as it comes; resolves with the load's
 * seconds. Past `s.signups` it goes on at the same rate while `goOn()` says so (the faults still
 * running: how long a fault takes to see the service heal depends on the machine), up to
 * `s.maxSignups`.
 */
export async function runSignupLoad(s: LoadSettings, answers: Answer[], goOn: () => boolean = () => false): Promise<number> {
  const started = Date.now();
  let sent = 0;
  const client = async () => {
    for (;;) {
      const i = sent++;
      if (i >= s.signups && (i >= s.maxSignups || !goOn())) return;
      const due = started + (i / s.rate) * 1000;
      if (due > Date.now()) await sleep(due - Date.now());
      answers.push(await sendSignup(s, i));
    }
  };
  await Promise.all(Array.from({ length: s.concurrency }, client));
  return (Date.now() - started) / 1000;
}
