import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { SignupMessage, toFieldIssues } from '../src/contract';
import { withoutRowData } from '../src/db/postgres';
import { FailureType } from '../src/onboarding-policy';
import { recordHiddenDuplicate } from '../src/repositories/signup-request-repository';
import { createUserRepository, DuplicateEmailError } from '../src/repositories/user-repository';

export interface ActivityDeps {
  pool: Pool;
  /**
   * DUPLICATE_SIGNUP_RESPONSE. `accepted`: a signup whose address is registered is recorded as a
   * hidden duplicate and the run ends normally (no dead letter). Unset or `conflict`: it fails
   * with DuplicateEmail and is dead-lettered.
   */
  duplicateSignupResponse?: 'conflict' | 'accepted';
  /** The worker's pino logger; without one (unit tests), the SDK's activity logger is used. */
  logger?: Logger;
}

type LogFields = Record<string, unknown>;

/**
 * A logger for the current activity whose lines carry the request id of the HTTP call that
 * started it and the workflow id, so one grep follows a signup from the API to Postgres.
 */
export function activityLog(base: Logger | undefined, requestId: string | undefined) {
  const info = Context.current().info;
  const fields: LogFields = {
    request_id: requestId,
    workflowId: info.workflowExecution?.workflowId,
    activity: info.activityType,
    attempt: info.attempt,
  };
  if (base) {
    const child = base.child(fields);
    return { info: (msg: string, extra: LogFields = {}) => child.info(extra, msg), warn: (msg: string, extra: LogFields = {}) => child.warn(extra, msg) };
  }
  const sdk = Context.current().log;
  return { info: (msg: string, extra: LogFields = {}) => sdk.info(msg, { ...fields, ...extra }), warn: (msg: string, extra: LogFields = {}) => sdk.warn(msg, { ...fields, ...extra }) };
}

/** What persistUser did. `hidden_duplicate`: the address was registered (accepted mode); no row was written. */
export interface PersistOutcome {
  created: boolean;
  /** The user was erased (a tombstone): nothing was written, and the run ends without the user. */
  erased: boolean;
  /** The registered user to notify, null if it vanished meanwhile. Ids only: this is kept in the run's history. */
  hidden_duplicate?: { existing_user_id: string | null };
}

/** What a run of the earlier two-step code asks markState to record: COMPLETED. */
export interface MarkStateInput {
  user_id: string;
  onboarding_state: 'COMPLETED';
  request_id?: string;
}

/**
 * The onboarding activities, built from their dependencies so tests can hand them a pool of
 * their own. The FailureTypes thrown here are non-retryable (NON_RETRYABLE_FAILURE_TYPES).
 */
export function createActivities({ pool, logger, duplicateSignupResponse = 'conflict' }: ActivityDeps) {
  const users = createUserRepository(pool);
  return {
    /** The contract check as a step of its own: only runs started before PERSIST_VALIDATES_PATCH call it. */
    async validateSignup(signup: SignupMessage): Promise<void> {
      const log = activityLog(logger, signup?.request_id);
      checkContract(signup, log);
      log.info('signup valid', { user_id: signup.user_id });
    },

    /**
     * Checks the message against the contract (the workflow may be started by something other
     * than the bridge), then writes the user onboarded: the row and its final state together, so
     * a failure or a run timeout leaves either no row or a finished one, never a row
     * half-onboarded. Idempotent: a retry or a replayed message finds its own row and succeeds,
     * completing one that an earlier version left PERSISTED. For an erased user (a tombstone)
     * nothing is written and `erased` is true: the run then ends without the user.
     */
    async persistUser(signup: SignupMessage): Promise<PersistOutcome> {
      const log = activityLog(logger, signup?.request_id);
      checkContract(signup, log);
      try {
        const result = await users.insert(signup);
        if (result.erased) {
          log.info('user erased: nothing written', { user_id: signup.user_id });
          return result;
        }
        log.info(result.created ? 'user onboarded: row written COMPLETED' : 'user row already there, now COMPLETED', { user_id: signup.user_id });
        return result;
      } catch (err) {
        if (err instanceof DuplicateEmailError && duplicateSignupResponse === 'accepted') {
          // The API answered 202 as for a new signup; its id must now read like one (unverified).
          await recordHiddenDuplicate(pool, signup.user_id, new Date(signup.requested_at)).catch((e: unknown) => {
            throw withoutRowData(e);
          });
          log.info('email already registered: recorded as a hidden duplicate', { user_id: signup.user_id, existing_user_id: err.existingUserId });
          return { created: false, erased: false, hidden_duplicate: { existing_user_id: err.existingUserId } };
        }
        if (err instanceof DuplicateEmailError) {
          log.warn('email already registered', { user_id: signup.user_id, existing_user_id: err.existingUserId });
          throw ApplicationFailure.nonRetryable('email already registered', FailureType.DuplicateEmail, {
            existing_user_id: err.existingUserId,
          });
        }
        // The SDK logs a failed attempt and records it in history: never with the row in it.
        throw withoutRowData(err);
      }
    },

    /**
     * Completes the user's onboarding; idempotent. Only runs started before
     * PERSIST_WRITES_COMPLETED_PATCH call it (their history has the step); for them the row is
     * usually COMPLETED already, and this changes nothing.
     */
    async markState(input: MarkStateInput): Promise<void> {
      const log = activityLog(logger, input.request_id);
      const found = await users.completeOnboarding(input.user_id).catch((err: unknown) => {
        throw withoutRowData(err);
      });
      if (!found) throw ApplicationFailure.nonRetryable(`no user ${input.user_id}`, FailureType.UserNotFound);
      log.info('onboarding state set', { user_id: input.user_id, onboarding_state: input.onboarding_state });
    },
  };
}

/** Throws InvalidSignup (non-retryable), with the field issues, for a message that breaks the contract. */
function checkContract(signup: SignupMessage, log: ReturnType<typeof activityLog>): void {
  const parsed = SignupMessage.safeParse(signup);
  if (!parsed.success) {
    const issues = toFieldIssues(parsed.error);
    log.warn('signup breaks the contract', { issues });
    throw ApplicationFailure.nonRetryable(`invalid signup: ${issues.map((i) => `${i.field} ${i.message}`).join('; ')}`, FailureType.InvalidSignup, issues);
  }
}

export type OnboardingActivities = ReturnType<typeof createActivities>;
