/**
 * `npm run bench:sandbox`: two costs of Temporal's workflow sandbox, reproduced with nothing but
 * Node's `vm` and `v8` modules, in CPU microseconds:
 *
 * 1. a call into a V8 context with `timeout` set (the SDK's isolateExecutionTimeout, on every
 *    call into the workflow context): Node starts and joins a watchdog thread per call;
 * 2. a promise made in a context while a promise hook captures a stack trace for it (what the
 *    SDK's hook does for its stack-trace query: `new Error().stack` through a custom
 *    `Error.prepareStackTrace` that looks at every call site).
 *
 * Multiplied by the counts of one onboarding run (bench/levers, --count), they say how much of
 * the workflow thread's CPU per run each is.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

function cpuUs(fn: () => void, n: number): number {
  fn(); // warm-up
  const before = process.cpuUsage();
  for (let i = 0; i < n; i++) fn();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / n;
}

export function vmCallCosts(n = 20_000): { without_timeout_us: number; with_timeout_us: number } {
  const context = vm.createContext({}, { microtaskMode: 'afterEvaluate' });
  const script = new vm.Script('globalThis.x = (globalThis.x ?? 0) + 1');
  return {
    without_timeout_us: cpuUs(() => script.runInContext(context), n),
    with_timeout_us: cpuUs(() => script.runInContext(context, { timeout: 5_000 }), n),
  };
}

export function promiseHookCosts(n = 2_000): { promises_per_call: number; without_hook_us: number; with_stack_hook_us: number } {
  const context = vm.createContext({}, { microtaskMode: 'afterEvaluate' });
  // Ten promises per call, three frames deep, as workflow code awaiting its steps would make.
  const script = new vm.Script(`
    async function step(i) { return i; }
    async function run() { for (let i = 0; i < 10; i++) await step(i); }
    run();
  `);
  let made = 0;
  const counter = v8.promiseHooks.onInit((promise: Promise<unknown>) => {
    if (promise.constructor !== Promise) made++;
  });
  script.runInContext(context);
  counter();
  const perPromise = (us: number) => us / made;
  const without = perPromise(cpuUs(() => script.runInContext(context), n));
  const ContextError = vm.runInContext('Error', context) as ErrorConstructor;
  const original = Error.prepareStackTrace;
  // Like the SDK: format every call site of the stack for each promise created in the context.
  Error.prepareStackTrace = (err, sites) => `${err}\n${sites.map((s) => `    at ${s.getFunctionName() ?? '<anonymous>'} (${s.getFileName()}:${s.getLineNumber()}:${s.getColumnNumber()})`).join('\n')}`;
  const hook = v8.promiseHooks.createHook({
    init(promise: Promise<unknown>) {
      if (promise.constructor === Promise) return;
      void new ContextError().stack;
    },
  });
  try {
    return { promises_per_call: made, without_hook_us: without, with_stack_hook_us: perPromise(cpuUs(() => script.runInContext(context), n)) };
  } finally {
    hook();
    Error.prepareStackTrace = original;
  }
}

if (require.main === module) {
  const calls = vmCallCosts();
  const promises = promiseHookCosts();
  process.stdout.write(
    [
      `call into a V8 context: ${calls.without_timeout_us.toFixed(2)} µs of CPU without a timeout, ${calls.with_timeout_us.toFixed(2)} µs with one`,
      `promise made in a context (${promises.promises_per_call} per call measured): ${promises.without_hook_us.toFixed(2)} µs without a hook, ${promises.with_stack_hook_us.toFixed(2)} µs with a stack-trace hook`,
      '',
    ].join('\n'),
  );
}
