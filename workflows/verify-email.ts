/**
 * verifyEmail: one run per user, from the first verification mail to VERIFIED, EXPIRED or an
 * operator's decision. It waits days with durable timers; the user's row in Postgres is the source
 * of truth, and the run reads it whenever it wakes (a signal, a timer, the periodic recheck), so a
 * verification the API accepted while Temporal was down is never lost. No randomness and no token
 * here: tokens are minted by the mail activity and never enter the history.
 */
import {
  CancellationScope,
  condition,
  defineSignal,
  isCancellation,
  log,
  ParentClosePolicy,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  startChild,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { ActivityFailure, ApplicationFailure, WorkflowExecutionAlreadyStartedError, type ActivityOptions } from '@temporalio/common';
import type { MailOutcome, VerificationActivities, VerificationPlan } from '../activities/verification';
import type { VerificationState } from '../src/contract';
import type { VerificationMailKind } from '../src/mail/templates';
import {
  FailureType,
  USER_ERASED_PATCH,
  VERIFICATION_LOCAL_STEPS_PATCH,
  VerificationSignal,
  verificationWorkflowId,
} from '../src/onboarding-policy';
import { VerificationStateKey } from './search-attributes';

export const verificationStateChanged = defineSignal(VerificationSignal.StateChanged);
export const verificationResendRequested = defineSignal(VerificationSignal.ResendRequested);

export interface VerifyEmailInput {
  user_id: string;
  /** Publish user.onboarded first: onboarding and the backfill start runs for users nobody has announced. */
  announce?: boolean;
  /** Started by a resend for an EXPIRED user: reopen it (EXPIRED → PENDING) before anything else. */
  reopenExpired?: boolean;
}

export interface VerifyEmailResult {
  user_id: string;
  /** ERASED: the user was erased while the run went on; it ended without reading or writing more. */
  verification_state: VerificationState | 'ERASED';
}

// Steps on Postgres and the broker, retried for as long as it takes: they fail only while one is down.
const STEP_OPTIONS: Pick<ActivityOptions, 'startToCloseTimeout' | 'retry'> = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', nonRetryableErrorTypes: [FailureType.UserNotFound] },
};
// Local: run inside the workflow task that needs them, with no activity task through the server.
// The first retries (after 1 s and 2 s) stay in that task; from the third on, the SDK waits on a
// durable timer and retries in a new task, so an outage of Postgres or the broker holds no
// workflow task open (the SDK's default threshold, 1 min, is the longest wait here: every retry
// would hold the task, heartbeated with events every few seconds).
const localSteps = proxyLocalActivities<VerificationActivities>({ ...STEP_OPTIONS, localRetryThreshold: '2s' });
// Regular: the steps of runs started before VERIFICATION_LOCAL_STEPS_PATCH, for their whole life.
const regularSteps = proxyActivities<VerificationActivities>(STEP_OPTIONS);
type VerificationSteps = typeof localSteps;

export async function verifyEmail(input: VerifyEmailInput): Promise<VerifyEmailResult> {
  try {
    return await verifyUntilDecided(input);
  } catch (err) {
    // Erasure terminates the user's run; one started after it (a race with the parent) ends here.
    if (isUserErased(err) && patched(USER_ERASED_PATCH)) {
      log.info('user erased: verification ended', { user_id: input.user_id });
      return { user_id: input.user_id, verification_state: 'ERASED' };
    }
    throw err;
  }
}

function isUserErased(err: unknown): boolean {
  // An activity's failure arrives wrapped in an ActivityFailure; the erasure is its cause.
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof ApplicationFailure && cause.type === FailureType.UserErased;
}

