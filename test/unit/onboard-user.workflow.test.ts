import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { OnboardingActivities } from '../../activities';
import type { VerificationActivities } from '../../activities/verification';
import type { SignupMessage } from '../../src/contract';
import { FailureType, PERSIST_VALIDATES_PATCH } from '../../src/onboarding-policy';
import { ONBOARD_USER_WORKFLOW, onboardingWorkflowId, runOnboarding } from '../../src/temporal/onboarding-runs';
import * as workflows from '../../workflows';
import { VERIFY_EMAIL_WORKFLOW, verificationWorkflowId } from '../../src/onboarding-policy';
import { OnboardingStateKey } from '../../workflows/search-attributes';
import { signupMessage } from '../support/fixtures';
import { markersOf, patchIds } from '../support/histories';
import { startTemporal } from '../support/stack';
import { startWorkflowWorker, type TestWorker } from '../support/workflow-worker';

type Calls = Array<{ activity: string; user_id: string }>;
let env: TestWorkflowEnvironment;
let worker: TestWorker | undefined;
const taskQueue = `wf-test-${randomUUID()}`;
const calls: Calls = [];
// Each test scripts how its own user's activities behave.
const behaviour = new Map<string, Partial<OnboardingActivities>>();

function record(activity: string, user_id: string) {
  calls.push({ activity, user_id });
  return calls.filter((c) => c.activity === activity && c.user_id === user_id).length;
}

const activities: OnboardingActivities = {
  async validateSignup(s) {
    record('validateSignup', s.user_id);
    return behaviour.get(s.user_id)?.validateSignup?.(s);
  },
  async persistUser(s) {
    record('persistUser', s.user_id);
    return (await behaviour.get(s.user_id)?.persistUser?.(s)) ?? { created: true, erased: false };
  },
  // Only runs started by the earlier code call it; recorded so that a call would show.
  async markState(input) {
    record('markState', input.user_id);
  },
};

// onboardUser starts a verifyEmail child once the row is written; here it ends at once
// (test/unit/verify-email.workflow.test.ts tests it).
// What each hidden duplicate's notice does: resolves, or throws to show a failing notice.
const noticeFails = new Set<string>();
const verificationEndsAtOnce: Pick<VerificationActivities, 'beginVerification' | 'finishVerification' | 'sendDuplicateSignupNotice'> = {
  async sendDuplicateSignupNotice(input) {
    record('sendDuplicateSignupNotice', input.user_id);
    record(`notice to ${input.existing_user_id}`, input.user_id);
    if (noticeFails.has(input.user_id)) throw ApplicationFailure.nonRetryable('no such user', FailureType.UserNotFound);
    return 'sent';
  },
  async beginVerification(input) {
    record('beginVerification', input.user_id);
    return { verification_state: 'VERIFIED', reminderAfterMs: 1, expiresAfterMs: 2, recheckEveryMs: 1, mailRetryMaxIntervalMs: 1 };
  },
  async finishVerification() {
    return 'VERIFIED';
  },
};

beforeAll(async () => {
  env = await startTemporal();
  worker = await startWorkflowWorker(env, taskQueue, { ...activities, ...verificationEndsAtOnce });
});

afterAll(async () => {
  await worker?.stop();
  await env?.teardown();
});

function start(signup: SignupMessage, maxAttempts: number) {
  return env.client.workflow.start<typeof workflows.onboardUser>(ONBOARD_USER_WORKFLOW, {
    taskQueue,
    workflowId: onboardingWorkflowId(signup.user_id),
    args: [{ signup, maxAttempts }],
  });
}

function attempts(activity: string, userId: string): number {
  return calls.filter((c) => c.activity === activity && c.user_id === userId).length;
}

async function onboardingState(workflowId: string): Promise<unknown> {
  const description = await env.client.workflow.getHandle(workflowId).describe();
  return description.typedSearchAttributes.get(OnboardingStateKey);
}

it('starts runs by the names of the workflow functions the worker registers', () => {
  expect(Object.keys(workflows).sort()).toEqual([ONBOARD_USER_WORKFLOW, VERIFY_EMAIL_WORKFLOW].sort());
  expect(workflows.onboardUser.name).toBe(ONBOARD_USER_WORKFLOW);
  expect(workflows.verifyEmail.name).toBe(VERIFY_EMAIL_WORKFLOW);
});

