/**
 * The verifyEmail workflow against a real Temporal dev server with scripted activities: how it
 * starts from onboardUser, orders its mails, keeps its timers whatever the mail does, and ends.
 * Each finished run's history is replayed against the code, which proves the workflow deterministic.
 */
import { randomUUID } from 'node:crypto';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { OnboardingActivities } from '../../activities';
import type { MailOutcome, VerificationActivities, VerificationPlan } from '../../activities/verification';
import type { VerificationState } from '../../src/contract';
import { FailureType, VERIFICATION_LOCAL_STEPS_PATCH, VerificationSignal, verificationWorkflowId } from '../../src/onboarding-policy';
import { ApplicationFailure } from '@temporalio/common';
import { onboardingWorkflowId } from '../../src/temporal/onboarding-runs';
import { VerificationStateKey } from '../../workflows/search-attributes';
import type { VerifyEmailResult } from '../../workflows/verify-email';
import { signupMessage } from '../support/fixtures';
import { markersOf, patchIds } from '../support/histories';
import { startWorkflowWorker, type TestWorker } from '../support/workflow-worker';
import { eventually, startTemporal } from '../support/stack';

let env: TestWorkflowEnvironment;
let worker: TestWorker | undefined;
// Bundled once: for the worker and for every replay.
let workflowBundle: WorkflowBundleWithSourceMap;
const taskQueue = `verify-wf-test-${randomUUID()}`;

/** What each scripted user's activities do and what they were asked. */
interface FakeUser {
  state: VerificationState;
  /** Erased: every activity that reads the row finds the tombstone. */
  erased?: boolean;
  plan: Partial<VerificationPlan>;
  mails: string[];
  sendAttempts: number;
  finishes: Array<{ expire: boolean }>;
  send?: (kind: string) => Promise<MailOutcome>;
  /** Runs before beginVerification answers: may throw, as a step does while Postgres is down. */
  begin?: () => Promise<void>;
}
const users = new Map<string, FakeUser>();

function fakeUser(userId: string, overrides: Partial<FakeUser> = {}): FakeUser {
  const user: FakeUser = { state: 'PENDING', plan: {}, mails: [], sendAttempts: 0, finishes: [], ...overrides };
  users.set(userId, user);
  return user;
}

const verificationActivities: VerificationActivities = {
  async beginVerification({ user_id }) {
    const user = users.get(user_id) as FakeUser;
    await user.begin?.();
    return { verification_state: user.state, reminderAfterMs: 60_000, expiresAfterMs: 120_000, recheckEveryMs: 60_000, mailRetryMaxIntervalMs: 200, ...user.plan };
  },
  async readVerificationState(userId) {
    const user = users.get(userId) as FakeUser;
    if (user.erased) throw ApplicationFailure.nonRetryable(`user ${userId} was erased`, FailureType.UserErased);
    return user.state;
  },
  async sendVerificationMail({ user_id, kind }) {
    const user = users.get(user_id) as FakeUser;
    user.sendAttempts++;
    if (user.send) return user.send(kind);
    user.mails.push(kind);
    return { sent: true, verification_state: user.state };
  },
  async sendDuplicateSignupNotice() {
    return 'sent';
  },
  async finishVerification({ user_id, expire }) {
    const user = users.get(user_id) as FakeUser;
    user.finishes.push({ expire });
    if (expire && user.state === 'PENDING') user.state = 'EXPIRED';
    return user.state;
  },
};

const onboardingActivities: OnboardingActivities = {
  async validateSignup() {},
  async persistUser() {
    return { created: true, erased: false };
  },
  async markState() {},
};

beforeAll(async () => {
  env = await startTemporal();
  workflowBundle = await bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows'), logger: new DefaultLogger('WARN') });
  worker = await startWorkflowWorker(env, taskQueue, { ...onboardingActivities, ...verificationActivities }, workflowBundle);
});

afterAll(async () => {
  await worker?.stop();
  await env?.teardown();
});

function start(userId: string) {
  return env.client.workflow.start('verifyEmail', { taskQueue, workflowId: verificationWorkflowId(userId), args: [{ user_id: userId }] });
}

