/**
 * The chaos run's account: once every accepted signup has settled, each 2xx must be exactly one
 * user row or exactly one dead letter, nothing may be left in the queue, no process may have been
 * restarted but by a fault, and nothing else may have gone wrong. Every user must have a
 * verification mail; more than one only where a fault could cut a send off from its recording;
 * and no mail may go to an address that is no user. The same tally is told for the signups
 * answered during each fault.
 */
import amqplib from 'amqplib';
import { Pool } from 'pg';
import type { Config } from '../../../src/config';
import { classifyDeadLetter, type DeadLetter, takeAll, withRecordedReason } from '../../../src/dlq/dead-letters';
import { failureReasons } from '../../../src/repositories/signup-request-repository';
import { queueDepth } from '../rabbit-admin';
import { sleep } from '../wait';
import type { Answer } from './load';
import { crashWindow, mailTally, type ReceivedMail } from './mail';

interface UserRow {
  user_id: string;
  email: string;
  onboarding_state: string;
}

/** Where the run's signups ended: its user rows, its dead letters, and what is still in the queue. */
export interface Outcome {
  rows: UserRow[];
  letters: DeadLetter[];
  /** Messages in the signup queue, ready or held, once the run settled. */
  queueDepth: number;
}

async function readOutcome(config: Config): Promise<Omit<Outcome, 'queueDepth'>> {
  const pool = new Pool({ connectionString: config.postgres.url, max: 1 });
  try {
    const { rows } = await pool.query<UserRow>('SELECT user_id, email, onboarding_state FROM users');
    const connection = await amqplib.connect(config.amqp.url);
    let taken: DeadLetter[];
    try {
      taken = (await takeAll(await connection.createChannel(), config.amqp.deadLetterQueue)).map(classifyDeadLetter);
    } finally {
      // Closing returns every letter taken to the DLQ.
      await connection.close();
    }
    // As the DLQ tool tells them: what the bridge recorded tells a letter no process could handle from a failed run.
    const reasons = await failureReasons(pool, taken.flatMap((l) => (l.userId ? [l.userId] : [])));
    return { rows, letters: taken.map((l) => withRecordedReason(l, l.userId ? reasons.get(l.userId) : undefined)) };
  } finally {
    await pool.end();
  }
}

/**
 * Waits until every accepted signup is a COMPLETED row or a dead letter, the poison has arrived
 * and the queue is empty, or the time is up.
 */
export async function settle(
  config: Config,
  expect: { acceptedIds: Set<string>; poisonIds: string[]; seconds: number },
  log: (line: string) => void,
): Promise<Outcome> {
  const deadline = Date.now() + expect.seconds * 1000;
  for (;;) {
    const outcome = await readOutcome(config);
    const settled = new Set([
      ...outcome.rows.filter((r) => r.onboarding_state === 'COMPLETED').map((r) => r.user_id),
      ...outcome.letters.map((l) => l.id),
    ]);
    const pending = [...expect.acceptedIds].filter((id) => !settled.has(id)).length;
    const poisonIn = outcome.letters.filter((l) => expect.poisonIds.includes(l.id)).length;
    const depth = pending === 0 && poisonIn === expect.poisonIds.length ? await queueDepth(config.amqp.queue) : undefined;
    if (depth === 0) return { ...outcome, queueDepth: 0 };
    if (Date.now() > deadline) {
      log(`settle timed out with ${pending} accepted signups unsettled`);
      return { ...outcome, queueDepth: depth ?? (await queueDepth(config.amqp.queue)) };
    }
    await sleep(1_000);
  }
}

/** One fault as it happened: when, what it saw, and what it restarted. */
export interface FaultRecord {
  name: string;
  /** Signups answered when it started, and whether the load was still running then. */
  at: number;
  duringLoad: boolean;
  /** The answers (positions in the run's answer list) that came while it was going on. */
  answers: [from: number, to: number];
  /** When it began and ended, in ms since the epoch. */
  startedAt: number;
  endedAt: number;
  /** Whether it can make a run mail again what the SMTP server had accepted (see Fault.mayRepeatMail). */
  mayRepeatMail: boolean;
  /** Processes restarted while it ran, and how many of those the fault itself does. */
  restarts: number;
  restartsOwn: number;
  /** What it saw of the service healing, or why it failed. */
  saw?: string;
  error?: string;
}

/** What happened during the load, besides the answers. */
export interface RunRecord {
  run: string;
  answers: Answer[];
  loadSeconds: number;
  poisonIds: string[];
  faults: FaultRecord[];
  faultsPlanned: number;
  processCrashes: string[];
  /** Restarts of the run's processes, all told: every start after a process's first. */
  restarts: number;
}

