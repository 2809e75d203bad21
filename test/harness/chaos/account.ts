/**
 * The chaos run's account: once every accepted signup has settled, each 2xx must be exactly one
 * user row or exactly one dead letter, and nothing else may have gone wrong.
 */
import amqplib from 'amqplib';
import { Client } from 'pg';
import type { Config } from '../../../src/config';
import { classifyDeadLetter, type DeadLetter, takeAll } from '../../../src/dlq/dead-letters';
import { sleep } from '../wait';
import type { Answer } from './load';

interface UserRow {
  user_id: string;
  email: string;
  onboarding_state: string;
}

/** Where the run's signups ended: its user rows and its dead letters. */
export interface Outcome {
  rows: UserRow[];
  letters: DeadLetter[];
}

async function readOutcome(config: Config): Promise<Outcome> {
  const db = new Client({ connectionString: config.postgres.url });
  await db.connect();
  const { rows } = await db.query<UserRow>('SELECT user_id, email, onboarding_state FROM users');
  await db.end();
  const connection = await amqplib.connect(config.amqp.url);
  const channel = await connection.createChannel();
  const letters = (await takeAll(channel, config.amqp.deadLetterQueue)).map(classifyDeadLetter);
  await channel.close();
  await connection.close();
  return { rows, letters };
}

/** Waits until every accepted signup is a COMPLETED row or a dead letter and the poison has arrived, or the time is up. */
export async function settle(
  config: Config,
  expect: { acceptedIds: Set<string>; poisonIds: string[]; seconds: number },
  log: (line: string) => void,
): Promise<Outcome> {
  let outcome = await readOutcome(config);
  const deadline = Date.now() + expect.seconds * 1000;
  for (;;) {
    const settled = new Set([
      ...outcome.rows.filter((r) => r.onboarding_state === 'COMPLETED').map((r) => r.user_id),
      ...outcome.letters.map((l) => l.id),
    ]);
    const pending = [...expect.acceptedIds].filter((id) => !settled.has(id)).length;
    const poisonIn = outcome.letters.filter((l) => expect.poisonIds.includes(l.id)).length;
    if (pending === 0 && poisonIn === expect.poisonIds.length) return outcome;
    if (Date.now() > deadline) {
      log(`settle timed out with ${pending} accepted signups unsettled`);
      return outcome;
    }
    await sleep(1_000);
    outcome = await readOutcome(config);
  }
}

/** What happened during the load, besides the answers. */
export interface RunRecord {
  run: string;
  answers: Answer[];
  loadSeconds: number;
  poisonIds: string[];
  /** Each fault injected, with when; and how many started before the load ended, of how many planned. */
  faultsDone: string[];
  faultsDuringLoad: number;
  faultsPlanned: number;
  processCrashes: string[];
}

const countBy = <T>(items: T[], key: (item: T) => string) =>
  items.reduce<Record<string, number>>((m, item) => ((m[key(item)] = (m[key(item)] ?? 0) + 1), m), {});

/** The account as JSON (what --json writes and the chaos test reads), the verdict, and the text printed. */
export function account(record: RunRecord, outcome: Outcome): { account: Record<string, unknown>; ok: boolean; text: string } {
  const { answers, poisonIds } = record;
  const accepted = answers.filter((a) => a.status === 202 && a.userId);
  const acceptedIds = new Set(accepted.map((a) => a.userId as string));
  const rowIds = new Map(outcome.rows.map((r) => [r.user_id, r]));
  const dlqCount = new Map<string, number>();
  for (const l of outcome.letters) dlqCount.set(l.id, (dlqCount.get(l.id) ?? 0) + 1);
  const lost = [...acceptedIds].filter((id) => !rowIds.has(id) && !dlqCount.has(id));
  const emailRows = new Map<string, number>();
  for (const r of outcome.rows) emailRows.set(r.email, (emailRows.get(r.email) ?? 0) + 1);
  const duplicates = [
    ...[...emailRows].filter(([, n]) => n > 1).map(([email]) => `more than one row for ${email}`),
    ...[...acceptedIds].filter((id) => rowIds.has(id) && dlqCount.has(id)).map((id) => `row and DLQ copy for ${id}`),
    ...[...dlqCount].filter(([, n]) => n > 1).map(([id]) => `${dlqCount.get(id)} DLQ copies of ${id}`),
  ];
  const byStatus = countBy(answers, (a) => String(a.status));
  const dlqByReason = countBy(outcome.letters, (l) => l.reason);
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
  const completedRows = outcome.rows.filter((r) => r.onboarding_state === 'COMPLETED').length;
  const unavailableByService = countBy(
    answers.filter((a) => a.status === 503),
    (a) => a.service ?? '?',
  );
  const faultsStarted = `${record.faultsDuringLoad}/${record.faultsPlanned}`;
  const json = {
    run: record.run,
    signups_sent: answers.length,
    load_seconds: record.loadSeconds,
    answered_2xx: accepted.length,
    answers_by_status: byStatus,
    unavailable_503_by_service: unavailableByService,
    user_rows: outcome.rows.length,
    user_rows_completed: completedRows,
    dlq_messages: outcome.letters.length,
    dlq_by_reason: dlqByReason,
    poison_sent: poisonIds.length,
    lost: lost.length,
    duplicates: duplicates.length,
    rows_without_a_2xx: rowsNotAccepted,
    bad_bodies_accepted: badAccepted,
    unexpected_5xx: unexpected5xx,
    unavailable_without_retry_after: unavailableWithoutRetryAfter,
    refused_connections: refusedConnections,
    unanswered_requests: unanswered.length,
    answers_lost: answersLost,
    faults: record.faultsDone,
    faults_started_during_load: faultsStarted,
    process_crashes: crashes,
    lost_ids: lost.slice(0, 20),
    duplicate_details: duplicates.slice(0, 20),
  };
  const ok =
    lost.length === 0 &&
    duplicates.length === 0 &&
    unexpected5xx === 0 &&
    unavailableWithoutRetryAfter === 0 &&
    badAccepted === 0 &&
    crashes.length === 0 &&
    answersLost === 0 &&
    record.faultsDuringLoad === record.faultsPlanned &&
    accepted.length > 0 &&
    (dlqByReason.poison ?? 0) === poisonIds.length;
  const text = [
    '',
    `chaos account (run ${record.run})`,
    `  signups sent              ${answers.length} in ${record.loadSeconds.toFixed(1)} s (${JSON.stringify(byStatus)})`,
    `  answered 2xx              ${accepted.length}`,
    `  user rows                 ${outcome.rows.length} (${completedRows} COMPLETED)`,
    `  DLQ messages              ${outcome.letters.length} ${JSON.stringify(dlqByReason)}`,
    `  lost                      ${lost.length}`,
    `  duplicates                ${duplicates.length}`,
    `  rows without a 2xx        ${rowsNotAccepted} (a 503 whose publish the broker confirmed late)`,
    `  bad bodies accepted       ${badAccepted}`,
    `  unexpected 5xx            ${unexpected5xx}`,
    `  answers lost              ${answersLost} (accepted, but the 2xx never reached the client; ` +
      `${unanswered.length} other requests unanswered and not taken, ${refusedConnections} refused while no API listened)`,
    `  process crashes           ${crashes.length}`,
    `  faults                    ${faultsStarted} started during the load: ${record.faultsDone.join('; ')}`,
    `  503 by service            ${JSON.stringify(unavailableByService)}`,
    ok ? 'RESULT: PASS' : 'RESULT: FAIL',
    '',
  ].join('\n');
  return { account: json, ok, text };
}