/** Waits until a workflow task has completed after the last signal in the run's history. */
function signalsHandled(workflowId: string) {
  return eventually(async () => {
    const events = (await env.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
    const lastSignal = events.map((e) => Boolean(e.workflowExecutionSignaledEventAttributes)).lastIndexOf(true);
    return events.slice(lastSignal + 1).some((e) => e.workflowTaskCompletedEventAttributes) ? true : undefined;
  }, 10_000, 'the signals to be handled');
}

async function expectReplays(workflowId: string): Promise<void> {
  const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
  await expect(Worker.runReplayHistory({ workflowBundle }, history, workflowId)).resolves.toBeUndefined();
}

it('is started by onboardUser as a child that outlives it (ABANDON), with the id derived from the user', async () => {
  const signup = await signupMessage();
  const user = fakeUser(signup.user_id);
  const parent = await env.client.workflow.start('onboardUser', { taskQueue, workflowId: onboardingWorkflowId(signup.user_id), args: [{ signup, maxAttempts: 1 }] });
  await expect(parent.result()).resolves.toMatchObject({ onboarding_state: 'COMPLETED' });

  const child = env.client.workflow.getHandle(verificationWorkflowId(signup.user_id));
  const description = await child.describe();
  expect(description.status.name).toBe('RUNNING');
  expect(description.parentExecution?.workflowId).toBe(parent.workflowId);
  const started = (await parent.fetchHistory()).events?.find((e) => e.startChildWorkflowExecutionInitiatedEventAttributes);
  expect(started?.startChildWorkflowExecutionInitiatedEventAttributes?.parentClosePolicy).toBe(
    temporal.api.enums.v1.ParentClosePolicy.PARENT_CLOSE_POLICY_ABANDON,
  );
  await eventually(async () => (user.mails.length === 1 ? true : undefined), 10_000, 'the first mail');
  expect((await child.describe()).typedSearchAttributes.get(VerificationStateKey)).toBe('PENDING');

  user.state = 'VERIFIED';
  await child.signal(VerificationSignal.StateChanged);
  await expect(child.result()).resolves.toEqual({ user_id: signup.user_id, verification_state: 'VERIFIED' });
  expect(user.mails).toEqual(['verification']);
  await expectReplays(parent.workflowId);
  await expectReplays(child.workflowId);
});

it('takes its row steps as local activities and the mail as a regular one: one workflow task to the first mail', async () => {
  const userId = randomUUID();
  const user = fakeUser(userId);
  const handle = await start(userId);
  await eventually(async () => (user.mails.length === 1 ? true : undefined), 10_000, 'the first mail');
  user.state = 'VERIFIED';
  await handle.signal(VerificationSignal.StateChanged);
  await expect(handle.result()).resolves.toEqual({ user_id: userId, verification_state: 'VERIFIED' });

  const events = (await handle.fetchHistory()).events ?? [];
  const markers = markersOf(events);
  expect(patchIds(markers)).toEqual([VERIFICATION_LOCAL_STEPS_PATCH]);
  // beginVerification, then readVerificationState and finishVerification on the signal's wake.
  expect(markers.filter((m) => m.markerName === 'core_local_activity')).toHaveLength(3);
  expect(events.flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? [])).toEqual(['sendVerificationMail']);
  const mailScheduled = events.findIndex((e) => e.activityTaskScheduledEventAttributes);
  expect(events.slice(0, mailScheduled).filter((e) => e.workflowTaskCompletedEventAttributes)).toHaveLength(1);
  await expectReplays(handle.workflowId);
});

it('retries a failing step on a durable timer after two retries inside its workflow task', async () => {
  const userId = randomUUID();
  let failures = 0;
  const user = fakeUser(userId, {
    begin: async () => {
      if (failures < 3) {
        failures++;
        throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
      }
    },
  });
  const handle = await start(userId);
  await eventually(async () => (user.mails.length === 1 ? true : undefined), 20_000, 'the first mail after the retries');
  expect(failures).toBe(3);
  const events = (await handle.fetchHistory()).events ?? [];
  // Attempts 1-3 in the first workflow task (1 s and 2 s apart), then the backoff of 4 s on a
  // timer: the task was completed instead of held open, and a new one ran the fourth attempt.
  const backoff = events.findIndex((e) => e.timerStartedEventAttributes);
  expect(Number(events[backoff].timerStartedEventAttributes?.startToFireTimeout?.seconds)).toBe(4);
  // What one retry on a timer adds to the history: the failure's marker, the timer, a workflow task.
  const { EventType } = temporal.api.enums.v1;
  expect(events.slice(backoff - 1, backoff + 5).map((e) => e.eventType)).toEqual([
    EventType.EVENT_TYPE_MARKER_RECORDED,
    EventType.EVENT_TYPE_TIMER_STARTED,
    EventType.EVENT_TYPE_TIMER_FIRED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
  ]);
  expect(events[backoff - 1].markerRecordedEventAttributes?.markerName).toBe('core_local_activity');
  const mailScheduled = events.findIndex((e) => e.activityTaskScheduledEventAttributes);
  expect(events.slice(0, mailScheduled).filter((e) => e.workflowTaskCompletedEventAttributes)).toHaveLength(2);
  user.state = 'VERIFIED';
  await handle.signal(VerificationSignal.StateChanged);
  await expect(handle.result()).resolves.toEqual({ user_id: userId, verification_state: 'VERIFIED' });
  await expectReplays(handle.workflowId);
});

