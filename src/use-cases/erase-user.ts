/**
 * DELETE /users/{user_id}: the right to erasure. Knows nothing of HTTP.
 *
 * Order matters. The database goes first, in one transaction under the per-user lock that
 * persistUser takes too: the row, the signup request, the links, the resend counters, the
 * idempotency keys, and the tombstone (the id only) that stops a signup still queued or a run
 * still going from writing the user again. Then the user's workflow runs are terminated and
 * deleted (a run that ends by termination finds the tombstone in the bridge, which acknowledges
 * its message instead of dead-lettering it), then the user's letters leave the DLQ, then
 * `user.erased` is published, then one audit line with ids only.
 *
 * Idempotent: every step can run again. A DELETE for a user already erased runs the steps after
 * the database again (so a retry after a Temporal or RabbitMQ outage finishes the job) and
 * answers the same.
 */
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { callDatabase } from '../db/postgres';
import { withTransaction } from '../db/transaction';
import { ServiceUnavailableError, UserNotFoundError } from '../errors';
import { userEvent, UserEventType } from '../events/cloud-event';
import type { EventPublisher } from '../events/event-publisher';
import { isErased, lockUserId, recordErasure } from '../repositories/erased-user-repository';
import { deleteIdempotencyKeysOfUser } from '../repositories/idempotency-key-repository';
import { deleteResendCounts } from '../repositories/resend-count-repository';
import { deleteSignupRequest } from '../repositories/signup-request-repository';
import { deleteUserRow } from '../repositories/user-repository';
import { deleteTokensOfUser } from '../repositories/verification-token-repository';
import { addressKey } from './resend-verification';
import type { DeadLetterOperations } from './review-dead-letters';

export interface EraseUserDeps {
  pool: Pool;
  /** Terminates and deletes every run of the user's workflows; returns how many runs it deleted. */
  deleteRuns(userId: string): Promise<number>;
  deadLetters: Pick<DeadLetterOperations, 'removeLettersOf'>;
  events: Pick<EventPublisher, 'publish'>;
  /** config.events.source */
  eventSource: string;
  /** The key of the resend counters' address HMACs (resendAddressSecret). */
  resendAddressSecret: Buffer;
  logger: Logger;
}

export interface Erasure {
  user_id: string;
  /** False when an earlier DELETE had erased it already (this one finished what was left, if anything). */
  first: boolean;
  workflow_runs_deleted: number;
  dead_letters_removed: number;
}

/**
 * The database part of an erasure, in one transaction under the per-user lock persistUser takes
 * too. Returns null when the id was never known (no row, no signup, no tombstone): then nothing
 * is written, not even a tombstone.
 */
export function eraseUserRows(pool: Pool, userId: string, resendSecret: Buffer): Promise<{ first: boolean } | null> {
  return withTransaction(pool, async (client) => {
    await lockUserId(client, userId);
    const alreadyErased = await isErased(client, userId);
    const row = await deleteUserRow(client, userId);
    const hadSignup = await deleteSignupRequest(client, userId);
    if (!alreadyErased && !row && !hadSignup) return null;
    await recordErasure(client, userId);
    await deleteTokensOfUser(client, userId);
    if (row) await deleteResendCounts(client, addressKey(resendSecret, row.email));
    await deleteIdempotencyKeysOfUser(client, userId);
    return { first: !alreadyErased };
  });
}

export function createEraseUser(deps: EraseUserDeps) {
  const { pool, logger } = deps;

  /** A later step failed: the tombstone is in place, so nothing comes back; a retry of the DELETE finishes. */
  function incomplete(userId: string, requestId: string | undefined, step: string, service: 'temporal' | 'rabbitmq', err: unknown): never {
    logger.warn({ audit: 'user.erasure_incomplete', user_id: userId, request_id: requestId, step, err: (err as Error).message }, 'user erasure incomplete; retry the DELETE');
    if (err instanceof ServiceUnavailableError) throw err;
    throw new ServiceUnavailableError(service, `the user's data is deleted from the database, but ${step} failed; retry the DELETE`);
  }

  /** Throws UserNotFoundError for an id never known, ServiceUnavailableError when a step could not be done (retry). */
  return async function eraseUser(userId: string, requestId?: string): Promise<Erasure> {
    const rows = await callDatabase(() => eraseUserRows(pool, userId, deps.resendAddressSecret), logger);
    if (!rows) throw new UserNotFoundError(userId);

    let runsDeleted: number;
    try {
      runsDeleted = await deps.deleteRuns(userId);
    } catch (err) {
      incomplete(userId, requestId, 'deleting its workflow runs', 'temporal', err);
    }
    let lettersRemoved: number;
    try {
      lettersRemoved = await deps.deadLetters.removeLettersOf(userId);
    } catch (err) {
      incomplete(userId, requestId, 'removing its dead letters', 'rabbitmq', err);
    }
    try {
      // The same event id on every retry (userEventId), so downstream sees one erasure.
      await deps.events.publish(userEvent(deps.eventSource, UserEventType.Erased, { user_id: userId }));
    } catch (err) {
      incomplete(userId, requestId, 'publishing user.erased', 'rabbitmq', err);
    }
    const erasure = { user_id: userId, first: rows.first, workflow_runs_deleted: runsDeleted, dead_letters_removed: lettersRemoved };
    logger.info({ audit: 'user.erased', request_id: requestId, ...erasure }, 'user erased');
    return erasure;
  };
}
export type EraseUser = ReturnType<typeof createEraseUser>;
