/**
 * Dead letters told together with the database (list, show) and replayed so that each signup
 * ends onboarded (replay). A letter alone can mislead: a message may expire in the queue while a
 * run started from an earlier delivery still onboards its user, and a row an earlier version
 * left PERSISTED needs its run again, not just the letter removed. Knows nothing of amqplib: the
 * caller republishes and removes.
 */
import type { Logger } from 'pino';
import { type DeadLetter, judgeDeadLetter, type UserRowState, type Verdict, withRecordedReason } from '../dlq/dead-letters';
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
