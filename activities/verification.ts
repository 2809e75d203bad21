/**
 * The activities of the verifyEmail workflow: they read and change the user's row (the source of
 * truth), mint tokens, send the mails and publish the events. Their inputs and results hold user
 * ids and states only, so Temporal's history never sees an address or a token.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { Config } from '../src/config';
import type { VerificationState } from '../src/contract';
import { withoutRowData } from '../src/db/postgres';
import { userEvent, UserEventType, type UserEventData } from '../src/events/cloud-event';
import type { EventPublisher } from '../src/events/event-publisher';
import type { Mailer } from '../src/mail/mailer';
import { duplicateSignupMail, verificationMail, type VerificationMailKind } from '../src/mail/templates';
import type { VerificationMetrics } from '../src/metrics';
import { FailureType } from '../src/onboarding-policy';
import { isErased } from '../src/repositories/erased-user-repository';
import { insertToken, supersedeTokens } from '../src/repositories/verification-token-repository';
import { findVerificationRecipient, transitionVerificationState, verificationStateOf } from '../src/repositories/user-repository';
import { addressRateLimitKey, PostgresRateLimitStore } from '../src/security/postgres-rate-limit-store';
import { issueToken, verificationLink } from '../src/verification/token';
import { activityLog } from './index';

export interface VerificationActivityDeps {
  pool: Pool;
  mailer: Mailer;
  events: EventPublisher;
  config: Pick<Config, 'verification' | 'mail' | 'events' | 'limits'>;
  metrics?: VerificationMetrics;
  logger?: Logger;
}

/** The worker's settings a run keeps for its whole life (they are recorded in its history). */
export interface VerificationPlan {
  verification_state: VerificationState;
  reminderAfterMs: number;
  expiresAfterMs: number;
  recheckEveryMs: number;
  mailRetryMaxIntervalMs: number;
}

/** What became of a "someone tried to sign up with your address" notice. */
export type DuplicateNoticeOutcome = 'sent' | 'limited' | 'no_owner';

/** The counters of those notices, per address (as an HMAC), shared by every worker. */
export const DUPLICATE_NOTICE_LIMITER = 'duplicate-signup-mail';

export interface MailOutcome {
  /** False when the user was no longer PENDING, so nothing was sent. */
  sent: boolean;
  verification_state: VerificationState;
}

const userNotFound = (userId: string) => ApplicationFailure.nonRetryable(`no user ${userId}`, FailureType.UserNotFound);
const userErased = (userId: string) => ApplicationFailure.nonRetryable(`user ${userId} was erased`, FailureType.UserErased);

/** A Postgres error without row data, for the SDK's logs and the run's history. */
function dbFailure(err: unknown): never {
  throw withoutRowData(err);
}

/**
 * An SMTP failure without the server's text, which may quote the recipient's address: failure
 * messages are kept in Temporal's history unencrypted.
 */
function smtpFailure(err: unknown): Error {
  const e = err as { code?: string; responseCode?: number; command?: string };
  const parts = [e.code, e.responseCode, e.command].filter((p) => p !== undefined && p !== '');
  return new Error(`SMTP send failed${parts.length ? ` (${parts.join(' ')})` : ''}`);
}