it('runs one step, persistUser (the message checked, the row written COMPLETED), marks the run COMPLETED for the Web UI, then starts the verification run', async () => {
  const signup = await signupMessage();
  const handle = await start(signup, 3);
  await expect(handle.result()).resolves.toEqual({ user_id: signup.user_id, onboarding_state: 'COMPLETED', created: true });
  // The verification run it starts is a run of its own that may still be going when this one ends:
  // waited for, so that its step is counted every time (CI once saw it counted, once not).
  await env.client.workflow.getHandle(verificationWorkflowId(signup.user_id)).result();
  expect(calls.filter((c) => c.user_id === signup.user_id).map((c) => c.activity)).toEqual(['persistUser', 'beginVerification']);
  expect(await onboardingState(handle.workflowId)).toBe('COMPLETED');
  // One patch marker (the one-step shape), one local activity marker; the earlier code's patches are not called.
  const markers = markersOf((await handle.fetchHistory()).events ?? []);
  expect(markers.map((m) => m.markerName)).toEqual(['core_patch', 'core_local_activity']);
  expect(patchIds(markers)).toEqual([PERSIST_VALIDATES_PATCH]);
});

it('retries an activity that fails twice, then completes', async () => {
  const signup = await signupMessage();
  behaviour.set(signup.user_id, {
    async persistUser() {
      if (attempts('persistUser', signup.user_id) <= 2) throw new Error('connection reset');
      return { created: true, erased: false };
    },
  });
  const handle = await start(signup, 5);
  await expect(handle.result()).resolves.toMatchObject({ onboarding_state: 'COMPLETED' });
  expect(attempts('persistUser', signup.user_id)).toBe(3);
});

it('fails the run when an activity exhausts its attempts', async () => {
  const signup = await signupMessage();
  behaviour.set(signup.user_id, {
    async persistUser() {
      throw new Error('database down');
    },
  });
  const handle = await start(signup, 2);
  const error = await handle.result().catch((e: unknown) => e);
  expect(error).toBeInstanceOf(WorkflowFailedError);
  expect(attempts('persistUser', signup.user_id)).toBe(2);
  expect(await onboardingState(handle.workflowId)).toBe('FAILED');
});

it('does not retry a duplicate email', async () => {
  const signup = await signupMessage();
  behaviour.set(signup.user_id, {
    async persistUser() {
      throw ApplicationFailure.nonRetryable('email already registered', FailureType.DuplicateEmail);
    },
  });
  const outcome = await runOnboarding(env.client, signup, { taskQueue, maxAttempts: 5, runTimeoutMs: 60_000, startsVerification: true });
  expect(outcome).toEqual({ ok: false, reason: 'DuplicateEmail: email already registered', failureType: FailureType.DuplicateEmail });
  expect(attempts('persistUser', signup.user_id)).toBe(1);
});

describe('a hidden duplicate (accepted mode: persistUser found the address registered)', () => {
  it('mails the owner, starts no verification, and ends COMPLETED without a row', async () => {
    const signup = await signupMessage();
    const existing = randomUUID();
    behaviour.set(signup.user_id, { persistUser: async () => ({ created: false, erased: false, hidden_duplicate: { existing_user_id: existing } }) });
    const outcome = await runOnboarding(env.client, signup, { taskQueue, maxAttempts: 3, runTimeoutMs: 60_000, startsVerification: true });
    expect(outcome).toEqual({ ok: true, result: { user_id: signup.user_id, onboarding_state: 'COMPLETED', created: false } });
    expect(attempts(`notice to ${existing}`, signup.user_id)).toBe(1);
    expect(attempts('beginVerification', signup.user_id)).toBe(0);
    expect(await onboardingState(onboardingWorkflowId(signup.user_id))).toBe('COMPLETED');
  });

  it('ends COMPLETED even when the notice cannot be sent: a duplicate is never a dead letter', async () => {
    const signup = await signupMessage();
    noticeFails.add(signup.user_id);
    behaviour.set(signup.user_id, { persistUser: async () => ({ created: false, erased: false, hidden_duplicate: { existing_user_id: randomUUID() } }) });
    const outcome = await runOnboarding(env.client, signup, { taskQueue, maxAttempts: 3, runTimeoutMs: 60_000, startsVerification: true });
    expect(outcome).toMatchObject({ ok: true, result: { created: false } });
    expect(attempts('sendDuplicateSignupNotice', signup.user_id)).toBe(1);
  });

  it('sends no notice when the registered user vanished meanwhile', async () => {
    const signup = await signupMessage();
    behaviour.set(signup.user_id, { persistUser: async () => ({ created: false, erased: false, hidden_duplicate: { existing_user_id: null } }) });
    const outcome = await runOnboarding(env.client, signup, { taskQueue, maxAttempts: 3, runTimeoutMs: 60_000, startsVerification: true });
    expect(outcome).toMatchObject({ ok: true });
    expect(attempts('sendDuplicateSignupNotice', signup.user_id)).toBe(0);
  });
});

