/**
 * The workflow interceptors of the traced bundle (dist/workflow-bundle-traced.js), which the worker
 * runs only when tracing is on: a span for the run and one per activity it schedules, local
 * ones included, each passing its context on in headers. They run in the sandbox and add no
 * commands to history (the SDK's flags keep their replay alike for histories made by SDK 1.13.2
 * and later), so a run may move between traced and untraced workers.
 *
 * The interceptors are @temporalio/interceptors-opentelemetry's, with one change: the active
 * context lives in one AsyncLocalStorage for the whole workflow thread
 * (./tracing-context-storage), not in one per run. See that module for why.
 */
import { type Context, type ContextManager, context as otelContext, ROOT_CONTEXT } from '@opentelemetry/api';
import {
  OpenTelemetryInboundInterceptor,
  OpenTelemetryInternalsInterceptor,
  OpenTelemetryOutboundInterceptor,
} from '@temporalio/interceptors-opentelemetry/lib/workflow';
import type { WorkflowInterceptorsFactory } from '@temporalio/workflow';
import { tracingContextStorage } from './tracing-context-storage';

/** The library's workflow context manager, on the thread's one storage; a run's disposal leaves that storage enabled for the other runs. */
export class SharedStorageContextManager implements ContextManager {
  private readonly storage = tracingContextStorage();

  active(): Context {
    return (this.storage.getStore() as Context | undefined) ?? ROOT_CONTEXT;
  }

  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(context: Context, fn: F, thisArg?: ThisParameterType<F>, ...args: A): ReturnType<F> {
    const cb = thisArg == null ? fn : fn.bind(thisArg);
    return this.storage.run(context, cb, ...args);
  }

  bind<T>(context: Context, target: T): T {
    if (typeof target !== 'function') throw new TypeError(`Only function binding is supported, got ${typeof target}`);
    const fn = target as unknown as (...args: unknown[]) => unknown;
    const manager = this;
    const bound = function (this: unknown, ...args: unknown[]) {
      return manager.with(context, () => fn.apply(this, args));
    };
    Object.defineProperty(bound, 'length', { enumerable: false, configurable: true, writable: false, value: fn.length });
    return bound as unknown as T;
  }

  enable(): this {
    return this;
  }

  disable(): this {
    return this;
  }
}

export const interceptors: WorkflowInterceptorsFactory = () => {
  // First: OpenTelemetry keeps the first context manager registered in a run (its API is the
  // run's own), so the one the library's tracer registers next, with a storage of its own, is
  // never used, and that storage is never enabled.
  otelContext.setGlobalContextManager(new SharedStorageContextManager());
  return {
    inbound: [new OpenTelemetryInboundInterceptor()],
    outbound: [new OpenTelemetryOutboundInterceptor()],
    internals: [new OpenTelemetryInternalsInterceptor()],
  };
};