const countBy = <T>(items: T[], key: (item: T) => string) =>
  items.reduce<Record<string, number>>((m, item) => ((m[key(item)] = (m[key(item)] ?? 0) + 1), m), {});

/** Where some answers' signups ended: counts, and every loss or duplicate by name. */
interface Tally {
  sent: number;
  accepted: number;
  rows: number;
  completedRows: number;
  letters: number;
  dlqByReason: Record<string, number>;
  lost: string[];
  duplicates: string[];
  /**
   * Onboarded once, and a letter too, saying a worker that lacked the payload key could not read
   * the completed run's result: one user, not two; the letter is explained and safe to purge.
   */
  onboardedWithUnreadableLetter: string[];
}

/** Tallies `answers` against the rows and letters that are theirs (the caller picks them). */
function tally(answers: Answer[], rows: UserRow[], letters: DeadLetter[]): Tally {
  const acceptedIds = new Set(answers.flatMap((a) => (a.status === 202 && a.userId ? [a.userId] : [])));
  const rowById = new Map(rows.map((r) => [r.user_id, r]));
  const lettersById = new Map<string, DeadLetter[]>();
  for (const l of letters) lettersById.set(l.id, [...(lettersById.get(l.id) ?? []), l]);
  const lost = [...acceptedIds].filter((id) => !rowById.has(id) && !lettersById.has(id));
  const rowAndLetter = [...acceptedIds].filter((id) => rowById.has(id) && lettersById.has(id));
  const unreadableOnly = (id: string) =>
    rowById.get(id)?.onboarding_state === 'COMPLETED' && (lettersById.get(id) ?? []).every((l) => l.reason === 'unhandleable');
  const emailRows = countBy(rows, (r) => r.email);
  const duplicates = [
    ...Object.entries(emailRows).filter(([, n]) => n > 1).map(([email]) => `more than one row for ${email}`),
    ...rowAndLetter.filter((id) => !unreadableOnly(id)).map((id) => `row and DLQ copy for ${id}`),
    ...[...lettersById].filter(([, copies]) => copies.length > 1).map(([id, copies]) => `${copies.length} DLQ copies of ${id}`),
  ];
  return {
    sent: answers.length,
    accepted: acceptedIds.size,
    rows: rows.length,
    completedRows: rows.filter((r) => r.onboarding_state === 'COMPLETED').length,
    letters: letters.length,
    dlqByReason: countBy(letters, (l) => l.reason),
    lost,
    duplicates,
    onboardedWithUnreadableLetter: rowAndLetter.filter(unreadableOnly),
  };
}

/** The signups answered during one fault, their rows (by id or e-mail) and their letters. */
function duringFault(record: FaultRecord, answers: Answer[], outcome: Outcome): { during: Answer[]; rows: UserRow[]; letters: DeadLetter[] } {
  const during = answers.slice(...record.answers);
  const ids = new Set(during.flatMap((a) => (a.userId ? [a.userId] : [])));
  const emails = new Set(during.flatMap((a) => (a.email ? [a.email] : [])));
  return {
    during,
    rows: outcome.rows.filter((r) => ids.has(r.user_id) || emails.has(r.email)),
    letters: outcome.letters.filter((l) => ids.has(l.id)),
  };
}

/** What the mail account says of one fault: its users without a verification mail, and the users whose mail it repeated. */
interface FaultMail {
  withoutVerificationMail: number;
  repeated: number;
}

/** How the account names a fault's crash window: its place in the run and its name. */
const windowName = (n: number, record: FaultRecord) => `${n}. ${record.name}`;

function faultLine(n: number, record: FaultRecord, t: Tally, mail: FaultMail): string {
  const when = record.duringLoad ? `at ${record.at} answered` : `at ${record.at} answered, AFTER the load`;
  const repeated = record.mayRepeatMail ? `, verification mail repeated for ${mail.repeated} users` : '';
  return [
    `  ${n}. ${record.name} (${when})`,
    `     ${t.sent} answered during it, ${t.accepted} accepted: ${t.rows} rows, DLQ ${JSON.stringify(t.dlqByReason)}; ` +
      `lost ${t.lost.length}, duplicates ${t.duplicates.length}; restarted ${record.restarts} (its own ${record.restartsOwn})`,
    `     mail: ${mail.withoutVerificationMail} of its users without a verification mail${repeated}`,
    record.error ? `     FAILED: ${record.error}` : `     saw: ${record.saw ?? 'done'}`,
  ].join('\n');
}