export function createVerificationActivities({ pool, mailer, events, config, metrics, logger }: VerificationActivityDeps) {
  const { verification } = config;
  const noticeCounts = new PostgresRateLimitStore({ pool, limiter: DUPLICATE_NOTICE_LIMITER, keyHmacKey: config.limits.keyHmacKey });
  // The store only needs the window of what express-rate-limit would hand it.
  noticeCounts.init({ windowMs: verification.duplicateNotice.windowMs } as Parameters<PostgresRateLimitStore['init']>[0]);

  /** Why a user's row is missing: erased (the run ends cleanly), or never there (the run fails). */
  async function missingUser(userId: string): Promise<ApplicationFailure> {
    return (await isErased(pool, userId).catch(dbFailure)) ? userErased(userId) : userNotFound(userId);
  }

  async function stateOf(userId: string): Promise<VerificationState> {
    const state = await verificationStateOf(pool, userId).catch(dbFailure);
    if (!state) throw await missingUser(userId);
    return state;
  }

  async function publish(type: UserEventType, data: UserEventData): Promise<void> {
    await events.publish(userEvent(config.events.source, type, data));
    metrics?.eventsPublished.inc({ type });
  }

  return {
    /**
     * The first step of a run: reopens an EXPIRED user when a resend started it, announces a newly
     * onboarded user downstream, and hands the run the worker's timings.
     */
    async beginVerification(input: { user_id: string; announce: boolean; reopenExpired: boolean }): Promise<VerificationPlan> {
      const log = activityLog(logger, undefined);
      if (input.reopenExpired) {
        const reopened = await transitionVerificationState(pool, input.user_id, 'EXPIRED', 'PENDING').catch(dbFailure);
        if (reopened) log.info('expired verification reopened', { user_id: input.user_id });
      }
      const state = await stateOf(input.user_id);
      if (input.announce) {
        await publish(UserEventType.Onboarded, { user_id: input.user_id, verification_state: state, onboarding_state: 'COMPLETED' });
      }
      return {
        verification_state: state,
        reminderAfterMs: verification.reminderAfterMs,
        expiresAfterMs: verification.expiresAfterMs,
        recheckEveryMs: verification.recheckEveryMs,
        mailRetryMaxIntervalMs: config.mail.retryMaxIntervalMs,
      };
    },

    async readVerificationState(userId: string): Promise<VerificationState> {
      return stateOf(userId);
    },

    /**
     * Mints a fresh token and mails its link. Only once the SMTP server has accepted the mail do
     * the user's earlier links stop working, so an outage never leaves a user with no working link.
     * A crash after the send and before this returns means a second mail on retry (at-least-once).
     */
    async sendVerificationMail(input: { user_id: string; kind: VerificationMailKind }): Promise<MailOutcome> {
      const log = activityLog(logger, undefined);
      const recipient = await findVerificationRecipient(pool, input.user_id).catch(dbFailure);
      if (!recipient) throw await missingUser(input.user_id);
      if (recipient.verification_state !== 'PENDING') {
        log.info('not mailing: the user is no longer pending', { user_id: input.user_id, verification_state: recipient.verification_state });
        return { sent: false, verification_state: recipient.verification_state };
      }
      const issued = issueToken();
      await insertToken(pool, {
        selector: issued.selector,
        userId: input.user_id,
        verifierHash: issued.verifierHash,
        purpose: input.kind,
        ttlMs: verification.tokenTtlMs,
      }).catch(dbFailure);
      const mail = verificationMail({
        kind: input.kind,
        to: recipient.email,
        firstName: recipient.first_name,
        link: verificationLink(verification.publicBaseUrl, issued.token),
        expiresAt: new Date(Date.now() + verification.tokenTtlMs),
      });
      try {
        await mailer.send(mail);
      } catch (err) {
        metrics?.mailFailures.inc({ kind: input.kind });
        throw smtpFailure(err);
      }
      metrics?.mailsSent.inc({ kind: input.kind });
      const superseded = await supersedeTokens(pool, input.user_id, issued.selector).catch(dbFailure);
      log.info('verification mail sent', { user_id: input.user_id, kind: input.kind, superseded_links: superseded });
      return { sent: true, verification_state: 'PENDING' };
    },

    /**
     * Tells the owner of a registered address that someone tried to sign up with it (accepted
     * mode, where the API did not say so). At most DUPLICATE_SIGNUP_NOTICE_LIMIT per address and
     * window, counted before sending, so a retry after a failed send counts again: a flood
     * of duplicate signups can never become a flood of mail. The input holds ids only.
     */
    async sendDuplicateSignupNotice(input: { user_id: string; existing_user_id: string }): Promise<DuplicateNoticeOutcome> {
      const log = activityLog(logger, undefined);
      const owner = await findVerificationRecipient(pool, input.existing_user_id).catch(dbFailure);
      if (!owner) {
        metrics?.duplicateSignupNotices.inc({ outcome: 'no_owner' });
        return 'no_owner';
      }
      const { totalHits } = await noticeCounts.increment(addressRateLimitKey(config.limits.keyHmacKey, owner.email)).catch(dbFailure);
      if (totalHits > verification.duplicateNotice.addressLimit) {
        metrics?.duplicateSignupNotices.inc({ outcome: 'limited' });
        log.info('duplicate signup notice not sent: the address had its share this window', { user_id: input.user_id, existing_user_id: input.existing_user_id });
        return 'limited';
      }
      try {
        await mailer.send(duplicateSignupMail({ to: owner.email, firstName: owner.first_name }));
      } catch (err) {
        metrics?.duplicateSignupNotices.inc({ outcome: 'failed' });
        throw smtpFailure(err);
      }
      metrics?.duplicateSignupNotices.inc({ outcome: 'sent' });
      log.info('duplicate signup notice sent', { user_id: input.user_id, existing_user_id: input.existing_user_id });
      return 'sent';
    },

    /**
     * The last step of a run: with `expire`, a user still PENDING becomes EXPIRED. Every unused
     * link stops working, and the outcome is announced (user.verified or user.verification_expired;
     * a retry publishes the same event id). Returns the state the run ends with.
     */
    async finishVerification(input: { user_id: string; expire: boolean }): Promise<VerificationState> {
      const log = activityLog(logger, undefined);
      if (input.expire && (await transitionVerificationState(pool, input.user_id, 'PENDING', 'EXPIRED').catch(dbFailure))) {
        log.info('verification expired', { user_id: input.user_id });
      }
      await supersedeTokens(pool, input.user_id).catch(dbFailure);
      const state = await stateOf(input.user_id);
      if (state === 'VERIFIED') await publish(UserEventType.Verified, { user_id: input.user_id, verification_state: state });
      if (state === 'EXPIRED') await publish(UserEventType.VerificationExpired, { user_id: input.user_id, verification_state: state });
      return state;
    },
  };
}

export type VerificationActivities = ReturnType<typeof createVerificationActivities>;
