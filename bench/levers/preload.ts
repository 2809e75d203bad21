/**
 * Loaded into the worker process with `node -r` by the lever trials (bench/levers/run.ts), never
 * by the service. It applies one lever to an unchanged worker, so each can be measured against
 * the same code, and it counts what one run costs inside the SDK:
 *
 * - `workerOptions`: merged into the options of every `Worker.create` (reuseV8Context,
 *   maxCachedWorkflows, stickyQueueScheduleToStartTimeout, tuner, isolateExecutionTimeout …);
 * - `noPromiseHooks`: makes `v8.promiseHooks.createHook` throw in the workflow thread, which the
 *   SDK takes as "no promise hooks here" and then captures no stack trace per promise;
 * - `noVmTimeout`: drops the `timeout` of every `vm` call in the workflow thread, so Node starts no
 *   watchdog thread per call into the workflow context;
 * - `countFile`: counts activations (main thread) and promises made in workflow code (workflow
 *   thread) and writes them to `<countFile>.<thread>.json` every second and at exit.
 *
 * The levers read their settings from BENCH_LEVERS (JSON), set by the harness for this process only.
 */
import { writeFileSync } from 'node:fs';
import v8 from 'node:v8';
import vm from 'node:vm';
import { isMainThread, threadId } from 'node:worker_threads';
import type { OnboardingActivities } from '../../activities';
import { ONBOARDING_STATE_SEARCH_ATTRIBUTE } from '../../src/onboarding-policy';

type OneStepSource = Pick<OnboardingActivities, 'validateSignup' | 'persistUser' | 'markState'>;

export interface LeverSettings {
  workerOptions?: Record<string, unknown>;
  noPromiseHooks?: boolean;
  noVmTimeout?: boolean;
  countFile?: string;
  /** Registers `onboardInOneStep` (validate, persist, mark COMPLETED) and `validateAndPersist` for the reshaped runs. */
  oneStepActivity?: boolean;
  /** The bridge starts each run with OnboardingState=PROCESSING in its start options. */
  stateAtStart?: boolean;
  /**
   * The bridge learns a run's success from its user row (polled every 100 ms) instead of Temporal's
   * result long poll; after 10 s without the row COMPLETED it asks Temporal as before.
   */
  resultByRow?: boolean;
}

const settings: LeverSettings = JSON.parse(process.env.BENCH_LEVERS ?? '{}') as LeverSettings;
const counts: Record<string, number> = {};
const count = (what: string) => {
  counts[what] = (counts[what] ?? 0) + 1;
};

function writeCounts(): void {
  if (!settings.countFile) return;
  writeFileSync(`${settings.countFile}.${isMainThread ? 'main' : `thread-${threadId}`}.json`, JSON.stringify(counts));
}

if (settings.countFile) {
  setInterval(writeCounts, 1000).unref();
  process.on('exit', writeCounts);
}