/** The account as JSON (what --json writes and the chaos test reads), the verdict, and the text printed. */
export function account(record: RunRecord, outcome: Outcome, mails: ReceivedMail[]): { account: Record<string, unknown>; ok: boolean; text: string } {
  const { answers, poisonIds } = record;
  const run = tally(answers, outcome.rows, outcome.letters);
  const acceptedIds = new Set(answers.flatMap((a) => (a.status === 202 && a.userId ? [a.userId] : [])));
  const byStatus = countBy(answers, (a) => String(a.status));
  const unexpected5xx = answers.filter((a) => a.status >= 500 && a.status !== 503).length;
  const unavailableWithoutRetryAfter = answers.filter((a) => a.status === 503 && !a.retryAfter).length;
  const badAccepted = answers.filter((a) => a.bad && a.status >= 200 && a.status < 300).length;
  // A request without an answer (status 0) is harmless if the API never took it: refused while
  // no API listened, or reset before the API read it (a connection still in the listen queue
  // when a draining API stops listening). It is a broken promise if the API accepted it: a user
  // row for it means the signup happened and its 2xx was lost. No fault here excuses that.
  const refusedConnections = answers.filter((a) => a.status === 0 && a.error === 'refused').length;
  const unanswered = answers.filter((a) => a.status === 0 && a.error !== 'refused');
  const rowEmails = new Set(outcome.rows.map((r) => r.email));
  const answersLost = unanswered.filter((a) => a.email !== undefined && rowEmails.has(a.email)).length;
  const rowsNotAccepted = outcome.rows.filter((r) => !acceptedIds.has(r.user_id)).length;
  const crashes = record.processCrashes;
  const unavailableByService = countBy(
    answers.filter((a) => a.status === 503),
    (a) => a.service ?? '?',
  );
  const faultsDuringLoad = record.faults.filter((f) => f.duringLoad).length;
  const faultsStarted = `${faultsDuringLoad}/${record.faultsPlanned}`;
  const faultsFailed = record.faults.filter((f) => f.error).map((f) => `${f.name}: ${f.error}`);
  const restartsByFaults = record.faults.reduce((n, f) => n + f.restartsOwn, 0);
  const restartedByHand = record.restarts - restartsByFaults;
  const faultRows = record.faults.map((f) => duringFault(f, answers, outcome));
  const faultTallies = faultRows.map((f) => tally(f.during, f.rows, f.letters));
  // Each user's verification mail; a repeat only inside the window of a fault that can cut a send off.
  const crashWindows = record.faults.flatMap((f, k) => (f.mayRepeatMail ? [crashWindow(windowName(k + 1, f), f.startedAt, f.endedAt)] : []));
  const mail = mailTally(outcome.rows.map((r) => r.email), mails, crashWindows);
  const unmailed = new Set(mail.withoutVerificationMail);
  const faultMail: FaultMail[] = record.faults.map((f, k) => ({
    withoutVerificationMail: faultRows[k].rows.filter((r) => unmailed.has(r.email.toLowerCase())).length,
    repeated: mail.repeatedByFault[windowName(k + 1, f)] ?? 0,
  }));
  const json = {
    run: record.run,
    signups_sent: answers.length,
    load_seconds: record.loadSeconds,
    answered_2xx: run.accepted,
    answers_by_status: byStatus,
    unavailable_503_by_service: unavailableByService,
    user_rows: run.rows,
    user_rows_completed: run.completedRows,
    dlq_messages: run.letters,
    dlq_by_reason: run.dlqByReason,
    poison_sent: poisonIds.length,
    lost: run.lost.length,
    duplicates: run.duplicates.length,
    onboarded_with_unreadable_letter: run.onboardedWithUnreadableLetter.length,
    rows_without_a_2xx: rowsNotAccepted,
    bad_bodies_accepted: badAccepted,
    unexpected_5xx: unexpected5xx,
    unavailable_without_retry_after: unavailableWithoutRetryAfter,
    refused_connections: refusedConnections,
    unanswered_requests: unanswered.length,
    answers_lost: answersLost,
    queue_depth_at_end: outcome.queueDepth,
    mails_received: mail.received,
    mails_by_kind: mail.byKind,
    users_without_verification_mail: mail.withoutVerificationMail.length,
    users_with_repeated_verification_mail: mail.repeated,
    repeated_verification_mails: mail.extraCopies,
    repeated_verification_mail_by_fault: mail.repeatedByFault,
    repeated_verification_mail_outside_crash_windows: mail.repeatedOutsideCrashWindows.length,
    mails_to_non_users: mail.toNonUsers,
    restarts: record.restarts,
    restarted_by_hand: restartedByHand,
    faults_started_during_load: faultsStarted,
    faults_failed: faultsFailed,
    faults: record.faults.map((f, k) => ({
      fault: f.name,
      at: f.at,
      during_load: f.duringLoad,
      signups_answered: faultTallies[k].sent,
      accepted: faultTallies[k].accepted,
      user_rows: faultTallies[k].rows,
      dlq_by_reason: faultTallies[k].dlqByReason,
      lost: faultTallies[k].lost.length,
      duplicates: faultTallies[k].duplicates.length,
      without_verification_mail: faultMail[k].withoutVerificationMail,
      may_repeat_mail: f.mayRepeatMail,
      repeated_verification_mail: faultMail[k].repeated,
      restarts: f.restarts,
      restarts_own: f.restartsOwn,
      saw: f.saw ?? null,
      error: f.error ?? null,
    })),
    process_crashes: crashes,
    lost_ids: run.lost.slice(0, 20),
    duplicate_details: run.duplicates.slice(0, 20),
    users_without_verification_mail_sample: mail.withoutVerificationMail.slice(0, 20),
    repeated_outside_crash_windows_sample: mail.repeatedOutsideCrashWindows.slice(0, 20),
  };
  const ok =
    run.lost.length === 0 &&
    run.duplicates.length === 0 &&
    unexpected5xx === 0 &&
    unavailableWithoutRetryAfter === 0 &&
    badAccepted === 0 &&
    crashes.length === 0 &&
    answersLost === 0 &&
    outcome.queueDepth === 0 &&
    restartedByHand === 0 &&
    faultsFailed.length === 0 &&
    faultsDuringLoad === record.faultsPlanned &&
    run.accepted > 0 &&
    (run.dlqByReason.poison ?? 0) === poisonIds.length &&
    mail.withoutVerificationMail.length === 0 &&
    mail.repeatedOutsideCrashWindows.length === 0 &&
    mail.toNonUsers === 0 &&
    mail.byKind.other === 0;
  const text = [
    '',
    `chaos account (run ${record.run})`,
    `  signups sent              ${answers.length} in ${record.loadSeconds.toFixed(1)} s (${JSON.stringify(byStatus)})`,
    `  answered 2xx              ${run.accepted}`,
    `  user rows                 ${run.rows} (${run.completedRows} COMPLETED)`,
    `  DLQ messages              ${run.letters} ${JSON.stringify(run.dlqByReason)}`,
    `  lost                      ${run.lost.length}`,
    `  duplicates                ${run.duplicates.length}`,
    `  onboarded, and a letter   ${run.onboardedWithUnreadableLetter.length} (one user each; the letter says a worker lacking the payload key could not read the run's result: safe to purge)`,
    `  rows without a 2xx        ${rowsNotAccepted} (a 503 whose publish the broker confirmed late)`,
    `  bad bodies accepted       ${badAccepted}`,
    `  unexpected 5xx            ${unexpected5xx}`,
    `  answers lost              ${answersLost} (accepted, but the 2xx never reached the client; ` +
      `${unanswered.length} other requests unanswered and not taken, ${refusedConnections} refused while no API listened)`,
    `  left in the queue         ${outcome.queueDepth} (ready or held, once settled: 0 means nothing stranded)`,
    `  restarted by hand         ${restartedByHand} (${record.restarts} restarts in all, ${restartsByFaults} of them the faults' own)`,
    `  process crashes           ${crashes.length}`,
    `  mails received            ${mail.received} ${JSON.stringify(mail.byKind)}`,
    `  users without a mail      ${mail.withoutVerificationMail.length} (of ${mail.users} users, each must have its verification mail)`,
    `  mail repeated             ${mail.repeated} users (${mail.extraCopies} extra mails): ` +
      `${JSON.stringify(mail.repeatedByFault)} in crash windows, ${mail.repeatedOutsideCrashWindows.length} outside any (must be 0)`,
    `  mails to non-users        ${mail.toNonUsers}`,
    `  faults                    ${faultsStarted} started during the load, ${faultsFailed.length} failed`,
    ...record.faults.map((f, k) => faultLine(k + 1, f, faultTallies[k], faultMail[k])),
    `  503 by service            ${JSON.stringify(unavailableByService)}`,
    `RESULT: ${ok ? 'PASS' : 'FAIL'} (sent ${answers.length}, 2xx ${run.accepted}, rows ${run.rows}, lost ${run.lost.length}, ` +
      `duplicates ${run.duplicates.length}; mails ${mail.received}, users without a verification mail ${mail.withoutVerificationMail.length}, ` +
      `repeated ${mail.repeated} (${mail.repeatedOutsideCrashWindows.length} outside crash windows), to non-users ${mail.toNonUsers})`,
    '',
  ].join('\n');
  return { account: json, ok, text };
}