async function verifyUntilDecided(input: VerifyEmailInput): Promise<VerifyEmailResult> {
  const userId = input.user_id;
  // Decided once, before the first step, so a run keeps the kind of step it began with.
  const steps = patched(VERIFICATION_LOCAL_STEPS_PATCH) ? localSteps : regularSteps;
  let rowMayHaveChanged = false;
  let outbox: VerificationOutbox | undefined;
  setHandler(verificationStateChanged, () => {
    rowMayHaveChanged = true;
  });
  // Decided in the handler, which runs before an activity result in the same activation, so a
  // resend that arrives while a mail is on its way is seen as such. Before the first mail is
  // queued there is nothing to do: that mail will carry a fresh link.
  setHandler(verificationResendRequested, () => outbox?.enqueue('resend'));

  const plan = await steps.beginVerification({ user_id: userId, announce: input.announce ?? false, reopenExpired: input.reopenExpired ?? false });
  if (plan.verification_state !== 'PENDING') return finish(steps, userId, false);
  setVerificationState('PENDING');

  const mails = new VerificationOutbox(userId, plan, () => {
    rowMayHaveChanged = true;
  });
  outbox = mails;
  mails.enqueue('verification');
  const reminderAt = Date.now() + plan.reminderAfterMs;
  const expiresAt = Date.now() + plan.expiresAfterMs;
  let reminderQueued = false;

  for (;;) {
    const now = Date.now();
    if (now >= expiresAt) break;
    const wakeAt = Math.min(reminderQueued ? expiresAt : reminderAt, expiresAt, now + plan.recheckEveryMs);
    const woken = await condition(() => rowMayHaveChanged || mails.failure !== undefined, Math.max(1, wakeAt - now));
    if (mails.failure !== undefined) throw mails.failure;
    // A signal, or a timer: either way the row decides.
    rowMayHaveChanged = false;
    const state = await steps.readVerificationState(userId);
    if (state !== 'PENDING') {
      mails.close();
      log.info('verification decided', { user_id: userId, verification_state: state, signalled: woken });
      return finish(steps, userId, false);
    }
    if (!reminderQueued && Date.now() >= reminderAt && Date.now() < expiresAt) {
      reminderQueued = true;
      mails.enqueue('reminder');
    }
  }
  // On time whatever the mail is doing: a reminder still retrying against a dead SMTP server is dropped.
  mails.close();
  log.info('verification expired', { user_id: userId });
  return finish(steps, userId, true);
}

async function finish(steps: VerificationSteps, userId: string, expire: boolean): Promise<VerifyEmailResult> {
  const state = await steps.finishVerification({ user_id: userId, expire });
  setVerificationState(state);
  return { user_id: userId, verification_state: state };
}

function setVerificationState(state: VerificationState): void {
  upsertSearchAttributes([{ key: VerificationStateKey, value: state }]);
}

/**
 * Sends the run's mails one after another in a cancellable scope of their own, so a send retrying
 * for hours never holds back the timers. At most one mail waits behind the one in flight.
 */
class VerificationOutbox {
  private waiting: VerificationMailKind | null = null;
  private sending = false;
  private readonly scope = new CancellationScope();
  /** Set if a send fails for good (the user row is gone); the run fails with it. */
  failure: unknown = undefined;

  constructor(
    private readonly userId: string,
    plan: VerificationPlan,
    private readonly noLongerPending: () => void,
  ) {
    const mail = proxyActivities<VerificationActivities>({
      startToCloseTimeout: '2m',
      // No attempt limit: SMTP may be down for hours. The run's expiry ends the retries.
      retry: {
        initialInterval: Math.min(1_000, plan.mailRetryMaxIntervalMs),
        backoffCoefficient: 2,
        maximumInterval: plan.mailRetryMaxIntervalMs,
        nonRetryableErrorTypes: [FailureType.UserNotFound],
      },
    });
    this.scope
      .run(() => this.deliver((kind) => mail.sendVerificationMail({ user_id: this.userId, kind })))
      .catch((err: unknown) => {
        if (!isCancellation(err)) this.failure = err;
      });
  }

  enqueue(kind: VerificationMailKind): void {
    // A resend while a mail is on its way adds nothing: that mail carries a fresh link already.
    if (kind === 'resend' && (this.sending || this.waiting !== null)) return;
    this.waiting = kind === 'reminder' ? kind : (this.waiting ?? kind);
  }

  close(): void {
    this.scope.cancel();
  }

  private async deliver(send: (kind: VerificationMailKind) => Promise<MailOutcome>): Promise<void> {
    for (;;) {
      await condition(() => this.waiting !== null);
      const kind = this.waiting as VerificationMailKind;
      this.waiting = null;
      this.sending = true;
      const outcome = await send(kind);
      this.sending = false;
      if (!outcome.sent) this.noLongerPending();
    }
  }
}

/**
 * Starts the user's verification run from onboardUser. ABANDON: the run outlives its parent, so
 * onboarding (and the RabbitMQ delivery the bridge holds for it) ends as soon as the row is
 * written. The id derived from the user makes a second start find the first.
 */
export async function startVerificationChild(userId: string): Promise<void> {
  try {
    await startChild(verifyEmail, {
      workflowId: verificationWorkflowId(userId),
      args: [{ user_id: userId, announce: true }],
      parentClosePolicy: ParentClosePolicy.ABANDON,
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
}