describe('ONBOARDING_STARTS_VERIFICATION (the choice the bridge puts in the run input)', () => {
  const childStarts = async (workflowId: string) =>
    ((await env.client.workflow.getHandle(workflowId).fetchHistory()).events ?? []).filter((e) => e.startChildWorkflowExecutionInitiatedEventAttributes).length;

  it('true (the default): the run starts the user’s verification run once the row is written', async () => {
    const signup = await signupMessage();
    const outcome = await runOnboarding(env.client, signup, { taskQueue, maxAttempts: 3, runTimeoutMs: 60_000, startsVerification: true });
    expect(outcome).toMatchObject({ ok: true, result: { onboarding_state: 'COMPLETED', created: true } });
    expect(await childStarts(onboardingWorkflowId(signup.user_id))).toBe(1);
    await env.client.workflow.getHandle(verificationWorkflowId(signup.user_id)).result();
    expect(attempts('beginVerification', signup.user_id)).toBe(1);
  });

  it('false: the run ends at the row, with no verification run and no verification step', async () => {
    const signup = await signupMessage();
    const outcome = await runOnboarding(env.client, signup, { taskQueue, maxAttempts: 3, runTimeoutMs: 60_000, startsVerification: false });
    expect(outcome).toEqual({ ok: true, result: { user_id: signup.user_id, onboarding_state: 'COMPLETED', created: true } });
    expect(calls.filter((c) => c.user_id === signup.user_id).map((c) => c.activity)).toEqual(['persistUser']);
    expect(await childStarts(onboardingWorkflowId(signup.user_id))).toBe(0);
    await expect(env.client.workflow.getHandle(verificationWorkflowId(signup.user_id)).describe()).rejects.toThrow(/not found/i);
    expect(await onboardingState(onboardingWorkflowId(signup.user_id))).toBe('COMPLETED');
  });
});

describe('runOnboarding (the bridge’s start-or-attach)', () => {
  it('attaches a redelivered message to the run its first delivery started, running or completed', async () => {
    const signup = await signupMessage();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    behaviour.set(signup.user_id, { persistUser: async () => (await gate, { created: true, erased: false }) });
    const opts = { taskQueue, maxAttempts: 3, runTimeoutMs: 60_000, startsVerification: true };
    const first = runOnboarding(env.client, signup, opts);
    const whileRunning = runOnboarding(env.client, signup, opts);
    await new Promise((r) => setTimeout(r, 500));
    release();
    const expected = { ok: true, result: { user_id: signup.user_id, onboarding_state: 'COMPLETED', created: true } };
    await expect(first).resolves.toEqual(expected);
    await expect(whileRunning).resolves.toEqual(expected);
    await expect(runOnboarding(env.client, signup, opts)).resolves.toEqual(expected);
    expect(attempts('persistUser', signup.user_id)).toBe(1);
    const runs = [];
    for await (const run of env.client.workflow.list({ query: `WorkflowId = '${onboardingWorkflowId(signup.user_id)}'` })) runs.push(run);
    expect(runs).toHaveLength(1);
  });

  it('starts a fresh run when the previous one failed (a DLQ replay)', async () => {
    const signup = await signupMessage();
    behaviour.set(signup.user_id, {
      async persistUser() {
        if (attempts('persistUser', signup.user_id) === 1) throw ApplicationFailure.nonRetryable('bad', FailureType.InvalidSignup);
        return { created: true, erased: false };
      },
    });
    const opts = { taskQueue, maxAttempts: 1, runTimeoutMs: 60_000, startsVerification: true };
    await expect(runOnboarding(env.client, signup, opts)).resolves.toMatchObject({ ok: false });
    await expect(runOnboarding(env.client, signup, opts)).resolves.toMatchObject({ ok: true });
  });

  it('enforces the run timeout it is given, and records it on the run', async () => {
    const signup = await signupMessage();
    // Outlives the run; cancellable so the worker can shut down after.
    behaviour.set(signup.user_id, { persistUser: async () => (await Context.current().sleep(60_000), { created: true, erased: false }) });
    const outcome = await runOnboarding(env.client, signup, { taskQueue, maxAttempts: 1, runTimeoutMs: 2_000, startsVerification: true });
    expect(outcome).toMatchObject({ ok: false, failureType: FailureType.Timeout });
    const description = await env.client.workflow.getHandle(onboardingWorkflowId(signup.user_id)).describe();
    expect(description.status.name).toBe('TIMED_OUT');
    expect(description.raw.executionConfig?.workflowRunTimeout?.seconds?.toString()).toBe('2');
  });
});

it('ends cleanly for an erased user: nothing written, no verification run', async () => {
  const signup = await signupMessage();
  behaviour.set(signup.user_id, { persistUser: async () => ({ created: false, erased: true }) });
  const handle = await start(signup, 3);
  await expect(handle.result()).resolves.toEqual({ user_id: signup.user_id, onboarding_state: 'ERASED', created: false });
  const events = (await handle.fetchHistory()).events ?? [];
  expect(events.some((e) => e.startChildWorkflowExecutionInitiatedEventAttributes)).toBe(false);
  expect(patchIds(markersOf(events))).toEqual([PERSIST_VALIDATES_PATCH]);
  await expect(env.client.workflow.getHandle(verificationWorkflowId(signup.user_id)).describe()).rejects.toThrow(/not found/i);
});
