/**
 * Dead letters told together with the database (list, show) and replayed so that each signup
 * ends onboarded (replay). A letter alone can mislead: a message may expire in the queue while a
 * run started from an earlier delivery still onboards its user, and a row an earlier version
 * left PERSISTED needs its run again, not just the letter removed. Knows nothing of amqplib: the
 * caller republishes and removes.
 */
import type { Logger } from 'pino';
import { type DeadLetter, judgeDeadLetter, type UserRowState, type Verdict, withRecordedReason } from '../dlq/dead-letters';
import { FailureType } from '../onboarding-policy';
import type { SignupRequestRepository } from '../repositories/signup-request-repository';
import type { UserRepository } from '../repositories/user-repository';

export type ReviewedDeadLetter = DeadLetter & Verdict & { user: UserRowState };

export interface ReviewDeadLettersDeps {
  users: Pick<UserRepository, 'onboardingStates'>;
  signupRequests: Pick<SignupRequestRepository, 'failureReasons' | 'clearFailure'>;
  logger: Logger;
}

async function rowStates(users: ReviewDeadLettersDeps['users'], letters: DeadLetter[], log: Logger): Promise<(userId?: string) => UserRowState> {
  try {
    const states = await users.onboardingStates(letters.flatMap((l) => (l.userId ? [l.userId] : [])));
    return (userId) => (userId ? (states.get(userId) ?? 'none') : 'none');
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'could not read the users of the dead letters');
    return () => 'unknown';
  }
}

/** Each letter with the failure the bridge recorded (where there is one) and what the database says of its user. */
export function createReviewDeadLetters({ users, signupRequests, logger }: ReviewDeadLettersDeps) {
  return async function reviewDeadLetters(letters: DeadLetter[]): Promise<ReviewedDeadLetter[]> {
    const ids = letters.flatMap((l) => (l.userId ? [l.userId] : []));
    const reasons = await signupRequests.failureReasons(ids).catch(() => new Map<string, string>());
    const stateOf = await rowStates(users, letters, logger);
    return letters.map((taken) => {
      // The recorded reason tells a failed run from a letter no process could handle.
      const letter = withRecordedReason(taken, taken.userId ? reasons.get(taken.userId) : undefined);
      const user = stateOf(letter.userId);
      return { ...letter, user, ...judgeDeadLetter(letter, user) };
    });
  };
}

export interface ReplayOutcome {
  id: string;
  outcome: 'replayed' | 'removed' | 'skipped' | 'failed';
  message: string;
}

export interface ReplayDeadLettersDeps extends ReviewDeadLettersDeps {
  /** Puts the letter back on the onboarding exchange with the broker's confirm, then removes its DLQ copy. */
  republish(letter: DeadLetter): Promise<void>;
  /** Removes the DLQ copy only. */
  remove(letter: DeadLetter): void;
}

/**
 * Replays letters so that each signup ends onboarded. The user row is read again for each letter
 * just before acting: onboarded (COMPLETED), only the copy is removed; left PERSISTED or absent,
 * the message is republished, and the bridge starts its run again (a failed run's id may be
 * reused) or attaches to the one still going; its persistUser writes or finishes the row.
 */
export function createReplayDeadLetters(deps: ReplayDeadLettersDeps) {
  const { users, signupRequests, logger } = deps;
  return async function replayDeadLetters(letters: DeadLetter[]): Promise<ReplayOutcome[]> {
    const outcomes: ReplayOutcome[] = [];
    for (const letter of letters) {
      const state = (await rowStates(users, [letter], logger))(letter.userId);
      const { verdict, replay } = judgeDeadLetter(letter, state);
      if (replay === 'skip') {
        outcomes.push({ id: letter.id, outcome: 'skipped', message: `skipped, ${verdict} (${letter.detail})` });
        continue;
      }
      if (replay === 'remove') {
        deps.remove(letter);
        outcomes.push({ id: letter.id, outcome: 'removed', message: 'user already onboarded (COMPLETED); DLQ copy removed' });
        continue;
      }
      try {
        await deps.republish(letter);
      } catch (err) {
        outcomes.push({ id: letter.id, outcome: 'failed', message: `not replayed, still in the DLQ: ${(err as Error).message}` });
        continue;
      }
      // GET answers "queued" again rather than the old failure; the message is already safe.
      if (letter.userId) await signupRequests.clearFailure(letter.userId).catch(() => undefined);
      outcomes.push({
        id: letter.id,
        outcome: 'replayed',
        message: state === 'PERSISTED' ? 'replayed; its run finishes the user row left PERSISTED' : 'replayed',
      });
    }
    return outcomes;
  };
}

// ---- The operations on the DLQ, for the command line (`npm run dlq`) and the admin API alike.

