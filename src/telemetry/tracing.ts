/**
 * OpenTelemetry tracing, on only when OTEL_EXPORTER_OTLP_ENDPOINT is set (docs/tracing.md).
 *
 * This module imports types only. When tracing is off, nothing of OpenTelemetry is loaded: no
 * SDK, no instrumentation, no Temporal interceptor. When it is on, ./opentelemetry is required
 * here, and it patches http, express, pg and amqplib as they are required afterwards; so each
 * entry point starts tracing in a module it imports first (src/api/tracing-first.ts,
 * src/worker/tracing-first.ts).
 */
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { WorkflowClientInterceptor } from '@temporalio/client';
import type { OpenTelemetrySinks } from '@temporalio/interceptors-opentelemetry';
import type { ActivityInterceptorsFactory, InjectedSinks } from '@temporalio/worker';
import { type Config, loadConfig } from '../config';

export interface Tracing {
  /** For every Temporal client: a span per workflow start, whose context travels in the start's headers. */
  workflowClientInterceptors: WorkflowClientInterceptor[];
  /** For the worker: a span per activity execution (local ones too), a child of the workflow's span. */
  activityInterceptors: ActivityInterceptorsFactory[];
  /** For the worker: the sink through which the workflow sandbox hands over its spans. */
  workflowSinks: InjectedSinks<OpenTelemetrySinks>;
  /** Exports every span ended so far. */
  flush(): Promise<void>;
  /** Exports what is left, then unpatches the instrumented modules and clears the global tracer. */
  shutdown(): Promise<void>;
}

export interface StartTracingOptions {
  /** The service.name when OTEL_SERVICE_NAME is not set: the process's own name. */
  defaultServiceName: string;
  /** Where spans go instead of OTLP, e.g. a test's InMemorySpanExporter; tracing is then on without an endpoint. */
  exporter?: SpanExporter;
}

export interface TraceLogFields {
  trace_id?: string;
  span_id?: string;
}

let started: { tracing: Tracing; logFields: () => TraceLogFields } | undefined;

/**
 * Starts tracing when the config names an OTLP endpoint (or a test passes an exporter); returns
 * undefined, having loaded nothing, otherwise. Call it before anything requires http, express,
 * pg or amqplib: OpenTelemetry instruments a module when it is required.
 */
export function startTracing(config: Pick<Config, 'tracing'>, opts: StartTracingOptions): Tracing | undefined {
  const { otlpTracesUrl, serviceName } = config.tracing;
  if (!otlpTracesUrl && !opts.exporter) return undefined;
  if (started) throw new Error('tracing is already started in this process');
  // Required here, not imported: off, the SDK and the instrumentations are never loaded.
  const { startOpenTelemetry } = require('./opentelemetry') as typeof import('./opentelemetry');
  const otel = startOpenTelemetry({
    serviceName: serviceName ?? opts.defaultServiceName,
    otlpTracesUrl,
    exporter: opts.exporter,
  });
  const tracing: Tracing = {
    ...otel.tracing,
    async shutdown() {
      started = undefined;
      await otel.tracing.shutdown();
    },
  };
  started = { tracing, logFields: otel.activeSpanLogFields };
  return tracing;
}

/**
 * For an entry point's first import: starts tracing from the environment. An invalid
 * configuration starts nothing here; the entry point's own loadConfig reports it.
 */
export function startTracingFromEnv(defaultServiceName: string): Tracing | undefined {
  let config: Config;
  try {
    config = loadConfig();
  } catch {
    return undefined;
  }
  return startTracing(config, { defaultServiceName });
}

/**
 * The pino mixin that adds the active span's trace_id and span_id to each log line, or
 * undefined while tracing is off, so a logger made then has no mixin at all.
 */
export function traceLogMixin(): (() => TraceLogFields) | undefined {
  return started?.logFields;
}
