/**
 * The tracing context in the workflow sandbox: one AsyncLocalStorage for every run of a
 * workflow thread (workflows/tracing-context-storage.ts), which the traced bundle preloads so
 * the sandbox evaluates it once, not once per run. With a storage per run, memory grew with the
 * square of the workflow cache (docs/tracing.md, "Memory";
 * test/integration/tracing-memory.test.ts is the end-to-end check).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createContextKey, ROOT_CONTEXT } from '@opentelemetry/api';
import { DIST } from '../harness/dist';

// The sandbox provides AsyncLocalStorage on its globalThis; so does this test, before the modules load.
(globalThis as unknown as { AsyncLocalStorage: typeof AsyncLocalStorage }).AsyncLocalStorage = AsyncLocalStorage;
const { SharedStorageContextManager } = require('../../workflows/interceptors') as typeof import('../../workflows/interceptors');
const { tracingContextStorage } = require('../../workflows/tracing-context-storage') as typeof import('../../workflows/tracing-context-storage');

const KEY = createContextKey('test');

describe('the workflow context manager on the shared storage', () => {
  it('makes a context active inside with() and for what that awaits, and the root one outside', async () => {
    const manager = new SharedStorageContextManager();
    const ctx = ROOT_CONTEXT.setValue(KEY, 'run 1');
    expect(manager.active()).toBe(ROOT_CONTEXT);
    const seen = await manager.with(ctx, async () => {
      await Promise.resolve();
      return manager.active().getValue(KEY);
    });
    expect(seen).toBe('run 1');
    expect(manager.active()).toBe(ROOT_CONTEXT);
    const bound = manager.bind(ctx, (a: number) => [a, manager.active().getValue(KEY)]);
    expect(bound.length).toBe(1);
    expect(bound(7)).toEqual([7, 'run 1']);
  });

  it('uses one storage for every run, and a run ending (disable) leaves it working for the others', async () => {
    const run1 = new SharedStorageContextManager();
    const run2 = new SharedStorageContextManager();
    expect(tracingContextStorage()).toBe(tracingContextStorage());
    const ctx2 = ROOT_CONTEXT.setValue(KEY, 'run 2');
    await run2.with(ctx2, async () => {
      run1.disable();
      await Promise.resolve();
      expect(run2.active().getValue(KEY)).toBe('run 2');
    });
  });
});

it('the traced workflow bundle preloads the storage module (evaluated once per thread); the plain one preloads nothing', () => {
  const preloads = (bundle: string) => {
    const code = readFileSync(join(DIST, bundle), 'utf8');
    const start = code.indexOf('exports.preloadModules = function preloadModules() {');
    return code.slice(start, code.indexOf('}', start));
  };
  expect(preloads('workflow-bundle-traced.js')).toContain('workflows/tracing-context-storage.js');
  expect(preloads('workflow-bundle.js')).not.toContain('__webpack_require__');
});
