/**
 * The one AsyncLocalStorage that holds the OpenTelemetry context of every run in a workflow
 * thread (workflows/interceptors.ts). The traced bundle preloads this module
 * (TRACING_SHARED_WORKFLOW_MODULES in src/worker/onboarding-worker.ts): the sandbox then
 * evaluates it once, before any run, instead of once per run, so the storage below is made once
 * and belongs to no run (no run's disposal disables it).
 *
 * Why one: Node gives every async resource (each promise a run makes) a slot for each enabled
 * AsyncLocalStorage of the thread. With a storage per run, as @temporalio/interceptors-opentelemetry
 * makes it, every promise of every cached run carries a slot per cached run: memory grows with the
 * square of the workflow cache, and 100 cached runs took the workflow thread past a 96 MB heap
 * (docs/tracing.md, "Memory").
 *
 * It imports nothing: a preloaded module's exports are frozen and shared by every run, and
 * OpenTelemetry's API must stay each run's own.
 */
import type { AsyncLocalStorage } from 'node:async_hooks';

// The sandbox's AsyncLocalStorage (node:async_hooks is not importable in workflow code).
const SandboxAsyncLocalStorage = (globalThis as unknown as { AsyncLocalStorage: new (name?: string) => AsyncLocalStorage<unknown> }).AsyncLocalStorage;
const storage = new SandboxAsyncLocalStorage('opentelemetry-context');

/** The thread's storage for the active OpenTelemetry context (a function: a preloaded module's exports are frozen, a storage must not be). */
export function tracingContextStorage(): AsyncLocalStorage<unknown> {
  return storage;
}
