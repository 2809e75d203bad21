/**
 * The chaos run: signups through the real HTTP API while the planned faults are injected one at
 * a time, spread evenly over the load; then, once everything has settled and every user's
 * verification mail has arrived, the exact account.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { uniqueSuffix } from '../env';
import { sleep } from '../wait';
import { account, type FaultRecord, type RunRecord, settle } from './account';
import { type Fault, planFaults, plannedEnv, poisonMessages } from './faults';
import { type Answer, runSignupLoad } from './load';
import { awaitVerificationMails } from './mail';
import { chaosStack } from './stack';

export interface ChaosOptions {
  signups: number;
  concurrency: number;
  badEvery: number;
  poison: number;
  apis: number;
  workers: number;
  /** How many times each fault is injected. */
  faultCounts: Map<Fault, number>;
  settleSeconds: number;
  /** Once settled, the longest wait for every user's verification mail. */
  mailSeconds: number;
  /** Signups started per second. */
  rate: number;
  /** Where to write the account as JSON too. */
  json?: string;
}

/** Runs it all and returns the exit code: 0 only if the account is exact and nothing else went wrong. */
export async function runChaos(opts: ChaosOptions, log: (line: string) => void): Promise<number> {
  const suffix = uniqueSuffix();
  const dir = mkdtempSync(join(tmpdir(), 'onboarding-chaos-'));
  const stack = await chaosStack({ suffix, apis: opts.apis, workers: opts.workers, dir, env: plannedEnv(opts.faultCounts) }, log);
  log(`run ${suffix}: ${opts.signups} signups at ${opts.concurrency} concurrent, ${opts.apis} API + ${opts.workers} worker processes; logs in ${dir}`);
  const poisonIds = Array.from({ length: opts.poison }, (_, k) => `chaos-poison-${suffix}-${k}`);
  const plan = planFaults(opts.faultCounts, poisonMessages(poisonIds));
  const answers: Answer[] = [];
  const faultsDone: FaultRecord[] = [];
  // Every start of a run's process after its first; only the faults restart anything.
  const restarts = () => stack.everything.reduce((n, p) => n + Math.max(0, p.starts - 1), 0);
  let loadFinished = false;
  let exitCode = 1;
  let cleaning: Promise<void> | undefined;
  const cleanUp = () =>
    (cleaning ??= (async () => {
      await stack.stopProcesses();
      // Leave the shared services as we found them, whatever happened.
      for (const [fault, count] of opts.faultCounts) if (count > 0) await fault.restore?.().catch(() => undefined);
      await stack.dropResources(log);
    })());
  // Interrupted half-way (Ctrl-C, a supervisor's SIGTERM), e.g. with the broker's timeout shortened: the same clean-up.
  const interrupted = (signal: NodeJS.Signals) => {
    log(`${signal}: stopping the run's processes and putting the shared services back`);
    void cleanUp().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    await stack.start();
    log('stack ready');

    // Fault k of n starts once (k / (n + 1)) of the signups are answered.
    const faultsInjected = (async () => {
      for (const [k, fault] of plan.entries()) {
        const at = Math.floor(((k + 1) / (plan.length + 1)) * opts.signups);
        while (answers.length < at) await sleep(50);
        log(`fault ${k + 1}/${plan.length} at ${answers.length} answered: ${fault.name}`);
        const record: FaultRecord = {
          name: fault.name,
          at,
          duringLoad: !loadFinished,
          answers: [answers.length, 0],
          startedAt: Date.now(),
          endedAt: 0,
          restarts: restarts(),
          restartsOwn: fault.restarts,
          mayRepeatMail: fault.mayRepeatMail,
        };
        try {
          record.saw = (await fault.run(stack)) ?? undefined;
          log(`fault ${k + 1} done${record.saw ? `: ${record.saw}` : ''}`);
        } catch (err) {
          record.error = (err as Error).message;
          log(`fault ${k + 1} FAILED: ${record.error}`);
        }
        record.answers[1] = answers.length;
        record.endedAt = Date.now();
        record.restarts = restarts() - record.restarts;
        faultsDone.push(record);
      }
    })();
    // The load outlasts the faults: past the planned signups it goes on (up to twice as many) until the last fault has ended.
    const maxSignups = 2 * opts.signups;
    const faultRunning = () => faultsDone.length < plan.length;
    const loadSeconds = await runSignupLoad({ ...opts, maxSignups, suffix, apiPorts: stack.apiPorts }, answers, faultRunning);
    if (answers.length > opts.signups) log(`load went on past ${opts.signups} signups to ${answers.length}, until the last fault had ended`);
    loadFinished = true;
    await faultsInjected;
    log(`load done in ${loadSeconds.toFixed(1)} s; ${faultsDone.length} faults injected; settling`);

    const acceptedIds = new Set(answers.flatMap((a) => (a.status === 202 && a.userId ? [a.userId] : [])));
    const outcome = await settle(stack.config, { acceptedIds, poisonIds, seconds: opts.settleSeconds }, log);
    const mails = await awaitVerificationMails(stack.mail.apiUrl, outcome.rows.map((r) => r.email), opts.mailSeconds, log);
    const record: RunRecord = {
      run: suffix,
      answers,
      loadSeconds,
      poisonIds,
      faults: faultsDone,
      faultsPlanned: plan.length,
      processCrashes: stack.everything.flatMap((p) => p.crashes),
      restarts: restarts(),
    };
    const result = account(record, outcome, mails);
    process.stdout.write(result.text);
    if (opts.json) writeFileSync(opts.json, JSON.stringify(result.account, null, 2));
    exitCode = result.ok ? 0 : 1;
    if (!result.ok) for (const tail of stack.logTails()) log(tail);
  } finally {
    await cleanUp();
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    if (exitCode === 0) rmSync(dir, { recursive: true, force: true });
  }
  return exitCode;
}
