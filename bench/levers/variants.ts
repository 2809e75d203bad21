/** The levers the trials can apply, by name. `baseline` is the service as it is. */
import type { Variant } from './trial';

const variants: Variant[] = [
  { name: 'baseline', what: 'the service as it is' },
  { name: 'reuse-v8-off', what: 'reuseV8Context: false (a V8 context per run)', levers: { workerOptions: { reuseV8Context: false } } },
  { name: 'cache-100', what: 'maxCachedWorkflows: 100', levers: { workerOptions: { maxCachedWorkflows: 100 } } },
  // Not viable, kept to show why: with no cache a run cannot hold its workflow task open while its local
  // activities run; runs time out (START_TO_CLOSE) and are dead-lettered.
  { name: 'cache-0', what: 'maxCachedWorkflows: 0 (no cache, no sticky queue)', levers: { workerOptions: { maxCachedWorkflows: 0 } } },
  { name: 'cache-10', what: 'maxCachedWorkflows: 10 (below the prefetch of 50: runs wait for a cache slot)', levers: { workerOptions: { maxCachedWorkflows: 10, maxConcurrentWorkflowTaskExecutions: 10 } } },
  { name: 'wft-slots-10', what: 'maxConcurrentWorkflowTaskExecutions: 10', levers: { workerOptions: { maxConcurrentWorkflowTaskExecutions: 10 } } },
  { name: 'wft-slots-100', what: 'maxConcurrentWorkflowTaskExecutions: 100, maxCachedWorkflows: 1000', levers: { workerOptions: { maxConcurrentWorkflowTaskExecutions: 100, maxCachedWorkflows: 1000 } } },
  { name: 'sticky-1s', what: 'stickyQueueScheduleToStartTimeout: 1 s', levers: { workerOptions: { stickyQueueScheduleToStartTimeout: '1s' } } },
  {
    name: 'resource-tuner',
    what: 'the resource-based tuner (target 80 % memory and CPU)',
    levers: { workerOptions: { tuner: { tunerOptions: { targetMemoryUsage: 0.8, targetCpuUsage: 0.8 } } } },
  },
  { name: 'no-promise-hooks', what: 'no promise hooks in the workflow thread (no stack trace per promise)', levers: { noPromiseHooks: true } },
  { name: 'no-vm-timeout', what: 'no execution timeout on calls into the workflow context (no watchdog thread per call)', levers: { noVmTimeout: true } },
  { name: 'no-hooks-no-timeout', what: 'both of the above', levers: { noPromiseHooks: true, noVmTimeout: true } },
  { name: 'log-warn', what: 'LOG_LEVEL=warn (no info line per step)', workerEnv: { LOG_LEVEL: 'warn' } },
  { name: 'pollers-2', what: 'workflow task pollers 2 (default 10… simple-maximum)', levers: { workerOptions: { workflowTaskPollerBehavior: { type: 'simple-maximum', maximum: 2 } } } },
  { name: 'one-step', what: 'one local activity (validate + insert + mark COMPLETED, retried whole) instead of three', workflow: 'one-step', levers: { oneStepActivity: true } },
  {
    name: 'one-step-no-hooks-no-timeout',
    what: 'one local activity, and no promise hooks or vm timeout in the workflow thread',
    workflow: 'one-step',
    levers: { oneStepActivity: true, noPromiseHooks: true, noVmTimeout: true },
  },
  { name: 'validate-apart', what: 'the shape before 2026-11-26: validateSignup a local activity of its own, then persistUser (the baseline checks inside persistUser)', workflow: 'validate-apart' },
  { name: 'two-step', what: 'two local activities: validate + insert as one, then mark COMPLETED', workflow: 'two-step', levers: { oneStepActivity: true } },
  { name: 'state-at-start', what: 'OnboardingState=PROCESSING in the start options; one upsert (at the end) instead of two', workflow: 'state-at-start', levers: { stateAtStart: true } },
  {
    name: 'one-step-state-at-start',
    what: 'both of the above',
    workflow: 'one-step-state-at-start',
    levers: { oneStepActivity: true, stateAtStart: true },
  },
  {
    name: 'cache-100-heap-96',
    what: 'maxCachedWorkflows: 100 and V8 heaps capped: --max-old-space-size=96 --max-semi-space-size=4 (main and workflow thread)',
    levers: { workerOptions: { maxCachedWorkflows: 100 } },
    nodeArgs: ['--max-old-space-size=96', '--max-semi-space-size=4'],
  },
  {
    name: 'cache-100-heap-128',
    what: 'maxCachedWorkflows: 100, --max-old-space-size=128 (young generation as default)',
    levers: { workerOptions: { maxCachedWorkflows: 100 } },
    nodeArgs: ['--max-old-space-size=128'],
  },
  {
    name: 'cache-100-heap-160',
    what: 'maxCachedWorkflows: 100, --max-old-space-size=160',
    levers: { workerOptions: { maxCachedWorkflows: 100 } },
    nodeArgs: ['--max-old-space-size=160'],
  },
  { name: 'result-by-row', what: 'the bridge polls the user row (100 ms) instead of the result long poll', levers: { resultByRow: true } },
  { name: 'server-in-memory', what: 'dev server without --db-filename (in-memory SQLite: a bound, loses everything on restart)', serverInMemory: true },
  { name: 'server-sqlite-cache', what: 'dev server SQLite cache_size=-65536, temp_store=memory, mmap_size=256 MiB', serverArgs: ['--sqlite-pragma', 'cache_size=-65536', '--sqlite-pragma', 'temp_store=memory', '--sqlite-pragma', 'mmap_size=268435456'] },
];

export const VARIANTS: ReadonlyMap<string, Variant> = new Map(variants.map((v) => [v.name, v]));