it('reminds once, then expires: one verification mail, one reminder, EXPIRED on the search attribute', async () => {
  const userId = randomUUID();
  const user = fakeUser(userId, { plan: { reminderAfterMs: 1_000, expiresAfterMs: 2_500 } });
  const handle = await start(userId);
  await expect(handle.result()).resolves.toEqual<VerifyEmailResult>({ user_id: userId, verification_state: 'EXPIRED' });
  expect(user.mails).toEqual(['verification', 'reminder']);
  expect(user.finishes).toEqual([{ expire: true }]);
  expect((await handle.describe()).typedSearchAttributes.get(VerificationStateKey)).toBe('EXPIRED');
  await expectReplays(handle.workflowId);
});

it('expires on time while every mail attempt fails: the timers never wait for the mail', async () => {
  const userId = randomUUID();
  const user = fakeUser(userId, {
    plan: { reminderAfterMs: 500, expiresAfterMs: 2_000 },
    send: async () => {
      throw new Error('SMTP send failed (ECONNREFUSED)');
    },
  });
  const handle = await start(userId);
  await expect(handle.result()).resolves.toMatchObject({ verification_state: 'EXPIRED' });
  expect(user.sendAttempts).toBeGreaterThanOrEqual(2);
  expect(user.finishes).toEqual([{ expire: true }]);
  await expectReplays(handle.workflowId);
});

it('coalesces resends: none while a mail is on its way, one after it went out', async () => {
  const userId = randomUUID();
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const user = fakeUser(userId);
  user.send = async (kind) => {
    if (kind === 'verification') await gate;
    user.mails.push(kind);
    return { sent: true, verification_state: 'PENDING' };
  };
  const handle = await start(userId);
  await eventually(async () => (user.sendAttempts === 1 ? true : undefined), 10_000, 'the first send to begin');
  await handle.signal(VerificationSignal.ResendRequested);
  await handle.signal(VerificationSignal.ResendRequested);
  await signalsHandled(handle.workflowId);
  release();
  await eventually(async () => (user.mails.length === 1 ? true : undefined), 10_000, 'the first mail');
  await new Promise((r) => setTimeout(r, 500));
  expect(user.mails).toEqual(['verification']);
  await handle.signal(VerificationSignal.ResendRequested);
  await eventually(async () => (user.mails.length === 2 ? true : undefined), 10_000, 'the resent mail');
  expect(user.mails).toEqual(['verification', 'resend']);
  user.state = 'REJECTED';
  await handle.signal(VerificationSignal.StateChanged);
  await expect(handle.result()).resolves.toMatchObject({ verification_state: 'REJECTED' });
  expect(user.finishes).toEqual([{ expire: false }]);
  await expectReplays(handle.workflowId);
});

it('reads the row on its own (the recheck) and ends when a verification arrived without a signal', async () => {
  const userId = randomUUID();
  const user = fakeUser(userId, { plan: { recheckEveryMs: 500 } });
  const handle = await start(userId);
  await eventually(async () => (user.mails.length === 1 ? true : undefined), 10_000, 'the first mail');
  user.state = 'VERIFIED';
  await expect(handle.result()).resolves.toMatchObject({ verification_state: 'VERIFIED' });
  await expectReplays(handle.workflowId);
});

it('ends at once, mailing nothing, for a user who is not PENDING when the run begins', async () => {
  const userId = randomUUID();
  const user = fakeUser(userId, { state: 'VERIFIED' });
  await expect((await start(userId)).result()).resolves.toMatchObject({ verification_state: 'VERIFIED' });
  expect(user.sendAttempts).toBe(0);
  expect(user.finishes).toEqual([{ expire: false }]);
});

it('ends when the mail activity finds the user no longer PENDING', async () => {
  const userId = randomUUID();
  const user = fakeUser(userId);
  user.send = async () => {
    user.state = 'VERIFIED';
    return { sent: false, verification_state: 'VERIFIED' };
  };
  await expect((await start(userId)).result()).resolves.toMatchObject({ verification_state: 'VERIFIED' });
});

it('ends cleanly (ERASED, not failed) when the user is erased while it waits, and replays', async () => {
  const userId = randomUUID();
  const user = fakeUser(userId);
  const handle = await start(userId);
  await eventually(async () => (user.mails.length === 1 ? true : undefined), 10_000, 'the first mail');
  user.erased = true;
  await handle.signal(VerificationSignal.StateChanged);
  await expect(handle.result()).resolves.toEqual<VerifyEmailResult>({ user_id: userId, verification_state: 'ERASED' });
  expect((await handle.describe()).status.name).toBe('COMPLETED');
  expect(user.finishes).toEqual([]);
  await expectReplays(handle.workflowId);
});