/** Every letter of the DLQ, taken off without acknowledging: what the work neither removes nor republishes goes back when it ends. */
export interface DeadLetterSession {
  letters: DeadLetter[];
  /** Removes the DLQ copy only. */
  remove(letter: DeadLetter): void;
  /** Puts the letter back on the onboarding exchange with the broker's confirm, then removes its DLQ copy. */
  republish(letter: DeadLetter): Promise<void>;
}

export type DeadLetterWork<T> = (session: DeadLetterSession) => Promise<T>;

export interface DeadLetterQueue {
  /** Runs `work` on the letters; one session at a time across processes. */
  session<T>(work: DeadLetterWork<T>): Promise<T>;
}

export interface DeadLetterOperationsDeps extends ReviewDeadLettersDeps {
  queue: DeadLetterQueue;
}

/** A letter as a list shows it: ids, why, counts. No personal data, not even the masked address. */
export interface DeadLetterSummary {
  id: string;
  user_id: string | null;
  reason: DeadLetter['reason'];
  /** The FailureType of a failed run, read from the recorded reason ("DuplicateEmail: …"); null otherwise. */
  failure_type: string | null;
  detail: string;
  user: UserRowState;
  verdict: string;
  replay: Verdict['replay'];
  dead_letter_count: number;
  dead_lettered_at: string | null;
}

/** A letter as `show` prints it: the summary with the masked address, the workflow id, its headers and its body without hash or address. */
export interface DeadLetterDetail extends DeadLetterSummary {
  email: string | null;
  workflow_id: string | null;
  headers: Record<string, unknown>;
  body: unknown;
}

export function deadLetterSummary(l: ReviewedDeadLetter): DeadLetterSummary {
  const failureType = /^([A-Za-z]+): /.exec(l.detail)?.[1];
  return {
    id: l.id,
    user_id: l.userId ?? null,
    reason: l.reason,
    failure_type: l.reason === 'workflow-failed' && failureType && (Object.values(FailureType) as string[]).includes(failureType) ? failureType : null,
    detail: l.detail,
    user: l.user,
    verdict: l.verdict,
    replay: l.replay,
    dead_letter_count: l.deadLetterCount,
    dead_lettered_at: l.deadLetteredAt?.toISOString() ?? null,
  };
}

export function deadLetterDetail(l: ReviewedDeadLetter): DeadLetterDetail {
  return {
    ...deadLetterSummary(l),
    email: l.maskedEmail ?? null,
    workflow_id: l.workflowId ?? null,
    headers: (l.message.properties.headers ?? {}) as Record<string, unknown>,
    body: redactedBody(l.message.content),
  };
}

/** The message body with the password hash and the address replaced. */
export function redactedBody(content: Buffer): unknown {
  try {
    const body = JSON.parse(content.toString('utf8'));
    if (body && typeof body === 'object' && 'password_hash' in body) body.password_hash = '[redacted]';
    if (body && typeof body === 'object' && typeof body.email === 'string') body.email = '[see masked email]';
    return body;
  } catch {
    return `(not JSON, ${content.length} bytes)`;
  }
}

/** Is this letter the signup of this user? By its body's user_id, or by its message id (the API uses the user_id). */
const isLetterOf = (userId: string) => (l: DeadLetter) => l.userId === userId || l.id === userId;

export function createDeadLetterOperations(deps: DeadLetterOperationsDeps) {
  const review = createReviewDeadLetters(deps);
  const replayLetters = (session: DeadLetterSession) =>
    createReplayDeadLetters({ ...deps, republish: (l) => session.republish(l), remove: (l) => session.remove(l) });
  return {
    /** Every letter, told with the database. */
    list: (): Promise<ReviewedDeadLetter[]> => deps.queue.session(({ letters }) => review(letters)),
    /** The letter with this id, or null. */
    find: (id: string): Promise<ReviewedDeadLetter | null> =>
      deps.queue.session(async ({ letters }) => {
        const found = letters.filter((l) => l.id === id);
        return found.length > 0 ? (await review(found))[0] : null;
      }),
    /** Replays the letters with this id (or every letter with 'all'); an empty result means none had it. */
    replay: (id: string | { all: true }): Promise<ReplayOutcome[]> =>
      deps.queue.session(async (session) => {
        const chosen = typeof id === 'string' ? session.letters.filter((l) => l.id === id) : session.letters;
        return chosen.length > 0 ? replayLetters(session)(chosen) : [];
      }),
    /** Erasure: removes every letter of the user; the others go back untouched, in their order. Returns how many it removed. */
    removeLettersOf: (userId: string): Promise<number> =>
      deps.queue.session(async (session) => {
        const theirs = session.letters.filter(isLetterOf(userId));
        theirs.forEach((l) => session.remove(l));
        return theirs.length;
      }),
  };
}
export type DeadLetterOperations = ReturnType<typeof createDeadLetterOperations>;