if (isMainThread) {
  // required, not imported: this file runs in the workflow thread too, which must not load these.
  const { Worker } = require('@temporalio/worker') as typeof import('@temporalio/worker');
  const create = Worker.create.bind(Worker);
  Worker.create = (options) => {
    const activities = options.activities as Record<string, (...args: never[]) => Promise<unknown>> & OneStepSource;
    return create({
      ...options,
      ...(settings.oneStepActivity
        ? {
            activities: {
              ...activities,
              // Runs inside this activity's context, so the steps' own logging works as before.
              async onboardInOneStep(signup: Parameters<OneStepSource['persistUser']>[0]) {
                await activities.validateSignup(signup);
                const result = await activities.persistUser(signup);
                await activities.markState({ user_id: signup.user_id, onboarding_state: 'COMPLETED', request_id: signup.request_id });
                return result;
              },
              async validateAndPersist(signup: Parameters<OneStepSource['persistUser']>[0]) {
                await activities.validateSignup(signup);
                return activities.persistUser(signup);
              },
            },
          }
        : {}),
      ...settings.workerOptions,
    });
  };
  if (settings.resultByRow) {
    const { WorkflowClient } = require('@temporalio/client') as typeof import('@temporalio/client');
    const { Pool } = require('pg') as typeof import('pg');
    const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 2 });
    const result = WorkflowClient.prototype.result;
    WorkflowClient.prototype.result = async function (this: InstanceType<typeof WorkflowClient>, workflowId: string, ...rest: unknown[]) {
      const userId = workflowId.replace(/^onboard-user-/, '');
      for (const deadline = Date.now() + 10_000; Date.now() < deadline; ) {
        const { rows } = await pool.query<{ created: boolean }>("SELECT true AS created FROM users WHERE user_id = $1 AND onboarding_state = 'COMPLETED'", [userId]);
        if (rows.length > 0) return { user_id: userId, onboarding_state: 'COMPLETED', created: true };
        await new Promise((r) => setTimeout(r, 100));
      }
      return (result as (...args: unknown[]) => Promise<unknown>).call(this, workflowId, ...rest);
    } as typeof result;
  }
  if (settings.stateAtStart) {
    const { WorkflowClient } = require('@temporalio/client') as typeof import('@temporalio/client');
    const { defineSearchAttributeKey, SearchAttributeType } = require('@temporalio/common') as typeof import('@temporalio/common');
    const key = defineSearchAttributeKey(ONBOARDING_STATE_SEARCH_ATTRIBUTE, SearchAttributeType.KEYWORD);
    const start = WorkflowClient.prototype.start;
    WorkflowClient.prototype.start = function (this: InstanceType<typeof WorkflowClient>, workflow: string, options: object) {
      return start.call(this, workflow, { ...options, typedSearchAttributes: [{ key, value: 'PROCESSING' }] } as Parameters<typeof start>[1]);
    } as typeof start;
  }
  if (settings.countFile) {
    // Every request the worker makes of the workflow thread goes through this one method:
    // create-workflow (a run enters the cache), activate-workflow, extract-sink-calls, dispose-workflow.
    const threaded = require('@temporalio/worker/lib/workflow/threaded-vm') as {
      WorkerThreadClient: { prototype: { send(input: { type: string; activation?: { jobs?: Array<Record<string, unknown>> } }): Promise<unknown> } };
    };
    const send = threaded.WorkerThreadClient.prototype.send;
    threaded.WorkerThreadClient.prototype.send = function (input) {
      count(input.type);
      for (const job of input.activation?.jobs ?? []) {
        for (const [key, value] of Object.entries(job)) if (value != null) count(`job:${key}`);
      }
      return send.call(this, input);
    };
  }
} else {
  // Names the thread so the trial can tell its CPU from V8's and libuv's helpers (all "node").
  try {
    writeFileSync('/proc/thread-self/comm', `js-thread-${threadId}`);
  } catch {
    // Not Linux: the thread keeps its name.
  }
  if (settings.noPromiseHooks) {
    v8.promiseHooks.createHook = () => {
      throw new Error('promise hooks disabled by the lever trial');
    };
  }
  if (settings.noVmTimeout) {
    const runInContext = vm.Script.prototype.runInContext;
    vm.Script.prototype.runInContext = function (context, options) {
      return runInContext.call(this, context, options && { ...options, timeout: undefined });
    };
    const runInContextFn = vm.runInContext;
    vm.runInContext = (code, context, options) =>
      runInContextFn(code, context, typeof options === 'object' ? { ...options, timeout: undefined } : options);
  }
  if (settings.countFile) {
    // Calls into the workflow's V8 context (each under the execution timeout, i.e. a watchdog thread).
    const runInContext = vm.Script.prototype.runInContext;
    vm.Script.prototype.runInContext = function (context, options) {
      count('vm_calls');
      return runInContext.call(this, context, options);
    };
    // A promise made in workflow code belongs to the workflow's V8 context, whose Promise is not this thread's.
    v8.promiseHooks.onInit((promise: Promise<unknown>) => {
      if (promise.constructor !== Promise) count('workflow_promises');
    });
  }
}
